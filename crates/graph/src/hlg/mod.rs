//! High-level graphs: ordered layers that expand to tasks lazily.
//!
//! A collection operation adds one [`Layer`] to its input's
//! [`HighLevelGraph`]. A layer is a compact description of many tasks — a
//! [`BlockLayer`] over 10,000 blocks is one small object, not 10,000
//! tasks — and expands to them only when the graph is lowered with
//! [`HighLevelGraph::to_task_graph`]. Plain task graphs (delayed calls,
//! hand-built graphs) enter as a [`MaterializedLayer`].
//!
//! Culling happens here, before expansion: [`HighLevelGraph::cull`] asks each
//! layer for just the keys its dependents need, so `take(5)` on a
//! 1,000-partition map expands one task per layer, and a layer nobody needs
//! disappears whole without ever being expanded.
//!
//! # Invariants
//!
//! - A layer is named by its [`Layer::name`]; two layers of one name are the
//!   same computation (names come from tokenizing the operation and its
//!   inputs). Merging graphs keeps one of them: the larger, because a culled
//!   layer is a subset of the full one under the same name.
//! - Layer dependencies are never declared by hand: they are derived from the
//!   key names each layer reads ([`Layer::dependencies`]) and the key names
//!   each layer outputs ([`Layer::output_names`]), so they cannot disagree
//!   with the tasks.
//! - Layers are kept in insertion order, which is usually (not necessarily) a
//!   topological order. [`HighLevelGraph::cull`] does not rely on it: it
//!   routes keys to layers by name until no layer has new keys to produce,
//!   visiting layers from last to first so that, for the usual order, each
//!   layer is culled exactly once.
//! - Culling a layer never changes its keys or their tasks, only which of
//!   them exist: `cull` then `to_task_graph` gives the same tasks as
//!   `to_task_graph` then [`optimize::cull`](crate::optimize::cull).
//!
//! Two layers make the vocabulary every collection shares: the
//! [`BlockLayer`] (one task per block of an N-d grid; a bag's or a frame's
//! partitions are a 1-d grid) and the [`TreeLayer`] (the combine and finish
//! levels of a tree reduction, `split_every` blocks per task).

mod block;
mod materialized;
#[cfg(test)]
mod nd_tests;
#[cfg(test)]
mod tests;
mod tree;

use std::collections::BinaryHeap;

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::fmt;
use std::sync::Arc;

use indexmap::IndexMap;

use crate::error::{Error, Result};
use crate::graph::TaskGraph;
use crate::key::Key;

pub use block::{BlockArg, BlockLayer, Blockwise, Pattern, ravel, unravel};
pub use materialized::MaterializedLayer;
pub use tree::{TreeLayer, split_factors};

/// One layer of a [`HighLevelGraph`]: a compact description of many tasks.
///
/// Implement it for a new kind of collection operation whose tasks follow a
/// pattern (a reduction tree, a shuffle) so that graphs stay small until they
/// run; use [`MaterializedLayer`] for anything without a pattern.
pub trait Layer: Send + Sync + fmt::Debug {
    /// The layer's token name, e.g. `add-3f2a…`; also the name part of the
    /// keys it outputs (a [`MaterializedLayer`] may output other names too,
    /// see [`Layer::output_names`]).
    fn name(&self) -> &str;

    /// What kind of layer this is (`"blockwise"`, `"materialized"`, …), for
    /// pictures and diagnostics.
    fn kind(&self) -> &str;

    /// Number of tasks the layer expands to.
    fn len(&self) -> usize;

    /// Whether the layer expands to no task at all.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The keys of the tasks the layer expands to, in a fixed order.
    fn output_keys(&self) -> Vec<Key>;

    /// Whether one of the layer's tasks produces `key`. Must be cheap: graph
    /// culling calls it once per needed key.
    fn contains(&self, key: &Key) -> bool;

    /// The distinct name parts of the keys the layer outputs. Default: just
    /// [`Layer::name`].
    fn output_names(&self) -> Vec<Arc<str>> {
        vec![Arc::from(self.name())]
    }

    /// The distinct name parts of the keys the layer's tasks read from
    /// outside the layer — for layers made by collections, the names of the
    /// layers they read.
    fn dependencies(&self) -> Vec<Arc<str>>;

    /// A layer with only the tasks `needed` (all of which this layer must
    /// contain) and what they transitively need within the layer, plus the
    /// keys from outside the layer those tasks read. Fails with
    /// [`Error::MissingOutput`] on a key the layer does not have.
    fn cull(&self, needed: &[Key]) -> Result<CulledLayer>;

    /// Inserts the layer's tasks into `into`, keeping any task already there
    /// under the same key (equal keys are equal computations).
    fn materialize(&self, into: &mut TaskGraph) -> Result<()>;
}

