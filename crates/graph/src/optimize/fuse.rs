//! Linear-chain fusion: `a → b → c` becomes one task running `a`, `b`, `c`.
//!
//! Every task costs the scheduler a round trip (ready queue, worker hand-off,
//! result bookkeeping). A chain whose links pass a value to exactly one
//! consumer gains nothing from being split, so this pass, like Dask's
//! `fuse_linear`, merges it into one task running a [`FusedOp`].
//!
//! # Which links fuse
//!
//! Task `u` fuses into task `d` when
//!
//! 1. `d` is `u`'s only dependent,
//! 2. `u` is not an output (callers must still find its value), and
//! 3. `u` is `d`'s only dependency (`d` may read it several times), and
//! 4. `u` is not a placeholder ([`Op::is_placeholder`](crate::Op::is_placeholder):
//!    a value held elsewhere, which the scheduler must still find).
//!
//! Each task has at most one link down (1) and one link up (3), so the links
//! split the graph into disjoint paths. A path of two or more tasks becomes
//! one task under the key of its **last** task — the one dependents and
//! outputs refer to — with the first task's arguments, placed where the last
//! task was. Other tasks keep their relative order.
//!
//! # Cost
//!
//! Links are found in one pass over the dependency lists, and each path is
//! walked once from its last task, so the pass is `O(V + E)` however long the
//! chains are; a 10,000-task chain becomes one task of 10,000 steps without
//! re-fusing. Tasks are moved, not cloned.
//!
//! # Invariants
//!
//! - The fused task's arguments are its first step's; later steps read only
//!   the previous step's result and literals, so its dependencies are the
//!   first task's, and every removed task was read only inside its chain.
//! - The returned dependency lists are those [`TaskGraph::dependencies`]
//!   would compute for the new graph.

pub(crate) mod op;

pub use op::{FusedOp, FusedStep, StepArg};

use std::sync::Arc;

use op::Builder;

use crate::graph::{Deps, TaskGraph};
use crate::key::Key;
use crate::task::{Arg, Task};

/// A fused graph and its dependency lists (ids of the new graph), so later
/// passes need not recompute them.
#[derive(Debug)]
pub struct Fused {
    /// The graph, each fused chain now one task under its last task's key.
    pub graph: TaskGraph,
    /// Dependency ids of each task of `graph`.
    pub deps: Deps,
}

/// Merges every linear chain of `graph` into one [`FusedOp`] task; see the
/// module docs for which links fuse.
///
/// `deps` must be `graph`'s dependency lists (from
/// [`TaskGraph::dependencies`] or a previous pass).
pub fn fuse_linear(graph: TaskGraph, deps: &Deps, outputs: &[Key]) -> Fused {
    fuse_linear_with(graph, deps, outputs, false)
}

