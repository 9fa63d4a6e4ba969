//! Schedulers for oxidask task graphs.
//!
//! [`compute`] takes a [`TaskGraph`](oxidask_graph::TaskGraph) and the keys
//! wanted, optimizes it, and runs it on the scheduler the
//! [configuration](config) selects:
//!
//! - [`ThreadedScheduler`] (default): all cores, ready tasks by priority,
//!   work stealing;
//! - [`SyncScheduler`]: the caller's thread only, for debugging.
//!
//! Both run the same scheduling loop. Results are released as soon as no
//! waiting task needs them.
//!
//! The parts a cluster reuses stand alone: [`TaskState`] is the bookkeeping
//! of a computation (what is ready, what to release, the first failure)
//! with no threads or I/O; [`execute`] runs one task on its argument
//! values; [`EventRecord`] is an event as owned, serializable data. A task that fails or panics stops the
//! computation: tasks not started are cancelled, every worker thread has
//! ended when `compute` returns, and the error names the task's key and op.
//!
//! Diagnostics observe the [events]: switch on a [`ProgressBar`] or a
//! [`Profiler`] with one line.
//!
//! ```
//! use oxidask_graph::{FnOp, Key, Task, TaskGraph, Value};
//! use oxidask_scheduler::compute;
//!
//! let mut g = TaskGraph::new();
//! g.insert(Key::new("x"), Task::literal(Value::new(20i64)));
//! let add = FnOp::arc("add", |a| {
//!     Ok(Value::new(a[0].downcast_ref::<i64>()? + a[1].downcast_ref::<i64>()?))
//! });
//! g.insert(Key::new("y"), Task::new(add, vec![Key::new("x").into(), Key::new("x").into()]));
//! let out = compute(g, &[Key::new("y")])?;
//! assert_eq!(out[0].downcast_ref::<i64>()?, &40);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

mod computable;
mod compute;
pub mod config;
mod diagnostics;
mod error;
pub mod events;
mod execute;
mod run;
pub mod state;
mod sync;
mod threaded;

use oxidask_graph::Value;
use oxidask_graph::optimize::Plan;

pub use computable::{Collection, Computable, compute_many, next_value};
pub use compute::{
    ComputeOptions, compute, compute_layers, compute_with, persist_partitions, persist_with,
};
pub use config::{Config, SchedulerChoice, ShuffleMethod, with_config, with_scheduler};
pub use diagnostics::{Profiler, ProgressBar, TaskRecord};
pub use error::{Error, Result};
pub use events::{Callback, ComputationId, Event, EventBus, EventRecord};
pub use execute::execute;
pub use oxidask_store::{MemoryStats, StoreOptions};
pub use state::TaskState;
pub use sync::SyncScheduler;
pub use threaded::ThreadedScheduler;

/// What a scheduler needs besides the plan: who listens, and how results
/// are held (memory limit, spill directory).
#[derive(Clone)]
pub struct RunContext {
    /// Which computation this is, named by its events.
    pub computation: events::ComputationId,
    /// The callbacks of this computation.
    pub events: EventBus,
    /// Memory limit and spill directory for the results.
    pub store: StoreOptions,
    /// Whether new root tasks wait while memory is tight
    /// ([`Config::root_task_queuing`]).
    pub root_task_queuing: bool,
}

impl Default for RunContext {
    fn default() -> Self {
        RunContext {
            computation: events::ComputationId::fresh(),
            events: EventBus::default(),
            store: StoreOptions::default(),
            root_task_queuing: true,
        }
    }
}

/// Runs an optimized [`Plan`] and returns its outputs' values in order.
///
/// Implementations must: run each task after its dependencies, at most once;
/// on the first failure stop starting tasks and return that failure; deliver
/// events to `ctx.events`; hold results within `ctx.store`'s memory limit;
/// and leave no thread running and no spill file behind when they return.
pub trait Scheduler: Send + Sync {
    /// A short name for diagnostics, e.g. `threaded`.
    fn name(&self) -> &str;

    /// Runs the plan.
    fn run(&self, plan: Plan, ctx: &RunContext) -> Result<Vec<Value>>;

    /// Runs the plan and keeps its outputs where they were made: one task
    /// per output that reads it from there, for a collection's `persist`
    /// to build on. The default runs the plan here and gives each value as
    /// a literal task; a cluster client keeps the values on its workers
    /// and gives tasks that read them there (held while the tasks live).
    fn persist(&self, plan: Plan, ctx: &RunContext) -> Result<Vec<oxidask_graph::Task>> {
        Ok(self
            .run(plan, ctx)?
            .into_iter()
            .map(oxidask_graph::Task::literal)
            .collect())
    }

    /// Whether every task runs in this process (default: yes). A cluster
    /// client says no: then a shuffle built while it is in force moves its
    /// pieces as task results, which travel between processes, instead of
    /// through local files (see [`config::ShuffleMethod`]).
    fn runs_in_process(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests;
