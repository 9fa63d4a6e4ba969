//! Culling: keep only what the outputs need.

use crate::error::{Error, Result};
use crate::graph::{Deps, DepsBuilder, TaskGraph};
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
/// output, a dangling reference among the kept tasks, or a cycle. The graph
/// is culled in place (tasks are neither copied nor their keys hashed again),
/// and one that loses nothing is returned as is.
///
/// Each key is looked up once: the walk records the dependency ids it
/// resolves, and the lists of the kept graph are those ids renumbered.
pub fn cull(graph: TaskGraph, outputs: &[Key]) -> Result<Culled> {
    let n = graph.len();
    let mut keep = vec![false; n];
    // The resolved dependency ids of kept task i: resolved[span[i].0..span[i].1].
    let mut span = vec![(0u32, 0u32); n];
    let mut resolved: Vec<u32> = Vec::with_capacity(n);
    let mut stack = graph.output_ids(outputs)?;
    for &o in &stack {
        keep[o as usize] = true;
    }
    while let Some(i) = stack.pop() {
        let (key, task) = graph.by_id(i);
        let start = resolved.len() as u32;
        for dep in task.dependencies() {
            let j = graph.id_of(dep).ok_or_else(|| Error::MissingDependency {
                key: key.clone(),
                missing: dep.clone(),
            })?;
            resolved.push(j);
            if !keep[j as usize] {
                keep[j as usize] = true;
                stack.push(j);
            }
        }
        span[i as usize] = (start, resolved.len() as u32);
    }
    // Old id → new id among the kept tasks.
    let mut new_id = vec![u32::MAX; n];
    let mut kept = 0u32;
    for (i, &k) in keep.iter().enumerate() {
        if k {
            new_id[i] = kept;
            kept += 1;
        }
    }
    let mut deps = DepsBuilder::new(kept as usize);
    for (i, &k) in keep.iter().enumerate() {
        if k {
            let (a, b) = span[i];
            let ids = &resolved[a as usize..b as usize];
            let width = ids.len();
            deps.push_task::<std::convert::Infallible>(
                width,
                ids.iter().map(|&j| Ok(new_id[j as usize])),
            )
            .unwrap_or_else(|never| match never {});
        }
    }
    let deps = deps.finish();
    let mut culled = graph;
    if kept as usize != n {
        culled.retain_ids(|id| keep[id as usize]);
    }
    culled.topological_order(&deps)?;
    Ok(Culled {
        graph: culled,
        deps,
    })
}
