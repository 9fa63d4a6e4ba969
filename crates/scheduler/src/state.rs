//! The bookkeeping of one computation, without threads or I/O.
//!
//! [`TaskState`] is fed "task finished" and "task failed" and answers what
//! became ready, which results may be released, whether the computation is
//! over and what its first failure was. It holds no values and runs nothing:
//! the local schedulers call it from their worker threads (its counters are
//! atomics, so concurrent callers need no lock), and a cluster scheduler can
//! drive the same logic from the messages of remote workers.
//!
//! - `waiting[i]`: dependencies of task `i` not yet finished; at zero the
//!   task is ready.
//! - `readers[i]`: tasks (plus one per requested output) that still have to
//!   read task `i`'s result; at zero the result is released. The local store
//!   counts its own readers as it hands values out (it must decide "clone or
//!   take" under the slot's lock); [`TaskState::readers`] gives it the
//!   initial counts and [`TaskState::consumed`] is the same rule for a
//!   scheduler whose results live elsewhere.
//! - `remaining`: tasks not yet finished; at zero the computation is done.
//! - the first failure, after which no new task starts.
//! - root-task queuing: while memory is tight, tasks that consume results
//!   run before new roots ([`TaskState::prefer_consumers`]).

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

use oxidask_graph::Deps;
use parking_lot::Mutex;

/// Waiting counts, reader counts, completion and first failure of one
/// computation over tasks `0..n` with dependencies `deps` (borrowed from
/// the plan, which outlives the run, or owned: [`TaskState::owned`], for a
/// cluster scheduler that keeps many computations alive between messages).
///
/// `E` is the failure a caller records (the local schedulers' [`Error`](crate::Error)).
pub struct TaskState<'d, E> {
    deps: Cow<'d, Deps>,
    dependents: Deps,
    waiting: Vec<AtomicU32>,
    readers: Vec<AtomicU32>,
    remaining: AtomicUsize,
    failed: AtomicBool,
    failure: Mutex<Option<E>>,
    root_task_queuing: bool,
}

impl<E> TaskState<'static, E> {
    /// [`TaskState::new`] owning its dependency lists: the state of one
    /// computation of a cluster scheduler, which outlives any borrow of a
    /// message. A scheduler recomputing lost results builds a fresh state
    /// and replays what still holds ([`TaskState::finished`],
    /// [`TaskState::consumed`]).
    pub fn owned(deps: Deps, outputs: &[u32], root_task_queuing: bool) -> TaskState<'static, E> {
        TaskState::with_deps(Cow::Owned(deps), outputs, root_task_queuing)
    }
}

impl<'d, E> TaskState<'d, E> {
    /// The state before any task ran. `deps` lists each task's distinct
    /// dependencies; `outputs` the requested tasks (each read once more at
    /// the end, repeats counted). With `root_task_queuing`, tasks that
    /// consume results go first while memory is tight.
    pub fn new(deps: &'d Deps, outputs: &[u32], root_task_queuing: bool) -> TaskState<'d, E> {
        TaskState::with_deps(Cow::Borrowed(deps), outputs, root_task_queuing)
    }

    fn with_deps(
        deps: Cow<'d, Deps>,
        outputs: &[u32],
        root_task_queuing: bool,
    ) -> TaskState<'d, E> {
        let dependents = deps.reverse();
        let n = dependents.len();
        let mut readers: Vec<u32> = (0..n as u32)
            .map(|i| dependents.of(i).len() as u32)
            .collect();
        for &o in outputs {
            readers[o as usize] += 1;
        }
        TaskState {
            waiting: (0..n as u32)
                .map(|i| AtomicU32::new(deps.of(i).len() as u32))
                .collect(),
            readers: readers.into_iter().map(AtomicU32::new).collect(),
            deps,
            dependents,
            remaining: AtomicUsize::new(n),
            failed: AtomicBool::new(false),
            failure: Mutex::new(None),
            root_task_queuing,
        }
    }