/// What [`Layer::cull`] returns: the smaller layer and its external inputs.
#[derive(Clone, Debug)]
pub struct CulledLayer {
    /// The layer reduced to the needed tasks; it keeps the original name.
    pub layer: Arc<dyn Layer>,
    /// Keys outside the layer that the kept tasks read (repeats allowed).
    pub external: Vec<Key>,
}

/// An ordered set of named [`Layer`]s: the graph a collection holds until it
/// is computed.
///
/// Build it with [`HighLevelGraph::from_layer`] for a source, and
/// [`HighLevelGraph::from_inputs`] (or [`with_layer`](Self::with_layer) and
/// [`merge`](Self::merge)) for an operation on other collections. Before
/// running, [`cull`](Self::cull) it to the requested keys and lower it with
/// [`to_task_graph`](Self::to_task_graph). Cloning is cheap: layers are shared.
#[derive(Clone, Default, Debug)]
pub struct HighLevelGraph {
    layers: IndexMap<Arc<str>, Arc<dyn Layer>>,
}

impl HighLevelGraph {
    /// An empty graph.
    pub fn new() -> HighLevelGraph {
        HighLevelGraph::default()
    }

    /// A graph of one layer, e.g. a collection read from files.
    pub fn from_layer(layer: Arc<dyn Layer>) -> HighLevelGraph {
        HighLevelGraph::new().with_layer(layer)
    }

    /// The graph of an operation: all layers of `inputs` (the graphs of the
    /// collections it reads) followed by its own `layer`.
    pub fn from_inputs<'a>(
        layer: Arc<dyn Layer>,
        inputs: impl IntoIterator<Item = &'a HighLevelGraph>,
    ) -> HighLevelGraph {
        let mut inputs = inputs.into_iter();
        let first = inputs.next().cloned().unwrap_or_default();
        inputs.fold(first, |g, i| g.merge(i)).with_layer(layer)
    }

    /// Appends `layer`. A layer of the same name already present is the same
    /// computation: the one with more tasks is kept, in the older position.
    pub fn with_layer(mut self, layer: Arc<dyn Layer>) -> HighLevelGraph {
        self.add(layer);
        self
    }

    /// All layers of `self`, then the layers of `other` not already present
    /// (for a name in both, the one with more tasks is kept, see
    /// [`with_layer`](Self::with_layer)).
    pub fn merge(mut self, other: &HighLevelGraph) -> HighLevelGraph {
        for layer in other.layers.values() {
            self.add(layer.clone());
        }
        self
    }

    fn add(&mut self, layer: Arc<dyn Layer>) {
        match self.layers.get_mut(layer.name()) {
            // A culled copy of a layer is a subset of it: keeping the larger
            // never loses a task that either graph could produce.
            Some(old) if old.len() >= layer.len() => {}
            Some(old) => *old = layer,
            None => {
                self.layers.insert(Arc::from(layer.name()), layer);
            }
        }
    }

    /// The layer named `name`.
    pub fn layer(&self, name: &str) -> Option<&Arc<dyn Layer>> {
        self.layers.get(name)
    }

    /// The layers in order.
    pub fn layers(
        &self,
    ) -> impl DoubleEndedIterator<Item = &Arc<dyn Layer>> + ExactSizeIterator + '_ {
        self.layers.values()
    }

    /// Number of layers.
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// Number of tasks if every layer were expanded (a key output by two
    /// layers counts twice).
    pub fn len(&self) -> usize {
        self.layers.values().map(|l| l.len()).sum()
    }

    /// Whether no layer has a task.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// For each layer in order, the layers it reads from: those outputting a
    /// key name it reads. Names no layer outputs are left out (culling
    /// reports them as missing when a needed task reads them).
    pub fn layer_dependencies(&self) -> Vec<(&str, Vec<&str>)> {
        let producers = self.producers();
        let names: Vec<&str> = self.layers.keys().map(|k| &**k).collect();
        self.layers
            .values()
            .enumerate()
            .map(|(i, layer)| {
                let mut deps: Vec<usize> = layer
                    .dependencies()
                    .iter()
                    .filter_map(|n| producers.get(n))
                    .flatten()
                    .copied()
                    .filter(|&j| j != i)
                    .collect();
                deps.sort_unstable();
                deps.dedup();
                (names[i], deps.into_iter().map(|j| names[j]).collect())
            })
            .collect()
    }

    /// For each key name, the positions of the layers outputting it, ascending.
    fn producers(&self) -> HashMap<Arc<str>, Vec<usize>> {
        let mut producers: HashMap<Arc<str>, Vec<usize>> = HashMap::new();
        for (i, layer) in self.layers.values().enumerate() {
            for name in layer.output_names() {
                producers.entry(name).or_default().push(i);
            }
        }
        producers
    }

    /// The graph reduced to what `outputs` need: each layer culled to the
    /// needed keys, layers nobody needs dropped. Nothing is expanded except
    /// inside materialized layers. Fails with [`Error::MissingOutput`] for an
    /// output no layer has, and [`Error::MissingDependency`] naming the task
    /// and the key when a needed task reads a key no layer has.
    pub fn cull(&self, outputs: &[Key]) -> Result<HighLevelGraph> {
        let layers: Vec<&Arc<dyn Layer>> = self.layers.values().collect();
        let mut walk = CullWalk::new(layers, self.producers());
        for key in outputs {
            if !walk.route(key.clone()) {
                return Err(Error::MissingOutput { key: key.clone() });
            }
        }
        while let Some(l) = walk.ready.pop() {
            let fresh = std::mem::take(&mut walk.fresh[l]);
            if fresh.is_empty() {
                continue;
            }
            let culled = walk.layers[l].cull(&fresh)?;
            walk.rounds[l] += 1;
            walk.culled[l] = Some(culled.layer);
            for key in culled.external {
                if !walk.route(key.clone()) {
                    return Err(walk.dangling(l, key));
                }
            }
        }
        let mut kept = IndexMap::new();
        for (l, layer) in walk.layers.iter().enumerate() {
            let Some(culled) = walk.culled[l].take() else {
                continue;
            };
            let culled = if walk.rounds[l] == 1 {
                culled
            } else {
                // Needs arrived in several rounds (layers out of topological
                // order): one cull over all of them gives the final layer.
                layer.cull(&walk.needed_sorted(l))?.layer
            };
            kept.insert(Arc::from(layer.name()), culled);
        }
        Ok(HighLevelGraph { layers: kept })
    }

    /// Expands every layer into one task graph, layers in order. The result
    /// is not validated: run [`TaskGraph::validate`] or the optimizer on it.
    pub fn to_task_graph(&self) -> Result<TaskGraph> {
        let mut graph = TaskGraph::with_capacity(self.len());
        for layer in self.layers.values() {
            layer.materialize(&mut graph)?;
        }
        Ok(graph)
    }
}

