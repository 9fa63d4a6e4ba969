//! `groupby`: every record of a key in one partition, through the
//! disk-backed hash shuffle of [`crate::shuffle`] (its transport in the store).
//!
//! The graph is the shuffle's three stages (see
//! [`shuffle_tasks`](crate::shuffle::shuffle_tasks)), the bag's
//! split and combine being ops the shuffle wraps with its transport:
//!
//! 1. **split** (one task per input partition): runs the bag's pipeline on
//!    the partition — nothing of it is stored before — and encodes each
//!    record, as it comes out, into piece `bucket(hash(key))` of `m` (see
//!    the `codec` module), then drops it: the split holds the partition's
//!    bytes, never its records. The shuffle writes the `m` pieces to one
//!    file;
//! 2. **barrier**: the files' indexes;
//! 3. **combine** (one task per output partition): reads its piece of each
//!    file in input order, one piece at a time (a lazy value, freed once
//!    read), decoding its records one by one into their groups:
//!    `(key, records)`.
//!
//! Streaming records into bytes, rather than building one `Vec<T>` per
//! piece and encoding it afterwards, also keeps glibc's allocator on its
//! fast path: each record's heap is freed right after it was allocated
//! (and reused by the next), instead of millions of small blocks freed in
//! bulk and consolidated.
//!
//! The hash is foldhash's quality hasher with a fixed seed, so the partition
//! of a key is the same in every process of one build; the combine's own
//! hash map is seeded at random (a map whose keys all share `hash % m`
//! would be badly balanced with the same hasher).

use std::any::{Any, type_name};
use std::hash::{BuildHasher, Hash};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::shuffle::{Pieces, ShuffleTasks, shuffle_tasks};
use indexmap::IndexMap;
use oxidask_graph::push::ErasedFeed;
use oxidask_graph::{
    Key, MaterializedLayer, Op, OpDecoder, OpError, Tokenizer, Value, remote, unique_token,
};
use serde::{Deserialize, Serialize};

use crate::agg::ValuesFn;
use crate::bag::{Bag, Feed, Origin, Record, describe, layer_name, part};
use crate::codec::{Encoded, EncodedCodec, encode_record, for_each_record};
use crate::error::{Error, Result};
use crate::pipeline::Pipeline;
use crate::stage_op::{StageOp, decode_stage};

/// Seed of the hash that picks a key's output partition.
const SEED: u64 = 0x6f78_6964_6173_6b67;

/// Output partition of a key: the hash's high bits scaled to `m`
/// (multiply-shift, no modulo bias).
fn bucket<K: Hash + ?Sized>(key: &K, m: u32) -> usize {
    let h = foldhash::quality::FixedState::with_seed(SEED).hash_one(key);
    ((u128::from(h) * u128::from(m)) >> 64) as usize
}

/// The output partition of `key` in a [`Bag::groupby`] into `npartitions`
/// partitions (0 for `npartitions` ≤ 1): a hash of the key with a fixed
/// seed, the same in every run of one build (not across oxidask versions).
/// Like Dask's `partitioning_index`, for finding where a key went.
pub fn groupby_partition<K: Hash + ?Sized>(key: &K, npartitions: usize) -> usize {
    match u32::try_from(npartitions) {
        Ok(0 | 1) => 0,
        Ok(m) => bucket(key, m),
        Err(_) => bucket(key, u32::MAX),
    }
}

/// How [`Bag::groupby_with`] shuffles: the number of output partitions
/// and where the shuffle files go.
#[derive(Clone, Debug, Default)]
pub struct GroupbyOptions {
    npartitions: Option<usize>,
    shuffle_dir: Option<PathBuf>,
}

impl GroupbyOptions {
    /// Defaults: as many output partitions as the input has; shuffle files
    /// in the configured spill directory.
    pub fn new() -> GroupbyOptions {
        GroupbyOptions::default()
    }

    /// The number of output partitions (at least 1), like Dask's
    /// `groupby(key, npartitions=n)`.
    pub fn npartitions(mut self, n: usize) -> Self {
        self.npartitions = Some(n);
        self
    }

