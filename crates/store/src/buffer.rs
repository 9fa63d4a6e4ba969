//! The spill buffer: values by id, held in memory up to a limit, spilled
//! to disk above it.
//!
//! With a memory limit, the buffer keeps the bytes it holds at or below the
//! limit: when a new value pushes it over, the least-recently-used values
//! are handed to a background *writer* thread that encodes them into spill
//! files while the workers go on computing (values without a codec are
//! skipped; if nothing else can go, that is an error naming the value). A
//! value being written can still be read from memory; if it is removed
//! first, the write is discarded. When writes fall behind by more than a
//! quarter of the limit, `insert` waits for the writer. A new value is
//! counted only once it fits (held and not queued ≤ limit, queued ≤ a
//! quarter of it), so the buffer holds at most 1.25 times the limit however
//! many workers insert at once; values waiting to be counted are held by
//! their callers, one per worker.
//! A value read from disk is *lazy*: it reads and decodes the file on first
//! access, so an op reading many spilled inputs one after another never
//! holds them all at once. A value larger than the limit on its own is an
//! error, not an endless spill.
//!
//! The buffer knows ids and bytes — not readers, tasks or ops: whether a
//! fetch is the last one is the caller's answer ([`crate::Store`] counts
//! readers); errors carry the id and the scheduler names the key.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;

use oxidask_graph::{Value, ValueMeta};
use parking_lot::{Condvar, Mutex};

use crate::spill::{SpillDir, SpillFile, WriteError};

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
    #[error(
        "the result of task #{id} is {bytes} bytes, more than the memory limit of {limit} bytes; raise the limit or make chunks smaller"
    )]
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
    #[error("spilling the result of task #{id} ({bytes} bytes) to {} failed: {error}", dir.display())]
    Io {
        /// Task id.
        id: u32,
        /// Its size.
        bytes: usize,
        /// The spill directory.
        dir: PathBuf,
        /// The I/O error (part of the message, so not also a `source()`:
        /// printing the chain would repeat it).
        error: std::io::Error,
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
    Memory {
        value: Value,
        tick: u64,
    },
    /// Queued for the writer; still readable from memory.
    Spilling {
        value: Value,
        tick: u64,
    },
    Disk {
        file: Arc<SpillFile>,
        meta: ValueMeta,
    },
}

/// Values by id within a memory limit, least recently used spilled to
/// disk by a background writer, read back lazily.
pub struct SpillBuffer {
    shared: Arc<Shared>,
    writer: Mutex<Option<Writer>>,
    /// The memory monitor watches the limit while the buffer lives.
    _monitor: Option<crate::monitor::Watch>,
}

struct Writer {
    jobs: mpsc::Sender<Job>,
    thread: std::thread::JoinHandle<()>,
}

/// A result to write: the slot and the tick it had when queued (a slot
/// reused since then has another tick, and the job is stale).
struct Job {
    id: u32,
    tick: u64,
    bytes: usize,
}

struct Shared {
    slots: Vec<Mutex<Slot>>,
    limit: Option<usize>,
    /// Results in memory by last use (tick → id); only kept with a limit.
    lru: Mutex<BTreeMap<u64, u32>>,
    tick: AtomicU64,
    spill: SpillDir,
    held: AtomicUsize,
    held_bytes: AtomicUsize,
    /// Bytes queued for the writer and not yet written.
    pending_bytes: AtomicUsize,
    on_disk_bytes: AtomicUsize,
    spilled: AtomicUsize,
    spilled_bytes: AtomicUsize,
    read_back: AtomicUsize,
    read_back_bytes: AtomicUsize,
    peak_held: AtomicUsize,
    peak_bytes: AtomicUsize,
    /// The writer's first failure, reported by the next `put`.
    failure: Mutex<Option<StoreError>>,
    /// Set with `failure`, so puts need not lock to learn there is none.
    writer_failed: AtomicBool,
    written: Condvar,
    closing: AtomicBool,
    /// One put at a time makes room (waits for the writer, queues spills).
    making_room: Mutex<()>,
}

