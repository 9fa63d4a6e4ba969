//! The multi-threaded scheduler: one shared loop per thread, work stealing.
//!
//! Each worker owns a heap of ready tasks ordered by priority. A worker pops
//! its own best task; tasks it makes ready go to its own heap, so it tends to
//! continue depth-first on the data it just produced. A worker whose heap is
//! empty steals the best task of another worker's heap. A worker that finds
//! nothing anywhere parks on a condition variable; pushers wake one parked
//! worker per push only when someone is parked.
//!
//! Threads are scoped to one computation: when `run` returns, every worker
//! thread has ended, on success, error or panic alike.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use oxidask_graph::Value;
use oxidask_graph::optimize::Plan;
use parking_lot::{Condvar, Mutex};

use crate::Scheduler;
use crate::error::Result;
use crate::events::{Event, EventBus};
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
        ThreadedScheduler { num_workers: num_workers.max(1) }
    }

    /// The number of worker threads.
    pub fn num_workers(&self) -> usize {
        self.num_workers
    }
}

type Heap = BinaryHeap<Reverse<(u32, u32)>>;

struct StealingQueues {
    heaps: Vec<Mutex<Heap>>,
    /// Ready tasks in all heaps; read by parking workers without locking heaps.
    pending: AtomicUsize,
    parked: AtomicUsize,
    park_lock: Mutex<()>,
    wakeup: Condvar,
}

impl StealingQueues {
    fn new(n: usize) -> StealingQueues {
        StealingQueues {
            heaps: (0..n).map(|_| Mutex::new(BinaryHeap::new())).collect(),
            pending: AtomicUsize::new(0),
            parked: AtomicUsize::new(0),
            park_lock: Mutex::new(()),
            wakeup: Condvar::new(),
        }
    }

    fn pop(&self, worker: usize) -> Option<u32> {
        let id = self.heaps[worker].lock().pop().map(|Reverse((_, id))| id)?;
        self.pending.fetch_sub(1, Ordering::SeqCst);
        Some(id)
    }

    /// Takes the best task of the first other non-empty heap.
    fn steal(&self, worker: usize) -> Option<u32> {
        let n = self.heaps.len();
        (1..n).find_map(|k| self.pop((worker + k) % n))
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
            if let Some(id) = self.pop(worker).or_else(|| self.steal(worker)) {
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
        {
            let mut heap = self.heaps[worker].lock();
            heap.extend(ready.iter().map(|&id| Reverse((run.priority(id), id))));
        }
        self.pending.fetch_add(ready.len(), Ordering::SeqCst);
        // The worker itself takes one; wake helpers for the rest.
        for _ in 1..ready.len().min(self.heaps.len()) {
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

    fn run(&self, plan: Plan, events: &EventBus) -> Result<Vec<Value>> {
        let workers = self.num_workers.min(plan.len().max(1));
        events.emit(&Event::Started { ntasks: plan.len(), workers, scheduler: self.name() });
        let run = Run::new(&plan, events)?;
        let queues = StealingQueues::new(workers);
        // Deal the roots round-robin in priority order, so every worker
        // starts on the front of the order rather than stealing one by one.
        let roots = run.roots();
        for w in 0..workers {
            let mine: Vec<u32> = roots.iter().skip(w).step_by(workers).copied().collect();
            queues.push(w, &mine, &run);
        }
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
