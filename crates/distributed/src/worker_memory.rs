//! What a worker does as its process memory nears its memory limit:
//! Dask's four thresholds, as fractions of the limit.
//!
//! - **target** (0.6): the results a computation holds are spilled to disk
//!   above this (the spill buffer's own limit);
//! - **spill** (0.7): when the *process* is above this — results, the
//!   tasks' working memory, whatever the allocator keeps — held results are
//!   spilled, least recently used first, until the process would be back
//!   at the target;
//! - **pause** (0.8): no new task starts until the process is below this
//!   again (running tasks finish; results are still served to peers);
//! - **terminate** (0.95): the worker process ends, with a message naming
//!   its memory and limit. The scheduler recomputes what it held; a task
//!   that keeps taking its workers past the limit fails with `KilledWorker`
//!   after the allowed failures; a `LocalCluster` starts a new worker.
//!
//! The worker checks every [`CHECK_INTERVAL`], the process memory read from
//! `/proc/self/statm`. `None` switches a threshold off.

use std::time::Duration;

/// How often a worker compares its process memory with the thresholds.
pub const CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// The thresholds, as fractions of the worker's memory limit (see the
/// module docs); the defaults are Dask's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MemoryFractions {
    /// Held results above this fraction spill (Dask's `target`, 0.6).
    pub target: Option<f64>,
    /// Process memory above this spills held results (0.7).
    pub spill: Option<f64>,
    /// Process memory above this pauses new tasks (0.8).
    pub pause: Option<f64>,
    /// Process memory above this ends the worker (0.95).
    pub terminate: Option<f64>,
}

impl Default for MemoryFractions {
    fn default() -> Self {
        MemoryFractions {
            target: Some(0.6),
            spill: Some(0.7),
            pause: Some(0.8),
            terminate: Some(0.95),
        }
    }
}

/// What the process memory calls for now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MemoryAction {
    /// Spill this many bytes of held results (0: none).
    pub spill_bytes: u64,
    /// Whether new tasks wait.
    pub pause: bool,
    /// Whether the worker must end.
    pub terminate: bool,
}

/// The environment variable a worker process reads its fractions from
/// (`target,spill,pause,terminate`, e.g. `0.6,0.7,0.8,0.95`; `off` for
/// one switched off).
pub const FRACTIONS_ENV: &str = "OXIDASK_MEMORY_FRACTIONS";

impl MemoryFractions {
    /// Parses `target,spill,pause,terminate` — four fractions between 0 and
    /// 1 (exclusive of 0), each or `off` — as `oxidask worker
    /// --memory-fractions` and [`FRACTIONS_ENV`] take them.
    pub fn parse(text: &str) -> Result<MemoryFractions, String> {
        let parts: Vec<&str> = text.split(',').map(str::trim).collect();
        let [target, spill, pause, terminate] = parts[..] else {
            return Err(format!(
                "memory fractions {text:?}: expected four (target,spill,pause,terminate), e.g. 0.6,0.7,0.8,0.95"
            ));
        };
        let one = |name: &str, v: &str| -> Result<Option<f64>, String> {
            if v.eq_ignore_ascii_case("off") || v.eq_ignore_ascii_case("false") {
                return Ok(None);
            }
            match v.parse::<f64>() {
                Ok(f) if f > 0.0 && f <= 1.0 => Ok(Some(f)),
                _ => Err(format!(
                    "memory fractions {text:?}: the {name} fraction {v:?} is not a number in (0, 1] or off"
                )),
            }
        };
        Ok(MemoryFractions {
            target: one("target", target)?,
            spill: one("spill", spill)?,
            pause: one("pause", pause)?,
            terminate: one("terminate", terminate)?,
        })
    }

    /// The form [`parse`](MemoryFractions::parse) reads.
    pub fn to_text(&self) -> String {
        [self.target, self.spill, self.pause, self.terminate]
            .iter()
            .map(|f| f.map_or_else(|| "off".to_string(), |f| f.to_string()))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The limit on held results for a worker limit of `limit` bytes.
    pub(crate) fn held_limit(&self, limit: usize) -> usize {
        self.target.map_or(limit, |f| (limit as f64 * f) as usize)
    }

    /// What to do at `rss` bytes of process memory under `limit`.
    pub(crate) fn action(&self, rss: u64, limit: usize) -> MemoryAction {
        let at = |f: Option<f64>| f.map(|f| (limit as f64 * f) as u64);
        let over = |f: Option<f64>| at(f).is_some_and(|b| rss > b);
        let spill_bytes = if over(self.spill) {
            // Back to the target, or to the spill threshold if none.
            rss - at(self.target.or(self.spill)).unwrap_or(rss).min(rss)
        } else {
            0
        };
        MemoryAction {
            spill_bytes,
            pause: over(self.pause),
            terminate: over(self.terminate),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_act_in_dask_order() {
        let f = MemoryFractions::default();
        let limit = 1000;
        let act = |rss| f.action(rss, limit);
        assert_eq!(
            act(650),
            MemoryAction {
                spill_bytes: 0,
                pause: false,
                terminate: false
            }
        );
        assert_eq!(act(750).spill_bytes, 150);
        assert!(!act(750).pause);
        assert!(act(850).pause && !act(850).terminate);
        assert_eq!(act(850).spill_bytes, 250);
        assert!(act(960).pause && act(960).terminate);
        assert_eq!(f.held_limit(limit), 600);

        let off = MemoryFractions {
            target: None,
            spill: None,
            pause: None,
            terminate: None,
        };
        assert_eq!(off.action(5000, limit), off.action(0, limit));
        assert_eq!(off.held_limit(limit), limit);
        // Spill without a target: down to the spill threshold.
        let no_target = MemoryFractions {
            target: None,
            ..MemoryFractions::default()
        };
        assert_eq!(no_target.action(750, limit).spill_bytes, 50);
    }

    #[test]
    fn fractions_parse_and_print_back() {
        let d = MemoryFractions::default();
        assert_eq!(MemoryFractions::parse(&d.to_text()).unwrap(), d);
        let f = MemoryFractions::parse(" 0.5, off ,0.9,OFF").unwrap();
        assert_eq!(
            f,
            MemoryFractions {
                target: Some(0.5),
                spill: None,
                pause: Some(0.9),
                terminate: None
            }
        );
        assert_eq!(MemoryFractions::parse(&f.to_text()).unwrap(), f);
        let e = MemoryFractions::parse("0.6,0.7,0.8").unwrap_err();
        assert!(e.contains("expected four"), "{e}");
        let e = MemoryFractions::parse("0.6,0.7,lots,0.95").unwrap_err();
        assert!(e.contains("pause") && e.contains("lots"), "{e}");
        assert!(MemoryFractions::parse("0.6,0.7,0.8,1.5").is_err());
        assert!(MemoryFractions::parse("0,0.7,0.8,0.9").is_err());
    }
}
