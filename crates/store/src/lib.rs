//! Results held up to a memory limit, spilled to disk above it, and
//! disk-backed shuffles.
//!
//! [`Store`] holds each task's result until its last reader takes it; with a
//! memory limit it spills least-recently-used results to [spill files](spill)
//! and hands readers lazy values that read them back on first access.
//! [`shuffle`] builds the graph of a hash shuffle of N partitions into M
//! through files, for the collections' sort, join, and groupby.
//!
//! The store knows ids and bytes — not tasks, workers or collections.

#![deny(missing_docs)]

pub mod cleanup;
mod limit;
pub mod shuffle;
pub mod spill;
mod store;

pub use limit::{default_limit, parse_bytes, physical_memory};
pub use store::{MemoryStats, Store, StoreError, StoreOptions};

#[cfg(test)]
mod tests;
