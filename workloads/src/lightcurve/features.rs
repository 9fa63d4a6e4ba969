//! Per-star features: the best period and a few robust summary statistics, as the reference
//! script computes them with numpy/scipy.

use std::path::{Path, PathBuf};

use super::LightCurve;
use super::fast::LombScargle;
use super::io::{ReadError, read_csv};
use super::periodogram::FrequencyGrid;

/// What the workload extracts from one star.
#[derive(Clone, Debug, PartialEq, oxidask_macros::DataSize)]
#[data_size(crate = "oxidask_graph")]
pub struct Features {
    /// Which star.
    pub star_id: u32,
    /// 1 / the frequency of highest Lomb–Scargle power, days (NaN if no power was finite).
    pub period: f64,
    /// That highest power, in `[0, 1]` for well-posed input.
    pub power: f64,
    /// Robust peak-to-peak amplitude: 95th minus 5th percentile of the magnitudes.
    pub amplitude: f64,
    /// Population standard deviation of the magnitudes (numpy's default, `ddof=0`).
    pub std: f64,
    /// Biased sample skewness `m₃ / m₂^1.5` (`scipy.stats.skew` default); NaN for constant
    /// magnitudes.
    pub skew: f64,
    /// Median magnitude.
    pub median: f64,
}

/// Computes a star's [`Features`] on the frequency grid `grid`, using `ls` for the periodogram
/// (keep one [`LombScargle`] per thread and pass it for every star).
///
/// An empty light curve gives NaN everywhere rather than panicking.
pub fn features(lc: &LightCurve, grid: &FrequencyGrid, ls: &mut LombScargle) -> Features {
    let (period, power) = match ls.peak(&lc.t, &lc.mag, &lc.err, grid) {
        Some((i, power)) => (1.0 / grid.frequency(i), power),
        None => (f64::NAN, f64::NAN),
    };
    let mut sorted = lc.mag.clone();
    sorted.sort_by(f64::total_cmp);
    let (m2, m3) = central_moments(&lc.mag);
    Features {
        star_id: lc.star_id,
        period,
        power,
        amplitude: percentile_sorted(&sorted, 95.0) - percentile_sorted(&sorted, 5.0),
        std: m2.sqrt(),
        skew: m3 / m2.powf(1.5),
        median: median_sorted(&sorted),
    }
}

/// Reads one `star_NNNNN.csv` and computes its features on
/// [`FrequencyGrid::for_baseline`]`(nfreq)`.
///
/// Uses this thread's [`LombScargle`] (see [`LombScargle::with_thread_local`]), so a worker
/// thread calling this file after file plans its FFTs once.
///
/// # Errors
/// Those of [`read_csv`].
pub fn features_for_file(path: &Path, nfreq: usize) -> Result<Features, ReadError> {
    let lc = read_csv(path)?;
    let grid = FrequencyGrid::for_baseline(nfreq);
    Ok(LombScargle::with_thread_local(|ls| {
        features(&lc, &grid, ls)
    }))
}

/// [`features_for_file`] over a batch of files, in order; stops at the first unreadable file.
///
/// # Errors
/// The first failing file's error, as [`read_csv`] gives it.
pub fn features_for_files(paths: &[PathBuf], nfreq: usize) -> Result<Vec<Features>, ReadError> {
    paths.iter().map(|p| features_for_file(p, nfreq)).collect()
}

/// Arithmetic mean (NaN for an empty slice).
pub fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// The second and third central moments about the mean, each divided by n.
fn central_moments(values: &[f64]) -> (f64, f64) {
    let m = mean(values);
    let n = values.len() as f64;
    let (s2, s3) = values.iter().fold((0.0, 0.0), |(s2, s3), &v| {
        let d = v - m;
        (s2 + d * d, s3 + d * d * d)
    });
    (s2 / n, s3 / n)
}

/// Population standard deviation, `sqrt(Σ(x − mean)² / n)` (numpy's `std` default).
pub fn population_std(values: &[f64]) -> f64 {
    central_moments(values).0.sqrt()
}

/// Biased skewness `m₃ / m₂^1.5` (`scipy.stats.skew(x)`); NaN for constant or empty input.
pub fn skew(values: &[f64]) -> f64 {
    let (m2, m3) = central_moments(values);
    m3 / m2.powf(1.5)
}

/// Median: the middle value, or the mean of the two middle values for an even count.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    median_sorted(&sorted)
}

fn median_sorted(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    match n {
        0 => f64::NAN,
        // numpy averages the two middle values for an even count.
        _ if n % 2 == 0 => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
        _ => sorted[n / 2],
    }
}

/// The `q`-th percentile (0–100) with numpy's default linear interpolation: the value at
/// fractional rank `q/100 · (n − 1)` of the sorted data. NaN for an empty slice.
pub fn percentile(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    percentile_sorted(&sorted, q)
}

fn percentile_sorted(sorted: &[f64], q: f64) -> f64 {
    let Some(last) = sorted.len().checked_sub(1) else {
        return f64::NAN;
    };
    let rank = (q / 100.0).clamp(0.0, 1.0) * last as f64;
    let lo = rank.floor() as usize;
    let hi = (lo + 1).min(last);
    let frac = rank - lo as f64;
    // numpy interpolates from whichever end is nearer, which keeps results within the
    // bracketing values; doing the same keeps agreement to the last bit in most cases.
    if frac < 0.5 {
        sorted[lo] + (sorted[hi] - sorted[lo]) * frac
    } else {
        sorted[hi] - (sorted[hi] - sorted[lo]) * (1.0 - frac)
    }
}