impl SpillBuffer {
    /// A buffer for ids `0..n`.
    pub fn new(n: usize, options: StoreOptions) -> SpillBuffer {
        let shared = Shared {
            slots: (0..n).map(|_| Mutex::new(Slot::Empty)).collect(),
            limit: options.memory_limit,
            lru: Mutex::new(BTreeMap::new()),
            tick: AtomicU64::new(0),
            spill: SpillDir::new(options.spill_dir),
            held: AtomicUsize::new(0),
            held_bytes: AtomicUsize::new(0),
            pending_bytes: AtomicUsize::new(0),
            on_disk_bytes: AtomicUsize::new(0),
            spilled: AtomicUsize::new(0),
            spilled_bytes: AtomicUsize::new(0),
            read_back: AtomicUsize::new(0),
            read_back_bytes: AtomicUsize::new(0),
            peak_held: AtomicUsize::new(0),
            peak_bytes: AtomicUsize::new(0),
            failure: Mutex::new(None),
            writer_failed: AtomicBool::new(false),
            written: Condvar::new(),
            closing: AtomicBool::new(false),
            making_room: Mutex::new(()),
        };
        SpillBuffer {
            _monitor: options.memory_limit.and_then(crate::monitor::watch),
            shared: Arc::new(shared),
            writer: Mutex::new(None),
        }
    }

