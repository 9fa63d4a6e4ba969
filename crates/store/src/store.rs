//! Results held between the task that makes them and the tasks that read
//! them: one slot per task id, counting the readers still to come.
//!
//! Each task's count starts at its distinct dependent tasks, plus one per
//! time it is requested as an output. The last reader *takes* the value
//! instead of cloning its handle, so an op receives the only handle and may
//! reuse the buffer, and memory is released the moment no waiting task
//! needs it. Where values live — memory or disk, within the limit — is the
//! [`SpillBuffer`]'s job.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use oxidask_graph::Value;

use crate::buffer::{MemoryStats, SpillBuffer, StoreError, StoreOptions};

/// Result slots with reader counts over a [`SpillBuffer`].
pub struct Store {
    readers: Vec<AtomicU32>,
    buffer: SpillBuffer,
}

impl Store {
    /// A store for `readers.len()` tasks, where `readers[i]` is how many
    /// times task `i`'s result will be taken.
    pub fn new(readers: Vec<u32>, options: StoreOptions) -> Store {
        Store {
            buffer: SpillBuffer::new(readers.len(), options),
            readers: readers.into_iter().map(AtomicU32::new).collect(),
        }
    }

    /// Test hook: every spill write fails after `n` bytes.
    #[cfg(test)]
    pub(crate) fn fail_writes_after(mut self, n: usize) -> Store {
        self.buffer = self.buffer.fail_writes_after(n);
        self
    }

    /// The spill directory, if one was created.
    pub fn spill_dir(&self) -> Option<PathBuf> {
        self.buffer.spill_dir()
    }

    /// The memory limit, if any.
    pub fn limit(&self) -> Option<usize> {
        self.buffer.limit()
    }

    /// Whether memory is tight (see [`SpillBuffer::under_pressure`]).
    pub fn under_pressure(&self) -> bool {
        self.buffer.under_pressure()
    }

    /// Keeps task `id`'s result for its readers (drops it when it has none),
    /// spilling older results if that takes the store over its limit.
    pub fn put(&self, id: u32, value: Value) -> Result<MemoryStats, StoreError> {
        if self.readers[id as usize].load(Ordering::Acquire) == 0 {
            return Ok(self.stats());
        }
        self.buffer.insert(id, value)
    }

    /// Task `id`'s result for one reader: the value itself for the last
    /// reader, a shared handle otherwise; a lazy value reading its spill
    /// file if the result is on disk. `None` if the slot is empty, which
    /// means the caller broke the protocol.
    pub fn take(&self, id: u32) -> Option<Value> {
        self.take_named(id, || format!("#{id}"))
    }

    /// [`take`](Store::take), naming the task (its key) for the messages of
    /// a spill file that cannot be read back.
    pub fn take_named(&self, id: u32, name: impl FnOnce() -> String) -> Option<Value> {
        // The reader is counted under the buffer entry's lock (see
        // `SpillBuffer::fetch`).
        let last = || self.readers[id as usize].fetch_sub(1, Ordering::AcqRel) == 1;
        self.buffer.fetch(id, last, name)
    }

    /// Memory telemetry now.
    pub fn stats(&self) -> MemoryStats {
        self.buffer.stats()
    }

    /// The most results (count, bytes) held in memory at any moment so far.
    pub fn peak(&self) -> (usize, usize) {
        self.buffer.peak()
    }
}
