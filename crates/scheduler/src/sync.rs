//! The single-threaded scheduler: the shared loop on the caller's thread.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

use oxidask_graph::Value;
use oxidask_graph::optimize::Plan;

use crate::RunContext;
use crate::Scheduler;
use crate::error::Result;
use crate::run::{ReadyQueue, Run, worker_loop};

/// Runs every task on the calling thread, in priority order. Deterministic:
/// the scheduler for debugging (a panic's backtrace and a debugger's
/// breakpoints are on the caller's thread) and for tiny graphs.
#[derive(Clone, Copy, Debug, Default)]
pub struct SyncScheduler;

struct LocalQueue(RefCell<BinaryHeap<Reverse<(u32, u32)>>>);

impl ReadyQueue for LocalQueue {
    fn next(&self, _worker: usize, run: &Run) -> Option<u32> {
        if run.is_over() {
            return None;
        }
        self.0.borrow_mut().pop().map(|Reverse((_, id))| id)
    }

    fn push(&self, _worker: usize, ready: &[u32], run: &Run) {
        let mut heap = self.0.borrow_mut();
        heap.extend(ready.iter().map(|&id| Reverse((run.priority(id), id))));
    }

    fn wake_all(&self) {}
}

impl Scheduler for SyncScheduler {
    fn name(&self) -> &str {
        "sync"
    }

    fn run(&self, plan: Plan, ctx: &RunContext) -> Result<Vec<Value>> {
        crate::events::emit_started(
            &ctx.events,
            ctx.computation,
            &plan,
            1,
            self.name(),
            ctx.store.memory_limit,
        );
        let run = Run::new(&plan, ctx)?;
        let queue = LocalQueue(RefCell::new(BinaryHeap::new()));
        queue.push(0, &run.roots(), &run);
        if !run.is_over() {
            worker_loop(&run, &queue, 0);
        }
        run.finish()
    }
}
