//! Partitioned data frames for oxidask over [polars], like
//! `dask.dataframe`: a [`DataFrame`] is a lazy frame split into ordered
//! partitions, each a polars `DataFrame`, with its schema known before
//! anything runs.
//!
//! Read one from CSV files ([`read_csv`]: blocks of 64 MiB split at line
//! ends, one partition each) or split one from memory ([`from_polars`]);
//! transform it with polars expressions ([`select`](DataFrame::select),
//! [`filter`](DataFrame::filter), [`with_columns`](DataFrame::with_columns),
//! …); aggregate per group with
//! [`group_by(..).agg(..)`](DataFrame::group_by), an exact tree reduction.
//! `compute` returns a polars `DataFrame`.
//!
//! ```
//! use oxidask_dataframe as dd;
//! use polars::prelude::*;
//!
//! let trips = df!(
//!     "passenger_count" => [Some(1i64), Some(2), Some(1), None, Some(2)],
//!     "tip_amount" => [1.0f64, 2.0, 3.0, 4.0, 6.0],
//! )?;
//! let tips = dd::from_polars(trips, 2)?
//!     .group_by(["passenger_count"])
//!     .agg([col("tip_amount").mean()])?
//!     .compute()?;
//! let expected = df!(
//!     "passenger_count" => [Some(1i64), Some(2), None],
//!     "tip_amount" => [2.0f64, 4.0, 4.0],
//! )?;
//! assert!(tips.equals_missing(&expected));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Every per-partition operation appends a step to one polars lazy plan
//! per partition (one task, however many steps); the steps are data
//! (polars expressions serialize), so graphs of frames can be written to
//! bytes and run by another process. A CSV partition parses only the
//! columns its steps use. Partitions are values with their real size and
//! an Arrow IPC codec ([`IpcCodec`]), so they spill under the memory limit.

#![deny(missing_docs)]

mod codec;
mod csv;
mod delayed;
mod describe;
mod error;
mod frame;
mod groupby;
mod hashagg;
mod join;
mod keys;
mod ops;
#[cfg(test)]
mod ops_tests;
mod parquet;
mod plan;
mod records;
mod share;
mod shuffle;
mod sort;
mod to_array;
mod write;

#[cfg(test)]
mod convert_tests;
#[cfg(test)]
mod memory_tests;
#[cfg(test)]
mod shuffle_tests;
#[cfg(test)]
mod tests;

/// `docs/dataframe.md`, compiled and run as doctests so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/dataframe.md")]
mod guide {}

pub use codec::{IpcCodec, frame_value};
pub use csv::{
    BadLines, CsvOptions, DEFAULT_BLOCKSIZE, IntoPaths, MIN_AUTO_BLOCKSIZE, SCHEMA_SAMPLE_BYTES,
    auto_blocksize, read_csv,
};
pub use delayed::{Frame, from_delayed};
pub use describe::SKETCH_POINTS;
pub use error::{Error, Result};
pub use frame::{DataFrame, from_partitions, from_polars};
pub use groupby::{GroupBy, SPLIT_EVERY};
pub use join::JoinOptions;
pub use parquet::read_parquet;
pub use records::{from_bag, schema_of};

#[doc(hidden)]
pub mod __private {
    pub use crate::records::FrameRecord;
    pub use oxidask_bag::register_record;
    pub use oxidask_graph::inventory;
}

/// Registers a record type for bags (as `oxidask::bag::register_record!`)
/// and for the conversions between frames and bags of it, so that
/// [`from_bag`] and [`DataFrame::to_bag`] over it are data and run on a
/// cluster: `register_frame_record!(Trip);` next to the type (in the
/// program the workers run). Without it they run on the local schedulers
/// only.
#[macro_export]
macro_rules! register_frame_record {
    ($t:ty) => {
        $crate::__private::register_record!($t);
        $crate::__private::inventory::submit! {
            $crate::__private::FrameRecord::of::<$t>()
        }
    };
}
pub use sort::{Divisions, SortOptions};
pub use write::WriteOptions;

/// The polars crate this one is built on, so users name the same version's
/// `col`, `lit`, `DataType`, … (`use oxidask_dataframe::polars::prelude::*`).
pub use polars;
/// polars' readers and writers (`polars_io::csv`, `polars_io::ipc`), of the
/// same version.
pub use polars_io;
