//! What happens during a computation, for diagnostics to observe.
//!
//! Schedulers emit [`Event`]s to every [`Callback`] that is registered
//! globally ([`register`], like `dask.diagnostics` used as a context manager)
//! or passed with one call ([`ComputeOptions::callback`](crate::ComputeOptions::callback)).
//! Callbacks run on the worker threads, so they must be quick and
//! thread-safe. A callback that panics is switched off for the rest of the
//! computation (other callbacks go on), the panic never reaches a worker or
//! the caller's thread, and the computation ends with
//! [`Error::Callback`](crate::Error::Callback) naming the event and the
//! panic's message. When no callback is active the schedulers skip taking
//! timestamps altogether.
//!
//! Every event names its computation ([`ComputationId`], fresh for each
//! `compute`), so one callback can follow concurrent computations. Events
//! borrow from the running computation (no allocation per event); an
//! [`EventRecord`] is the owned, serializable form a cluster forwards, and
//! replays into local callbacks on the other side.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use oxidask_graph::{Key, TaskError};
use parking_lot::RwLock;

use oxidask_store::MemoryStats;

mod record;
pub use record::EventRecord;

/// Which computation an event belongs to: fresh for each `compute` in this
/// process.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct ComputationId(pub u64);

impl ComputationId {
    /// An id no earlier computation of this process had.
    pub fn fresh() -> ComputationId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        ComputationId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

impl std::fmt::Display for ComputationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "computation {}", self.0)
    }
}

/// One thing that happened during a computation.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A computation is about to run `ntasks` tasks on `workers` threads.
    Started {
        /// The computation.
        computation: ComputationId,
        /// Tasks after optimization.
        ntasks: usize,
        /// Worker threads.
        workers: usize,
        /// The scheduler's name.
        scheduler: &'a str,
    },
    /// Right after `Started`: how many tasks of each task group
    /// ([`Key::prefix`]) the computation will run, which groups feed which,
    /// and its memory limit. Only emitted when a callback listens.
    TaskGroups {
        /// The computation.
        computation: ComputationId,
        /// `(group, tasks)` in order of first appearance in the plan.
        groups: &'a [(&'a str, usize)],
        /// `(from, to)`: some task of group `to` depends on one of group
        /// `from` (positions in `groups`; each pair once, none to itself).
        edges: &'a [(u32, u32)],
        /// Bytes of results held in memory at most; `None` for no limit.
        memory_limit: Option<usize>,
    },
    /// A task began on a worker.
    TaskStarted {
        /// The computation.
        computation: ComputationId,
        /// The task's key.
        key: &'a Key,
        /// Its op's name.
        op: &'a str,
        /// The worker index (0-based).
        worker: usize,
        /// When it began.
        at: Instant,
    },
    /// A task produced its result.
    TaskFinished {
        /// The computation.
        computation: ComputationId,
        /// The task's key.
        key: &'a Key,
        /// Its op's name.
        op: &'a str,
        /// The worker index.
        worker: usize,
        /// When it began.
        start: Instant,
        /// When it ended.
        end: Instant,
        /// Bytes of its result.
        nbytes: usize,
        /// Memory right after its result was stored (and others spilled).
        memory: MemoryStats,
    },
    /// A task failed; the computation stops.
    TaskFailed {
        /// The computation.
        computation: ComputationId,
        /// The failure, naming key and op.
        error: &'a TaskError,
        /// The worker index.
        worker: usize,
    },
    /// The computation ended (successfully or not).
    Finished {
        /// The computation.
        computation: ComputationId,
        /// Whether every output was produced.
        ok: bool,
        /// Wall time from `Started`.
        elapsed: Duration,
        /// Tasks that ran to completion.
        completed: usize,
        /// The most results held in memory at once.
        peak_held: usize,
        /// The most bytes of results held in memory at once.
        peak_held_bytes: usize,
        /// Memory at the end, with the totals spilled and read back.
        memory: MemoryStats,
    },
}

impl Event<'_> {
    /// The computation the event belongs to.
    pub fn computation(&self) -> ComputationId {
        match self {
            Event::Started { computation, .. }
            | Event::TaskGroups { computation, .. }
            | Event::TaskStarted { computation, .. }
            | Event::TaskFinished { computation, .. }
            | Event::TaskFailed { computation, .. }
            | Event::Finished { computation, .. } => *computation,
        }
    }

    /// The event's name, e.g. `TaskFinished`.
    pub fn name(&self) -> &'static str {
        match self {
            Event::Started { .. } => "Started",
            Event::TaskGroups { .. } => "TaskGroups",
            Event::TaskStarted { .. } => "TaskStarted",
            Event::TaskFinished { .. } => "TaskFinished",
            Event::TaskFailed { .. } => "TaskFailed",
            Event::Finished { .. } => "Finished",
        }
    }
}

