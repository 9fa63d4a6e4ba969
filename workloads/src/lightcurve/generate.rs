//! A deterministic synthetic survey: irregularly sampled variable stars with known periods.
//!
//! The layout and the kinds of signal follow the Python reference generator
//! (`bench/gen_data.py`, `make_lightcurve`), but the random stream is this crate's own, so the
//! stars differ from the Python ones. Every star depends only on `(seed, star_id)`: star 7 is
//! the same whether it is generated first, last, alone or on another thread.

use std::fs;
use std::io;
use std::path::Path;

use rand::seq::index;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use super::io::{star_file_name, write_csv, write_truth};
use super::{Kind, LightCurve, Truth};

/// The survey's length in days: five years. Sets the lowest trial frequency.
pub const BASELINE_DAYS: f64 = 5.0 * 365.25;

const YEARS: usize = 5;
const YEAR_DAYS: f64 = 365.25;

/// Generates star `star_id` of the survey with the given `seed`, together with its answer key.
///
/// The star has 100–400 observations over five years. The field is observable for 7–8 months
/// a year and observed at most once a night, at a random time within a ~7-hour window, which
/// gives the seasonal gaps and the strong one-day alias of a ground-based survey. The signal
/// is one of (40 % / 30 % / 30 %):
///
/// - an RR Lyrae-like sawtooth, period 0.3–0.9 d, 0.4–1.0 mag peak to peak, brightening in
///   12–22 % of the cycle and fading over the rest;
/// - a sinusoid, period 0.2–3 d (log-uniform), semi-amplitude 0.1–0.4 mag;
/// - an eclipsing binary, period 0.3–3 d (log-uniform): Gaussian dips 0.3–0.8 mag deep at
///   phases 0 and ½, the secondary 30–90 % as deep as the primary.
///
/// Each point gets a 1-sigma error of 0.01–0.05 mag (a per-star level times a per-point
/// factor) and Gaussian noise of that size. Values are rounded to the precision
/// [`write_dataset`] prints, so a star read back from its file equals the generated one.
pub fn generate_star(seed: u64, star_id: u32) -> (LightCurve, Truth) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // Independent ChaCha streams per star are what make any generation order give the same
    // stars.
    rng.set_stream(u64::from(star_id));

    let n = rng.random_range(100..=400usize);
    let t = sample_times(&mut rng, n);

    let u: f64 = rng.random();
    let (kind, period) = if u < 0.4 {
        (Kind::RrLyrae, rng.random_range(0.3..0.9))
    } else if u < 0.7 {
        (Kind::Sinusoid, log_uniform(&mut rng, 0.2, 3.0))
    } else {
        (Kind::EclipsingBinary, log_uniform(&mut rng, 0.3, 3.0))
    };
    let shape = Shape::draw(kind, &mut rng);
    let phase0: f64 = rng.random();
    let m0 = rng.random_range(14.0..17.0);
    let base_err = rng.random_range(0.0125..0.035);

    let mut mag = Vec::with_capacity(n);
    let mut err = Vec::with_capacity(n);
    for &ti in &t {
        let phase = (ti / period + phase0).fract();
        let e = base_err * rng.random_range(0.8..1.4);
        let noise: f64 = rng.sample(StandardNormal);
        mag.push(round_to(m0 + shape.offset(phase) + e * noise, 4));
        err.push(round_to(e, 4));
    }
    let t = t.into_iter().map(|x| round_to(x, 5)).collect();
    let lc = LightCurve {
        star_id,
        t,
        mag,
        err,
    };
    let truth = Truth {
        star_id,
        period: round_to(period, 8),
        kind,
    };
    (lc, truth)
}

