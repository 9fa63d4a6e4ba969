//! The `Bag<T>` handle: a high-level graph whose last layer yields one
//! `Vec<T>` per partition, and the plumbing every operation shares.
//!
//! # Invariants
//!
//! - Partition `i` is the value of key `(name, i)` for `i < npartitions`;
//!   it is a `Vec<T>` wrapped by [`part`] (a serde codec, so it can be
//!   spilled or sent, and an estimated size).
//! - A partition-wise operation adds one `BlockwiseLayer` reading block `i`
//!   of its input and of the partition-index layer, so consecutive maps fuse
//!   into one task per partition.
//! - `origin`, when present, says where record `j` of partition `i` came
//!   from (a file and line). Only operations that keep records in place
//!   (one output per input, same order: `map`, `try_map`, `pluck`) keep it.

use std::any::type_name;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use oxidask_graph::{
    BlockArg, BlockwiseLayer, FnOp, HighLevelGraph, Key, OpError, SerdeCodec, Tokenizer, Value,
};
use oxidask_scheduler::ComputeOptions;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::Result;
use crate::layer::IndexLayer;
use crate::size;

/// What a bag can hold: owned, thread-safe, clonable values with serde
/// support (so partitions can be spilled to disk and sent to other
/// processes). Implemented for every such type.
pub trait Record: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {}
impl<T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static> Record for T {}

/// Where record `j` of partition `i` came from, e.g. `people_00.jsonl:17`;
/// `None` when unknown. Called on error paths only.
pub(crate) type Origin = Arc<dyn Fn(u32, usize) -> Option<String> + Send + Sync>;

/// Names record `j` of partition `i` for an error message.
pub(crate) fn describe(origin: Option<&Origin>, i: u32, j: usize) -> String {
    origin
        .and_then(|o| o(i, j))
        .unwrap_or_else(|| format!("record {j} of partition {i}"))
}

/// A partition as a run-time value: the records with a serde codec and an
/// estimated size.
pub(crate) fn part<T: Record>(v: Vec<T>) -> Value {
    let nbytes = size::partition_bytes(&v, v.capacity());
    Value::with_codec::<Vec<T>, SerdeCodec>(v, nbytes)
}

/// Any other record-like value (a partial aggregate, a scalar result).
pub(crate) fn val<A: Record>(a: A) -> Value {
    let nbytes = size::value_bytes(&a);
    Value::with_codec::<A, SerdeCodec>(a, nbytes)
}

/// Takes a value out of an op argument (moved when this was its last reader).
pub(crate) fn arg<A: Record>(v: Value) -> Result<A, OpError> {
    Ok(v.take::<A>()?)
}

