//! The scheduling loop shared by every local scheduler.
//!
//! A [`Run`] joins the parts of one computation over a [`Plan`]: the
//! [`TaskState`] (what is ready, whether it is over, the first failure), the
//! [`Store`] of results (each released when its last reader took it), and
//! [`execute`] for each task.
//!
//! [`worker_loop`] is the whole policy: take the next ready task from a
//! [`ReadyQueue`] (lowest priority number first), run it, hand the tasks it
//! made ready back to the queue. The sync scheduler runs one worker loop on
//! the caller's thread with a plain heap; the threaded scheduler runs one per
//! thread over work-stealing heaps. Because the loop is shared, the debugging
//! scheduler cannot drift from the fast one.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use oxidask_graph::optimize::Plan;
use oxidask_graph::{Arg, Deps, TaskError, Value};

use crate::RunContext;
use crate::error::{Error, Result};
use crate::events::{Event, EventBus};
use crate::execute::execute;
use crate::state::TaskState;
use oxidask_store::Store;

/// Where ready tasks wait; one implementation per scheduler.
pub(crate) trait ReadyQueue {
    /// The next task for `worker`, or `None` when the computation is over
    /// (finished or failed). May block while other workers still run.
    fn next(&self, worker: usize, run: &Run) -> Option<u32>;
    /// Tasks that became ready on `worker`.
    fn push(&self, worker: usize, ready: &[u32], run: &Run);
    /// Wakes every blocked worker (the computation ended).
    fn wake_all(&self);
}

/// The state of one computation.
pub(crate) struct Run<'p> {
    pub plan: &'p Plan,
    /// Per task, the dependency id of each `Arg::Key`, in argument order.
    arg_ids: Deps,
    state: TaskState<'p, Error>,
    pub store: Store,
    events: &'p EventBus,
    computation: crate::events::ComputationId,
    timed: bool,
    started: Instant,
}

