//! The `Bag<T>` handle: a high-level graph whose last layer yields one
//! `Vec<T>` per partition, and the plumbing every operation shares.
//!
//! # Invariants
//!
//! A bag is a *base* layer plus a *feed*: partition `i`'s records are what
//! the feed pushes out of the base layer's block `i`. The base is a stored
//! layer (`Vec<T>` values) or, for sources (files, ranges), the
//! partition-index layer. Record-wise transforms (`map`, `filter`, `pluck`,
//! …) extend the feed — a push-based pipeline, one closure call per record
//! per step — instead of adding a layer, so no intermediate `Vec` is ever
//! built between them: a JSON record is parsed, plucked and counted before
//! the next line is read. This is Dask's design too (a bag partition is a
//! lazy iterator between tasks). Layers are added where values must be
//! stored: by `compute` (one `BlockLayer` running the whole pipeline per
//! partition), by aggregations (whose chunk tasks run the pipeline into
//! their accumulator), and by `repartition`.
//!
//! # Invariants
//!
//! - A stored partition is a `Vec<T>` wrapped by [`part`] (a serde codec, so
//!   it can be spilled or sent, and an estimated size).
//! - `chain` names the records: deterministic from the base and the steps'
//!   parameters, unique for steps that are closures.
//! - `origin`, when present, says where record `j` of partition `i` came
//!   from (a file and line). Only steps that keep records in place (one
//!   output per input, same order: `map`, `try_map`, `pluck`) keep it.

use std::any::type_name;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use oxidask_graph::push::PushFeed;
use oxidask_graph::{
    BlockArg, BlockLayer, HighLevelGraph, Key, OpError, Tokenizer, Value, VisualizeBackend,
};
use oxidask_scheduler::ComputeOptions;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::{RecordCodec, RecordsCodec};
use crate::error::Result;
use crate::pipeline::{PartitionOp, Pipeline, Source, Step};
use crate::size;

/// What a bag can hold: owned, thread-safe, clonable values with serde
/// support (so partitions can be spilled to disk and sent to other
/// processes). Implemented for every such type.
pub trait Record: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {}
impl<T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static> Record for T {}

/// The name of the partition-index layer of `n` partitions; equal `n`,
/// equal layer.
pub(crate) fn index_name(n: u32) -> Arc<str> {
    Arc::from(format!("partition-index-{n}"))
}

/// The partition-index layer: task `i` is the literal `i as u32`. Sources
/// (files, ranges) use it as their base; its tasks are literals, so the
/// optimizer inlines them into their readers and chains of bag maps still
/// fuse into one task per partition.
pub(crate) fn index_layer(n: u32) -> BlockLayer {
    BlockLayer::blockwise(
        index_name(n),
        Arc::new(oxidask_graph::Identity),
        vec![BlockArg::Coord(0)],
        vec![n],
    )
}

/// Where record `j` of partition `i` came from, e.g. `people_00.jsonl:17`;
/// `None` when unknown. Called on error paths only.
pub(crate) type Origin = Arc<dyn Fn(u32, usize) -> Option<String> + Send + Sync>;

/// Names record `j` of partition `i` for an error message.
pub(crate) fn describe(origin: Option<&Origin>, i: u32, j: usize) -> String {
    origin
        .and_then(|o| o(i, j))
        .unwrap_or_else(|| format!("record {j} of partition {i}"))
}

/// A partition as a run-time value: the records with a codec and an
/// estimated size. The codec is the one registered for `Vec<T>` (by
/// [`register_record!`](crate::register_record), or the graph crate's for
/// plain types), so another process of the program decodes it by its id;
/// an unregistered type gets the records codec (see the `codec` module:
/// postcard, or JSON for records that need it), which spills but does not
/// decode elsewhere.
/// A partition of records as a value the store can measure, spill and
/// send (see [`Bag::from_graph`]).
pub fn partition_value<T: Record>(records: Vec<T>) -> Value {
    part(records)
}

pub(crate) fn part<T: Record>(v: Vec<T>) -> Value {
    let nbytes = size::partition_bytes(&v, v.capacity());
    let codec = oxidask_graph::registered_codec::<Vec<T>>()
        .unwrap_or_else(oxidask_graph::codec_of::<Vec<T>, RecordsCodec>);
    Value::with_codec_vtable(v, nbytes, Some(codec))
}

