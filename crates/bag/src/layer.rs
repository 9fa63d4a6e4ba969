//! The partition-index layer: task `i` returns `i`.
//!
//! Bag ops that need to know which partition they run on (to name a
//! record's file and line in an error, to pick a file's block, to number an
//! output file) read block `i` of this layer next to block `i` of their
//! input. Its tasks are literals, so the optimizer inlines them into their
//! readers: chains of bag maps still fuse into one task per partition. Like
//! a [`BlockwiseLayer`](oxidask_graph::BlockwiseLayer) it is one small object
//! however many partitions it has, and culls to the indices needed.

use std::sync::Arc;

use oxidask_graph::{CulledLayer, Key, Layer, Task, TaskGraph, Value};

/// `(partition-index-{n}, i)` is the literal `i as u32`, for `i < n`.
#[derive(Clone, Debug)]
pub(crate) struct IndexLayer {
    name: Arc<str>,
    n: u32,
    kept: Option<Arc<[u32]>>,
}

impl IndexLayer {
    /// The index layer of `n` partitions; equal `n`, equal layer.
    pub(crate) fn new(n: u32) -> IndexLayer {
        IndexLayer {
            name: Self::name_for(n),
            n,
            kept: None,
        }
    }

    pub(crate) fn name_for(n: u32) -> Arc<str> {
        Arc::from(format!("partition-index-{n}"))
    }

    fn indices(&self) -> Box<dyn Iterator<Item = u32> + '_> {
        match &self.kept {
            None => Box::new(0..self.n),
            Some(k) => Box::new(k.iter().copied()),
        }
    }

    fn index_of(&self, key: &Key) -> Option<u32> {
        let [i] = key.index() else { return None };
        let has = key.name() == &*self.name
            && match &self.kept {
                None => *i < self.n,
                Some(k) => k.binary_search(i).is_ok(),
            };
        has.then_some(*i)
    }
}

impl Layer for IndexLayer {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &str {
        "partition-index"
    }

    fn len(&self) -> usize {
        self.kept.as_ref().map_or(self.n as usize, |k| k.len())
    }

    fn output_keys(&self) -> Vec<Key> {
        self.indices()
            .map(|i| Key::with_index(self.name.clone(), &[i]))
            .collect()
    }

    fn contains(&self, key: &Key) -> bool {
        self.index_of(key).is_some()
    }

    fn dependencies(&self) -> Vec<Arc<str>> {
        Vec::new()
    }

    fn cull(&self, needed: &[Key]) -> oxidask_graph::Result<CulledLayer> {
        let mut kept = needed
            .iter()
            .map(|k| {
                self.index_of(k)
                    .ok_or_else(|| oxidask_graph::Error::MissingOutput { key: k.clone() })
            })
            .collect::<oxidask_graph::Result<Vec<u32>>>()?;
        kept.sort_unstable();
        kept.dedup();
        let kept = (kept.len() < self.n as usize).then(|| kept.into());
        Ok(CulledLayer {
            layer: Arc::new(IndexLayer {
                kept,
                ..self.clone()
            }),
            external: Vec::new(),
        })
    }

    fn materialize(&self, into: &mut TaskGraph) -> oxidask_graph::Result<()> {
        for i in self.indices() {
            into.insert_new(
                Key::with_index(self.name.clone(), &[i]),
                Task::literal(Value::new(i)),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn culls_to_needed_indices() {
        let l = IndexLayer::new(5);
        assert_eq!(l.len(), 5);
        let c = l.cull(&[Key::with_index(l.name.clone(), &[3])]).unwrap();
        assert_eq!(c.layer.len(), 1);
        assert!(c.external.is_empty());
        let mut g = TaskGraph::new();
        c.layer.materialize(&mut g).unwrap();
        assert!(g.contains(&Key::with_index(l.name.clone(), &[3])));
        assert!(
            l.cull(&[Key::with_index(l.name.clone(), &[9])]).is_err(),
            "index out of range"
        );
    }
}
