//! The multi-threaded scheduler: one shared loop per thread, work stealing.
//!
//! Ready tasks live in priority heaps (lowest priority number first):
//!
//! - the *injector* holds the tasks ready at the start (the roots), sorted
//!   once (it is never added to);
//! - each worker owns a heap of the tasks its own results made ready.
//!
//! A worker runs the better of its own best task and the injector's best
//! (whose priority it reads from an atomic, without locking), so it
//! continues depth-first on the data it just produced, while roots are taken
//! in global priority order — siblings of one subtree go to whichever worker
//! is free, not dealt round-robin. A worker with nothing to run steals the
//! best task of another worker's heap. A worker that finds nothing anywhere
//! parks on a condition variable; pushers wake a parked worker only when
//! someone is parked.
//!
//! Threads are scoped to one computation: when `run` returns, every worker
//! thread has ended, on success, error or panic alike.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use oxidask_graph::Value;
use oxidask_graph::optimize::Plan;
use parking_lot::{Condvar, Mutex};

use crate::RunContext;
use crate::Scheduler;
use crate::error::Result;
use crate::run::{ReadyQueue, Run, worker_loop};

/// Runs tasks on `num_workers` threads (default: all cores), ready tasks
/// taken by priority, idle workers stealing from busy ones. The default
/// scheduler.
#[derive(Clone, Copy, Debug)]
pub struct ThreadedScheduler {
    num_workers: usize,
}

impl Default for ThreadedScheduler {
    fn default() -> Self {
        ThreadedScheduler::new(crate::config::default_num_workers())
    }
}

impl ThreadedScheduler {
    /// A scheduler with `num_workers` threads (at least one).
    pub fn new(num_workers: usize) -> ThreadedScheduler {
        ThreadedScheduler {
            num_workers: num_workers.max(1),
        }
    }

    /// The number of worker threads.
    pub fn num_workers(&self) -> usize {
        self.num_workers
    }
}

type Heap = BinaryHeap<Reverse<(u32, u32)>>;

/// A heap plus its best priority readable without the lock.
struct SharedHeap {
    heap: Mutex<Heap>,
    /// The best priority in `heap`, or `u64::MAX` when empty; updated under the lock.
    top: AtomicU64,
}

impl SharedHeap {
    fn new() -> SharedHeap {
        SharedHeap {
            heap: Mutex::new(BinaryHeap::new()),
            top: AtomicU64::new(u64::MAX),
        }
    }

    fn pop(&self) -> Option<u32> {
        let mut heap = self.heap.lock();
        let id = heap.pop().map(|Reverse((_, id))| id);
        self.top.store(
            heap.peek().map_or(u64::MAX, |Reverse((p, _))| *p as u64),
            Ordering::Release,
        );
        id
    }

    fn extend(&self, items: impl Iterator<Item = (u32, u32)>) {
        let mut heap = self.heap.lock();
        heap.extend(items.map(Reverse));
        self.top.store(
            heap.peek().map_or(u64::MAX, |Reverse((p, _))| *p as u64),
            Ordering::Release,
        );
    }

    fn top(&self) -> u64 {
        self.top.load(Ordering::Acquire)
    }
}

/// The roots, ready at the start and never added to: sorted once, taken
/// from the end. Popping a sorted vector is a pointer decrement where a
/// heap of a million roots pays a cache-missing sift per pop.
struct RootStack {
    /// (priority, id), worst first, so the best is last.
    items: Mutex<Vec<(u32, u32)>>,
    /// The best priority left, or `u64::MAX` when empty; updated under the lock.
    top: AtomicU64,
}

impl RootStack {
    fn new() -> RootStack {
        RootStack {
            items: Mutex::new(Vec::new()),
            top: AtomicU64::new(u64::MAX),
        }
    }

    fn fill(&self, mut roots: Vec<(u32, u32)>) {
        roots.sort_unstable_by(|a, b| b.cmp(a));
        let mut items = self.items.lock();
        *items = roots;
        self.publish(&items);
    }

    fn pop(&self) -> Option<u32> {
        let mut items = self.items.lock();
        let id = items.pop().map(|(_, id)| id);
        self.publish(&items);
        id
    }

    fn publish(&self, items: &[(u32, u32)]) {
        self.top.store(
            items.last().map_or(u64::MAX, |&(p, _)| p as u64),
            Ordering::Release,
        );
    }

    fn top(&self) -> u64 {
        self.top.load(Ordering::Acquire)
    }
}

struct StealingQueues {
    injector: RootStack,
    locals: Vec<SharedHeap>,
    /// Ready tasks in all heaps; read by parking workers without locking heaps.
    pending: AtomicUsize,
    parked: AtomicUsize,
    park_lock: Mutex<()>,
    wakeup: Condvar,
}

