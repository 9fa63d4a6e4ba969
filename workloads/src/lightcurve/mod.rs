//! Light curves: per-star periods from irregularly sampled photometry.
//!
//! The workload mirrors a classic survey analysis (and the Python reference
//! `bench/bench_w1.py`): for each star read a small CSV of `t,mag,err`, evaluate a generalized
//! Lomb–Scargle periodogram on a fixed regular frequency grid, take the best period and a few
//! summary statistics. [`generate_star`] and [`write_dataset`] make a deterministic synthetic
//! survey to run it on, with the true periods kept aside so [`count_recovered`] can score the
//! answers.
//!
//! Typical use, one star at a time (each call is independent, so a scheduler may run many at
//! once on different threads):
//!
//! ```
//! use oxidask_workloads::lightcurve::{features, generate_star, FrequencyGrid, LombScargle};
//!
//! let (lc, truth) = generate_star(42, 7);
//! let grid = FrequencyGrid::for_baseline(20_000);
//! let mut ls = LombScargle::new(); // keep one per thread: it caches FFT plans and buffers
//! let f = features(&lc, &grid, &mut ls);
//! assert_eq!(f.star_id, truth.star_id);
//! ```

mod fast;
mod features;
mod generate;
mod io;
mod periodogram;
mod scoring;
#[cfg(test)]
mod tests;

pub use fast::LombScargle;
pub use features::{
    Features, features, features_for_file, features_for_files, mean, median, percentile,
    population_std, skew,
};
pub use generate::{BASELINE_DAYS, generate_star, write_dataset};
pub use io::{ReadError, read_csv, read_truth, star_file_name, write_csv, write_truth};
pub use periodogram::{FrequencyGrid, lomb_scargle_direct, lomb_scargle_fast};
pub use scoring::{KindRecovery, Recovery, count_recovered, period_recovered};

use std::fmt;
use std::str::FromStr;

/// One star's photometry: observation times, magnitudes and their 1-sigma errors.
///
/// The three vectors always have the same length; `t` is in days and sorted ascending when the
/// curve comes from [`generate_star`] or a file it wrote (nothing here relies on the order).
#[derive(Clone, Debug, PartialEq)]
pub struct LightCurve {
    /// Which star this is; the `NNNNN` of `star_NNNNN.csv`.
    pub star_id: u32,
    /// Observation times in days since the start of the survey.
    pub t: Vec<f64>,
    /// Magnitudes (larger = fainter).
    pub mag: Vec<f64>,
    /// 1-sigma magnitude errors, all positive.
    pub err: Vec<f64>,
}

impl LightCurve {
    /// Number of observations.
    pub fn len(&self) -> usize {
        self.t.len()
    }

    /// Whether the curve has no observations.
    pub fn is_empty(&self) -> bool {
        self.t.is_empty()
    }
}

/// What kind of variable star a synthetic light curve imitates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, oxidask_macros::DataSize)]
#[data_size(crate = "oxidask_graph")]
pub enum Kind {
    /// A pure sinusoid: the case the periodogram is built for.
    Sinusoid,
    /// An RR Lyrae-like pulsator: fast brightening, slow fading (a skewed sawtooth).
    RrLyrae,
    /// An eclipsing binary: two dips per orbit, the primary deeper than the secondary, so the
    /// periodogram often peaks at half the orbital period.
    EclipsingBinary,
}

impl Kind {
    /// Every kind, in a fixed order (the order [`Recovery::by_kind`] uses).
    pub const ALL: [Kind; 3] = [Kind::Sinusoid, Kind::RrLyrae, Kind::EclipsingBinary];

    /// The lowercase name written to `truth.csv`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Sinusoid => "sinusoid",
            Kind::RrLyrae => "rr_lyrae",
            Kind::EclipsingBinary => "eclipsing_binary",
        }
    }

    /// Position in [`Kind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing an unknown [`Kind`] name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownKind(pub String);

impl fmt::Display for UnknownKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown star kind {:?} (expected sinusoid, rr_lyrae or eclipsing_binary)",
            self.0
        )
    }
}

impl std::error::Error for UnknownKind {}

impl FromStr for Kind {
    type Err = UnknownKind;

    /// Accepts this crate's names and the Python reference generator's (`sin`, `rrab`, `eb`),
    /// so `truth.csv` files from either generator can be scored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sinusoid" | "sin" => Ok(Kind::Sinusoid),
            "rr_lyrae" | "rrab" => Ok(Kind::RrLyrae),
            "eclipsing_binary" | "eb" => Ok(Kind::EclipsingBinary),
            other => Err(UnknownKind(other.to_string())),
        }
    }
}

/// The answer key for one synthetic star.
#[derive(Clone, Debug, PartialEq, oxidask_macros::DataSize)]
#[data_size(crate = "oxidask_graph")]
pub struct Truth {
    /// Which star.
    pub star_id: u32,
    /// The true period in days (rounded to the 8 decimals `truth.csv` holds).
    pub period: f64,
    /// What kind of signal the star carries.
    pub kind: Kind,
}
