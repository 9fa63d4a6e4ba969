//! Results held up to a memory limit, spilled to disk above it, and
//! disk-backed shuffles.
//!
//! [`Store`] holds each task's result until its last reader takes it,
//! counting readers per task; the values themselves live in a
//! [`SpillBuffer`], which with a memory limit spills least-recently-used
//! values to [spill files](spill) and hands back lazy values that read them
//! on first access. The buffer knows nothing of readers, so a cluster
//! worker can hold its results in one without the scheduler's counts.
//! [`shuffle`] is a hash shuffle of N partitions into M through files: its
//! tasks (given a collection's split and combine ops) and its transport.
//!
//! The store knows ids and bytes — not tasks, workers or collections.

#![deny(missing_docs)]

mod buffer;
pub mod cleanup;
mod limit;
pub mod monitor;
pub mod shuffle;
pub mod spill;
mod store;

pub use buffer::{MemoryStats, SpillBuffer, StoreError, StoreOptions};
pub use limit::{default_limit, parse_bytes, physical_memory};
pub use store::Store;

#[cfg(test)]
mod tests;