    /// The dependents of task `id` (tasks that read its result).
    pub fn dependents(&self, id: u32) -> &[u32] {
        self.dependents.of(id)
    }

    /// The number of tasks.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Whether there are no tasks.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// The initial reader count of every task's result, for a store that
    /// releases results itself as readers take them.
    pub fn readers(&self) -> Vec<u32> {
        self.readers
            .iter()
            .map(|r| r.load(Ordering::Relaxed))
            .collect()
    }

    /// Tasks ready at the start (no dependencies), best `priority` first
    /// (lowest number; ties by id).
    pub fn roots(&self, priority: &[u32]) -> Vec<u32> {
        let mut roots: Vec<u32> = (0..self.len() as u32)
            .filter(|&i| self.deps.of(i).is_empty())
            .collect();
        roots.sort_unstable_by_key(|&i| (priority[i as usize], i));
        roots
    }

    /// Task `id` finished: appends the tasks this made ready to `ready`.
    /// Call once per task.
    #[inline]
    pub fn finished(&self, id: u32, ready: &mut Vec<u32>) {
        for &d in self.dependents.of(id) {
            if self.waiting[d as usize].fetch_sub(1, Ordering::AcqRel) == 1 {
                ready.push(d);
            }
        }
        self.remaining.fetch_sub(1, Ordering::AcqRel);
    }

    /// Task `id` (finished) has read its dependencies: appends those whose
    /// last reader it was to `released`. For a scheduler whose results live
    /// elsewhere (the local store counts readers itself as it hands values
    /// out). Call once per task.
    pub fn consumed(&self, id: u32, released: &mut Vec<u32>) {
        for &d in self.deps.of(id) {
            self.read(d, released);
        }
    }

    /// Output `id` was delivered to the caller: appends it to `released` if
    /// that was its last reader. Call once per time `id` was requested.
    pub fn delivered(&self, id: u32, released: &mut Vec<u32>) {
        self.read(id, released);
    }

    fn read(&self, id: u32, released: &mut Vec<u32>) {
        if self.readers[id as usize].fetch_sub(1, Ordering::AcqRel) == 1 {
            released.push(id);
        }
    }

    /// Whether task `id`'s result has no reader (it need not be kept).
    pub fn unread(&self, id: u32) -> bool {
        self.readers[id as usize].load(Ordering::Acquire) == 0
    }

    /// Records a failure; only the first is kept. After it no new task
    /// should start. Returns whether this was the first.
    #[cold]
    pub fn fail(&self, error: E) -> bool {
        let mut slot = self.failure.lock();
        let first = slot.is_none();
        if first {
            *slot = Some(error);
        }
        self.failed.store(true, Ordering::Release);
        first
    }

    /// Whether a task failed.
    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    /// The first failure, taken out (later calls return `None`).
    pub fn take_failure(&self) -> Option<E> {
        self.failure.lock().take()
    }

    /// Whether no new task should start: all done, or one failed.
    #[inline]
    pub fn is_over(&self) -> bool {
        self.failed.load(Ordering::Acquire) || self.remaining.load(Ordering::Acquire) == 0
    }

    /// Tasks not yet finished.
    pub fn remaining(&self) -> usize {
        self.remaining.load(Ordering::Acquire)
    }

    /// Tasks finished.
    pub fn completed(&self) -> usize {
        self.len() - self.remaining()
    }

    /// Whether a worker should take tasks that consume results before new
    /// roots: root-task queuing is on and memory is tight.
    #[inline]
    pub fn prefer_consumers(&self, memory_tight: impl FnOnce() -> bool) -> bool {
        self.root_task_queuing && memory_tight()
    }

    /// The distinct dependencies of task `id`.
    pub fn deps(&self, id: u32) -> &[u32] {
        self.deps.of(id)
    }
}

#[cfg(test)]
mod tests;