/// Writes stars `0..n_stars` as `dir/lc/star_NNNNN.csv` and their answer key as
/// `dir/truth.csv`, creating the directories, and returns the answer key.
///
/// Same layout and number formats as the Python reference, so either generator's output can be
/// fed to either implementation of the workload.
///
/// # Errors
/// Whatever creating the directories or writing a file returns; files written before the
/// failure are left in place.
pub fn write_dataset(dir: &Path, n_stars: u32, seed: u64) -> io::Result<Vec<Truth>> {
    let lc_dir = dir.join("lc");
    fs::create_dir_all(&lc_dir)?;
    let mut truths = Vec::with_capacity(n_stars as usize);
    for star_id in 0..n_stars {
        let (lc, truth) = generate_star(seed, star_id);
        write_csv(&lc_dir.join(star_file_name(star_id)), &lc)?;
        truths.push(truth);
    }
    write_truth(&dir.join("truth.csv"), &truths)?;
    Ok(truths)
}

/// `n` sorted observation times: distinct random nights within each year's observing season.
fn sample_times(rng: &mut ChaCha8Rng, n: usize) -> Vec<f64> {
    let season_len = rng.random_range(210.0..240.0);
    let season_start = rng.random_range(0.0..YEAR_DAYS - season_len);
    let nights: Vec<f64> = (0..YEARS)
        .flat_map(|year| {
            let lo = year as f64 * YEAR_DAYS + season_start;
            let first = lo.ceil() as i64;
            // A night's observation falls 0.1–0.4 d into the day, and all of that must be
            // inside the season; this also keeps the last observation inside the baseline.
            let last = (lo + season_len - 0.4).floor() as i64;
            (first..=last).map(|d| d as f64)
        })
        .collect();
    // Five seasons of ≥ 210 nights always exceed the 400 observations asked for.
    let mut chosen = index::sample(rng, nights.len(), n).into_vec();
    chosen.sort_unstable();
    chosen
        .into_iter()
        .map(|i| nights[i] + rng.random_range(0.1..0.4))
        .collect()
}

fn log_uniform(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    rng.random_range(lo.ln()..hi.ln()).exp()
}

/// The star's light-curve shape: magnitude offset (positive = fainter) against phase.
enum Shape {
    Sinusoid {
        amp: f64,
    },
    RrLyrae {
        amp: f64,
        rise: f64,
    },
    Eclipsing {
        primary: f64,
        secondary: f64,
        width: f64,
    },
}

impl Shape {
    fn draw(kind: Kind, rng: &mut ChaCha8Rng) -> Shape {
        match kind {
            Kind::Sinusoid => Shape::Sinusoid {
                amp: rng.random_range(0.1..0.4),
            },
            Kind::RrLyrae => Shape::RrLyrae {
                amp: rng.random_range(0.4..1.0),
                rise: rng.random_range(0.12..0.22),
            },
            Kind::EclipsingBinary => {
                let primary = rng.random_range(0.3..0.8);
                Shape::Eclipsing {
                    primary,
                    secondary: primary * rng.random_range(0.3..0.9),
                    width: rng.random_range(0.03..0.07),
                }
            }
        }
    }

    fn offset(&self, phase: f64) -> f64 {
        match *self {
            Shape::Sinusoid { amp } => amp * (std::f64::consts::TAU * phase).sin(),
            Shape::RrLyrae { amp, rise } => {
                // Fading (magnitude growing) from -½ to +½ over most of the cycle, then the
                // fast climb back to maximum light.
                let decline = 1.0 - rise;
                let y = if phase < decline {
                    -0.5 + phase / decline
                } else {
                    0.5 - (phase - decline) / rise
                };
                amp * y
            }
            Shape::Eclipsing {
                primary,
                secondary,
                width,
            } => {
                let from_primary = phase.min(1.0 - phase);
                let from_secondary = (phase - 0.5).abs();
                let dip = |depth: f64, dist: f64| depth * (-0.5 * (dist / width).powi(2)).exp();
                dip(primary, from_primary) + dip(secondary, from_secondary)
            }
        }
    }
}

/// `x` rounded to `decimals` places exactly as `format!("{:.N}")` prints it and `parse` reads
/// it back, so generated values survive a round trip through the CSV unchanged.
fn round_to(x: f64, decimals: usize) -> f64 {
    format!("{x:.decimals$}")
        .parse()
        .expect("a formatted finite float parses")
}