    /// Where the shuffle writes its files: a fresh directory is made under
    /// `dir` and removed with the last file, when the computation ends (on
    /// success or error). By default the spill directory configured when
    /// the groupby is built (`OXIDASK_SPILL_DIR`, `Config::spill_dir`, a
    /// `with_config` scope), else the system temp dir. A per-call
    /// `ComputeOptions::spill_dir` does not move shuffle files: the graph,
    /// and with it the shuffle's directory, exists before the call.
    pub fn shuffle_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.shuffle_dir = Some(dir.into());
        self
    }
}

type Groups<K, T> = IndexMap<K, Vec<T>, foldhash::fast::RandomState>;

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_string()
    }
}

impl<T: Record> Bag<T> {
    /// Groups the records by `key`, like `dask.bag.groupby(key)`: a bag of
    /// `(key, records with that key)`, each key exactly once, in as many
    /// partitions as this bag has (see [`groupby_with`](Bag::groupby_with)
    /// for another number).
    ///
    /// Every record moves through the disk-backed shuffle: each partition is
    /// split into one piece per output partition by a hash of the key and
    /// written to a file; each output partition reads its pieces one at a
    /// time. Memory holds one input partition (and its pieces) or one
    /// output partition (and one piece) per worker, however large the bag.
    /// Where only an aggregate per key is wanted, [`foldby`](Bag::foldby)
    /// is much cheaper: it moves one accumulator per key, not the records.
    ///
    /// **Order.** A key's output partition depends on its hash only (fixed
    /// seed: the same in every run of one build). Within an output
    /// partition, groups come in order of first appearance in the bag;
    /// within a group, records keep the bag's order (by partition, then
    /// position) — on every scheduler and memory limit.
    ///
    /// `key` runs twice per record (to pick the partition, then to group),
    /// so it must be a pure function of the record. If it panics, the
    /// computation fails naming the record (`file:line` or position).
    ///
    /// With `key` a `#[oxidask::remote] fn(&T) -> K` (K a string, an
    /// integer, `bool`, or a pair of strings) over a described pipeline, the
    /// shuffle's ops are data.
    pub fn groupby<K, F>(&self, key: F) -> Bag<(K, Vec<T>)>
    where
        K: Record + Hash + Eq,
        F: Fn(&T) -> K + Send + Sync + 'static,
    {
        let m = self.npartitions.max(1);
        self.shuffle_groups(key, m, None)
    }

    /// [`groupby`](Bag::groupby) with options: the number of output
    /// partitions and the shuffle's directory. Fails if `npartitions` is 0.
    pub fn groupby_with<K, F>(&self, key: F, options: &GroupbyOptions) -> Result<Bag<(K, Vec<T>)>>
    where
        K: Record + Hash + Eq,
        F: Fn(&T) -> K + Send + Sync + 'static,
    {
        let m = match options.npartitions {
            None => self.npartitions.max(1),
            Some(0) => {
                return Err(Error::InvalidArgument(
                    "groupby needs at least one output partition".into(),
                ));
            }
            Some(n) => u32::try_from(n).map_err(|_| {
                Error::InvalidArgument(format!("groupby into {n} partitions: too many"))
            })?,
        };
        Ok(self.shuffle_groups(key, m, options.shuffle_dir.clone()))
    }

