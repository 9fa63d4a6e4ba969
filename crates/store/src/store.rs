//! Results held between the task that makes them and the tasks that read
//! them, within a memory limit.
//!
//! One slot per task id. Each slot counts the readers still to come (distinct
//! dependent tasks, plus one if the task is an output). The last reader
//! *takes* the value instead of cloning its handle, so an op receives the
//! only handle and may reuse the buffer, and memory is released the moment
//! no waiting task needs it.
//!
//! With a memory limit, the store keeps the bytes it holds at or below the
//! limit: when a new result pushes it over, the least-recently-used results
//! are encoded and written to spill files (values without a codec are
//! skipped; if nothing else can go, that is an error naming the value).
//! A reader of a spilled result receives a *lazy* value that reads and
//! decodes the file on first access, so an op reading many spilled inputs
//! one after another never holds them all at once. A result larger than the
//! limit on its own is an error, not an endless spill.
//!
//! The store knows ids and bytes, not tasks, ops or collections; errors carry
//! the id and the scheduler names the key.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

use oxidask_graph::{Value, ValueMeta};
use parking_lot::Mutex;

use crate::spill::{SpillDir, SpillFile};

/// Settings of one store.
#[derive(Clone, Debug, Default)]
pub struct StoreOptions {
    /// Bytes of results held in memory at most; `None` for no limit.
    pub memory_limit: Option<usize>,
    /// Where spill directories are created (the temp dir when `None`).
    pub spill_dir: Option<PathBuf>,
}