impl<'p> Run<'p> {
    pub fn new(plan: &'p Plan, ctx: &'p RunContext) -> Result<Run<'p>> {
        let events = &ctx.events;
        let g = &plan.graph;
        let arg_ids = Deps::from_lists((0..g.len() as u32).map(|i| {
            g.by_id(i)
                .1
                .dependencies()
                .map(|k| g.id_of(k).expect("plans are validated"))
                .collect::<Vec<_>>()
        }));
        let state = TaskState::new(&plan.deps, &plan.outputs, ctx.root_task_queuing);
        Ok(Run {
            plan,
            arg_ids,
            store: Store::new(state.readers(), ctx.store.clone()),
            state,
            events,
            computation: ctx.computation,
            timed: !events.is_empty(),
            started: Instant::now(),
        })
    }

    /// Tasks ready at the start, in priority order.
    pub fn roots(&self) -> Vec<u32> {
        self.state.roots(&self.plan.priority)
    }

    /// Whether no new task should start: all done, or one failed.
    pub fn is_over(&self) -> bool {
        self.state.is_over()
    }

    /// Whether memory is tight: prefer consuming results to producing data.
    pub fn under_pressure(&self) -> bool {
        self.state.prefer_consumers(|| self.store.under_pressure())
    }

    pub fn priority(&self, id: u32) -> u32 {
        self.plan.priority[id as usize]
    }

    /// Runs task `id` on `worker`; pushes the tasks it made ready into
    /// `ready`. Returns false if the task failed (the run is then over).
    pub fn execute(&self, id: u32, worker: usize, ready: &mut Vec<u32>) -> bool {
        let (key, task) = self.plan.graph.by_id(id);
        let start = self.timed.then(Instant::now);
        if let Some(at) = start {
            self.events.emit(&Event::TaskStarted {
                computation: self.computation,
                key,
                op: task.op.label(),
                worker,
                at,
            });
        }
        let args = match self.gather(id) {
            Ok(args) => args,
            Err(e) => {
                self.fail(e, worker);
                return false;
            }
        };
        let value = match execute(key, task, args) {
            Ok(v) => v,
            Err(e) => {
                self.fail(e.into(), worker);
                return false;
            }
        };
        let nbytes = value.nbytes();
        let memory = match self.store.put(id, value) {
            Ok(m) => m,
            Err(e) => {
                let key = self.plan.graph.key(e.id()).clone();
                self.fail(Error::Memory { key, error: e }, worker);
                return false;
            }
        };
        if let Some(start) = start {
            self.events.emit(&Event::TaskFinished {
                computation: self.computation,
                key,
                op: task.op.label(),
                worker,
                start,
                end: Instant::now(),
                nbytes,
                memory,
            });
        }
        self.state.finished(id, ready);
        true
    }

    /// The argument values of task `id`, taking each dependency's result once
    /// (so the last reader owns it) and cloning for repeated uses.
    fn gather(&self, id: u32) -> Result<Vec<Value>> {
        let task = self.plan.graph.by_id(id).1;
        let ids = self.arg_ids.of(id);
        let mut args = Vec::with_capacity(task.args.len());
        // Most tasks read each dependency once; only scan for repeats if not.
        let has_repeats = self.plan.deps.of(id).len() != ids.len();
        let mut next_dep = 0;
        for arg in &task.args {
            match arg {
                Arg::Value(v) => args.push(v.clone()),
                Arg::Key(_) => {
                    let dep = ids[next_dep];
                    let earlier = if has_repeats {
                        ids[..next_dep].iter().position(|&d| d == dep)
                    } else {
                        None
                    };
                    next_dep += 1;
                    let value = match earlier {
                        // Repeated use of one dependency: share the handle
                        // taken for its first use (it is already in `args`).
                        Some(first) => args[self.arg_position(id, first)].clone(),
                        None => self
                            .store
                            .take_named(dep, || self.plan.graph.key(dep).to_string())
                            .ok_or_else(|| {
                                Error::Internal(format!(
                                    "task {} is ready but the result of {} is missing",
                                    self.plan.graph.key(id),
                                    self.plan.graph.key(dep)
                                ))
                            })?,
                    };
                    args.push(value);
                }
            }
        }
        Ok(args)
    }

    /// Position in the argument list of the `nth` key argument of task `id`.
    fn arg_position(&self, id: u32, nth: usize) -> usize {
        let task = self.plan.graph.by_id(id).1;
        task.args
            .iter()
            .enumerate()
            .filter(|(_, a)| matches!(a, Arg::Key(_)))
            .nth(nth)
            .map(|(i, _)| i)
            .expect("nth key argument exists")
    }

    #[cold]
    pub fn fail(&self, error: Error, worker: usize) {
        if let Error::Task(t) = &error {
            self.events.emit(&Event::TaskFailed {
                computation: self.computation,
                error: t,
                worker,
            });
        }
        self.state.fail(error);
    }

    /// The outputs, or the first failure. Call after every worker stopped.
    pub fn finish(self) -> Result<Vec<Value>> {
        let ok = !self.state.failed();
        self.events.emit(&Event::Finished {
            computation: self.computation,
            ok,
            elapsed: self.started.elapsed(),
            completed: self.state.completed(),
            peak_held: self.store.peak().0,
            peak_held_bytes: self.store.peak().1,
            memory: self.store.stats(),
        });
        if let Some(e) = self.state.take_failure() {
            return Err(e);
        }
        if let Some((event, message)) = self.events.panicked() {
            return Err(Error::Callback { event, message });
        }
        if self.state.remaining() != 0 {
            return Err(Error::Internal(format!(
                "workers stopped with {} tasks not run",
                self.state.remaining()
            )));
        }
        self.plan
            .outputs
            .iter()
            .map(|&o| {
                let key = || self.plan.graph.key(o).to_string();
                let v = self.store.take_named(o, key).ok_or_else(|| {
                    Error::Internal(format!("output {} has no result", self.plan.graph.key(o)))
                })?;
                // A spilled output is read back now: its file goes with the
                // store's spill directory when the computation ends.
                Ok(v.resolve()?)
            })
            .collect()
    }
}

/// One worker: run ready tasks until the computation is over.
pub(crate) fn worker_loop(run: &Run, queue: &impl ReadyQueue, worker: usize) {
    let mut ready = Vec::new();
    while let Some(id) = queue.next(worker, run) {
        ready.clear();
        // Ops' panics are caught inside `execute`; one escaping here is a
        // bug in the scheduler, and must fail the run rather than leave the
        // other workers waiting for a task that will never finish.
        let ran = catch_unwind(AssertUnwindSafe(|| run.execute(id, worker, &mut ready)));
        let ok = ran.unwrap_or_else(|payload| {
            let msg = TaskError::panicked(run.plan.graph.key(id).clone(), "scheduler", &*payload);
            run.fail(Error::Internal(msg.to_string()), worker);
            false
        });
        if !ok {
            queue.wake_all();
            return;
        }
        queue.push(worker, &ready, run);
        if run.is_over() {
            queue.wake_all();
            return;
        }
    }
}
