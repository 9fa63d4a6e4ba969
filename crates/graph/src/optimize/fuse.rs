//! Linear-chain fusion. (placeholder: no-op until implemented)

use crate::graph::{Deps, TaskGraph};
use crate::key::Key;

/// A fused graph and its dependency lists.
#[derive(Debug)]
pub struct Fused {
    /// The graph.
    pub graph: TaskGraph,
    /// Its dependencies.
    pub deps: Deps,
}

/// Merges linear chains.
pub fn fuse_linear(graph: TaskGraph, deps: &Deps, _outputs: &[Key]) -> Fused {
    Fused { graph, deps: deps.clone() }
}
