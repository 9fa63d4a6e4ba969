//! The N-d block layer every array operation adds to its graph.
//!
//! A [`BlockLayer`] describes `prod(numblocks)` tasks by a [`Pattern`]: a
//! function from an output block index to its task. It stays one small
//! object until lowered, and culls to a sorted list of kept block positions,
//! so `x.slice(..).sum()` on a huge array expands only the blocks it needs.

use std::fmt;
use std::sync::Arc;

use oxidask_graph::{Arg, CulledLayer, Error, Key, Layer, Op, Result, Task, TaskGraph, Value};

use crate::grid::{ravel, unravel};

/// How a layer's tasks are made.
pub(crate) trait Pattern: Send + Sync {
    /// The task of output block `idx`; its keys must name other layers.
    fn task(&self, idx: &[u32]) -> Task;
    /// The names of the layers the tasks read.
    fn inputs(&self) -> Vec<Arc<str>>;
}

/// Tasks `(name, i, j, …)` for every block of a grid, made by a pattern.
#[derive(Clone)]
pub(crate) struct BlockLayer {
    name: Arc<str>,
    kind: &'static str,
    numblocks: Arc<[u32]>,
    pattern: Arc<dyn Pattern>,
    /// Kept flat block positions, sorted; `None` for all.
    kept: Option<Arc<[u64]>>,
}

impl BlockLayer {
    pub fn new(
        name: Arc<str>,
        kind: &'static str,
        numblocks: Vec<u32>,
        pattern: Arc<dyn Pattern>,
    ) -> BlockLayer {
        BlockLayer {
            name,
            kind,
            numblocks: numblocks.into(),
            pattern,
            kept: None,
        }
    }

    fn total(&self) -> u64 {
        self.numblocks.iter().map(|&n| n as u64).product()
    }

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

/// Task `(name, i, j, …)` runs `op` on block `(input, i, j, …)` and that
/// block's index: for per-block side effects such as writing a block to its
/// file or copying it into a result.
pub(crate) struct PerBlockPattern {
    pub(crate) input: Arc<str>,
    pub(crate) op: Arc<dyn Op>,
}

impl Pattern for PerBlockPattern {
    fn task(&self, idx: &[u32]) -> Task {
        Task::new(
            self.op.clone(),
            vec![
                Arg::Key(Key::with_index(self.input.clone(), idx)),
                Arg::Value(Value::new(idx.to_vec())),
            ],
        )
    }

    fn inputs(&self) -> Vec<Arc<str>> {
        vec![self.input.clone()]
    }
}
