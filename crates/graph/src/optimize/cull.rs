//! Culling: keep only what the outputs need.

use crate::error::{Error, Result};
use crate::graph::{Deps, TaskGraph};
use crate::key::Key;

/// A culled graph and its dependency lists (ids of the new graph), so later
/// passes need not recompute them.
#[derive(Debug)]
pub struct Culled {
    /// The tasks the outputs need, in their original relative order.
    pub graph: TaskGraph,
    /// Dependency ids of each task of `graph`.
    pub deps: Deps,
}

/// Keeps the tasks `outputs` transitively depend on; fails naming a missing
/// output, a dangling reference among the kept tasks, or a cycle. Tasks are
/// moved, not copied, and a graph that loses nothing is returned as is.
pub fn cull(graph: TaskGraph, outputs: &[Key]) -> Result<Culled> {
    let n = graph.len();
    let mut keep = vec![false; n];
    let mut stack = graph.output_ids(outputs)?;
    for &o in &stack {
        keep[o as usize] = true;
    }
    while let Some(i) = stack.pop() {
        let (key, task) = graph.by_id(i);
        for dep in task.dependencies() {
            let j = graph.id_of(dep).ok_or_else(|| Error::MissingDependency {
                key: key.clone(),
                missing: dep.clone(),
            })?;
            if !keep[j as usize] {
                keep[j as usize] = true;
                stack.push(j);
            }
        }
    }
    let kept = keep.iter().filter(|&&k| k).count();
    let culled = if kept == n {
        graph
    } else {
        let mut culled = TaskGraph::with_capacity(kept);
        for ((key, task), keep) in graph.into_tasks().zip(keep) {
            if keep {
                culled.insert(key, task);
            }
        }
        culled
    };
    let deps = culled.dependencies()?;
    culled.topological_order(&deps)?;
    Ok(Culled {
        graph: culled,
        deps,
    })
}