/// Any other record-like value (a partial aggregate, a scalar result).
pub(crate) fn val<A: Record>(a: A) -> Value {
    let nbytes = size::value_bytes(&a);
    Value::with_codec::<A, RecordCodec>(a, nbytes)
}

/// Takes a value out of an op argument (moved when this was its last reader).
pub(crate) fn arg<A: Record>(v: Value) -> Result<A, OpError> {
    Ok(v.take::<A>()?)
}

/// A layer name `{prefix}-{token}` from the parent layer's name and the
/// operation's parameters (already written into `t`).
pub(crate) fn layer_name(prefix: &str, parent: &str, mut t: Tokenizer) -> Arc<str> {
    t.add(prefix).add(parent);
    Arc::from(format!("{prefix}-{}", t.finish_hex()))
}

/// Where a record goes next in a partition's pipeline.
pub(crate) type Sink<'a, T> = &'a mut dyn FnMut(T) -> Result<(), OpError>;

/// Returned by a sink to end a pipeline early (`take`, `any`, `all`); the
/// step that asked for it turns it back into success.
#[derive(Debug)]
pub(crate) struct Stop;

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("pipeline stopped early")
    }
}

impl std::error::Error for Stop {}

/// Feeds the records of partition `i` to a sink, given the partition's
/// stored value (the base layer's block `i`).
pub(crate) type FeedFn<T> = PushFeed<T>;

/// How a bag's records come out of its base layer's values: stored as they
/// are (`Vec<T>`), or through a pipeline of record-wise steps.
pub(crate) enum Feed<T> {
    Stored,
    Chain(Arc<FeedFn<T>>),
}

impl<T> Clone for Feed<T> {
    fn clone(&self) -> Self {
        match self {
            Feed::Stored => Feed::Stored,
            Feed::Chain(f) => Feed::Chain(f.clone()),
        }
    }
}

impl<T: Record> Feed<T> {
    /// Pushes partition `i`'s records, in order, into `sink`.
    pub(crate) fn run(&self, i: u32, base: Value, sink: Sink<'_, T>) -> Result<(), OpError> {
        match self {
            Feed::Stored => {
                for x in arg::<Vec<T>>(base)? {
                    sink(x)?;
                }
                Ok(())
            }
            Feed::Chain(f) => f(i, base, sink),
        }
    }

    /// Partition `i`'s records as a vector (moved, not copied, when stored).
    pub(crate) fn collect(&self, i: u32, base: Value) -> Result<Vec<T>, OpError> {
        match self {
            Feed::Stored => arg::<Vec<T>>(base),
            Feed::Chain(f) => {
                let mut out = Vec::new();
                f(i, base, &mut |x| {
                    out.push(x);
                    Ok(())
                })?;
                Ok(out)
            }
        }
    }
}

