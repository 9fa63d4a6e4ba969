//! The block layer: one task per block of an N-d grid, made by a pattern.
//!
//! A [`BlockLayer`] describes `prod(numblocks)` tasks `(name, i, j, …)`. It
//! stays one small object until lowered, and culls to a sorted list of kept
//! flat block positions, so `x.slice(..).sum()` on a huge array expands only
//! the blocks it needs. A partition-aligned map over a bag or a frame is the
//! same layer with a 1-d grid.
//!
//! What each task does comes from a [`Pattern`]: a function from an output
//! block index to its task. The common pattern is data — [`Blockwise`]: one
//! op shared by every task (so an encoded graph writes it once), and per
//! block a list of [`BlockArg`]s: a block of an input layer (at the same
//! index, or broadcast NumPy-style), the block index itself as a literal so
//! the op can see which block it runs on, a fixed key, or a literal.
//! Operations whose inputs are not a fixed function of the index alone
//! (rechunking, slicing, concatenation) implement [`Pattern`] themselves.

use std::fmt;
use std::sync::Arc;

use super::{CulledLayer, Layer};
use crate::error::{Error, Result};
use crate::graph::TaskGraph;
use crate::key::Key;
use crate::op::Op;
use crate::task::{Arg, Task};
use crate::value::Value;

/// How a [`BlockLayer`]'s tasks are made.
pub trait Pattern: Send + Sync {
    /// The task of output block `idx`; its keys must name other layers.
    fn task(&self, idx: &[u32]) -> Task;
    /// The names of the layers the tasks read.
    fn inputs(&self) -> Vec<Arc<str>>;
}

/// Row-major flat position of block `idx` in a grid of `numblocks`.
pub fn ravel(idx: &[u32], numblocks: &[u32]) -> u64 {
    idx.iter()
        .zip(numblocks)
        .fold(0u64, |acc, (&i, &n)| acc * n as u64 + i as u64)
}

/// The block index at row-major flat position `flat` of a grid of
/// `numblocks` (the inverse of [`ravel`]).
pub fn unravel(mut flat: u64, numblocks: &[u32]) -> Vec<u32> {
    let mut idx = vec![0u32; numblocks.len()];
    for k in (0..numblocks.len()).rev() {
        let n = numblocks[k].max(1) as u64;
        idx[k] = (flat % n) as u32;
        flat /= n;
    }
    idx
}

/// Tasks `(name, i, j, …)` for every block of a grid, made by a [`Pattern`].
///
/// Cheap to clone: the pattern and the kept positions are shared.
#[derive(Clone)]
pub struct BlockLayer {
    name: Arc<str>,
    kind: &'static str,
    numblocks: Arc<[u32]>,
    pattern: Arc<dyn Pattern>,
    /// Kept flat block positions, sorted; `None` for all.
    kept: Option<Arc<[u64]>>,
}

impl BlockLayer {
    /// The layer of tasks `(name, idx…)` for every `idx` of the grid
    /// `numblocks`, made by `pattern`; `kind` names the operation for
    /// pictures and diagnostics (`"elementwise"`, `"rechunk"`, …).
    pub fn new(
        name: impl Into<Arc<str>>,
        kind: &'static str,
        numblocks: Vec<u32>,
        pattern: Arc<dyn Pattern>,
    ) -> BlockLayer {
        BlockLayer {
            name: name.into(),
            kind,
            numblocks: numblocks.into(),
            pattern,
            kept: None,
        }
    }

    /// The layer whose task at block `idx` runs `op` on `args` taken at
    /// `idx` (see [`BlockArg`]): a [`Blockwise`] pattern of kind
    /// `"blockwise"`. With a 1-d grid of `n` blocks this is the
    /// partition-aligned map of bags and frames.
    pub fn blockwise(
        name: impl Into<Arc<str>>,
        op: Arc<dyn Op>,
        args: Vec<BlockArg>,
        numblocks: Vec<u32>,
    ) -> BlockLayer {
        BlockLayer::new(
            name,
            "blockwise",
            numblocks,
            Arc::new(Blockwise::new(op, args)),
        )
    }

    /// Blocks along each axis of the output grid.
    pub fn numblocks(&self) -> &[u32] {
        &self.numblocks
    }

    /// The task of output block `idx` (kept or not).
    pub fn task(&self, idx: &[u32]) -> Task {
        self.pattern.task(idx)
    }

    fn total(&self) -> u64 {
        self.numblocks.iter().map(|&n| n as u64).product()
    }

    /// The kept flat positions, ascending.
    fn positions(&self) -> Box<dyn Iterator<Item = u64> + '_> {
        match &self.kept {
            None => Box::new(0..self.total()),
            Some(k) => Box::new(k.iter().copied()),
        }
    }

    fn position_of(&self, key: &Key) -> Option<u64> {
        if key.name() != &*self.name || key.index().len() != self.numblocks.len() {
            return None;
        }
        if key
            .index()
            .iter()
            .zip(self.numblocks.iter())
            .any(|(i, n)| i >= n)
        {
            return None;
        }
        let f = ravel(key.index(), &self.numblocks);
        match &self.kept {
            None => Some(f),
            Some(k) => k.binary_search(&f).ok().map(|_| f),
        }
    }
}

impl fmt::Debug for BlockLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockLayer")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("numblocks", &self.numblocks)
            .field("tasks", &self.len())
            .finish()
    }
}

impl Layer for BlockLayer {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &str {
        self.kind
    }

    fn len(&self) -> usize {
        match &self.kept {
            None => self.total() as usize,
            Some(k) => k.len(),
        }
    }

