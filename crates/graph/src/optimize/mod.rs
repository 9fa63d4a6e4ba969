//! The optimizer: small pure passes over a [`TaskGraph`], run in a fixed
//! order before scheduling.
//!
//! 1. [`cull`] keeps only the tasks the outputs need (and computes the
//!    dependency lists every later pass reuses).
//! 2. [`inline`] folds cheap tasks (literals, aliases) into their dependents.
//! 3. [`fuse_linear`] merges chains `a → b → c` in which each task has one
//!    dependent and one dependency into one task, so per-task overhead is
//!    paid once per chain.
//! 4. [`order`] gives every task a static priority that finishes outputs
//!    depth-first, so results can be freed early and memory stays low.
//!
//! The result is a [`Plan`]: the graph with dense ids, its dependency lists,
//! output ids and priorities — what schedulers run. [`OptimizeOptions`]
//! switches passes off (fusion off makes per-task diagnostics easier to read).

mod cull;
mod fuse;
mod inline;
mod inline_tasks;
mod order;
#[cfg(test)]
mod structural_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) mod testutil;

pub use cull::{Culled, cull};
pub use fuse::{Fused, FusedOp, FusedStep, StepArg, fuse_linear, fuse_linear_with};
pub use inline::inline;
pub use inline_tasks::{inline_keys, inline_ops, inline_tasks};
pub use order::order;

use crate::error::{Error, Result};
use crate::graph::{Deps, TaskGraph};
use crate::key::Key;

/// Which passes [`optimize`] runs. Culling and ordering always run: they are
/// needed for correctness of memory release and for priorities.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OptimizeOptions {
    /// Fold literal and alias tasks into their dependents.
    pub inline: bool,
    /// Merge linear chains into single tasks.
    pub fuse: bool,
    /// Name each fused task after its parts (`load-parse-stat-5e6f`), as
    /// Dask's `rename_keys=True`; see [`fuse_linear_with`]. Off by default:
    /// it costs a pass over the graph.
    pub rename_fused_keys: bool,
}

impl Default for OptimizeOptions {
    fn default() -> Self {
        OptimizeOptions {
            inline: true,
            fuse: true,
            rename_fused_keys: false,
        }
    }
}

impl OptimizeOptions {
    /// Only the passes needed to run: cull and order.
    pub fn none() -> Self {
        OptimizeOptions {
            inline: false,
            fuse: false,
            rename_fused_keys: false,
        }
    }
}

/// A graph ready to run: dense ids, dependencies, outputs and priorities.
#[derive(Debug)]
pub struct Plan {
    /// The tasks; a task's id is its position.
    pub graph: TaskGraph,
    /// Dependency ids of every task.
    pub deps: Deps,
    /// Ids of the requested outputs, in request order (repeats allowed).
    pub outputs: Vec<u32>,
    /// Static priority per task: lower runs first.
    pub priority: Vec<u32>,
}

impl Plan {
    /// Number of tasks.
    pub fn len(&self) -> usize {
        self.graph.len()
    }

    /// Whether there is nothing to run.
    pub fn is_empty(&self) -> bool {
        self.graph.is_empty()
    }
}

/// Runs the passes selected in `options` and returns a [`Plan`] for
/// `outputs`. Fails with the key at fault on a dangling reference, a missing
/// output or a cycle.
pub fn optimize(graph: TaskGraph, outputs: &[Key], options: OptimizeOptions) -> Result<Plan> {
    let Culled {
        mut graph,
        mut deps,
    } = cull(graph, outputs)?;
    // Inline before fusing: a literal argument fuses into a chain, a literal
    // task would break it into two.
    if options.inline {
        (graph, deps) = inline(graph, &deps, outputs);
        check_pass("inline", &graph, &deps, outputs)?;
    }
    if options.fuse {
        let fused = fuse_linear_with(graph, &deps, outputs, options.rename_fused_keys);
        (graph, deps) = (fused.graph, fused.deps);
        check_pass("fuse_linear", &graph, &deps, outputs)?;
    }
    let outputs = graph.output_ids(outputs)?;
    let priority = order(&graph, &deps, &outputs);
    Ok(Plan {
        graph,
        deps,
        outputs,
        priority,
    })
}

/// In debug builds, checks a rewriting pass returned dependency lists that
/// match its graph and kept every output; a mismatch is a bug in the pass,
/// reported under its name. Free in release builds.
fn check_pass(pass: &str, graph: &TaskGraph, deps: &Deps, outputs: &[Key]) -> Result<()> {
    if !cfg!(debug_assertions) {
        return Ok(());
    }
    let fresh = graph
        .dependencies()
        .map_err(|e| Error::Internal(format!("optimizer pass `{pass}` broke the graph: {e}")))?;
    if &fresh != deps {
        return Err(Error::Internal(format!(
            "optimizer pass `{pass}` returned dependency lists that do not match its graph"
        )));
    }
    graph
        .output_ids(outputs)
        .map_err(|e| Error::Internal(format!("optimizer pass `{pass}` lost an output: {e}")))?;
    Ok(())
}