/// `prev` followed by a record-wise step: every record `x` (the `j`-th
/// arriving in partition `i`) goes through `step(i, j, x, sink)`.
pub(crate) fn chain<T: Record, U>(
    prev: Feed<T>,
    step: impl Fn(u32, usize, T, Sink<'_, U>) -> Result<(), OpError> + Send + Sync + 'static,
) -> Arc<FeedFn<U>> {
    Arc::new(move |i, base, sink| {
        let mut j = 0usize;
        prev.run(i, base, &mut |x| {
            let r = step(i, j, x, &mut *sink);
            j += 1;
            r
        })
    })
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
    /// The layer whose block `i` feeds partition `i`.
    pub(crate) base: Arc<str>,
    pub(crate) npartitions: u32,
    pub(crate) origin: Option<Origin>,
    pub(crate) feed: Feed<T>,
    /// Names this bag's records: the base when stored, else the token of the
    /// pipeline (a stored copy of it becomes the layer of this name).
    pub(crate) chain: Arc<str>,
    /// The steps of the pipeline, e.g. `read-json-lines+pluck+map`, for
    /// task names in diagnostics.
    pub(crate) label: Arc<str>,
    /// The pipeline as data, while every step can be described (see the
    /// `pipeline` module); `None` once a step is a closure.
    pub(crate) spec: Option<Arc<Pipeline>>,
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for Bag<T> {
    fn clone(&self) -> Self {
        Bag {
            graph: self.graph.clone(),
            base: self.base.clone(),
            npartitions: self.npartitions,
            origin: self.origin.clone(),
            feed: self.feed.clone(),
            chain: self.chain.clone(),
            label: self.label.clone(),
            spec: self.spec.clone(),
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
            self.chain,
            self.npartitions
        )
    }
}

/// The longest pipeline label kept for task names.
const MAX_LABEL: usize = 80;

fn join_label(label: &str, step: &str) -> Arc<str> {
    if label.len() + step.len() < MAX_LABEL {
        Arc::from(format!("{label}+{step}"))
    } else if label.ends_with("+…") {
        Arc::from(label)
    } else {
        Arc::from(format!("{label}+…"))
    }
}

impl<T: Record> Bag<T> {
    /// A bag whose partition `i` is the value `(name, i)` computed by
    /// `graph` (Dask's `Bag(dask, name, npartitions)`): how other
    /// collections hand their pieces to bags, e.g. a data frame's rows.
    /// Each value must be a [`partition_value`] of a `Vec<T>`.
    pub fn from_graph(graph: HighLevelGraph, name: Arc<str>, npartitions: usize) -> Bag<T> {
        Bag::stored_in(graph, name, npartitions as u32, None)
    }

    /// A bag whose partition `i` is the stored value `(name, i)` of `graph`.
    pub(crate) fn stored_in(
        graph: HighLevelGraph,
        name: Arc<str>,
        npartitions: u32,
        origin: Option<Origin>,
    ) -> Bag<T> {
        let label = Arc::from(name.split('-').next().unwrap_or("bag"));
        Bag {
            graph,
            base: name.clone(),
            npartitions,
            origin,
            feed: Feed::Stored,
            chain: name,
            label,
            spec: Some(Pipeline::new(Source::Stored {
                record: type_name::<T>().to_string(),
            })),
            _type: PhantomData,
        }
    }

    /// A bag of `npartitions` partitions generated by `feed` (a file
    /// reader, a range; it ignores its base value), named `name`, described
    /// by `source` when it can leave the process: nothing is stored until
    /// needed.
    pub(crate) fn source(
        name: Arc<str>,
        label: &'static str,
        npartitions: u32,
        origin: Option<Origin>,
        feed: Arc<FeedFn<T>>,
        source: Option<Source>,
    ) -> Bag<T> {
        Bag {
            graph: HighLevelGraph::from_layer(Arc::new(index_layer(npartitions))),
            base: index_name(npartitions),
            npartitions,
            origin,
            feed: Feed::Chain(feed),
            chain: name,
            label: Arc::from(label),
            spec: source.map(Pipeline::new),
            _type: PhantomData,
        }
    }

    /// Number of partitions.
    pub fn npartitions(&self) -> usize {
        self.npartitions as usize
    }

    /// The name of this bag's records: once stored (by
    /// [`persist_layer`](Bag::persist_layer), or inside `compute`), key
    /// `(name, i)` is partition `i`.
    pub fn name(&self) -> &str {
        &self.chain
    }

    /// The high-level graph of the stored layers this bag reads (for
    /// pictures and diagnostics: see [`persist_layer`](Bag::persist_layer)).
    pub fn graph(&self) -> &HighLevelGraph {
        &self.graph
    }

    /// The keys of the partitions once stored, in order.
    pub fn keys(&self) -> Vec<Key> {
        (0..self.npartitions)
            .map(|i| Key::with_index(self.chain.clone(), &[i]))
            .collect()
    }

    /// Adds one record-wise step: every record `x` (the `j`-th arriving in
    /// partition `i`) goes through `step(i, j, x, sink)`, which may push any
    /// number of records on. Steps compose into one pipeline per partition;
    /// nothing is stored between them.
    pub(crate) fn then<U: Record>(
        &self,
        name: Arc<str>,
        step_label: &str,
        origin: Option<Origin>,
        step: impl Fn(u32, usize, T, Sink<'_, U>) -> Result<(), OpError> + Send + Sync + 'static,
    ) -> Bag<U> {
        self.with_feed(name, step_label, origin, chain(self.feed.clone(), step))
    }

    /// Adds one whole-partition step: partition `i`'s records are collected
    /// and replaced by `f(i, records)`.
    pub(crate) fn then_partition<U: Record>(
        &self,
        name: Arc<str>,
        step_label: &str,
        origin: Option<Origin>,
        f: impl Fn(u32, Vec<T>) -> Result<Vec<U>, OpError> + Send + Sync + 'static,
    ) -> Bag<U> {
        let prev = self.feed.clone();
        let feed: Arc<FeedFn<U>> = Arc::new(move |i, base, sink| {
            for y in f(i, prev.collect(i, base)?)? {
                sink(y)?;
            }
            Ok(())
        });
        self.with_feed(name, step_label, origin, feed)
    }

    pub(crate) fn with_feed<U: Record>(
        &self,
        name: Arc<str>,
        step_label: &str,
        origin: Option<Origin>,
        feed: Arc<FeedFn<U>>,
    ) -> Bag<U> {
        Bag {
            graph: self.graph.clone(),
            base: self.base.clone(),
            npartitions: self.npartitions,
            origin,
            feed: Feed::Chain(feed),
            chain: name,
            label: join_label(&self.label, step_label),
            spec: None,
            _type: PhantomData,
        }
    }

    /// The same bag described as `parent`'s pipeline followed by `step`,
    /// when both are data (a registered function's step on a described
    /// pipeline); else it stays local.
    pub(crate) fn described<P>(mut self, parent: &Bag<P>, step: Option<Step>) -> Bag<T> {
        self.spec = match (&parent.spec, step) {
            (Some(p), Some(s)) => Some(p.then(s)),
            _ => None,
        };
        self
    }

    /// This bag's graph plus a layer `name` running `op` once per partition
    /// on (the partition's base value, its index).
    pub(crate) fn with_partition_layer(
        &self,
        name: Arc<str>,
        op: Arc<dyn oxidask_graph::Op>,
    ) -> HighLevelGraph {
        let layer = BlockLayer::blockwise(
            name,
            op,
            vec![BlockArg::block(self.base.clone()), BlockArg::Coord(0)],
            vec![self.npartitions],
        );
        self.graph.clone().with_layer(Arc::new(layer))
    }

    /// The same bag with its partitions stored as a layer of the graph
    /// (one `BlockLayer` running the whole pipeline per partition), so
    /// that several consumers in one graph read them instead of re-running
    /// the pipeline, and so that [`keys`](Bag::keys) name real tasks.
    pub fn persist_layer(&self) -> Bag<T> {
        if matches!(self.feed, Feed::Stored) {
            return self.clone();
        }
        let feed = self.feed.clone();
        let op = PartitionOp::new::<T>(
            &self.label,
            self.spec.clone(),
            Arc::new(move |i, base| Ok(part(feed.collect(i, base)?))),
        );
        let graph = self.with_partition_layer(self.chain.clone(), Arc::new(op));
        let mut b = Bag::stored_in(
            graph,
            self.chain.clone(),
            self.npartitions,
            self.origin.clone(),
        );
        b.label = self.label.clone();
        b
    }

    /// Draws the task graph computing this bag's partitions to an SVG file
    /// (with Graphviz `dot` when installed, else a built-in layout); says
    /// which was used.
    pub fn visualize(&self, path: impl AsRef<std::path::Path>) -> Result<VisualizeBackend> {
        let stored = self.persist_layer();
        let keys = stored.keys();
        let tasks = stored.graph.cull(&keys)?.to_task_graph()?;
        Ok(tasks
            .visualize(path)
            .map_err(oxidask_scheduler::Error::from)?)
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

    /// Computes the partitions and keeps them: a bag of the results, so
    /// later computations on it start from them instead of recomputing
    /// (Dask's `persist`). In memory on the local schedulers; on a cluster
    /// (its client the scheduler in force) the partitions stay on the
    /// workers, held while the returned bag (or anything built on it)
    /// lives, and this returns at once.
    pub fn persist(&self) -> Result<Bag<T>> {
        self.persist_with(&ComputeOptions::default())
    }

    /// [`persist`](Bag::persist) with per-call options.
    pub fn persist_with(&self, options: &ComputeOptions) -> Result<Bag<T>> {
        let stored = self.persist_layer();
        let keys: Vec<Key> = (0..self.npartitions)
            .map(|i| Key::with_index(stored.base.clone(), &[i]))
            .collect();
        let (graph, name) = oxidask_scheduler::persist_partitions(&stored.graph, &keys, options)?;
        let mut b = Bag::stored_in(graph, name, self.npartitions, self.origin.clone());
        b.label = self.label.clone();
        Ok(b)
    }

    /// Computes the partitions `indices` only (culling the rest of the graph).
    pub(crate) fn compute_partitions(
        &self,
        indices: &[u32],
        options: &ComputeOptions,
    ) -> Result<Vec<Vec<T>>> {
        let stored = self.persist_layer();
        let keys: Vec<Key> = indices
            .iter()
            .map(|&i| Key::with_index(stored.base.clone(), &[i]))
            .collect();
        oxidask_scheduler::compute_layers(&stored.graph, &keys, options)?
            .into_iter()
            .map(|v| Ok(v.take::<Vec<T>>()?))
            .collect()
    }
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

    /// Draws the task graph computing the value to an SVG file (with
    /// Graphviz `dot` when installed, else a built-in layout).
    pub fn visualize(&self, path: impl AsRef<std::path::Path>) -> Result<VisualizeBackend> {
        let key = std::slice::from_ref(&self.key);
        let tasks = self.graph.cull(key)?.to_task_graph()?;
        Ok(tasks
            .visualize(path)
            .map_err(oxidask_scheduler::Error::from)?)
    }

    /// Computes the value with the configuration in force.
    pub fn compute(&self) -> Result<R> {
        self.compute_with(&ComputeOptions::default())
    }

    /// Computes the value with per-call options.
    pub fn compute_with(&self, options: &ComputeOptions) -> Result<R> {
        let mut values = oxidask_scheduler::compute_layers(
            &self.graph,
            std::slice::from_ref(&self.key),
            options,
        )?;
        let v = values.pop().ok_or_else(|| {
            oxidask_scheduler::Error::Internal("a computation returned no value".into())
        })?;
        Ok(v.take::<R>()?)
    }
}

/// The records of one partition, handed to an aggregation's chunk function:
/// run through the bag's pipeline as they are consumed.
pub(crate) struct Records<T> {
    pub(crate) index: u32,
    base: Value,
    feed: Feed<T>,
}

impl<T: Record> Records<T> {
    pub(crate) fn new(index: u32, base: Value, feed: Feed<T>) -> Records<T> {
        Records { index, base, feed }
    }

    /// Calls `f` with each record until `f` returns `false` (the rest of the
    /// partition is not produced); errors stop it too.
    pub(crate) fn until(self, mut f: impl FnMut(T) -> bool) -> Result<(), OpError> {
        let run = self.feed.run(self.index, self.base, &mut |x| {
            if f(x) { Ok(()) } else { Err(Stop.into()) }
        });
        match run {
            Err(e) if e.is::<Stop>() => Ok(()),
            other => other,
        }
    }

    /// Calls `f` with each record, in order; stops at the first error.
    pub(crate) fn for_each(
        self,
        mut f: impl FnMut(T) -> Result<(), OpError>,
    ) -> Result<(), OpError> {
        self.feed.run(self.index, self.base, &mut f)
    }

    /// All records as a vector.
    pub(crate) fn collect(self) -> Result<Vec<T>, OpError> {
        self.feed.collect(self.index, self.base)
    }
}

/// Bags compute together with other collections in one graph
/// (`compute(&(bag, bag.count()))`): shared partitions run once.
impl<T: Record> oxidask_scheduler::Computable for Bag<T> {
    type Output = Vec<T>;

    fn collect(
        &self,
        graph: &mut oxidask_graph::TaskGraph,
        keys: &mut Vec<Key>,
    ) -> oxidask_scheduler::Result<()> {
        let stored = self.persist_layer();
        let parts = stored.keys();
        graph.merge(stored.graph.cull(&parts)?.to_task_graph()?);
        keys.extend(parts);
        Ok(())
    }

    fn finish(&self, values: &mut std::vec::IntoIter<Value>) -> oxidask_scheduler::Result<Vec<T>> {
        let mut out = Vec::new();
        for _ in 0..self.npartitions {
            out.extend(oxidask_scheduler::next_value(values)?.take::<Vec<T>>()?);
        }
        Ok(out)
    }
}

/// A bag's single value computes with other collections in one graph.
impl<R: Record> oxidask_scheduler::Computable for Item<R> {
    type Output = R;

    fn collect(
        &self,
        graph: &mut oxidask_graph::TaskGraph,
        keys: &mut Vec<Key>,
    ) -> oxidask_scheduler::Result<()> {
        let key = std::slice::from_ref(&self.key);
        graph.merge(self.graph.cull(key)?.to_task_graph()?);
        keys.push(self.key.clone());
        Ok(())
    }

    fn finish(&self, values: &mut std::vec::IntoIter<Value>) -> oxidask_scheduler::Result<R> {
        Ok(oxidask_scheduler::next_value(values)?.take::<R>()?)
    }
}
