//! A plain task graph as a layer.
//!
//! [`MaterializedLayer`] is the escape hatch of the layer system: delayed
//! calls, hand-built graphs and anything without a compact pattern. Its keys
//! may have any names. It precomputes the names it outputs and the names it
//! reads from outside, so graph culling can route keys to it without
//! scanning its tasks; culling it walks only the tasks reached from the
//! needed keys.

use foldhash::{HashSet, HashSetExt};
use std::fmt;
use std::sync::Arc;

use indexmap::IndexSet;

use super::{CulledLayer, Layer};
use crate::error::{Error, Result};
use crate::graph::TaskGraph;
use crate::key::Key;

/// A layer holding its tasks explicitly.
///
/// Use it for tasks without a pattern; prefer a pattern layer such as
/// [`BlockLayer`](super::BlockLayer) for per-block work, which
/// stays small until it runs. Cheap to clone: the graph is shared.
#[derive(Clone)]
pub struct MaterializedLayer {
    name: Arc<str>,
    graph: Arc<TaskGraph>,
    output_names: Arc<[Arc<str>]>,
    external_names: Arc<[Arc<str>]>,
}

impl MaterializedLayer {
    /// A layer named `name` holding `graph`'s tasks. The graph may read keys
    /// it does not have; other layers of the same high-level graph must
    /// produce them.
    pub fn new(name: impl Into<Arc<str>>, graph: TaskGraph) -> MaterializedLayer {
        let mut output_names: IndexSet<Arc<str>> = IndexSet::new();
        let mut external_names: IndexSet<Arc<str>> = IndexSet::new();
        for (key, task) in graph.iter() {
            if !output_names.contains(key.name()) {
                output_names.insert(key.name_arc().clone());
            }
            for dep in task.dependencies() {
                if !graph.contains(dep) && !external_names.contains(dep.name()) {
                    external_names.insert(dep.name_arc().clone());
                }
            }
        }
        MaterializedLayer {
            name: name.into(),
            graph: Arc::new(graph),
            output_names: output_names.into_iter().collect(),
            external_names: external_names.into_iter().collect(),
        }
    }

    /// The tasks.
    pub fn graph(&self) -> &TaskGraph {
        &self.graph
    }
}

impl fmt::Debug for MaterializedLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MaterializedLayer")
            .field("name", &self.name)
            .field("tasks", &self.graph.len())
            .finish()
    }
}

impl Layer for MaterializedLayer {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &str {
        "materialized"
    }

    fn len(&self) -> usize {
        self.graph.len()
    }

    fn output_keys(&self) -> Vec<Key> {
        self.graph.keys().cloned().collect()
    }

    fn contains(&self, key: &Key) -> bool {
        self.graph.contains(key)
    }

    fn output_names(&self) -> Vec<Arc<str>> {
        self.output_names.to_vec()
    }

    fn dependencies(&self) -> Vec<Arc<str>> {
        self.external_names.to_vec()
    }

    fn cull(&self, needed: &[Key]) -> Result<CulledLayer> {
        let graph = &*self.graph;
        let mut keep = vec![false; graph.len()];
        let mut stack = Vec::with_capacity(needed.len());
        for key in needed {
            let id = graph
                .id_of(key)
                .ok_or_else(|| Error::MissingOutput { key: key.clone() })?;
            if !std::mem::replace(&mut keep[id as usize], true) {
                stack.push(id);
            }
        }
        let mut external = Vec::new();
        let mut seen_external: HashSet<&Key> = HashSet::new();
        while let Some(id) = stack.pop() {
            for dep in graph.by_id(id).1.dependencies() {
                match graph.id_of(dep) {
                    Some(j) => {
                        if !std::mem::replace(&mut keep[j as usize], true) {
                            stack.push(j);
                        }
                    }
                    None => {
                        if seen_external.insert(dep) {
                            external.push(dep.clone());
                        }
                    }
                }
            }
        }
        let kept = keep.iter().filter(|&&k| k).count();
        if kept == graph.len() {
            return Ok(CulledLayer {
                layer: Arc::new(self.clone()),
                external,
            });
        }
        let mut culled = TaskGraph::with_capacity(kept);
        for (i, (key, task)) in graph.iter().enumerate() {
            if keep[i] {
                culled.insert(key.clone(), task.clone());
            }
        }
        Ok(CulledLayer {
            layer: Arc::new(MaterializedLayer::new(self.name.clone(), culled)),
            external,
        })
    }

    fn materialize(&self, into: &mut TaskGraph) -> Result<()> {
        for (key, task) in self.graph.iter() {
            into.insert_new(key.clone(), task.clone());
        }
        Ok(())
    }
}
