//! Scoring found periods against the answer key.

use std::collections::HashMap;
use std::fmt;

use super::features::Features;
use super::{Kind, Truth};

/// Relative tolerance of a recovered period: 2 %, as the reference script uses.
const TOLERANCE: f64 = 0.02;

/// Whether `found` is within 2 % of the true period, or of half of it.
///
/// Half counts because an eclipsing binary with two similar eclipses repeats its light curve
/// almost exactly every half orbit, so the periodogram's highest peak is often there; that is
/// the expected answer of the method, not a failure.
pub fn period_recovered(found: f64, truth: f64) -> bool {
    let half = truth / 2.0;
    (found - truth).abs() <= TOLERANCE * truth || (found - half).abs() <= TOLERANCE * half
}

/// How many stars of one kind had their period recovered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KindRecovery {
    /// The kind of star.
    pub kind: Kind,
    /// Stars of this kind that were scored.
    pub stars: usize,
    /// Of those, how many periods were recovered.
    pub recovered: usize,
}

impl KindRecovery {
    /// `recovered / stars` (NaN when there were no stars).
    pub fn fraction(&self) -> f64 {
        self.recovered as f64 / self.stars as f64
    }
}

/// The score of a set of [`Features`] against an answer key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recovery {
    /// Stars that were scored (features with a matching truth row).
    pub stars: usize,
    /// Of those, how many periods were recovered.
    pub recovered: usize,
    /// Features whose star id is not in the answer key; not scored.
    pub unmatched: usize,
    /// The same counts per kind, in [`Kind::ALL`] order.
    pub by_kind: [KindRecovery; 3],
}

impl Recovery {
    /// `recovered / stars` (NaN when nothing was scored).
    pub fn fraction(&self) -> f64 {
        self.recovered as f64 / self.stars as f64
    }

    /// The counts for one kind.
    pub fn kind(&self, kind: Kind) -> &KindRecovery {
        &self.by_kind[kind.index()]
    }
}

impl fmt::Display for Recovery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "recovered {}/{} ({:.1}%)",
            self.recovered,
            self.stars,
            100.0 * self.fraction()
        )?;
        for k in &self.by_kind {
            write!(
                f,
                "; {} {}/{} ({:.1}%)",
                k.kind,
                k.recovered,
                k.stars,
                100.0 * k.fraction()
            )?;
        }
        if self.unmatched > 0 {
            write!(f, "; {} without truth", self.unmatched)?;
        }
        Ok(())
    }
}

/// Scores `features` against `truth`, matching them by star id (in any order).
pub fn count_recovered(features: &[Features], truth: &[Truth]) -> Recovery {
    let by_id: HashMap<u32, &Truth> = truth.iter().map(|t| (t.star_id, t)).collect();
    let mut score = Recovery {
        stars: 0,
        recovered: 0,
        unmatched: 0,
        by_kind: Kind::ALL.map(|kind| KindRecovery {
            kind,
            stars: 0,
            recovered: 0,
        }),
    };
    for f in features {
        let Some(t) = by_id.get(&f.star_id) else {
            score.unmatched += 1;
            continue;
        };
        let ok = usize::from(period_recovered(f.period, t.period));
        score.stars += 1;
        score.recovered += ok;
        let k = &mut score.by_kind[t.kind.index()];
        k.stars += 1;
        k.recovered += ok;
    }
    score
}
