//! Steps of a graph that only the calling process can run.
//!
//! `Array::compute` ends each block's task with an op that copies the
//! block into the result array in the caller's memory
//! (`oxidask.array.assemble`); a worker has no such memory. Before a plan
//! goes to the cluster, each requested task ending in such an op is cut
//! in two: the cluster computes its input (the block), and the op itself
//! runs here on the block the client received. The optimizer may have
//! fused the op onto the block's own chain; then the fused op loses its
//! last step instead.

use std::sync::Arc;

use oxidask_graph::optimize::{FusedOp, FusedStep, Plan, StepArg};
use oxidask_graph::{Arg, Key, Op, Task, Value};

use crate::error::{Error, Result};

/// Registry names of ops that run in the process that called `compute`.
pub const IN_CALLER_OPS: &[&str] = &["oxidask.array.assemble"];

fn in_caller(op: &dyn Op) -> bool {
    IN_CALLER_OPS.contains(&op.name())
}

/// An op to run here on the cluster's value: its other arguments, and
/// where the value goes among them.
#[derive(Clone)]
struct InCaller {
    op: Arc<dyn Op>,
    literals: Vec<Value>,
    at: usize,
}

/// What runs here after the cluster's results arrive: per output position,
/// its key and step.
pub(crate) struct Local {
    steps: Vec<(usize, Key, InCaller)>,
}

/// Cuts the in-caller steps off the plan's outputs.
pub(crate) fn split(mut plan: Plan) -> Result<(Plan, Local)> {
    let mut steps = Vec::new();
    let mut cut: std::collections::HashMap<u32, InCaller> = Default::default();
    for (pos, &o) in plan.outputs.iter().enumerate() {
        if let Some(step) = cut.get(&o) {
            steps.push((pos, plan.graph.key(o).clone(), step.clone()));
            continue;
        }
        let (key, task) = plan.graph.by_id(o);
        let Some((new_task, step)) = cut_task(key, task)? else {
            continue;
        };
        let key = key.clone();
        plan.graph.insert(key.clone(), new_task);
        cut.insert(o, step.clone());
        steps.push((pos, key, step));
    }
    Ok((plan, Local { steps }))
}

/// The task that computes the in-caller op's input, and the op, if `task`
/// ends in one.
fn cut_task(key: &Key, task: &Task) -> Result<Option<(Task, InCaller)>> {
    let unsupported = || {
        Error::Graph(format!(
            "task {key} ends in an op that runs only in the calling process ({}), in a form the \
             client cannot cut off",
            task.op.label()
        ))
    };
    if in_caller(&*task.op) {
        // One key argument (the block), the rest literals.
        let mut block = None;
        let mut lits = Vec::new();
        let mut at = 0;
        for (i, a) in task.args.iter().enumerate() {
            match a {
                Arg::Key(k) if block.is_none() => {
                    block = Some(k.clone());
                    at = i;
                }
                Arg::Value(v) => lits.push(v.clone()),
                Arg::Key(_) => return Err(unsupported()),
            }
        }
        let block = block.ok_or_else(unsupported)?;
        let step = InCaller {
            op: task.op.clone(),
            literals: lits,
            at,
        };
        return Ok(Some((Task::alias(block), step)));
    }
    let Some(fused) = task.op.as_fused() else {
        return Ok(None);
    };
    let n = fused.len();
    let (last_op, last_args) = fused.steps().last().expect("a fused op has steps");
    if !in_caller(&**last_op) {
        return Ok(None);
    }
    if n < 2 {
        return Err(unsupported());
    }
    let mut lits = Vec::new();
    let mut at = None;
    for (i, a) in last_args.iter().enumerate() {
        match a {
            StepArg::Step(s) if *s as usize == n - 2 && at.is_none() => at = Some(i),
            StepArg::Literal(v) => lits.push(v.clone()),
            StepArg::Input(j) => match task.args.get(*j as usize) {
                Some(Arg::Value(v)) => lits.push(v.clone()),
                _ => return Err(unsupported()),
            },
            StepArg::Step(_) => return Err(unsupported()),
        }
    }
    let at = at.ok_or_else(unsupported)?;
    let kept: Vec<FusedStep> = fused
        .steps()
        .take(n - 1)
        .map(|(op, args)| FusedStep {
            op: op.clone(),
            args: args.to_vec(),
        })
        .collect();
    let op = FusedOp::new(fused.inputs(), kept)
        .map_err(|e| Error::Graph(format!("cutting {key}: {e}")))?;
    let step = InCaller {
        op: last_op.clone(),
        literals: lits,
        at,
    };
    Ok(Some((Task::new(Arc::new(op), task.args.clone()), step)))
}

impl Local {
    /// Whether no step runs here.
    pub(crate) fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Runs the in-caller steps on the cluster's values.
    pub(crate) fn finish(self, mut values: Vec<Value>) -> oxidask_scheduler::Result<Vec<Value>> {
        for (pos, key, step) in self.steps {
            let mut args = step.literals;
            args.insert(step.at.min(args.len()), values[pos].clone());
            let task = Task::new(step.op, args.iter().cloned().map(Arg::Value).collect());
            values[pos] = oxidask_scheduler::execute(&key, &task, args)?;
        }
        Ok(values)
    }
}