    /// Test hook: every spill write fails after `n` bytes.
    #[cfg(test)]
    pub(crate) fn fail_writes_after(mut self, n: usize) -> SpillBuffer {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.spill.fail_after = Some(n);
        }
        self
    }

    /// The spill directory, if one was created.
    pub fn spill_dir(&self) -> Option<PathBuf> {
        self.shared.spill.created()
    }

    /// The memory limit, if any.
    pub fn limit(&self) -> Option<usize> {
        self.shared.limit
    }

    /// Whether memory is tight (over three quarters of the limit): the
    /// scheduler then prefers tasks that consume results over tasks that
    /// produce new data.
    pub fn under_pressure(&self) -> bool {
        let s = &self.shared;
        s.limit
            .is_some_and(|l| s.held_bytes.load(Ordering::Relaxed) > l / 4 * 3)
    }

    /// Queues held results for spilling, least recently used first, until
    /// what is held in memory (not counting what is already queued) is at
    /// most `target` bytes; results without a codec stay. Returns the bytes
    /// queued. For a worker whose process memory is high while this buffer
    /// is within its own limit (Dask's `spill` threshold).
    pub fn spill_down_to(&self, target: usize) -> usize {
        let s = &*self.shared;
        let _one = s.making_room.lock();
        let before = s.pending_bytes.load(Ordering::Acquire);
        // Values that cannot be spilled stay, which is no error here: the
        // caller asked for what can be done.
        let _ = self.queue_spills(target);
        s.pending_bytes
            .load(Ordering::Acquire)
            .saturating_sub(before)
    }

    /// Keeps `value` under `id` (which must be empty), queueing older
    /// values for spilling if that takes the buffer over its limit.
    pub fn insert(&self, id: u32, value: Value) -> Result<MemoryStats, StoreError> {
        let s = &*self.shared;
        let bytes = value.nbytes();
        if let Some(limit) = s.limit {
            if bytes > limit {
                return Err(StoreError::TooLarge { id, bytes, limit });
            }
        }
        let total = match s.limit {
            Some(limit) => self.admit(bytes, limit)?,
            None => s.held_bytes.fetch_add(bytes, Ordering::Relaxed) + bytes,
        };
        let tick = s.tick.fetch_add(1, Ordering::Relaxed);
        *s.slots[id as usize].lock() = Slot::Memory { value, tick };
        if s.limit.is_some() {
            s.lru.lock().insert(tick, id);
        }
        let count = s.held.fetch_add(1, Ordering::Relaxed) + 1;
        s.peak_held.fetch_max(count, Ordering::Relaxed);
        s.peak_bytes.fetch_max(total, Ordering::Relaxed);
        Ok(self.stats())
    }

    /// Counts `bytes` more as held once they fit: what is held and not
    /// queued for the writer stays at most `limit`, and what is queued at
    /// most a quarter of it — so the store never holds more than 1.25 ×
    /// the limit, however many workers put at once. Makes room by queueing
    /// older results for the writer, and waits for the writer when it lags.
    /// Returns the bytes held after counting these.
    fn admit(&self, bytes: usize, limit: usize) -> Result<usize, StoreError> {
        let s = &*self.shared;
        loop {
            self.writer_failure()?;
            let held = s.held_bytes.load(Ordering::Acquire);
            let pending = s.pending_bytes.load(Ordering::Acquire);
            if held.saturating_sub(pending) + bytes <= limit && pending <= limit / 4 {
                // The common case: room, counted without locking.
                if s.held_bytes
                    .compare_exchange_weak(held, held + bytes, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
                {
                    return Ok(held + bytes);
                }
                continue;
            }
            self.make_room(bytes, limit)?;
        }
    }

    /// One round of making room for `bytes`: one thread at a time waits for
    /// the writer to catch up, then queues old results for it.
    #[cold]
    fn make_room(&self, bytes: usize, limit: usize) -> Result<(), StoreError> {
        let s = &*self.shared;
        let _one = s.making_room.lock();
        self.wait_for_writer(limit);
        self.writer_failure()?;
        let before = s.pending_bytes.load(Ordering::Acquire);
        let nonpending = s.held_bytes.load(Ordering::Acquire).saturating_sub(before);
        if nonpending + bytes > limit {
            self.queue_spills(limit - bytes)?;
            if s.pending_bytes.load(Ordering::Acquire) == before {
                // Nothing could be queued: a result counted by another put is
                // not in the LRU list yet, or one was just taken. Let it land.
                std::thread::yield_now();
            }
        }
        Ok(())
    }

    /// Queues least-recently-used results for the writer until what is
    /// held, not counting what is queued, is at most `target` bytes.
    #[cold]
    fn queue_spills(&self, target: usize) -> Result<(), StoreError> {
        let s = &*self.shared;
        let mut skipped: Option<(u32, usize, &'static str)> = None;
        let mut unspillable = Vec::new();
        let mut unspillable_bytes = 0usize;
        let over = || {
            s.held_bytes
                .load(Ordering::Relaxed)
                .saturating_sub(s.pending_bytes.load(Ordering::Relaxed))
                > target
        };
        while over() {
            let Some((tick, id)) = s.lru.lock().pop_first() else {
                break;
            };
            let mut slot = s.slots[id as usize].lock();
            let Slot::Memory { value, tick: t } = &*slot else {
                continue;
            };
            if *t != tick {
                continue;
            }
            let meta = value.meta();
            if !meta.has_codec() {
                skipped.get_or_insert((id, meta.nbytes(), meta.type_name()));
                unspillable_bytes += meta.nbytes();
                unspillable.push((tick, id));
                continue;
            }
            let Slot::Memory { value, tick } = std::mem::replace(&mut *slot, Slot::Empty) else {
                unreachable!("matched above")
            };
            *slot = Slot::Spilling { value, tick };
            drop(slot);
            s.pending_bytes.fetch_add(meta.nbytes(), Ordering::Relaxed);
            self.send(Job {
                id,
                tick,
                bytes: meta.nbytes(),
            });
        }
        if !unspillable.is_empty() {
            s.lru.lock().extend(unspillable);
        }
        // An error only when what cannot be spilled is itself over the
        // target: still being over because of a result another thread has
        // counted but not yet listed (so not yet spillable) is not this
        // value's fault, and the next put spills that result.
        match skipped {
            Some((id, bytes, type_name)) if over() && unspillable_bytes > target => {
                Err(StoreError::NotEncodable {
                    id,
                    bytes,
                    type_name,
                    dir: s
                        .spill
                        .path()
                        .unwrap_or_else(|_| s.spill.parent().to_path_buf()),
                })
            }
            _ => Ok(()),
        }
    }

    fn send(&self, job: Job) {
        let mut writer = self.writer.lock();
        let w = writer.get_or_insert_with(|| {
            let (jobs, rx) = mpsc::channel();
            let shared = self.shared.clone();
            let thread = std::thread::Builder::new()
                .name("oxidask-spill".into())
                .spawn(move || write_loop(&shared, rx))
                .expect("starting the spill writer thread");
            Writer { jobs, thread }
        });
        // The writer only stops when the store is dropped.
        let _ = w.jobs.send(job);
    }

    /// Blocks while more than a quarter of the limit waits to be written.
    fn wait_for_writer(&self, limit: usize) {
        let s = &*self.shared;
        // The common case, on every put: nothing waits to be written.
        if s.pending_bytes.load(Ordering::Acquire) <= limit / 4 {
            return;
        }
        let mut guard = s.failure.lock();
        while s.pending_bytes.load(Ordering::Acquire) > limit / 4 && guard.is_none() {
            s.written
                .wait_for(&mut guard, std::time::Duration::from_millis(100));
        }
    }

    /// The writer's first failure, if it failed (checked without locking
    /// on every put).
    fn writer_failure(&self) -> Result<(), StoreError> {
        let s = &*self.shared;
        if !s.writer_failed.load(Ordering::Acquire) {
            return Ok(());
        }
        match s.failure.lock().take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The value under `id`: removed if `last()` says this is the last
    /// fetch, a shared handle otherwise; a lazy value reading its spill file
    /// if the value is on disk (`name` names it in that file's messages).
    /// `None` if there is no value, which means the caller broke its
    /// protocol.
    ///
    /// `last` runs under the entry's lock: a caller counting readers there
    /// cannot have its last reader remove the value before an earlier
    /// reader cloned it.
    pub fn fetch(
        &self,
        id: u32,
        last: impl FnOnce() -> bool,
        name: impl FnOnce() -> String,
    ) -> Option<Value> {
        let s = &*self.shared;
        let mut slot = s.slots[id as usize].lock();
        let last = last();
        match &mut *slot {
            Slot::Empty => None,
            Slot::Memory { value, tick } => {
                if !last {
                    let v = value.clone();
                    if s.limit.is_some() {
                        let fresh = s.tick.fetch_add(1, Ordering::Relaxed);
                        let old = std::mem::replace(tick, fresh);
                        let mut lru = s.lru.lock();
                        lru.remove(&old);
                        lru.insert(fresh, id);
                    }
                    return Some(v);
                }
                let Slot::Memory { value, tick } = std::mem::replace(&mut *slot, Slot::Empty)
                else {
                    unreachable!("matched above")
                };
                drop(slot);
                if s.limit.is_some() {
                    s.lru.lock().remove(&tick);
                }
                s.held.fetch_sub(1, Ordering::Relaxed);
                s.held_bytes.fetch_sub(value.nbytes(), Ordering::Relaxed);
                Some(value)
            }
            Slot::Spilling { value, .. } => {
                if !last {
                    return Some(value.clone());
                }
                // The queued write will find the slot empty and be dropped.
                let Slot::Spilling { value, .. } = std::mem::replace(&mut *slot, Slot::Empty)
                else {
                    unreachable!("matched above")
                };
                drop(slot);
                s.held.fetch_sub(1, Ordering::Relaxed);
                s.held_bytes.fetch_sub(value.nbytes(), Ordering::Relaxed);
                Some(value)
            }
            Slot::Disk { file, meta } => {
                file.name_task(name);
                let lazy = Value::lazy(file.clone(), meta);
                s.read_back.fetch_add(1, Ordering::Relaxed);
                s.read_back_bytes
                    .fetch_add(meta.nbytes(), Ordering::Relaxed);
                if last {
                    s.on_disk_bytes.fetch_sub(meta.nbytes(), Ordering::Relaxed);
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
        let s = &*self.shared;
        MemoryStats {
            held: s.held.load(Ordering::Relaxed),
            held_bytes: s.held_bytes.load(Ordering::Relaxed),
            on_disk_bytes: s.on_disk_bytes.load(Ordering::Relaxed),
            spilled: s.spilled.load(Ordering::Relaxed),
            spilled_bytes: s.spilled_bytes.load(Ordering::Relaxed),
            read_back: s.read_back.load(Ordering::Relaxed),
            read_back_bytes: s.read_back_bytes.load(Ordering::Relaxed),
        }
    }

    /// The most results (count, bytes) held in memory at any moment so far.
    pub fn peak(&self) -> (usize, usize) {
        let s = &*self.shared;
        (
            s.peak_held.load(Ordering::Relaxed),
            s.peak_bytes.load(Ordering::Relaxed),
        )
    }
}

impl Drop for SpillBuffer {
    fn drop(&mut self) {
        self.shared.closing.store(true, Ordering::Release);
        if let Some(Writer { jobs, thread }) = self.writer.get_mut().take() {
            drop(jobs);
            let _ = thread.join();
        }
    }
}

/// The writer thread: encodes and writes queued results, then swaps each
/// slot from memory to disk unless a reader took the value meanwhile.
fn write_loop(s: &Shared, jobs: mpsc::Receiver<Job>) {
    for Job {
        id,
        tick,
        bytes: queued,
    } in jobs
    {
        let value = match &*s.slots[id as usize].lock() {
            Slot::Spilling { value, tick: t } if *t == tick => value.clone(),
            _ => {
                // Taken by its last reader before the write began.
                s.pending_bytes.fetch_sub(queued, Ordering::Release);
                let _guard = s.failure.lock();
                s.written.notify_all();
                continue;
            }
        };
        let meta = value.meta();
        let n = meta.nbytes();
        let not_encodable = || {
            Some(StoreError::NotEncodable {
                id,
                bytes: n,
                type_name: meta.type_name(),
                dir: s.spill.parent().to_path_buf(),
            })
        };
        let result = if s.closing.load(Ordering::Acquire) {
            Err(None)
        } else if !meta.has_codec() {
            // Said before any file (or directory) is made for it.
            Err(not_encodable())
        } else {
            // Encoded straight into the file: no full-size buffer.
            s.spill
                .write_with(id, |w| value.encode_to(w))
                .map_err(|e| match e {
                    WriteError::Encode(_) => not_encodable(),
                    WriteError::Io(source) => Some(StoreError::Io {
                        id,
                        bytes: n,
                        dir: s
                            .spill
                            .path()
                            .unwrap_or_else(|_| s.spill.parent().to_path_buf()),
                        error: source,
                    }),
                })
        };
        drop(value);
        {
            let mut slot = s.slots[id as usize].lock();
            let still_queued = matches!(&*slot, Slot::Spilling { tick: t, .. } if *t == tick);
            match result {
                Ok(file) if still_queued => {
                    *slot = Slot::Disk { file, meta };
                    drop(slot);
                    s.held.fetch_sub(1, Ordering::Relaxed);
                    s.held_bytes.fetch_sub(n, Ordering::Relaxed);
                    s.on_disk_bytes.fetch_add(n, Ordering::Relaxed);
                    s.spilled.fetch_add(1, Ordering::Relaxed);
                    s.spilled_bytes.fetch_add(n, Ordering::Relaxed);
                }
                // Taken by its last reader meanwhile: the file is dropped.
                Ok(_) => {}
                Err(e) => {
                    if still_queued {
                        // Keep it in memory; the failure stops the computation.
                        let Slot::Spilling { value, tick } =
                            std::mem::replace(&mut *slot, Slot::Empty)
                        else {
                            unreachable!("matched above")
                        };
                        *slot = Slot::Memory { value, tick };
                    }
                    if let Some(e) = e {
                        s.failure.lock().get_or_insert(e);
                        s.writer_failed.store(true, Ordering::Release);
                    }
                }
            }
        }
        s.pending_bytes.fetch_sub(n, Ordering::Release);
        let _guard = s.failure.lock();
        s.written.notify_all();
    }
}
