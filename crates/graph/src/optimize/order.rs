//! Static priorities. (placeholder: topological position until implemented)

use crate::graph::{Deps, TaskGraph, topological_order};

/// Priorities: lower runs first.
pub fn order(_graph: &TaskGraph, deps: &Deps, _outputs: &[u32]) -> Vec<u32> {
    let topo = topological_order(deps).expect("culled graphs are acyclic");
    let mut p = vec![0; topo.len()];
    for (rank, &i) in topo.iter().enumerate() {
        p[i as usize] = rank as u32;
    }
    p
}
