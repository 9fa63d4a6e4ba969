//! Running computations as a cluster moves values: every task's result is
//! written with its codec and read back *by codec id* — the only way a
//! worker process can rebuild it — before any dependent task (or the
//! caller) sees it.
//!
//! This catches, without starting a cluster, an intermediate value type
//! whose codec is not registered for decoding (`register_value!`): the
//! computation fails with an error naming the task, the type and the codec.

use std::sync::Arc;

use oxidask_graph::optimize::Plan;
use oxidask_graph::{Arg, Key, Value};
use oxidask_scheduler::config::{self, Config, SchedulerChoice};
use oxidask_scheduler::{Error, Result, RunContext, Scheduler, execute};

/// A scheduler running tasks one by one on the caller's thread, sending
/// each result through bytes by its codec id (see the module docs). For
/// tests only: it keeps every result until the end and ignores the
/// memory limit.
#[derive(Clone, Copy, Debug, Default)]
pub struct ValuesThroughBytes;

impl Scheduler for ValuesThroughBytes {
    fn name(&self) -> &str {
        "values-through-bytes"
    }

    fn run(&self, plan: Plan, _ctx: &RunContext) -> Result<Vec<Value>> {
        let order = plan
            .graph
            .topological_order(&plan.deps)
            .map_err(Error::Graph)?;
        let mut results: Vec<Option<Value>> = vec![None; plan.len()];
        for id in order {
            let (key, task) = plan.graph.by_id(id);
            let mut args = Vec::with_capacity(task.args.len());
            for arg in &task.args {
                args.push(match arg {
                    Arg::Value(v) => v.clone(),
                    Arg::Key(dep) => plan
                        .graph
                        .id_of(dep)
                        .and_then(|d| results[d as usize].clone())
                        .ok_or_else(|| {
                            Error::Internal(format!("task {key} runs before its dependency {dep}"))
                        })?,
                });
            }
            let value = execute(key, task, args)?;
            results[id as usize] = Some(through_bytes(key, value)?);
        }
        plan.outputs
            .iter()
            .map(|&o| {
                results[o as usize]
                    .clone()
                    .ok_or_else(|| Error::Internal(format!("output {} was not computed", o)))
            })
            .collect()
    }
}

/// `value` encoded with its codec and decoded by the codec's id, as a
/// worker receiving it would; an error names the task and the type.
pub fn through_bytes(key: &Key, value: Value) -> Result<Value> {
    let fail = |what: String| {
        Error::Internal(format!(
            "the result of task {key}, of type {}, cannot cross a process boundary: {what}",
            value.type_name()
        ))
    };
    let codec = value
        .codec()
        .ok_or_else(|| fail("it has no codec (register_value!)".into()))?;
    let mut bytes = Vec::new();
    value.encode(&mut bytes).map_err(fail)?;
    let back = Value::decode(&codec.id(), &bytes).map_err(|e| fail(e.to_string()))?;
    if back.data_type_id() != value.data_type_id() {
        return Err(fail(format!("it decoded as a {}", back.type_name())));
    }
    Ok(back)
}

/// Runs `f` as a cluster would: every graph goes through bytes
/// ([`round_trip`](crate::round_trip)) and every task's result through its
/// codec by id ([`ValuesThroughBytes`]), on this thread.
pub fn values_through_bytes<R>(f: impl FnOnce() -> R) -> R {
    let base = config::current().unwrap_or_default();
    config::with_config(
        Config {
            round_trip: true,
            scheduler: SchedulerChoice::Custom(Arc::new(ValuesThroughBytes)),
            ..base
        },
        f,
    )
}
