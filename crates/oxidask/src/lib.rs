//! oxidask: parallel computing for Rust in the spirit of Dask.
//!
//! Keep writing ordinary Rust — plain functions, `ndarray`, serde records — and
//! oxidask spreads the work over every core. Each part is a module:
//!
//! - [`delayed`](mod@delayed): turn calls of plain functions into a lazy task graph
//!   ([`delayed!`](macro@delayed)) and compute it in parallel;
//! - [`array`](mod@array): chunked N-d arrays over `ndarray` — NumPy broadcasting,
//!   fused elementwise chains, tree reductions, stats, slicing, matmul,
//!   `.npy` files (like `dask.array`);
//! - `dataframe` (the `dataframe` feature): partitioned data frames over
//!   `polars` — CSV and Parquet in and out, polars expressions per
//!   partition, exact `group_by`, joins and sorts through a disk shuffle
//!   (like `dask.dataframe`);
//! - [`bag`]: partitioned collections of records — text and JSON lines,
//!   map/filter/pluck, frequencies, topk, folds (like `dask.bag`);
//! - [`graph`]: keys, tasks, ops, values and the optimizer;
//! - [`scheduler`]: the sync and threaded schedulers, configuration and
//!   diagnostics ([`diagnostics::ProgressBar`], [`diagnostics::Profiler`],
//!   the live [`diagnostics::Dashboard`] and
//!   [`diagnostics::performance_report`]);
//! - [`distributed`]: a cluster of worker processes, futures and
//!   [`LocalCluster`](distributed::LocalCluster) (call [`init`] first in `main`).
//!
//! ```
//! use oxidask::prelude::*;
//!
//! fn square(x: u64) -> u64 { x * x }
//! fn sum(xs: Vec<u64>) -> u64 { xs.iter().sum() }
//!
//! let squares: Vec<Delayed<u64>> = (0..10).map(|i| delayed!(square(i))).collect();
//! let total = compute(&squares)?.into_iter().sum::<u64>();
//! assert_eq!(total, 285);
//! # Ok::<(), oxidask::Error>(())
//! ```

#![deny(missing_docs)]

/// Lazy calls of plain functions: [`Delayed`](delayed::Delayed), [`delayed!`], [`compute`](delayed::compute).
pub mod delayed {
    pub use oxidask_delayed::*;
}

/// Bags of records: [`Bag`](bag::Bag), [`read_text`](bag::read_text),
/// [`read_json_lines`](bag::read_json_lines), [`from_sequence`](bag::from_sequence), …
pub mod bag {
    pub use oxidask_bag::*;
}

/// Partitioned data frames over polars: [`DataFrame`](dataframe::DataFrame),
/// [`read_csv`](dataframe::read_csv), [`read_parquet`](dataframe::read_parquet),
/// [`from_polars`](dataframe::from_polars), `group_by(..).agg(..)`, `join`,
/// `sort`; `dataframe::polars` is the polars it is built on.
/// Needs the `dataframe` feature (`oxidask = { features = ["dataframe"] }`).
#[cfg(feature = "dataframe")]
pub mod dataframe {
    pub use oxidask_dataframe::*;
}

/// Chunked N-d arrays over `ndarray`: [`Array`](array::Array), creation,
/// elementwise maths, reductions, [`stats`](array::stats).
pub mod array {
    pub use oxidask_array::*;
}

/// Task graphs: keys, tasks, ops, values, tokenize, the optimizer passes.
pub mod graph {
    pub use oxidask_graph::*;
}

/// Results within a memory limit, spilling, and the disk-backed shuffle.
pub mod store {
    pub use oxidask_store::*;
}

/// Schedulers, configuration and events.
pub mod scheduler {
    pub use oxidask_scheduler::*;
}

/// Ready-made event callbacks, like `dask.diagnostics`, and the live
/// dashboard and performance reports (`docs/diagnostics.md`).
pub mod diagnostics {
    pub use oxidask_dashboard::{Dashboard, DashboardError, performance_report};
    pub use oxidask_scheduler::{Profiler, ProgressBar, TaskRecord};
}

/// The cluster: a scheduler and worker processes over TCP, a
/// [`Client`](distributed::Client) with typed futures, and
/// [`LocalCluster`](distributed::LocalCluster) (`docs/distributed.md`).
pub mod distributed {
    pub use oxidask_distributed::*;
}

/// Call first thing in `main`: when this program was started as a cluster
/// worker (by [`LocalCluster`](distributed::LocalCluster), or with
/// `OXIDASK_WORKER_OF=<scheduler address>`), runs the worker — so the
/// program's `#[oxidask::remote]` functions and registered types are the
/// worker's — and exits the process when it stops; otherwise returns at
/// once.
pub fn init() {
    oxidask_distributed::worker_main();
}

/// Configuration: scheduler choice, worker count, and their environment
/// variables (`OXIDASK_SCHEDULER`, `OXIDASK_NUM_WORKERS`).
pub mod config {
    pub use oxidask_scheduler::config::*;
}

pub use oxidask_delayed::delayed;
/// The memory a value holds (trait), and `#[derive(DataSize)]` for your own
/// types: every value a task returns must know its size so the memory limit
/// holds (see `docs/memory.md`).
pub use oxidask_graph::DataSize;
pub use oxidask_macros::DataSize;
pub use oxidask_macros::remote;
pub use oxidask_scheduler::{Error, Result};

/// The names most programs need: `use oxidask::prelude::*;`.
pub mod prelude {
    pub use oxidask_delayed::{Delayed, compute, compute_with, delayed};
    pub use oxidask_graph::DataSize;
    pub use oxidask_macros::{DataSize, remote};
    pub use oxidask_scheduler::{ComputeOptions, SchedulerChoice, with_scheduler};
}

/// The guides in `docs/`, compiled and run as doctests so they stay true.
#[cfg(doctest)]
mod guides {
    // The README shows data frames too: tested with the `dataframe`
    // feature (on in a workspace build, which the examples and tests ask
    // for).
    #[cfg(feature = "dataframe")]
    #[doc = include_str!("../../../README.md")]
    mod readme {}
    #[doc = include_str!("../../../docs/delayed.md")]
    mod delayed {}
    #[doc = include_str!("../../../docs/scheduling.md")]
    mod scheduling {}
    #[doc = include_str!("../../../docs/graphs.md")]
    mod graphs {}
    #[doc = include_str!("../../../docs/array.md")]
    mod array {}
    #[doc = include_str!("../../../docs/bag.md")]
    mod bag {}
    #[cfg(feature = "dataframe")]
    #[doc = include_str!("../../../docs/dataframe.md")]
    mod dataframe {}
    #[doc = include_str!("../../../docs/memory.md")]
    mod memory {}
    #[doc = include_str!("../../../docs/diagnostics.md")]
    mod diagnostics {}
    #[doc = include_str!("../../../docs/distributed.md")]
    mod distributed {}
}