/// [`fuse_linear`], optionally naming each fused task after its parts as
/// Dask's `fuse(..., rename_keys=True)` does: the chain `('load-1a2b', 3)
/// → ('parse-3c4d', 3) → ('stat-5e6f', 3)` runs under `('load-parse-stat-5e6f',
/// 3)` — the prefixes of the earlier keys, then the last key's name — so
/// pictures and errors show what a task does. Readers of the last key read
/// the new one; when the last key is an output it stays as an alias of the
/// new key, so callers still find it.
///
/// Renaming rebuilds the key index: it costs a pass over the graph that
/// plain fusion avoids, which is why the optimizer leaves it off unless
/// [`OptimizeOptions::rename_fused_keys`](super::OptimizeOptions) is set.
pub fn fuse_linear_with(
    graph: TaskGraph,
    deps: &Deps,
    outputs: &[Key],
    rename_keys: bool,
) -> Fused {
    let n = graph.len();
    debug_assert_eq!(n, deps.len(), "deps belong to another graph");
    let dependents = deps.reverse();
    let mut is_output = vec![false; n];
    for id in outputs.iter().filter_map(|k| graph.id_of(k)) {
        is_output[id as usize] = true;
    }

    // up[d] = u when u fuses into d.
    let mut up = vec![u32::MAX; n];
    let mut fuses_down = vec![false; n];
    let mut any = false;
    for u in 0..n as u32 {
        if let &[d] = dependents.of(u) {
            if !is_output[u as usize] && deps.of(d) == [u] && !graph.by_id(u).1.op.is_placeholder()
            {
                up[d as usize] = u;
                fuses_down[u as usize] = true;
                any = true;
            }
        }
    }
    if !any {
        return Fused {
            graph,
            deps: deps.clone(),
        };
    }
    // Every chain ends in a task that does not fuse down, except on a cycle
    // whose every link would fuse (validation rejects cycles, but a pure
    // pass must not drop tasks): unlink those.
    let mut in_chain = fuses_down.clone();
    for t in 0..n {
        if !fuses_down[t] {
            let mut at = up[t];
            while at != u32::MAX {
                in_chain[at as usize] = false;
                at = up[at as usize];
            }
        }
    }
    for u in (0..n).filter(|&u| in_chain[u]) {
        fuses_down[u] = false;
        up[u] = u32::MAX;
    }

    // Old id → new id: a chain takes its last task's place.
    let mut new_id = vec![u32::MAX; n];
    let mut kept = 0u32;
    for i in 0..n {
        if !fuses_down[i] {
            new_id[i] = kept;
            kept += 1;
        }
    }
    // Dependents of a chain read its last task, and the fused task reads
    // what the chain's first task read.
    let mut lists: Vec<Vec<u32>> = Vec::with_capacity(kept as usize);
    for i in 0..n as u32 {
        if fuses_down[i as usize] {
            continue;
        }
        let mut first = i;
        while up[first as usize] != u32::MAX {
            first = up[first as usize];
        }
        lists.push(deps.of(first).iter().map(|&j| new_id[j as usize]).collect());
    }

    // Rewritten in place: each chain's tasks are taken out of their slots,
    // the fused task goes into the last one's, and the emptied slots are
    // dropped in one pass at the end (no key is hashed again).
    let mut graph = graph;
    let placeholder = Task::new(Arc::new(crate::op::Identity), Vec::new());
    let take = |g: &mut TaskGraph, i: u32| std::mem::replace(g.task_mut(i), placeholder.clone());
    let mut above: Vec<u32> = Vec::new();
    let mut renames: foldhash::HashMap<Key, Key> = Default::default();
    for i in 0..n as u32 {
        if fuses_down[i as usize] || up[i as usize] == u32::MAX {
            continue;
        }
        // The chain's other tasks, from the one just above `i` up to its first.
        above.clear();
        let mut at = up[i as usize];
        while at != u32::MAX {
            above.push(at);
            at = up[at as usize];
        }
        if rename_keys {
            let last = graph.key(i);
            let mut name = String::new();
            for &a in above.iter().rev() {
                name.push_str(graph.key(a).prefix());
                name.push('-');
            }
            name.push_str(last.name());
            let new = Key::with_index(name, last.index());
            // A graph that already has a key of the new name keeps the old.
            if !graph.contains(&new) {
                renames.insert(last.clone(), new);
            }
        }
        let first = take(
            &mut graph,
            *above.last().expect("a chain has two tasks or more"),
        );
        let inputs = first.args.len();
        let mut steps = Builder::with_capacity(inputs, above.len() + 1, inputs + above.len());
        steps.step(first.op, (0..inputs as u32).map(StepArg::Input));
        let middle: Vec<Task> = above
            .iter()
            .rev()
            .skip(1)
            .map(|&m| take(&mut graph, m))
            .collect();
        let last = take(&mut graph, i);
        for (s, task) in middle.into_iter().chain([last]).enumerate() {
            steps.step(
                task.op,
                task.args.into_iter().map(|a| match a {
                    // The only key a later task reads is its predecessor's.
                    Arg::Key(_) => StepArg::Step(s as u32),
                    Arg::Value(v) => StepArg::Literal(v),
                }),
            );
        }
        let op = steps.finish().expect("chain steps read only earlier steps");
        *graph.task_mut(i) = Task::new(Arc::new(op), first.args);
    }
    graph.retain_ids(|id| !fuses_down[id as usize]);
    if !renames.is_empty() {
        return rename(graph, &renames, outputs);
    }
    Fused {
        graph,
        deps: Deps::from_lists(lists),
    }
}

/// Puts each renamed task under its new key, points readers at it, and
/// keeps renamed outputs as aliases right after their task.
fn rename(graph: TaskGraph, renames: &foldhash::HashMap<Key, Key>, outputs: &[Key]) -> Fused {
    let mut out = TaskGraph::with_capacity(graph.len() + outputs.len());
    for (key, mut task) in graph.into_tasks() {
        for arg in &mut task.args {
            if let Arg::Key(k) = arg {
                if let Some(new) = renames.get(k) {
                    *k = new.clone();
                }
            }
        }
        match renames.get(&key) {
            Some(new) => {
                out.insert(new.clone(), task);
                if outputs.contains(&key) {
                    out.insert(key, Task::alias(new.clone()));
                }
            }
            None => {
                out.insert(key, task);
            }
        }
    }
    let deps = out
        .dependencies()
        .expect("renaming keeps every reference resolvable");
    Fused { graph: out, deps }
}

#[cfg(test)]
mod tests;
