//! Results held between the task that makes them and the tasks that read them.
//!
//! One slot per task id. Each slot has a count of the readers still to come
//! (distinct dependent tasks, plus one if the task is an output). The last
//! reader *takes* the value instead of cloning its handle, so an op receives
//! the only handle and may reuse the buffer, and memory is released the moment
//! no waiting task needs it. Outputs stay until the end of the computation.
//!
//! The store knows ids and bytes, not tasks or ops: the memory-limit work
//! (spilling least-recently-used entries) extends it without touching the
//! scheduling loop.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use oxidask_graph::Value;
use parking_lot::Mutex;

/// Result slots with reader counts and memory telemetry.
pub struct Store {
    slots: Vec<Mutex<Option<Value>>>,
    readers: Vec<AtomicU32>,
    held: AtomicUsize,
    held_bytes: AtomicUsize,
    peak_held: AtomicUsize,
    peak_bytes: AtomicUsize,
}

/// Counts of results held, at one moment or at the peak.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Held {
    /// Number of results held.
    pub count: usize,
    /// Bytes those results report.
    pub bytes: usize,
}

impl Store {
    /// A store for `readers.len()` tasks, where `readers[i]` is how many
    /// times task `i`'s result will be taken.
    pub fn new(readers: Vec<u32>) -> Store {
        Store {
            slots: (0..readers.len()).map(|_| Mutex::new(None)).collect(),
            readers: readers.into_iter().map(AtomicU32::new).collect(),
            held: AtomicUsize::new(0),
            held_bytes: AtomicUsize::new(0),
            peak_held: AtomicUsize::new(0),
            peak_bytes: AtomicUsize::new(0),
        }
    }

    /// Keeps task `id`'s result for its readers (drops it when it has none).
    /// Returns the counts held right after.
    pub fn put(&self, id: u32, value: Value) -> Held {
        if self.readers[id as usize].load(Ordering::Acquire) == 0 {
            return self.now();
        }
        let bytes = value.nbytes();
        *self.slots[id as usize].lock() = Some(value);
        let count = self.held.fetch_add(1, Ordering::Relaxed) + 1;
        let bytes = self.held_bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        self.peak_held.fetch_max(count, Ordering::Relaxed);
        self.peak_bytes.fetch_max(bytes, Ordering::Relaxed);
        Held { count, bytes }
    }

    /// Task `id`'s result for one reader: the value itself for the last
    /// reader, a shared handle otherwise. `None` if the slot is empty, which
    /// means the caller broke the protocol.
    pub fn take(&self, id: u32) -> Option<Value> {
        let last = self.readers[id as usize].fetch_sub(1, Ordering::AcqRel) == 1;
        let mut slot = self.slots[id as usize].lock();
        if last {
            let v = slot.take()?;
            drop(slot);
            self.held.fetch_sub(1, Ordering::Relaxed);
            self.held_bytes.fetch_sub(v.nbytes(), Ordering::Relaxed);
            Some(v)
        } else {
            slot.clone()
        }
    }

    /// Counts held now.
    pub fn now(&self) -> Held {
        Held {
            count: self.held.load(Ordering::Relaxed),
            bytes: self.held_bytes.load(Ordering::Relaxed),
        }
    }

    /// The largest counts held at any moment so far.
    pub fn peak(&self) -> Held {
        Held {
            count: self.peak_held.load(Ordering::Relaxed),
            bytes: self.peak_bytes.load(Ordering::Relaxed),
        }
    }
}