    fn shuffle_groups<K, F>(&self, key: F, m: u32, dir: Option<PathBuf>) -> Bag<(K, Vec<T>)>
    where
        K: Record + Hash + Eq,
        F: Fn(&T) -> K + Send + Sync + 'static,
    {
        let mut t = Tokenizer::new();
        t.add(&unique_token()).add(&m);
        let name = layer_name("groupby", &self.chain, t);
        let key = Arc::new(key);
        // With a registered key over a described pipeline, both ops are data.
        let desc = match (&self.spec, remote::lookup_by_type::<F>()) {
            (Some(p), Some(f)) if f.per_record.is_some() => Some(Arc::new(GroupDesc {
                pipeline: (**p).clone(),
                record: type_name::<T>().to_string(),
                key: f.name.to_string(),
            })),
            _ => None,
        };
        let split = Arc::new(StageOp {
            name: GROUPBY,
            role: GroupRole::Split,
            label: format!("{}+groupby-split", self.label),
            desc: desc.clone(),
            run: split_fn(self.feed.clone(), self.origin.clone(), key.clone()),
        });
        let combine = Arc::new(StageOp {
            name: GROUPBY,
            role: GroupRole::Combine,
            label: "groupby-combine".to_string(),
            desc,
            run: combine_fn::<T, K>(key),
        });
        let inputs = (0..self.npartitions)
            .map(|i| Key::with_index(self.base.clone(), &[i]))
            .collect();
        let (tasks, _outputs) = shuffle_tasks(ShuffleTasks {
            name: name.to_string(),
            inputs,
            npartitions: m,
            split,
            combine,
            transport: oxidask_scheduler::config::shuffle_transport(&name, dir),
        });
        let graph = self
            .graph
            .clone()
            .with_layer(Arc::new(MaterializedLayer::new(name.clone(), tasks)));
        Bag::stored_in(graph, name, m, None)
    }
}

/// The split: called with (input partition, its index, m); runs the bag's
/// pipeline on the partition and encodes each record, as it comes out, into
/// the piece of its key's bucket.
fn split_fn<T: Record, K: Hash + 'static>(
    feed: Feed<T>,
    origin: Option<Origin>,
    key: Arc<dyn Fn(&T) -> K + Send + Sync>,
) -> ValuesFn {
    // Bytes of the last partition split: pieces start at their share of
    // it, so most never grow (each growth of a large buffer is a copy or
    // fresh pages to fault in).
    let last_bytes = Arc::new(AtomicUsize::new(0));
    Arc::new(move |mut args: Vec<Value>| {
        let (Some(m), Some(i), Some(base)) = (args.pop(), args.pop(), args.pop()) else {
            return Err("a groupby split takes a partition, its index and m".into());
        };
        let (i, m) = (*i.downcast_ref::<u32>()?, *m.downcast_ref::<u32>()?);
        // Each record is encoded into its piece as it leaves the
        // pipeline and dropped: the split holds bytes, not records.
        let share = last_bytes.load(Ordering::Relaxed) / m as usize;
        let hint = share + share / 8;
        let mut pieces: Vec<Encoded<T>> = (0..m).map(|_| Encoded::with_capacity(hint)).collect();
        let mut j = 0usize;
        feed.run(i, base, &mut |x| {
            let b = catch_unwind(AssertUnwindSafe(|| bucket(&key(&x), m))).map_err(|p| {
                Error::Record {
                    record: describe(origin.as_ref(), i, j),
                    message: format!("the groupby key function panicked: {}", panic_message(&*p)),
                }
            })?;
            encode_record(&x, &mut pieces[b].bytes).map_err(|message| Error::Record {
                record: describe(origin.as_ref(), i, j),
                message,
            })?;
            j += 1;
            Ok(())
        })?;
        let total = pieces.iter().map(|p| p.bytes.len()).sum();
        last_bytes.store(total, Ordering::Relaxed);
        Ok(Pieces::value(
            pieces
                .into_iter()
                .map(|p| {
                    let nbytes = p.bytes.capacity();
                    Value::with_codec::<Encoded<T>, EncodedCodec>(p, nbytes)
                })
                .collect(),
        ))
    })
}

/// The combine: the pieces of one output, one per input in order, into
/// `(key, records)` groups.
fn combine_fn<T: Record, K: Record + Hash + Eq>(
    key: Arc<dyn Fn(&T) -> K + Send + Sync>,
) -> ValuesFn {
    Arc::new(move |pieces: Vec<Value>| {
        let mut groups: Groups<K, T> = Groups::default();
        // By value: each piece is read from its file here, its records
        // decoded one at a time into their groups, and its bytes freed
        // before the next piece is read.
        for (i, piece) in pieces.into_iter().enumerate() {
            let piece = piece.take::<Encoded<T>>().map_err(OpError::from)?;
            for_each_record(&piece.bytes, |x: T| {
                groups.entry(key(&x)).or_default().push(x);
                Ok::<(), String>(())
            })
            .map_err(|e| format!("reading the piece of input partition {i}: {e}"))?;
        }
        let out: Vec<(K, Vec<T>)> = groups
            .into_iter()
            .map(|(k, mut v)| {
                v.shrink_to_fit();
                (k, v)
            })
            .collect();
        Ok(part(out))
    })
}

