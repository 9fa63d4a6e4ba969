//! From a graph and the keys wanted to their values: optimize, then run on
//! the configured scheduler.

use std::sync::Arc;

use oxidask_graph::optimize::{OptimizeOptions, optimize};
use oxidask_graph::{Key, TaskGraph, Value};

use crate::config::{self, Config, SchedulerChoice};
use crate::error::Result;
use crate::events::{Callback, EventBus};

/// Per-call settings that override the [configuration](crate::config) in force.
#[derive(Clone, Default)]
pub struct ComputeOptions {
    scheduler: Option<SchedulerChoice>,
    num_workers: Option<usize>,
    optimize: Option<OptimizeOptions>,
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

    /// Runs these optimizer passes.
    pub fn optimize(mut self, options: OptimizeOptions) -> Self {
        self.optimize = Some(options);
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
        Ok(c)
    }
}

/// Computes `outputs` of `graph` with the configuration in force; returns
/// one value per requested key, in order.
pub fn compute(graph: TaskGraph, outputs: &[Key]) -> Result<Vec<Value>> {
    compute_with(graph, outputs, &ComputeOptions::default())
}

/// Computes `outputs` of `graph` with per-call `options`.
pub fn compute_with(
    graph: TaskGraph,
    outputs: &[Key],
    options: &ComputeOptions,
) -> Result<Vec<Value>> {
    let config = options.resolve()?;
    let plan = optimize(graph, outputs, config.optimize)?;
    let events = EventBus::collect(&options.callbacks);
    config.scheduler().run(plan, &events)
}