impl From<TaskGraph> for HighLevelGraph {
    /// One [`MaterializedLayer`] named `graph-<token of its keys>`.
    fn from(graph: TaskGraph) -> HighLevelGraph {
        let keys: Vec<Key> = graph.keys().cloned().collect();
        let name = crate::tokenize::name_for("graph", &keys);
        HighLevelGraph::from_layer(Arc::new(MaterializedLayer::new(name, graph)))
    }
}

/// The state of [`HighLevelGraph::cull`]: which keys each layer must
/// produce, which of those it has not been asked for yet, and the layers
/// waiting to be asked (highest position first).
struct CullWalk<'a> {
    layers: Vec<&'a Arc<dyn Layer>>,
    producers: HashMap<Arc<str>, Vec<usize>>,
    needed: Vec<HashSet<Key>>,
    fresh: Vec<Vec<Key>>,
    ready: BinaryHeap<usize>,
    rounds: Vec<u32>,
    culled: Vec<Option<Arc<dyn Layer>>>,
}

impl<'a> CullWalk<'a> {
    fn new(layers: Vec<&'a Arc<dyn Layer>>, producers: HashMap<Arc<str>, Vec<usize>>) -> Self {
        let n = layers.len();
        CullWalk {
            layers,
            producers,
            needed: vec![HashSet::new(); n],
            fresh: vec![Vec::new(); n],
            ready: BinaryHeap::new(),
            rounds: vec![0; n],
            culled: vec![None; n],
        }
    }

    /// Marks `key` needed by the last layer that outputs it; false if none does.
    fn route(&mut self, key: Key) -> bool {
        let Some(candidates) = self.producers.get(key.name()) else {
            return false;
        };
        let Some(&l) = candidates
            .iter()
            .rev()
            .find(|&&l| self.layers[l].contains(&key))
        else {
            return false;
        };
        if self.needed[l].insert(key.clone()) {
            if self.fresh[l].is_empty() {
                self.ready.push(l);
            }
            self.fresh[l].push(key);
        }
        true
    }

    fn needed_sorted(&self, l: usize) -> Vec<Key> {
        let mut keys: Vec<Key> = self.needed[l].iter().cloned().collect();
        keys.sort_unstable();
        keys
    }

    /// The error for a key layer `l` reads that no layer has. Layers report
    /// external keys without the task reading them, so this slow path (only
    /// taken on error) expands the culled layer to find that task.
    #[cold]
    fn dangling(&self, l: usize, missing: Key) -> Error {
        let layer = self.layers[l];
        let mut graph = TaskGraph::new();
        let reader = layer
            .cull(&self.needed_sorted(l))
            .and_then(|c| c.layer.materialize(&mut graph))
            .ok()
            .and_then(|()| {
                graph
                    .iter()
                    .find(|(_, t)| t.dependencies().any(|d| *d == missing))
                    .map(|(k, _)| k.clone())
            });
        Error::MissingDependency {
            key: reader.unwrap_or_else(|| Key::new(layer.name())),
            missing,
        }
    }
}