/// A token unique to this closure in this process (closures cannot be
/// hashed, so their layers cannot be named by content; Dask uses a uuid).
pub(crate) fn unique_token() -> u128 {
    static SALT: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let salt = *SALT.get_or_init(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        t ^ ((std::process::id() as u64) << 32)
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut t = Tokenizer::new();
    t.add(&salt).add(&n);
    u128::from_str_radix(&t.finish_hex(), 16).unwrap_or(n as u128)
}

/// A layer name `{prefix}-{token}` from the parent layer's name and the
/// operation's parameters (already written into `t`).
pub(crate) fn layer_name(prefix: &str, parent: &str, mut t: Tokenizer) -> Arc<str> {
    t.add(prefix).add(parent);
    Arc::from(format!("{prefix}-{}", t.finish_hex()))
}

/// A lazy, partitioned collection of records of type `T`, like `dask.bag`.
///
/// Build one with [`from_sequence`](crate::from_sequence),
/// [`range`](crate::range), [`read_text`](crate::read_text),
/// [`read_json_lines`](crate::read_json_lines) or
/// [`from_delayed`](crate::from_delayed); transform it with `map`, `filter`,
/// `pluck`, …; aggregate it with `count`, `frequencies`, `topk`, `fold`, …
/// Nothing runs until [`compute`](Bag::compute) (or an [`Item`](crate::Item)'s
/// `compute`). Cloning is cheap: the graph is shared.
pub struct Bag<T> {
    pub(crate) graph: HighLevelGraph,
    pub(crate) name: Arc<str>,
    pub(crate) npartitions: u32,
    pub(crate) origin: Option<Origin>,
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for Bag<T> {
    fn clone(&self) -> Self {
        Bag {
            graph: self.graph.clone(),
            name: self.name.clone(),
            npartitions: self.npartitions,
            origin: self.origin.clone(),
            _type: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Bag<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Bag<{}>({}, {} partitions)",
            type_name::<T>(),
            self.name,
            self.npartitions
        )
    }
}

impl<T: Record> Bag<T> {
    pub(crate) fn from_parts(
        graph: HighLevelGraph,
        name: Arc<str>,
        npartitions: u32,
        origin: Option<Origin>,
    ) -> Bag<T> {
        Bag {
            graph,
            name,
            npartitions,
            origin,
            _type: PhantomData,
        }
    }

    /// Number of partitions.
    pub fn npartitions(&self) -> usize {
        self.npartitions as usize
    }

    /// The name of the layer producing this bag's partitions: key `(name, i)`
    /// is partition `i`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The keys of the partitions, in order.
    pub fn keys(&self) -> Vec<Key> {
        (0..self.npartitions)
            .map(|i| Key::with_index(self.name.clone(), &[i]))
            .collect()
    }

    /// The high-level graph computing this bag (for pictures and diagnostics:
    /// `bag.graph().cull(&bag.keys())?.to_task_graph()?.visualize(…)`).
    pub fn graph(&self) -> &HighLevelGraph {
        &self.graph
    }

    /// Adds one partition-wise layer: partition `i` of the result is
    /// `f(i, partition i of self)`.
    pub(crate) fn partitionwise<U: Record>(
        &self,
        name: Arc<str>,
        op_name: &'static str,
        origin: Option<Origin>,
        f: impl Fn(u32, Vec<T>) -> Result<Vec<U>, OpError> + Send + Sync + 'static,
    ) -> Bag<U> {
        let op = FnOp::arc(op_name, move |mut args: Vec<Value>| {
            let (Some(index), Some(input)) = (args.pop(), args.pop()) else {
                return Err("partition op called without its two arguments".into());
            };
            let i = *index.downcast_ref::<u32>()?;
            Ok(part(f(i, arg::<Vec<T>>(input)?)?))
        });
        let index = IndexLayer::new(self.npartitions);
        let layer = BlockwiseLayer::new(
            name.clone(),
            op,
            vec![
                BlockArg::block(self.name.clone()),
                BlockArg::block(IndexLayer::name_for(self.npartitions)),
            ],
            self.npartitions,
        );
        let graph = self
            .graph
            .clone()
            .with_layer(Arc::new(index))
            .with_layer(Arc::new(layer));
        Bag::from_parts(graph, name, self.npartitions, origin)
    }

    /// Computes every partition and returns the records in order, with the
    /// configuration in force (the threaded scheduler by default).
    pub fn compute(&self) -> Result<Vec<T>> {
        self.compute_with(&ComputeOptions::default())
    }

    /// [`compute`](Bag::compute) with per-call options (scheduler, workers,
    /// callbacks).
    pub fn compute_with(&self, options: &ComputeOptions) -> Result<Vec<T>> {
        let indices: Vec<u32> = (0..self.npartitions).collect();
        let parts = self.compute_partitions(&indices, options)?;
        let total = parts.iter().map(Vec::len).sum();
        let mut out = Vec::with_capacity(total);
        for p in parts {
            out.extend(p);
        }
        Ok(out)
    }

    /// Computes the partitions `indices` only (culling the rest of the graph).
    pub(crate) fn compute_partitions(
        &self,
        indices: &[u32],
        options: &ComputeOptions,
    ) -> Result<Vec<Vec<T>>> {
        let keys: Vec<Key> = indices
            .iter()
            .map(|&i| Key::with_index(self.name.clone(), &[i]))
            .collect();
        run(&self.graph, &keys, options)?
            .into_iter()
            .map(|v| Ok(v.take::<Vec<T>>()?))
            .collect()
    }
}

/// Culls `graph` to `keys`, lowers it and runs it.
pub(crate) fn run(
    graph: &HighLevelGraph,
    keys: &[Key],
    options: &ComputeOptions,
) -> Result<Vec<Value>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let tasks = graph.cull(keys)?.to_task_graph()?;
    Ok(oxidask_scheduler::compute_with(tasks, keys, options)?)
}

/// A lazy single value computed from a bag, like Dask's `Item`: the result of
/// `count`, `sum`, `fold`, …
pub struct Item<R> {
    pub(crate) graph: HighLevelGraph,
    pub(crate) key: Key,
    _type: PhantomData<fn() -> R>,
}

impl<R> Clone for Item<R> {
    fn clone(&self) -> Self {
        Item {
            graph: self.graph.clone(),
            key: self.key.clone(),
            _type: PhantomData,
        }
    }
}

impl<R> fmt::Debug for Item<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Item<{}>({})", type_name::<R>(), self.key)
    }
}

impl<R: Record> Item<R> {
    pub(crate) fn new(graph: HighLevelGraph, key: Key) -> Item<R> {
        Item {
            graph,
            key,
            _type: PhantomData,
        }
    }

    /// The key of the task computing the value.
    pub fn key(&self) -> &Key {
        &self.key
    }

    /// The high-level graph computing the value.
    pub fn graph(&self) -> &HighLevelGraph {
        &self.graph
    }

    /// Computes the value with the configuration in force.
    pub fn compute(&self) -> Result<R> {
        self.compute_with(&ComputeOptions::default())
    }

    /// Computes the value with per-call options.
    pub fn compute_with(&self, options: &ComputeOptions) -> Result<R> {
        let mut values = run(&self.graph, std::slice::from_ref(&self.key), options)?;
        let v = values.pop().ok_or_else(|| {
            oxidask_scheduler::Error::Internal("a computation returned no value".into())
        })?;
        Ok(v.take::<R>()?)
    }
}
