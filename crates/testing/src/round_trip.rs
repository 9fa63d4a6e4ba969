//! Running computations as if on another process: every optimized graph is
//! written to bytes and read back through the registries before it runs.

use oxidask_scheduler::config::{self, Config};

/// Runs `f` with [`Config::round_trip`] on, on this thread: every graph `f`
/// computes goes through bytes first, so a test proves its graphs hold only
/// registered ops and encodable values — what a cluster worker could run.
pub fn round_trip<R>(f: impl FnOnce() -> R) -> R {
    let base = config::current().unwrap_or_default();
    config::with_config(
        Config {
            round_trip: true,
            ..base
        },
        f,
    )
}

/// Runs `f` twice, as is and through [`round_trip`], and checks both give
/// equal results; returns the first. Use it in property tests of
/// collections whose graphs are data.
pub fn both_ways<R: PartialEq + std::fmt::Debug>(f: impl Fn() -> R) -> R {
    let local = f();
    let through_bytes = round_trip(&f);
    assert_eq!(
        local, through_bytes,
        "a graph gave a different result after a round trip through bytes"
    );
    local
}