/// Emits `Started` and, when anybody listens, `TaskGroups` for `plan`.
pub(crate) fn emit_started(
    bus: &EventBus,
    computation: ComputationId,
    plan: &oxidask_graph::optimize::Plan,
    workers: usize,
    scheduler: &str,
    memory_limit: Option<usize>,
) {
    bus.emit(&Event::Started {
        computation,
        ntasks: plan.len(),
        workers,
        scheduler,
    });
    if bus.is_empty() {
        return;
    }
    let mut index: std::collections::HashMap<&str, u32> = std::collections::HashMap::new();
    let mut groups: Vec<(&str, usize)> = Vec::new();
    let mut group_of: Vec<u32> = Vec::with_capacity(plan.len());
    for key in plan.graph.keys() {
        let prefix = key.prefix();
        let g = match index.get(prefix) {
            Some(&g) => g,
            None => {
                let g = groups.len() as u32;
                index.insert(prefix, g);
                groups.push((prefix, 0));
                g
            }
        };
        groups[g as usize].1 += 1;
        group_of.push(g);
    }
    let mut seen = std::collections::HashSet::new();
    let mut edges = Vec::new();
    let mut last = None;
    for (task, &to) in group_of.iter().enumerate() {
        for &dep in plan.deps.of(task as u32) {
            let edge = (group_of[dep as usize], to);
            if edge.0 != to && last != Some(edge) && seen.insert(edge) {
                edges.push(edge);
            }
            last = Some(edge);
        }
    }
    bus.emit(&Event::TaskGroups {
        computation,
        groups: &groups,
        edges: &edges,
        memory_limit,
    });
}

/// Receives events; implemented by [`ProgressBar`](crate::ProgressBar),
/// [`Profiler`](crate::Profiler) and user diagnostics.
pub trait Callback: Send + Sync {
    /// Called for each event, on the thread where it happened.
    fn on_event(&self, event: &Event<'_>);
}

type Registered = Vec<(u64, Arc<dyn Callback>)>;

static GLOBAL: RwLock<Registered> = RwLock::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// Registers a callback for every computation in this process until the
/// returned guard is dropped.
#[must_use = "the callback is unregistered when the guard is dropped"]
pub fn register(callback: Arc<dyn Callback>) -> Registration {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    GLOBAL.write().push((id, callback));
    Registration { id }
}

/// Keeps a callback registered; unregisters it on drop.
#[derive(Debug)]
pub struct Registration {
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        GLOBAL.write().retain(|(id, _)| *id != self.id);
    }
}

/// The callbacks active for one computation.
#[derive(Clone, Default)]
pub struct EventBus {
    callbacks: Vec<Arc<dyn Callback>>,
    /// Per callback, whether it panicked (and is switched off), and the
    /// first panic's event and message.
    panics: Arc<Panics>,
}

#[derive(Default)]
struct Panics {
    off: parking_lot::Mutex<Vec<usize>>,
    any: std::sync::atomic::AtomicBool,
    first: parking_lot::Mutex<Option<(&'static str, String)>>,
}

impl EventBus {
    /// The globally registered callbacks plus `extra`.
    pub fn collect(extra: &[Arc<dyn Callback>]) -> EventBus {
        let mut callbacks: Vec<Arc<dyn Callback>> =
            GLOBAL.read().iter().map(|(_, c)| c.clone()).collect();
        callbacks.extend(extra.iter().cloned());
        EventBus {
            callbacks,
            panics: Arc::default(),
        }
    }

    /// The first callback panic of this bus: the event's name and the
    /// panic's message.
    pub fn panicked(&self) -> Option<(&'static str, String)> {
        if !self.panics.any.load(Ordering::Acquire) {
            return None;
        }
        self.panics.first.lock().clone()
    }

    /// Whether nobody listens (schedulers then skip timestamps).
    pub fn is_empty(&self) -> bool {
        self.callbacks.is_empty()
    }

    /// Delivers one event to every callback; a callback that panics is
    /// switched off and its panic kept for [`panicked`](EventBus::panicked).
    pub fn emit(&self, event: &Event<'_>) {
        let any = self.panics.any.load(Ordering::Acquire);
        for (i, c) in self.callbacks.iter().enumerate() {
            if any && self.panics.off.lock().contains(&i) {
                continue;
            }
            let delivered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                c.on_event(event);
            }));
            if let Err(payload) = delivered {
                self.callback_panicked(i, event, &*payload);
            }
        }
    }

    #[cold]
    fn callback_panicked(&self, i: usize, event: &Event<'_>, payload: &(dyn std::any::Any + Send)) {
        let message = if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_string()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "a panic with a non-string payload".to_string()
        };
        tracing::error!("event callback panicked on {}: {message}", event.name());
        self.panics.off.lock().push(i);
        self.panics
            .first
            .lock()
            .get_or_insert((event.name(), message));
        self.panics.any.store(true, Ordering::Release);
    }
}
