//! Events as owned data: what a cluster sends from where a task ran to
//! where its computation is watched.
//!
//! Times become offsets from an *origin* (the computation's start as the
//! sender saw it), since an [`Instant`] means nothing in another process;
//! the receiver adds its own origin back when it replays a record.

use std::time::{Duration, Instant};

use oxidask_graph::{Key, TaskError};
use oxidask_store::MemoryStats;
use serde::{Deserialize, Serialize};

use super::{ComputationId, Event, EventBus};

/// An owned, serializable [`Event`]; times are offsets from an origin.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[non_exhaustive]
pub enum EventRecord {
    /// See [`Event::Started`].
    Started {
        /// The computation.
        computation: ComputationId,
        /// Tasks after optimization.
        ntasks: usize,
        /// Worker threads.
        workers: usize,
        /// The scheduler's name.
        scheduler: String,
    },
    /// See [`Event::TaskGroups`].
    TaskGroups {
        /// The computation.
        computation: ComputationId,
        /// `(group, tasks)`.
        groups: Vec<(String, usize)>,
        /// `(from, to)` positions in `groups`.
        edges: Vec<(u32, u32)>,
        /// The memory limit.
        memory_limit: Option<usize>,
    },
    /// See [`Event::TaskStarted`].
    TaskStarted {
        /// The computation.
        computation: ComputationId,
        /// The task's key.
        key: Key,
        /// Its op's label.
        op: String,
        /// The worker index.
        worker: usize,
        /// When it began, after the origin.
        at: Duration,
    },
    /// See [`Event::TaskFinished`].
    TaskFinished {
        /// The computation.
        computation: ComputationId,
        /// The task's key.
        key: Key,
        /// Its op's label.
        op: String,
        /// The worker index.
        worker: usize,
        /// When it began, after the origin.
        start: Duration,
        /// When it ended, after the origin.
        end: Duration,
        /// Bytes of its result.
        nbytes: usize,
        /// Memory right after its result was stored.
        memory: MemoryStats,
    },
    /// See [`Event::TaskFailed`].
    TaskFailed {
        /// The computation.
        computation: ComputationId,
        /// The failure.
        error: TaskError,
        /// The worker index.
        worker: usize,
    },
    /// See [`Event::Finished`].
    Finished {
        /// The computation.
        computation: ComputationId,
        /// Whether every output was produced.
        ok: bool,
        /// Wall time from `Started`.
        elapsed: Duration,
        /// Tasks that ran to completion.
        completed: usize,
        /// The most results held at once.
        peak_held: usize,
        /// The most bytes held at once.
        peak_held_bytes: usize,
        /// Memory at the end.
        memory: MemoryStats,
    },
}

/// The offset of `t` after `origin` (zero if `t` came first).
fn since(origin: Instant, t: Instant) -> Duration {
    t.saturating_duration_since(origin)
}

impl Event<'_> {
    /// This event as owned data, its times as offsets from `origin`.
    pub fn to_record(&self, origin: Instant) -> EventRecord {
        match *self {
            Event::Started {
                computation,
                ntasks,
                workers,
                scheduler,
            } => EventRecord::Started {
                computation,
                ntasks,
                workers,
                scheduler: scheduler.to_string(),
            },
            Event::TaskGroups {
                computation,
                groups,
                edges,
                memory_limit,
            } => EventRecord::TaskGroups {
                computation,
                groups: groups.iter().map(|&(g, n)| (g.to_string(), n)).collect(),
                edges: edges.to_vec(),
                memory_limit,
            },
            Event::TaskStarted {
                computation,
                key,
                op,
                worker,
                at,
            } => EventRecord::TaskStarted {
                computation,
                key: key.clone(),
                op: op.to_string(),
                worker,
                at: since(origin, at),
            },
            Event::TaskFinished {
                computation,
                key,
                op,
                worker,
                start,
                end,
                nbytes,
                memory,
            } => EventRecord::TaskFinished {
                computation,
                key: key.clone(),
                op: op.to_string(),
                worker,
                start: since(origin, start),
                end: since(origin, end),
                nbytes,
                memory,
            },
            Event::TaskFailed {
                computation,
                error,
                worker,
            } => EventRecord::TaskFailed {
                computation,
                error: error.clone(),
                worker,
            },
            Event::Finished {
                computation,
                ok,
                elapsed,
                completed,
                peak_held,
                peak_held_bytes,
                memory,
            } => EventRecord::Finished {
                computation,
                ok,
                elapsed,
                completed,
                peak_held,
                peak_held_bytes,
                memory,
            },
        }
    }
}

impl EventRecord {
    /// The computation the event belongs to.
    pub fn computation(&self) -> ComputationId {
        match self {
            EventRecord::Started { computation, .. }
            | EventRecord::TaskGroups { computation, .. }
            | EventRecord::TaskStarted { computation, .. }
            | EventRecord::TaskFinished { computation, .. }
            | EventRecord::TaskFailed { computation, .. }
            | EventRecord::Finished { computation, .. } => *computation,
        }
    }

    /// Calls `f` with this record as an [`Event`], its offsets added to
    /// `origin` (the receiver's start of the computation).
    pub fn with_event<R>(&self, origin: Instant, f: impl FnOnce(&Event<'_>) -> R) -> R {
        match self {
            EventRecord::Started {
                computation,
                ntasks,
                workers,
                scheduler,
            } => f(&Event::Started {
                computation: *computation,
                ntasks: *ntasks,
                workers: *workers,
                scheduler,
            }),
            EventRecord::TaskGroups {
                computation,
                groups,
                edges,
                memory_limit,
            } => {
                let groups: Vec<(&str, usize)> = groups.iter().map(|(g, n)| (&**g, *n)).collect();
                f(&Event::TaskGroups {
                    computation: *computation,
                    groups: &groups,
                    edges,
                    memory_limit: *memory_limit,
                })
            }
            EventRecord::TaskStarted {
                computation,
                key,
                op,
                worker,
                at,
            } => f(&Event::TaskStarted {
                computation: *computation,
                key,
                op,
                worker: *worker,
                at: origin + *at,
            }),
            EventRecord::TaskFinished {
                computation,
                key,
                op,
                worker,
                start,
                end,
                nbytes,
                memory,
            } => f(&Event::TaskFinished {
                computation: *computation,
                key,
                op,
                worker: *worker,
                start: origin + *start,
                end: origin + *end,
                nbytes: *nbytes,
                memory: *memory,
            }),
            EventRecord::TaskFailed {
                computation,
                error,
                worker,
            } => f(&Event::TaskFailed {
                computation: *computation,
                error,
                worker: *worker,
            }),
            EventRecord::Finished {
                computation,
                ok,
                elapsed,
                completed,
                peak_held,
                peak_held_bytes,
                memory,
            } => f(&Event::Finished {
                computation: *computation,
                ok: *ok,
                elapsed: *elapsed,
                completed: *completed,
                peak_held: *peak_held,
                peak_held_bytes: *peak_held_bytes,
                memory: *memory,
            }),
        }
    }

    /// Delivers this record to the callbacks of `bus`, as if the event had
    /// happened here (times relative to `origin`).
    pub fn replay(&self, origin: Instant, bus: &EventBus) {
        self.with_event(origin, |e| bus.emit(e));
    }
}
