//! Bags from memory, from a range, and from delayed calls.

use std::sync::Arc;

use oxidask_delayed::Delayed;
use oxidask_graph::{
    Arg, HighLevelGraph, Key, MaterializedLayer, Task, TaskGraph, Tokenizer, unique_token,
};

use oxidask_graph::push::PushFeed;

use crate::bag::{Bag, Record, part};
use crate::error::{Error, Result};
use crate::pipeline::Source;
use crate::reshape::{Piece, Repartition};

/// A bag of `items` in `npartitions` partitions of near-equal length (the
/// first ones one longer), like `dask.bag.from_sequence(seq, npartitions=n)`.
/// The items are held in the graph; fewer items than partitions give empty
/// partitions at the end. Fails if `npartitions` is 0.
pub fn from_sequence<T: Record>(
    items: impl IntoIterator<Item = T>,
    npartitions: usize,
) -> Result<Bag<T>> {
    if npartitions == 0 {
        return Err(Error::InvalidArgument(
            "from_sequence needs at least one partition".into(),
        ));
    }
    let items: Vec<T> = items.into_iter().collect();
    let (base, extra) = (items.len() / npartitions, items.len() % npartitions);
    let mut it = items.into_iter();
    let parts = (0..npartitions)
        .map(|p| it.by_ref().take(base + usize::from(p < extra)).collect())
        .collect();
    Ok(from_partitions(parts))
}

/// A bag of `items` cut into partitions of `partition_size` items each (the
/// last may be shorter), like `from_sequence(seq, partition_size=n)`. An
/// empty sequence gives one empty partition. Fails if `partition_size` is 0.
pub fn from_sequence_by_size<T: Record>(
    items: impl IntoIterator<Item = T>,
    partition_size: usize,
) -> Result<Bag<T>> {
    if partition_size == 0 {
        return Err(Error::InvalidArgument(
            "from_sequence_by_size needs a partition size of at least 1".into(),
        ));
    }
    let mut items: Vec<T> = items.into_iter().collect();
    let mut parts = Vec::with_capacity(items.len().div_ceil(partition_size).max(1));
    while items.len() > partition_size {
        let rest = items.split_off(partition_size);
        parts.push(std::mem::replace(&mut items, rest));
    }
    parts.push(items);
    Ok(from_partitions(parts))
}

/// A bag with exactly these partitions (empty ones allowed). With no
/// partitions at all the bag has one empty partition.
pub fn from_partitions<T: Record>(partitions: Vec<Vec<T>>) -> Bag<T> {
    let partitions = if partitions.is_empty() {
        vec![Vec::new()]
    } else {
        partitions
    };
    // Contents are not hashed (that would cost as much as the data): each
    // bag made from memory is a new computation, like a delayed value.
    let mut t = Tokenizer::new();
    t.add(&unique_token());
    let name: Arc<str> = Arc::from(format!("from-sequence-{}", t.finish_hex()));
    let n = partitions.len() as u32;
    let mut graph = TaskGraph::with_capacity(partitions.len());
    for (i, p) in partitions.into_iter().enumerate() {
        graph.insert(
            Key::with_index(name.clone(), &[i as u32]),
            Task::literal(part(p)),
        );
    }
    let hlg = HighLevelGraph::from_layer(Arc::new(MaterializedLayer::new(name.clone(), graph)));
    Bag::stored_in(hlg, name, n, None)
}

/// The numbers `0..n` in `npartitions` partitions of near-equal length, like
/// `dask.bag.range`. Partitions are generated when computed, not stored in
/// the graph. Fails if `npartitions` is 0.
pub fn range(n: u64, npartitions: usize) -> Result<Bag<u64>> {
    if npartitions == 0 {
        return Err(Error::InvalidArgument(
            "range needs at least one partition".into(),
        ));
    }
    let np = npartitions as u64;
    let mut t = Tokenizer::new();
    t.add(&n).add(&np);
    let name: Arc<str> = Arc::from(format!("range-{}", t.finish_hex()));
    Ok(Bag::source(
        name,
        "range",
        npartitions as u32,
        None,
        range_feed(n, np),
        Some(Source::Range { n, np }),
    ))
}

/// Partition `i` of `0..n` cut into `np` near-equal partitions.
pub(crate) fn range_feed(n: u64, np: u64) -> Arc<PushFeed<u64>> {
    Arc::new(move |i, _, sink| {
        let i = u64::from(i);
        let (base, extra) = (n / np, n % np);
        let start = i * base + i.min(extra);
        (start..start + base + u64::from(i < extra)).try_for_each(sink)
    })
}

/// A bag whose partition `i` is what `parts[i]` computes, like
/// `dask.bag.from_delayed`: turn a loop of delayed loaders into a bag.
/// No parts give one empty partition.
pub fn from_delayed<T: Record>(parts: &[Delayed<Vec<T>>]) -> Bag<T> {
    if parts.is_empty() {
        return from_partitions(Vec::new());
    }
    let keys: Vec<Key> = parts.iter().map(|d| d.key().clone()).collect();
    let mut t = Tokenizer::new();
    t.add(&keys);
    let name: Arc<str> = Arc::from(format!("from-delayed-{}", t.finish_hex()));
    let mut graph = TaskGraph::new();
    for d in parts {
        graph.merge(d.to_graph());
    }
    // The delayed results are plain values; give them the partition codec
    // (a registered op: with registered delayed calls the bag is data).
    let wrap = Repartition::arc::<T>(Piece::Adopt);
    for (i, k) in keys.iter().enumerate() {
        graph.insert(
            Key::with_index(name.clone(), &[i as u32]),
            Task::new(wrap.clone(), vec![Arg::Key(k.clone())]),
        );
    }
    let hlg = HighLevelGraph::from_layer(Arc::new(MaterializedLayer::new(name.clone(), graph)));
    Bag::stored_in(hlg, name, parts.len() as u32, None)
}