    fn output_keys(&self) -> Vec<Key> {
        self.positions()
            .map(|f| Key::with_index(self.name.clone(), &unravel(f, &self.numblocks)))
            .collect()
    }

    fn contains(&self, key: &Key) -> bool {
        self.position_of(key).is_some()
    }

    fn dependencies(&self) -> Vec<Arc<str>> {
        self.pattern.inputs()
    }

    fn cull(&self, needed: &[Key]) -> Result<CulledLayer> {
        let mut kept = needed
            .iter()
            .map(|k| {
                self.position_of(k)
                    .ok_or_else(|| Error::MissingOutput { key: k.clone() })
            })
            .collect::<Result<Vec<u64>>>()?;
        kept.sort_unstable();
        kept.dedup();
        let mut external = Vec::new();
        for &f in &kept {
            let task = self.pattern.task(&unravel(f, &self.numblocks));
            external.extend(task.dependencies().cloned());
        }
        let kept = ((kept.len() as u64) < self.total()).then(|| kept.into());
        Ok(CulledLayer {
            layer: Arc::new(BlockLayer {
                kept,
                ..self.clone()
            }),
            external,
        })
    }

    fn materialize(&self, into: &mut TaskGraph) -> Result<()> {
        for f in self.positions() {
            let idx = unravel(f, &self.numblocks);
            let task = self.pattern.task(&idx);
            into.insert_new(Key::with_index(self.name.clone(), &idx), task);
        }
        Ok(())
    }
}

/// One argument of the task at output block `idx` of a [`Blockwise`]
/// pattern.
#[derive(Clone, Debug)]
pub enum BlockArg {
    /// Block `idx` of the layer of this name: the aligned input.
    Block(Arc<str>),
    /// A block of a layer whose grid `numblocks` broadcasts against the
    /// output's as in NumPy: its axes align with the output's last axes,
    /// and along an axis where it has one block it reads block 0.
    Broadcast {
        /// The input layer.
        name: Arc<str>,
        /// The input layer's blocks per axis.
        numblocks: Arc<[u32]>,
    },
    /// The block index `idx` itself, as a literal `Vec<u32>`: for ops that
    /// need to know which block they run on (a source reading its block, a
    /// writer placing it in a file).
    Index,
    /// The block index along one axis, as a literal `u32`: a 1-d layer's
    /// partition number.
    Coord(usize),
    /// The same key for every task, e.g. a scalar reduced from another
    /// collection.
    Key(Key),
    /// The same literal value for every task (shared, not copied).
    Literal(Value),
}

impl BlockArg {
    /// Block `idx` of layer `name` for task `idx`.
    pub fn block(name: impl Into<Arc<str>>) -> BlockArg {
        BlockArg::Block(name.into())
    }

    /// The block of layer `name` (of grid `numblocks`) that block `idx`
    /// of the output reads under NumPy broadcasting.
    pub fn broadcast(name: impl Into<Arc<str>>, numblocks: &[u32]) -> BlockArg {
        BlockArg::Broadcast {
            name: name.into(),
            numblocks: numblocks.into(),
        }
    }

    /// The value of `key`, the same for every task.
    pub fn key(key: Key) -> BlockArg {
        BlockArg::Key(key)
    }

    /// A literal value, the same for every task.
    pub fn literal(value: Value) -> BlockArg {
        BlockArg::Literal(value)
    }

    fn to_arg(&self, idx: &[u32]) -> Arg {
        match self {
            BlockArg::Block(name) => Arg::Key(Key::with_index(name.clone(), idx)),
            BlockArg::Broadcast { name, numblocks } => {
                let pad = idx.len().saturating_sub(numblocks.len());
                let i: Vec<u32> = numblocks
                    .iter()
                    .enumerate()
                    .map(|(j, &n)| if n == 1 { 0 } else { idx[j + pad] })
                    .collect();
                Arg::Key(Key::with_index(name.clone(), &i))
            }
            BlockArg::Index => Arg::Value(Value::new(idx.to_vec())),
            // An axis past the index is a caller's bug caught by tests;
            // reading 0 there keeps the scheduler's thread panic-free.
            BlockArg::Coord(axis) => Arg::Value(Value::new(idx.get(*axis).copied().unwrap_or(0))),
            BlockArg::Key(key) => Arg::Key(key.clone()),
            BlockArg::Literal(value) => Arg::Value(value.clone()),
        }
    }

    /// The layer this argument reads, if any.
    fn input(&self) -> Option<&Arc<str>> {
        match self {
            BlockArg::Block(name) | BlockArg::Broadcast { name, .. } => Some(name),
            BlockArg::Key(key) => Some(key.name_arc()),
            BlockArg::Index | BlockArg::Coord(_) | BlockArg::Literal(_) => None,
        }
    }
}

/// The task at block `idx` is `op(args at idx…)`: one op shared by all
/// tasks, per-block differences only in the arguments.
pub struct Blockwise {
    op: Arc<dyn Op>,
    args: Arc<[BlockArg]>,
}

impl Blockwise {
    /// The pattern running `op` on `args`.
    pub fn new(op: Arc<dyn Op>, args: Vec<BlockArg>) -> Blockwise {
        Blockwise {
            op,
            args: args.into(),
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
}

impl Pattern for Blockwise {
    fn task(&self, idx: &[u32]) -> Task {
        Task::new(
            self.op.clone(),
            self.args.iter().map(|a| a.to_arg(idx)).collect(),
        )
    }

    fn inputs(&self) -> Vec<Arc<str>> {
        let mut names: Vec<Arc<str>> = Vec::new();
        for name in self.args.iter().filter_map(BlockArg::input) {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        names
    }
}