impl StealingQueues {
    fn new(n: usize) -> StealingQueues {
        StealingQueues {
            injector: RootStack::new(),
            locals: (0..n).map(|_| SharedHeap::new()).collect(),
            pending: AtomicUsize::new(0),
            parked: AtomicUsize::new(0),
            park_lock: Mutex::new(()),
            wakeup: Condvar::new(),
        }
    }

    fn inject(&self, roots: &[u32], run: &Run) {
        self.injector
            .fill(roots.iter().map(|&id| (run.priority(id), id)).collect());
        self.pending.fetch_add(roots.len(), Ordering::SeqCst);
    }

    /// The better of this worker's best task and the injector's best, else
    /// a task stolen from another worker.
    fn find(&self, worker: usize, run: &Run) -> Option<u32> {
        let local = &self.locals[worker];
        if run.under_pressure() {
            // Root-task queuing: while memory is tight, run tasks that
            // consume results (own, then stolen) before starting new roots.
            let n = self.locals.len();
            let id = (0..n)
                .find_map(|k| self.locals[(worker + k) % n].pop())
                .or_else(|| self.injector.pop())?;
            self.pending.fetch_sub(1, Ordering::SeqCst);
            return Some(id);
        }
        let first = if local.top() <= self.injector.top() {
            local.pop().or_else(|| self.injector.pop())
        } else {
            self.injector.pop().or_else(|| local.pop())
        };
        let id = first.or_else(|| {
            let n = self.locals.len();
            (1..n).find_map(|k| self.locals[(worker + k) % n].pop())
        })?;
        self.pending.fetch_sub(1, Ordering::SeqCst);
        Some(id)
    }

    fn notify(&self) {
        if self.parked.load(Ordering::SeqCst) > 0 {
            let _guard = self.park_lock.lock();
            self.wakeup.notify_one();
        }
    }
}

impl ReadyQueue for StealingQueues {
    fn next(&self, worker: usize, run: &Run) -> Option<u32> {
        loop {
            if run.is_over() {
                return None;
            }
            if let Some(id) = self.find(worker, run) {
                return Some(id);
            }
            // A short spin catches tasks a busy worker is about to publish
            // without paying for a futex sleep and wakeup.
            for _ in 0..64 {
                std::hint::spin_loop();
                if self.pending.load(Ordering::SeqCst) > 0 || run.is_over() {
                    break;
                }
            }
            if self.pending.load(Ordering::SeqCst) > 0 {
                continue;
            }
            let mut guard = self.park_lock.lock();
            self.parked.fetch_add(1, Ordering::SeqCst);
            // Re-check under the lock: a pusher increments `pending` before
            // it reads `parked`, so one of the two sees the other.
            if self.pending.load(Ordering::SeqCst) == 0 && !run.is_over() {
                // The timeout is a safety net only; wakeups come from notify.
                self.wakeup.wait_for(&mut guard, Duration::from_millis(50));
            }
            self.parked.fetch_sub(1, Ordering::SeqCst);
        }
    }

    fn push(&self, worker: usize, ready: &[u32], run: &Run) {
        if ready.is_empty() {
            return;
        }
        self.locals[worker].extend(ready.iter().map(|&id| (run.priority(id), id)));
        self.pending.fetch_add(ready.len(), Ordering::SeqCst);
        // The worker itself takes one; wake helpers to steal the rest.
        for _ in 1..ready.len().min(self.locals.len()) {
            self.notify();
        }
    }

    fn wake_all(&self) {
        let _guard = self.park_lock.lock();
        self.wakeup.notify_all();
    }
}

impl Scheduler for ThreadedScheduler {
    fn name(&self) -> &str {
        "threaded"
    }

    fn run(&self, plan: Plan, ctx: &RunContext) -> Result<Vec<Value>> {
        let workers = self.num_workers.min(plan.len().max(1));
        crate::events::emit_started(
            &ctx.events,
            ctx.computation,
            &plan,
            workers,
            self.name(),
            ctx.store.memory_limit,
        );
        let run = Run::new(&plan, ctx)?;
        let queues = StealingQueues::new(workers);
        queues.inject(&run.roots(), &run);
        if !run.is_over() {
            std::thread::scope(|s| {
                for w in 1..workers {
                    let (run, queues) = (&run, &queues);
                    let spawned = std::thread::Builder::new()
                        .name(format!("oxidask-worker-{w}"))
                        .spawn_scoped(s, move || worker_loop(run, queues, w));
                    if let Err(e) = spawned {
                        // Fewer threads still finish the work: others steal
                        // this worker's heap.
                        tracing::warn!("could not start worker thread {w}: {e}");
                    }
                }
                // The caller's thread is worker 0: one thread fewer to start.
                worker_loop(&run, &queues, 0);
            });
        }
        run.finish()
    }
}
