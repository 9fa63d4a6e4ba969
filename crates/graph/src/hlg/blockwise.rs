//! The partition-aligned map: task `i` of the output reads block `i` of each
//! input.
//!
//! A [`BlockwiseLayer`] stores its op, its argument pattern and which
//! partition indices it still has (all of `0..npartitions` until culled, then
//! a sorted list), so its size does not grow with the number of partitions
//! until it is expanded. Keys are 1-D: `(name, i)`.

use std::fmt;
use std::sync::Arc;

use super::{CulledLayer, Layer};
use crate::error::{Error, Result};
use crate::graph::TaskGraph;
use crate::key::Key;
use crate::op::Op;
use crate::task::{Arg, Task};
use crate::value::Value;

/// One argument of every task of a [`BlockwiseLayer`].
#[derive(Clone, Debug)]
pub enum BlockArg {
    /// Block `i` of the layer of this name, i.e. key `(name, i)`: the
    /// partition-aligned input.
    Block(Arc<str>),
    /// The same key for every task, e.g. a scalar reduced from another
    /// collection.
    Broadcast(Key),
    /// The same literal value for every task (shared, not copied).
    Literal(Value),
}

impl BlockArg {
    /// Block `i` of layer `name` for task `i`.
    pub fn block(name: impl Into<Arc<str>>) -> BlockArg {
        BlockArg::Block(name.into())
    }

    /// The value of `key`, the same for every task.
    pub fn broadcast(key: Key) -> BlockArg {
        BlockArg::Broadcast(key)
    }

    /// A literal value, the same for every task.
    pub fn literal(value: Value) -> BlockArg {
        BlockArg::Literal(value)
    }

    fn to_arg(&self, i: u32) -> Arg {
        match self {
            BlockArg::Block(name) => Arg::Key(Key::with_index(name.clone(), &[i])),
            BlockArg::Broadcast(key) => Arg::Key(key.clone()),
            BlockArg::Literal(value) => Arg::Value(value.clone()),
        }
    }
}

/// Output key `(name, i)` for each partition `i` is `op(args…)`, each
/// argument a block of an input, a broadcast key or a literal.
///
/// Use it for per-partition maps (Bag `map`, DataFrame column arithmetic,
/// elementwise Array ops on 1-D chunks). Cheap to clone: the arguments are
/// shared.
#[derive(Clone)]
pub struct BlockwiseLayer {
    name: Arc<str>,
    op: Arc<dyn Op>,
    args: Arc<[BlockArg]>,
    npartitions: u32,
    /// The kept partition indices, sorted and distinct; `None` for all.
    kept: Option<Arc<[u32]>>,
}

impl BlockwiseLayer {
    /// A layer of `npartitions` tasks `(name, i) = op(args…)`.
    pub fn new(
        name: impl Into<Arc<str>>,
        op: Arc<dyn Op>,
        args: Vec<BlockArg>,
        npartitions: u32,
    ) -> BlockwiseLayer {
        BlockwiseLayer {
            name: name.into(),
            op,
            args: args.into(),
            npartitions,
            kept: None,
        }
    }

    /// The op every task runs.
    pub fn op(&self) -> &Arc<dyn Op> {
        &self.op
    }

    /// The argument pattern.
    pub fn args(&self) -> &[BlockArg] {
        &self.args
    }

    /// Number of partitions of the whole layer (before any culling).
    pub fn npartitions(&self) -> u32 {
        self.npartitions
    }

    /// The partition indices this layer still has, ascending.
    pub fn indices(&self) -> Box<dyn Iterator<Item = u32> + '_> {
        match &self.kept {
            None => Box::new(0..self.npartitions),
            Some(kept) => Box::new(kept.iter().copied()),
        }
    }

    /// The task for partition `i`.
    pub fn task(&self, i: u32) -> Task {
        Task::new(
            self.op.clone(),
            self.args.iter().map(|a| a.to_arg(i)).collect(),
        )
    }

    fn key(&self, i: u32) -> Key {
        Key::with_index(self.name.clone(), &[i])
    }

    /// The partition `key` names, if this layer has it.
    fn index_of(&self, key: &Key) -> Option<u32> {
        let [i] = key.index() else {
            return None;
        };
        let has = key.name() == &*self.name
            && match &self.kept {
                None => *i < self.npartitions,
                Some(kept) => kept.binary_search(i).is_ok(),
            };
        has.then_some(*i)
    }

    /// The distinct layer names read block-wise, in argument order.
    fn block_inputs(&self) -> Vec<&Arc<str>> {
        let mut names: Vec<&Arc<str>> = Vec::new();
        for a in self.args.iter() {
            match a {
                BlockArg::Block(n) if !names.contains(&n) => names.push(n),
                _ => {}
            }
        }
        names
    }
}

impl fmt::Debug for BlockwiseLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockwiseLayer")
            .field("name", &self.name)
            .field("op", &self.op.name())
            .field("args", &self.args)
            .field("npartitions", &self.npartitions)
            .field("kept", &self.len())
            .finish()
    }
}

impl Layer for BlockwiseLayer {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &str {
        "blockwise"
    }

    fn len(&self) -> usize {
        match &self.kept {
            None => self.npartitions as usize,
            Some(kept) => kept.len(),
        }
    }

    fn output_keys(&self) -> Vec<Key> {
        self.indices().map(|i| self.key(i)).collect()
    }

    fn contains(&self, key: &Key) -> bool {
        self.index_of(key).is_some()
    }

    fn dependencies(&self) -> Vec<Arc<str>> {
        let mut names: Vec<Arc<str>> = Vec::new();
        for a in self.args.iter() {
            let name = match a {
                BlockArg::Block(n) => n,
                BlockArg::Broadcast(k) => k.name_arc(),
                BlockArg::Literal(_) => continue,
            };
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        names
    }

    fn cull(&self, needed: &[Key]) -> Result<CulledLayer> {
        let mut kept = needed
            .iter()
            .map(|k| {
                self.index_of(k)
                    .ok_or_else(|| Error::MissingOutput { key: k.clone() })
            })
            .collect::<Result<Vec<u32>>>()?;
        kept.sort_unstable();
        kept.dedup();
        let inputs = self.block_inputs();
        let mut external = Vec::with_capacity(kept.len() * inputs.len());
        for name in inputs {
            external.extend(kept.iter().map(|&i| Key::with_index(name.clone(), &[i])));
        }
        if !kept.is_empty() {
            for a in self.args.iter() {
                if let BlockArg::Broadcast(k) = a {
                    external.push(k.clone());
                }
            }
        }
        let kept = (kept.len() < self.npartitions as usize).then(|| kept.into());
        let layer = BlockwiseLayer {
            kept,
            ..self.clone()
        };
        Ok(CulledLayer {
            layer: Arc::new(layer),
            external,
        })
    }

    fn materialize(&self, into: &mut TaskGraph) -> Result<()> {
        for i in self.indices() {
            into.insert_new(self.key(i), self.task(i));
        }
        Ok(())
    }
}
