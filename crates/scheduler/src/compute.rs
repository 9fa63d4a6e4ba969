//! From a graph and the keys wanted to their values: optimize, then run on
//! the configured scheduler.

use std::sync::Arc;

use oxidask_graph::optimize::{OptimizeOptions, optimize};
use oxidask_graph::{HighLevelGraph, Key, TaskGraph, Value};

use crate::RunContext;
use crate::config::{self, Config, SchedulerChoice};
use crate::error::Result;
use crate::events::{Callback, EventBus};
use oxidask_store::StoreOptions;

/// Per-call settings that override the [configuration](crate::config) in force.
#[derive(Clone, Default)]
pub struct ComputeOptions {
    scheduler: Option<SchedulerChoice>,
    num_workers: Option<usize>,
    optimize: Option<OptimizeOptions>,
    memory_limit: Option<Option<usize>>,
    spill_dir: Option<std::path::PathBuf>,
    root_task_queuing: Option<bool>,
    round_trip: Option<bool>,
    callbacks: Vec<Arc<dyn Callback>>,
}

impl ComputeOptions {
    /// Defaults: everything from the configuration in force.
    pub fn new() -> ComputeOptions {
        ComputeOptions::default()
    }

    /// Runs on this scheduler.
    pub fn scheduler(mut self, scheduler: SchedulerChoice) -> Self {
        self.scheduler = Some(scheduler);
        self
    }

    /// Uses this many worker threads (threaded scheduler).
    pub fn num_workers(mut self, n: usize) -> Self {
        self.num_workers = Some(n);
        self
    }

    /// Writes the optimized graph to bytes and reads it back before running
    /// it (see [`Config::round_trip`](crate::Config::round_trip)).
    pub fn round_trip(mut self, on: bool) -> Self {
        self.round_trip = Some(on);
        self
    }

    /// Runs these optimizer passes.
    pub fn optimize(mut self, options: OptimizeOptions) -> Self {
        self.optimize = Some(options);
        self
    }

    /// Holds at most `bytes` of results in memory, spilling the rest to
    /// disk (`None`: no limit).
    pub fn memory_limit(mut self, bytes: Option<usize>) -> Self {
        self.memory_limit = Some(bytes);
        self
    }

    /// Spills under this directory.
    pub fn spill_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.spill_dir = Some(dir.into());
        self
    }

    /// Holds new root tasks back while memory is tight (default: on; see
    /// [`Config::root_task_queuing`]).
    pub fn root_task_queuing(mut self, on: bool) -> Self {
        self.root_task_queuing = Some(on);
        self
    }

    /// Also delivers this computation's events to `callback`.
    pub fn callback(mut self, callback: Arc<dyn Callback>) -> Self {
        self.callbacks.push(callback);
        self
    }

    fn resolve(&self) -> Result<Config> {
        let mut c = config::current()?;
        if let Some(s) = &self.scheduler {
            c.scheduler = s.clone();
        }
        if let Some(n) = self.num_workers {
            c.num_workers = n.max(1);
        }
        if let Some(o) = self.optimize {
            c.optimize = o;
        }
        if let Some(m) = self.memory_limit {
            c.memory_limit = m;
        }
        if let Some(d) = &self.spill_dir {
            c.spill_dir = Some(d.clone());
        }
        if let Some(q) = self.root_task_queuing {
            c.root_task_queuing = q;
        }
        if let Some(r) = self.round_trip {
            c.round_trip = r;
        }
        Ok(c)
    }
}

/// Computes `outputs` of `graph` with the configuration in force; returns
/// one value per requested key, in order.
pub fn compute(graph: TaskGraph, outputs: &[Key]) -> Result<Vec<Value>> {
    compute_with(graph, outputs, &ComputeOptions::default())
}

/// Computes `outputs` of a high-level graph with per-call `options`: culls
/// it to what they need, lowers it and runs it — the step every collection's
/// `compute` ends with. No outputs, no work.
pub fn compute_layers(
    graph: &HighLevelGraph,
    outputs: &[Key],
    options: &ComputeOptions,
) -> Result<Vec<Value>> {
    if outputs.is_empty() {
        return Ok(Vec::new());
    }
    let tasks = graph.cull(outputs)?.to_task_graph()?;
    compute_with(tasks, outputs, options)
}

/// Computes `outputs` of `graph` with per-call `options`.
pub fn compute_with(
    graph: TaskGraph,
    outputs: &[Key],
    options: &ComputeOptions,
) -> Result<Vec<Value>> {
    let (config, plan, ctx) = prepare(graph, outputs, options)?;
    config.scheduler().run(plan, &ctx)
}

/// Computes `outputs` of `graph` and keeps them where the scheduler made
/// them: one task per output reading it back (a literal of the value on
/// the local schedulers, a read of the result held on the workers on a
/// cluster). What a collection's `persist` is built from.
pub fn persist_with(
    graph: TaskGraph,
    outputs: &[Key],
    options: &ComputeOptions,
) -> Result<Vec<oxidask_graph::Task>> {
    if outputs.is_empty() {
        return Ok(Vec::new());
    }
    let (config, plan, ctx) = prepare(graph, outputs, options)?;
    config.scheduler().persist(plan, &ctx)
}

/// Persists the partitions `keys` (`(name, i)` for `i` in `0..n`) of a
/// high-level graph ([`persist_with`]) and gives a graph of one layer,
/// `persist-<token>`, whose task `i` reads partition `i` where it is kept,
/// with that layer's name: what a partitioned collection's `persist`
/// rebuilds itself around.
pub fn persist_partitions(
    graph: &HighLevelGraph,
    keys: &[Key],
    options: &ComputeOptions,
) -> Result<(HighLevelGraph, std::sync::Arc<str>)> {
    let tasks = persist_with(graph.cull(keys)?.to_task_graph()?, keys, options)?;
    let name: std::sync::Arc<str> = format!("persist-{}", oxidask_graph::unique_token()).into();
    let mut held = TaskGraph::with_capacity(tasks.len());
    for (i, task) in tasks.into_iter().enumerate() {
        held.insert(Key::with_index(name.clone(), &[i as u32]), task);
    }
    let layer = oxidask_graph::MaterializedLayer::new(name.clone(), held);
    Ok((HighLevelGraph::from_layer(std::sync::Arc::new(layer)), name))
}

/// The configuration in force with `options`, the optimized plan, and the
/// run's context.
fn prepare(
    graph: TaskGraph,
    outputs: &[Key],
    options: &ComputeOptions,
) -> Result<(Config, oxidask_graph::optimize::Plan, RunContext)> {
    let config = options.resolve()?;
    let mut plan = optimize(graph, outputs, config.optimize)?;
    if config.round_trip {
        // Ids are positions and the encoding keeps task order, so the
        // plan's dependencies and priorities still hold.
        plan.graph = TaskGraph::from_bytes(&plan.graph.to_bytes()?)?;
    }
    oxidask_store::cleanup::set_cleanup_on_signal(config.cleanup_on_signal);
    let ctx = RunContext {
        computation: crate::events::ComputationId::fresh(),
        events: EventBus::collect(&options.callbacks),
        store: StoreOptions {
            memory_limit: config.memory_limit,
            spill_dir: config.spill_dir.clone(),
        },
        root_task_queuing: config.root_task_queuing,
    };
    Ok((config, plan, ctx))
}
