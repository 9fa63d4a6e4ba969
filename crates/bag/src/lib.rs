//! Bags of records for oxidask: parallel map, filter, fold and frequencies
//! over semi-structured data, like `dask.bag`.
//!
//! A [`Bag<T>`] is a lazy collection of records of type `T` split into
//! partitions (each a `Vec<T>`). Read one from text or JSON-lines files
//! ([`read_text`], [`read_json_lines`]), build one from memory
//! ([`from_sequence`], [`range`]) or from delayed loaders
//! ([`from_delayed`]); transform it record by record (`map`, `filter`,
//! `flat_map`, `pluck`, …); aggregate it (`count`, `frequencies`, `topk`,
//! `fold`, `foldby`, …). Nothing runs until `compute`, which hands the graph
//! to the configured scheduler — all cores by default.
//!
//! ```
//! use oxidask_bag as db;
//!
//! let words = db::from_sequence(["a", "b", "a", "c", "a", "b"].map(String::from), 3)?;
//! let top = words.frequencies().topk(2, |(_, n)| *n).compute()?;
//! assert_eq!(top, vec![("a".to_string(), 3), ("b".to_string(), 2)]);
//! assert_eq!(db::range(10, 4)?.map(|x| x * x).sum().compute()?, 285);
//! # Ok::<(), db::Error>(())
//! ```
//!
//! Each partition-wise transform is one blockwise layer of the bag's
//! high-level graph, so a chain of them runs as one fused task per
//! partition; aggregations are tree reductions (`split_every` partials per
//! combine task). Records are any [`Record`]: owned, thread-safe, clonable
//! and serde-serializable, so that partitions can be spilled to disk and
//! sent to other processes. [`Bag::groupby`] gathers every record of a key
//! into one partition through a disk-backed shuffle; [`Bag::foldby`] covers
//! the common case of aggregating per key without moving records.

#![deny(missing_docs)]

mod accumulate;
mod agg;
mod bag;
mod codec;
mod create;
mod error;
mod fold;
mod groupby;
mod io;
mod keyed;
mod partials;
mod pipeline;
mod pluck;
mod records;
mod reduce;
mod reshape;
pub mod shuffle;
mod size;
mod stage_op;
mod transform;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod testutil;

pub use bag::{Bag, Item, Record, partition_value};
pub use create::{from_delayed, from_partitions, from_sequence, from_sequence_by_size, range};
pub use error::{Error, Result};
pub use groupby::{GroupbyOptions, groupby_partition};
pub use io::{
    BadLines, DEFAULT_BLOCKSIZE, IntoPaths, JsonOptions, MAX_BAD_LINE_EXAMPLES, TextOptions,
    read_json_lines, read_json_lines_with, read_text, read_text_with,
};
pub use pluck::{Pluck, PluckPath, Step};
pub use reduce::{Numeric, SPLIT_EVERY};
pub use reshape::TakeFrom;

/// What [`register_record!`] expands to; not a public interface.
#[doc(hidden)]
pub mod __private {
    pub use crate::codec::RecordsCodec;
    pub use crate::records::RecordType;
    pub use oxidask_graph::{inventory, register_value};
}
