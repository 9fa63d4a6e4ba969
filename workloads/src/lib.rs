//! The seed workloads' plain, single-threaded science code: what a user writes before oxidask
//! parallelizes it.
//!
//! Nothing here knows about oxidask. The examples and benchmarks call these functions from many
//! threads at once, so every entry point is either a pure function or takes its reusable state
//! (such as FFT plans) explicitly or from a thread-local.

#![deny(missing_docs)]

pub mod lightcurve;
pub mod taxi;