/// Why the store could not keep a result.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// One result alone is larger than the limit.
    #[error("the result of task #{id} is {bytes} bytes, more than the memory limit of {limit} bytes; raise the limit or make chunks smaller")]
    TooLarge {
        /// Task id.
        id: u32,
        /// Its size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// The store is over its limit and the value it must spill has no codec.
    #[error("the result of task #{id} ({bytes} bytes of {type_name}) must be spilled to {} to stay under the memory limit, but values of this type have no byte encoding", dir.display())]
    NotEncodable {
        /// Task id.
        id: u32,
        /// Its size.
        bytes: usize,
        /// Its type.
        type_name: &'static str,
        /// The spill directory.
        dir: PathBuf,
    },
    /// Writing a spill file failed (directory not writable, disk full, …).
    #[error("spilling the result of task #{id} ({bytes} bytes) to {} failed: {source}", dir.display())]
    Io {
        /// Task id.
        id: u32,
        /// Its size.
        bytes: usize,
        /// The spill directory.
        dir: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl StoreError {
    /// The task whose result is at fault.
    pub fn id(&self) -> u32 {
        match self {
            StoreError::TooLarge { id, .. }
            | StoreError::NotEncodable { id, .. }
            | StoreError::Io { id, .. } => *id,
        }
    }
}

/// Memory telemetry at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryStats {
    /// Results held in memory.
    pub held: usize,
    /// Bytes of those results.
    pub held_bytes: usize,
    /// Bytes of results currently on disk.
    pub on_disk_bytes: usize,
    /// Results spilled so far.
    pub spilled: usize,
    /// Bytes spilled so far.
    pub spilled_bytes: usize,
    /// Spilled results handed back to readers so far.
    pub read_back: usize,
    /// Bytes of those.
    pub read_back_bytes: usize,
}

enum Slot {
    Empty,
    Memory { value: Value, tick: u64 },
    Disk { file: Arc<SpillFile>, meta: ValueMeta },
}

/// Result slots with reader counts, a memory limit and spilling.
pub struct Store {
    slots: Vec<Mutex<Slot>>,
    readers: Vec<AtomicU32>,
    limit: Option<usize>,
    /// Results in memory by last use (tick → id); only kept with a limit.
    lru: Mutex<BTreeMap<u64, u32>>,
    tick: AtomicU64,
    spill: SpillDir,
    held: AtomicUsize,
    held_bytes: AtomicUsize,
    on_disk_bytes: AtomicUsize,
    spilled: AtomicUsize,
    spilled_bytes: AtomicUsize,
    read_back: AtomicUsize,
    read_back_bytes: AtomicUsize,
    peak_held: AtomicUsize,
    peak_bytes: AtomicUsize,
}

impl Store {
    /// A store for `readers.len()` tasks, where `readers[i]` is how many
    /// times task `i`'s result will be taken.
    pub fn new(readers: Vec<u32>, options: StoreOptions) -> Store {
        Store {
            slots: (0..readers.len()).map(|_| Mutex::new(Slot::Empty)).collect(),
            readers: readers.into_iter().map(AtomicU32::new).collect(),
            limit: options.memory_limit,
            lru: Mutex::new(BTreeMap::new()),
            tick: AtomicU64::new(0),
            spill: SpillDir::new(options.spill_dir),
            held: AtomicUsize::new(0),
            held_bytes: AtomicUsize::new(0),
            on_disk_bytes: AtomicUsize::new(0),
            spilled: AtomicUsize::new(0),
            spilled_bytes: AtomicUsize::new(0),
            read_back: AtomicUsize::new(0),
            read_back_bytes: AtomicUsize::new(0),
            peak_held: AtomicUsize::new(0),
            peak_bytes: AtomicUsize::new(0),
        }
    }

    /// The memory limit, if any.
    pub fn limit(&self) -> Option<usize> {
        self.limit
    }

    /// Whether memory is tight (over three quarters of the limit): the
    /// scheduler then prefers tasks that consume results over tasks that
    /// produce new data.
    pub fn under_pressure(&self) -> bool {
        self.limit.is_some_and(|l| self.held_bytes.load(Ordering::Relaxed) > l / 4 * 3)
    }

    /// Keeps task `id`'s result for its readers (drops it when it has none),
    /// spilling older results if that takes the store over its limit.
    pub fn put(&self, id: u32, value: Value) -> Result<MemoryStats, StoreError> {
        if self.readers[id as usize].load(Ordering::Acquire) == 0 {
            return Ok(self.stats());
        }
        let bytes = value.nbytes();
        if let Some(limit) = self.limit {
            if bytes > limit {
                return Err(StoreError::TooLarge { id, bytes, limit });
            }
        }
        let tick = self.tick.fetch_add(1, Ordering::Relaxed);
        *self.slots[id as usize].lock() = Slot::Memory { value, tick };
        if self.limit.is_some() {
            self.lru.lock().insert(tick, id);
        }
        let count = self.held.fetch_add(1, Ordering::Relaxed) + 1;
        let total = self.held_bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        self.peak_held.fetch_max(count, Ordering::Relaxed);
        self.peak_bytes.fetch_max(total, Ordering::Relaxed);
        if let Some(limit) = self.limit {
            if total > limit {
                self.spill_until(limit)?;
            }
        }
        Ok(self.stats())
    }

    /// Spills least-recently-used results until the store holds at most
    /// `limit` bytes.
    #[cold]
    fn spill_until(&self, limit: usize) -> Result<(), StoreError> {
        let mut skipped: Option<(u32, usize, &'static str)> = None;
        let mut unspillable = Vec::new();
        while self.held_bytes.load(Ordering::Relaxed) > limit {
            let Some((tick, id)) = self.lru.lock().pop_first() else { break };
            let mut slot = self.slots[id as usize].lock();
            let Slot::Memory { value, tick: t } = &*slot else { continue };
            if *t != tick {
                continue;
            }
            let meta = value.meta();
            if !meta.has_codec() {
                skipped.get_or_insert((id, meta.nbytes(), meta.type_name()));
                unspillable.push((tick, id));
                continue;
            }
            let mut bytes = Vec::with_capacity(meta.nbytes());
            let dir = || self.spill.path().unwrap_or_else(|_| self.spill.parent().to_path_buf());
            if let Err(e) = value.encode(&mut bytes) {
                return Err(StoreError::NotEncodable {
                    id,
                    bytes: meta.nbytes(),
                    type_name: meta.type_name(),
                    dir: dir(),
                })
                .inspect_err(|_| tracing::debug!("encoding failed: {e}"));
            }
            let file = self.spill.write(&bytes).map_err(|source| StoreError::Io {
                id,
                bytes: meta.nbytes(),
                dir: dir(),
                source,
            })?;
            *slot = Slot::Disk { file, meta };
            drop(slot);
            self.held.fetch_sub(1, Ordering::Relaxed);
            self.held_bytes.fetch_sub(meta.nbytes(), Ordering::Relaxed);
            self.on_disk_bytes.fetch_add(meta.nbytes(), Ordering::Relaxed);
            self.spilled.fetch_add(1, Ordering::Relaxed);
            self.spilled_bytes.fetch_add(meta.nbytes(), Ordering::Relaxed);
        }
        // Unspillable values stay in memory and stay candidates' neighbours.
        if !unspillable.is_empty() {
            self.lru.lock().extend(unspillable);
        }
        match skipped {
            Some((id, bytes, type_name)) if self.held_bytes.load(Ordering::Relaxed) > limit => {
                Err(StoreError::NotEncodable {
                    id,
                    bytes,
                    type_name,
                    dir: self.spill.path().unwrap_or_else(|_| self.spill.parent().to_path_buf()),
                })
            }
            _ => Ok(()),
        }
    }

    /// Task `id`'s result for one reader: the value itself for the last
    /// reader, a shared handle otherwise; a lazy value reading its spill
    /// file if the result is on disk. `None` if the slot is empty, which
    /// means the caller broke the protocol.
    pub fn take(&self, id: u32) -> Option<Value> {
        let last = self.readers[id as usize].fetch_sub(1, Ordering::AcqRel) == 1;
        let mut slot = self.slots[id as usize].lock();
        match &mut *slot {
            Slot::Empty => None,
            Slot::Memory { value, tick } => {
                if !last {
                    let v = value.clone();
                    if self.limit.is_some() {
                        let fresh = self.tick.fetch_add(1, Ordering::Relaxed);
                        let old = std::mem::replace(tick, fresh);
                        let mut lru = self.lru.lock();
                        lru.remove(&old);
                        lru.insert(fresh, id);
                    }
                    return Some(v);
                }
                let Slot::Memory { value, tick } = std::mem::replace(&mut *slot, Slot::Empty) else {
                    unreachable!("matched above")
                };
                drop(slot);
                if self.limit.is_some() {
                    self.lru.lock().remove(&tick);
                }
                self.held.fetch_sub(1, Ordering::Relaxed);
                self.held_bytes.fetch_sub(value.nbytes(), Ordering::Relaxed);
                Some(value)
            }
            Slot::Disk { file, meta } => {
                let lazy = Value::lazy(file.clone(), meta);
                self.read_back.fetch_add(1, Ordering::Relaxed);
                self.read_back_bytes.fetch_add(meta.nbytes(), Ordering::Relaxed);
                if last {
                    self.on_disk_bytes.fetch_sub(meta.nbytes(), Ordering::Relaxed);
                    // The lazy value now owns the only handle: the file goes
                    // when the reader drops it.
                    *slot = Slot::Empty;
                }
                Some(lazy)
            }
        }
    }

    /// Memory telemetry now.
    pub fn stats(&self) -> MemoryStats {
        MemoryStats {
            held: self.held.load(Ordering::Relaxed),
            held_bytes: self.held_bytes.load(Ordering::Relaxed),
            on_disk_bytes: self.on_disk_bytes.load(Ordering::Relaxed),
            spilled: self.spilled.load(Ordering::Relaxed),
            spilled_bytes: self.spilled_bytes.load(Ordering::Relaxed),
            read_back: self.read_back.load(Ordering::Relaxed),
            read_back_bytes: self.read_back_bytes.load(Ordering::Relaxed),
        }
    }

    /// The most results (count, bytes) held in memory at any moment so far.
    pub fn peak(&self) -> (usize, usize) {
        (self.peak_held.load(Ordering::Relaxed), self.peak_bytes.load(Ordering::Relaxed))
    }
}
