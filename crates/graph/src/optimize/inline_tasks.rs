//! Inlining chosen tasks: a task picked by key or by op runs inside each
//! task that reads it, as Dask's `inline(dsk, keys=...)` and
//! `inline_functions(dsk, output, fast_functions=...)` do.
//!
//! The [`inline`](super::inline) pass only removes literals and aliases,
//! which costs nothing. Inlining a computed task is a trade the caller
//! makes on purpose: a cheap function (a getter, a cast) saves a
//! scheduling round and a held result per reader, but a task read by three
//! tasks then runs three times. So this is a function to call on a graph,
//! not a default pass.
//!
//! A chosen task `t` read by `d` turns `d` into a fused task whose first
//! step runs `t` on `t`'s arguments and whose second step runs `d` with
//! `t`'s result where `d` read `t`. Chosen tasks reading chosen tasks fold
//! inward in dependency order; outputs and tasks nobody reads are kept.

use std::sync::Arc;

use crate::error::Result;
use crate::graph::TaskGraph;
use crate::key::Key;
use crate::optimize::fuse::StepArg;
use crate::optimize::fuse::op::Builder;
use crate::task::{Arg, Task};

/// Runs each task `choose` picks inside every task reading it, and removes
/// it; outputs and unread tasks are never removed. Fails like
/// [`TaskGraph::validate`] on a dangling key or a cycle.
pub fn inline_tasks(
    graph: TaskGraph,
    outputs: &[Key],
    choose: impl Fn(&Key, &Task) -> bool,
) -> Result<TaskGraph> {
    let deps = graph.dependencies()?;
    let order = graph.topological_order(&deps)?;
    let dependents = deps.reverse();
    let n = graph.len();
    let mut chosen = vec![false; n];
    for id in 0..n as u32 {
        let (key, task) = graph.by_id(id);
        chosen[id as usize] =
            !dependents.of(id).is_empty() && !outputs.contains(key) && choose(key, task);
    }
    if !chosen.contains(&true) {
        return Ok(graph);
    }
    let mut graph = graph;
    // In dependency order, so a chosen task has taken in its own chosen
    // dependencies before it is copied into its readers.
    for &t in &order {
        if !chosen[t as usize] {
            continue;
        }
        let (t_key, t_task) = graph.by_id(t);
        let (t_key, t_task) = (t_key.clone(), t_task.clone());
        for &d in dependents.of(t) {
            let task = graph.task_mut(d);
            *task = fold(&t_key, &t_task, std::mem::replace(task, t_task.clone()));
        }
    }
    graph.retain_ids(|id| !chosen[id as usize]);
    Ok(graph)
}

/// `reader` with `inner` (under `key`) run as its first step.
fn fold(key: &Key, inner: &Task, reader: Task) -> Task {
    let mut args: Vec<Arg> = Vec::with_capacity(reader.args.len() + inner.args.len());
    let mut reader_args = Vec::with_capacity(reader.args.len());
    for a in reader.args {
        match a {
            Arg::Key(k) if k == *key => reader_args.push(StepArg::Step(0)),
            other => {
                reader_args.push(StepArg::Input(args.len() as u32));
                args.push(other);
            }
        }
    }
    let first = args.len() as u32;
    args.extend(inner.args.iter().cloned());
    let mut b = Builder::with_capacity(args.len(), 2, args.len());
    b.step(
        inner.op.clone(),
        (0..inner.args.len() as u32).map(|i| StepArg::Input(first + i)),
    );
    b.step(reader.op, reader_args);
    let op = b.finish().expect("both steps read only inputs and step 0");
    Task::new(Arc::new(op), args)
}

/// Inlines the tasks under `keys` into their readers; see [`inline_tasks`].
pub fn inline_keys(graph: TaskGraph, outputs: &[Key], keys: &[Key]) -> Result<TaskGraph> {
    let keys: foldhash::HashSet<&Key> = keys.iter().collect();
    inline_tasks(graph, outputs, |k, _| keys.contains(k))
}

