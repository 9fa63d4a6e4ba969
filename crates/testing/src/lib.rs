//! Test helpers for oxidask (not published).
//!
//! - [`SchedulerTester`] runs one graph on every local scheduler, with and
//!   without optimization, and checks every run gives the same values — and
//!   refuses to pass if there was nothing to compare.
//! - [`RandomDag`] with the proptest strategy [`random_dag`]: random task
//!   graphs with a plain sequential oracle, for property tests.
//! - [`fixtures`]: the graphs benchmarks and tests share (sum tree, chain).
//! - [`LastRun`]: a callback keeping the last run's spill count and peak.
//! - [`TempDir`]: a scratch directory removed when the test ends.
//! - [`round_trip`] and [`both_ways`]: run computations with every graph
//!   sent through bytes first, as a cluster would.
//! - [`values_through_bytes`] (scheduler [`ValuesThroughBytes`]): also every
//!   task's result through its codec by id, so an intermediate type a
//!   worker could not decode fails the test, naming it.
//! - [`TestPki`]: a CA and certificates for TLS tests.

#![deny(missing_docs)]

mod dag;
pub mod fixtures;
mod last_run;
mod round_trip;
mod temp_dir;
mod tester;
mod tls;
mod values;

pub use dag::{RandomDag, random_dag, read_padded};
pub use last_run::LastRun;
pub use round_trip::{both_ways, round_trip};
pub use temp_dir::TempDir;
pub use tester::SchedulerTester;
pub use tls::TestPki;
pub use values::{ValuesThroughBytes, through_bytes, values_through_bytes};
