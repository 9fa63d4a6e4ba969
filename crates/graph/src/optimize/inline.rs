//! Inlining: literal tasks become literal arguments, aliases disappear.
//!
//! Collections often put constants in the graph as tasks of their own
//! (`Task::literal`) and rename results with aliases (`Task::alias`). Each
//! such task costs a scheduling round and a held result for no work. This
//! pass, like Dask's `inline` of constants, removes them:
//!
//! - a **literal** task (the identity op on one value) that is not an output
//!   is removed, and every dependent reads `Arg::Value(v)` in its place;
//! - an **alias** (the identity op on one key) that is not an output is
//!   removed, and dependents read the aliased key directly — or its value,
//!   when the alias points (through any number of aliases) at a removed
//!   literal.
//!
//! Outputs stay tasks, so callers still find every key they asked for; an
//! output alias of a removed literal becomes a literal task itself. A
//! removable task nobody reads is kept: inlining never culls.
//!
//! Nothing else is inlined. Ops reporting [`Op::is_cheap`](crate::Op::is_cheap)
//! are *not* evaluated at optimize time: that would run user code during
//! planning, where its errors and panics have no task to be reported under.
//!
//! # Invariants
//!
//! - Surviving tasks keep their relative order and their keys.
//! - The returned dependency lists are those [`TaskGraph::dependencies`]
//!   would compute for the new graph (first-use order, no repeats), derived
//!   from the old ones without re-hashing every key.
//! - Runs in `O(V + E)`; keys are hashed only for tasks that read a removed
//!   task.

use crate::graph::{Deps, TaskGraph};
use crate::key::Key;
use crate::op::Identity;
use crate::task::Arg;

/// What a removed task stands for.
#[derive(Clone)]
enum Target {
    /// Kept: dependents still read this task.
    Keep,
    /// A kept task (by old id) that dependents should read instead.
    Task(u32),
    /// A literal dependents should read instead.
    Value(crate::value::Value),
}

/// Folds non-output literal tasks into their dependents and resolves
/// non-output aliases; returns the new graph and its dependency lists. See
/// the module docs.
///
/// `deps` must be `graph`'s dependency lists (from
/// [`TaskGraph::dependencies`] or a previous pass).
pub fn inline(graph: TaskGraph, deps: &Deps, outputs: &[Key]) -> (TaskGraph, Deps) {
    let n = graph.len();
    debug_assert_eq!(n, deps.len(), "deps belong to another graph");
    let dependents = deps.reverse();
    let mut is_output = vec![false; n];
    for id in outputs.iter().filter_map(|k| graph.id_of(k)) {
        is_output[id as usize] = true;
    }
    let targets = resolve(&graph, deps, &dependents, &is_output);
    if targets.iter().all(|t| matches!(t, Target::Keep)) {
        return (graph, deps.clone());
    }

    // Old id → new id for surviving tasks.
    let mut new_id = vec![u32::MAX; n];
    let mut kept = 0u32;
    for (i, t) in targets.iter().enumerate() {
        if matches!(t, Target::Keep) {
            new_id[i] = kept;
            kept += 1;
        }
    }

    // Rewrite arguments while keys can still be looked up; only tasks that
    // read a removed task pay for hashing.
    let mut rewrites: Vec<(usize, Vec<Arg>)> = Vec::new();
    for i in 0..n {
        let reads_removed = deps
            .of(i as u32)
            .iter()
            .any(|&j| !matches!(targets[j as usize], Target::Keep));
        if matches!(targets[i], Target::Keep) && reads_removed {
            rewrites.push((i, rewrite_args(&graph, i as u32, &targets)));
        }
    }

    let mut lists: Vec<Vec<u32>> = Vec::with_capacity(kept as usize);
    let mut out = TaskGraph::with_capacity(kept as usize);
    let mut rewrites = rewrites.into_iter().peekable();
    for (i, (key, mut task)) in graph.into_tasks().enumerate() {
        if !matches!(targets[i], Target::Keep) {
            continue;
        }
        if rewrites.peek().is_some_and(|(r, _)| *r == i) {
            task.args = rewrites.next().expect("peeked").1;
        }
        // Mapping the old list in order keeps first-use order: a key's first
        // use in the rewritten arguments is the first use of whichever old
        // dependency led to it.
        let mut list = Vec::with_capacity(deps.of(i as u32).len());
        for &j in deps.of(i as u32) {
            let to = match targets[j as usize] {
                Target::Keep => j,
                Target::Task(t) => t,
                Target::Value(_) => continue,
            };
            let to = new_id[to as usize];
            if !list.contains(&to) {
                list.push(to);
            }
        }
        lists.push(list);
        out.insert(key, task);
    }
    (out, Deps::from_lists(lists))
}

/// Decides, per task, whether it stays or what it stands for. Alias chains
/// are followed to their end once, with path compression, so long chains
/// cost linear time.
fn resolve(graph: &TaskGraph, deps: &Deps, dependents: &Deps, is_output: &[bool]) -> Vec<Target> {
    let n = graph.len();
    // First pass: which tasks are removable, and what each points at locally.
    let mut targets: Vec<Option<Target>> = (0..n as u32)
        .map(|i| {
            let (_, task) = graph.by_id(i);
            let removable = !is_output[i as usize]
                && !dependents.of(i).is_empty()
                && task.op.name() == Identity::NAME
                && task.args.len() == 1;
            if !removable {
                return Some(Target::Keep);
            }
            match &task.args[0] {
                Arg::Value(v) => Some(Target::Value(v.clone())),
                // Resolved below: the aliased task may itself be removed.
                Arg::Key(_) => None,
            }
        })
        .collect();
    let mut path: Vec<u32> = Vec::new();
    let mut on_path = vec![false; n];
    for i in 0..n as u32 {
        if targets[i as usize].is_some() {
            continue;
        }
        // Follow aliases until a resolved task, then point the whole path at
        // it, so each alias is walked once.
        let mut at = i;
        let end = loop {
            match &targets[at as usize] {
                Some(Target::Keep) => break Target::Task(at),
                Some(t) => break t.clone(),
                // A cycle of aliases (validation rejects it): keep them all.
                None if on_path[at as usize] => break Target::Keep,
                None => {
                    on_path[at as usize] = true;
                    path.push(at);
                    match deps.of(at).first() {
                        Some(&next) => at = next,
                        None => break Target::Keep,
                    }
                }
            }
        };
        for p in path.drain(..) {
            on_path[p as usize] = false;
            targets[p as usize] = Some(end.clone());
        }
    }
    targets
        .into_iter()
        .map(|t| t.unwrap_or(Target::Keep))
        .collect()
}

/// Task `i`'s arguments with each key naming a removed task replaced by
/// what it stands for.
fn rewrite_args(graph: &TaskGraph, i: u32, targets: &[Target]) -> Vec<Arg> {
    let (_, task) = graph.by_id(i);
    task.args
        .iter()
        .map(|arg| {
            let Arg::Key(k) = arg else { return arg.clone() };
            match graph.id_of(k).map(|j| &targets[j as usize]) {
                Some(Target::Task(t)) => Arg::Key(graph.key(*t).clone()),
                Some(Target::Value(v)) => Arg::Value(v.clone()),
                Some(Target::Keep) | None => arg.clone(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