/// Inlines every task whose op has one of these labels or registry names
/// (Dask's `fast_functions`); see [`inline_tasks`].
pub fn inline_ops(graph: TaskGraph, outputs: &[Key], ops: &[&str]) -> Result<TaskGraph> {
    inline_tasks(graph, outputs, |_, t| {
        ops.contains(&t.op.label()) || ops.contains(&t.op.name())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Value;
    use crate::optimize::testutil::{int_op, ints};

    /// Dask's docstring example of inline_functions:
    /// dsk = {'out': (add, 'i', 'd'), 'i': (inc, 'x'), 'd': (double, 'y'),
    ///        'x': 1, 'y': 1}
    /// inline_functions(dsk, [], [inc]) gives
    /// {'out': (add, (inc, 'x'), 'd'), 'd': (double, 'y'), 'x': 1, 'y': 1}
    fn dask_example() -> TaskGraph {
        let mut g = TaskGraph::new();
        g.insert(Key::new("x"), Task::literal(Value::new(1i64)));
        g.insert(Key::new("y"), Task::literal(Value::new(1i64)));
        g.insert(
            Key::new("i"),
            Task::new(int_op("inc", |a| a[0] + 1), vec![Key::new("x").into()]),
        );
        g.insert(
            Key::new("d"),
            Task::new(int_op("double", |a| a[0] * 2), vec![Key::new("y").into()]),
        );
        g.insert(
            Key::new("out"),
            Task::new(
                int_op("add", |a| a[0] + a[1]),
                vec![Key::new("i").into(), Key::new("d").into()],
            ),
        );
        g
    }

    #[test]
    fn chosen_functions_run_inside_their_readers_as_in_dask() {
        let out = [Key::new("out")];
        let g = inline_ops(dask_example(), &out, &["inc"]).unwrap();
        let keys: Vec<&str> = g.keys().map(|k| k.name()).collect();
        assert_eq!(keys, ["x", "y", "d", "out"]);
        let t = g.get(&Key::new("out")).unwrap();
        assert_eq!(t.op.label(), "inc→add");
        assert_eq!(ints(&g, &out), vec![4]);
    }

    #[test]
    fn chosen_keys_fold_inward_and_outputs_stay() {
        let out = [Key::new("out"), Key::new("d")];
        let g = inline_keys(
            dask_example(),
            &out,
            &[Key::new("i"), Key::new("x"), Key::new("d")],
        )
        .unwrap();
        let keys: Vec<&str> = g.keys().map(|k| k.name()).collect();
        // d is an output: kept. x folds into i, i into out.
        assert_eq!(keys, ["y", "d", "out"]);
        assert_eq!(ints(&g, &out), vec![4, 2]);
    }

    #[test]
    fn a_task_read_twice_runs_in_each_reader() {
        let mut g = dask_example();
        g.insert(
            Key::new("out2"),
            Task::new(int_op("neg", |a| -a[0]), vec![Key::new("i").into()]),
        );
        let out = [Key::new("out"), Key::new("out2")];
        let g = inline_keys(g, &out, &[Key::new("i")]).unwrap();
        assert!(!g.contains(&Key::new("i")));
        assert_eq!(ints(&g, &out), vec![4, -2]);
    }

    #[test]
    fn a_reader_reading_the_chosen_task_twice_gets_one_result() {
        let mut g = TaskGraph::new();
        g.insert(Key::new("x"), Task::literal(Value::new(3i64)));
        g.insert(
            Key::new("sq"),
            Task::new(
                int_op("mul", |a| a[0] * a[1]),
                vec![Key::new("x").into(), Key::new("x").into()],
            ),
        );
        let out = [Key::new("sq")];
        let g = inline_keys(g, &out, &[Key::new("x")]).unwrap();
        assert_eq!(g.len(), 1);
        assert_eq!(ints(&g, &out), vec![9]);
    }
}