/// Which side of the shuffle a groupby op is.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
enum GroupRole {
    Split,
    Combine,
}

/// A groupby as data: the pipeline feeding the splits, its record type,
/// and the registered key function.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct GroupDesc {
    pipeline: Pipeline,
    record: String,
    key: String,
}

/// The registry name of groupby's ops: the collection's side of one
/// shuffle stage (the shuffle wraps it with its transport).
const GROUPBY: &str = "oxidask.bag.groupby";

fn decode_group(bytes: &[u8]) -> Result<Arc<dyn Op>, String> {
    let (role, label, desc): (GroupRole, String, GroupDesc) = decode_stage(bytes)?;
    let feed = match role {
        GroupRole::Split => Some(desc.pipeline.build()?),
        GroupRole::Combine => None,
    };
    let entry = crate::records::lookup(&desc.record)?;
    let run = (entry.groupby)(&desc.key, feed)?;
    Ok(Arc::new(StageOp {
        name: GROUPBY,
        role,
        label,
        desc: Some(Arc::new(desc)),
        run,
    }))
}

oxidask_graph::inventory::submit! {
    OpDecoder { name: GROUPBY, decode: decode_group }
}

/// A groupby's split (given the decoded pipeline) or combine (given none)
/// for records `T` and the registered key function `key`, whose pointer is
/// looked up as `fn(&T) -> K` for each common key type.
pub(crate) fn rebuild<T: Record>(key: &str, feed: Option<ErasedFeed>) -> Result<ValuesFn, String> {
    let f = remote::lookup(key)
        .ok_or_else(|| format!("no function {key} is registered in this program"))?;
    let pointer: Box<dyn std::any::Any + Send + Sync> = f
        .per_record
        .as_ref()
        .map(|p| (p.pointer)())
        .ok_or_else(|| format!("{key} is not a function of one argument"))?;
    let feed = feed.map(|f| f.typed::<T>()).transpose()?;
    macro_rules! keys {
        ($($k:ty),*) => {$(
            if let Some(f) = pointer.downcast_ref::<fn(&T) -> $k>() {
                let f = *f;
                let key: Arc<dyn Fn(&T) -> $k + Send + Sync> = Arc::new(move |x| f(x));
                return Ok(match feed {
                    Some(feed) => split_fn(Feed::Chain(feed), None, key),
                    None => combine_fn::<T, $k>(key),
                });
            }
        )*};
    }
    keys!(
        String,
        u64,
        i64,
        u32,
        i32,
        usize,
        bool,
        (String, String),
        (String, u64)
    );
    Err(format!(
        "the groupby key {key} must be a fn(&{}) -> K with K one of String, u64, i64, u32, \
         i32, usize, bool, (String, String), (String, u64)",
        type_name::<T>()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_in_range_and_spread() {
        let m = 7u32;
        let mut counts = vec![0usize; m as usize];
        for k in 0..7000u64 {
            counts[bucket(&k, m)] += 1;
        }
        assert!(
            counts.iter().all(|&c| (800..1200).contains(&c)),
            "{counts:?}"
        );
        assert_eq!(bucket("a", 1), 0);
        assert_eq!(bucket("key", 1000), bucket(&String::from("key"), 1000));
    }

    #[test]
    fn buckets_do_not_depend_on_the_process() {
        // Pinned: a random seed (or a new hasher) would move keys between
        // partitions from one run to the next.
        let got: Vec<usize> = (0..8u64).map(|k| bucket(&k, 1000)).collect();
        assert_eq!(got, vec![433, 772, 402, 794, 276, 133, 979, 906]);
    }
}
