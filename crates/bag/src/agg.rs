//! Aggregations as data: the ops of a reduction tree (chunk, combine,
//! final) over a described pipeline, written as the aggregation's name and
//! parameters and rebuilt from registry entries.
//!
//! Like the partition op (see `pipeline`), an aggregation op runs the
//! typed closures it was built with; its description is read only to
//! encode it. Decoding rebuilds the pipeline, finds the record type's entry
//! ([`records`](crate::records)) and asks it for the same reduction the
//! local bag built (the same constructor, instantiated for the type), so
//! both sides run one code path.

use std::any::{Any, type_name};
use std::cmp::Reverse;
use std::hash::Hash;
use std::sync::Arc;

use oxidask_graph::push::{ErasedFeed, PushFeed};
use oxidask_graph::remote;
use oxidask_graph::{Op, OpDecoder, OpError, Value};
use serde::{Deserialize, Serialize};

use crate::bag::{Feed, Record};
use crate::fold::{FoldBySpec, FoldSpec, ReductionSpec, fold_run, reduction_run};
use crate::keyed::{distinct_by_parts, distinct_parts, frequencies_parts, topk_parts};
use crate::pipeline::Pipeline;
use crate::records::{self, PartitionFn};
use crate::reduce::{
    Moment, Numeric, count_parts, extreme_parts, moments_parts, predicate_parts, sum_parts,
};

/// An aggregation a graph can carry as data.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum Agg {
    /// `count`.
    Count,
    /// `frequencies` (records that hash).
    Frequencies,
    /// `frequencies_sorted` (records that hash).
    FrequenciesSorted,
    /// `distinct_by(key)` with `key` a registered `fn(&T) -> K`.
    DistinctBy { key: String },
    /// `distinct` (records that hash).
    Distinct,
    /// `topk(k, key)` with `key` a registered `fn(&T) -> K`.
    Topk { k: u64, key: String },
    /// `sum` (numbers).
    Sum,
    /// `min` (numbers).
    Min,
    /// `max` (numbers).
    Max,
    /// `mean`, `var` or `std` with `ddof` (numbers).
    Moments { what: Moment, ddof: f64 },
    /// `any(pred)` with `pred` a registered `fn(&T) -> bool`.
    Any { pred: String },
    /// `all(pred)` with `pred` a registered `fn(&T) -> bool`.
    All { pred: String },
    /// `fold` with registered functions.
    Fold(FoldSpec),
    /// `foldby` with registered functions.
    FoldBy(FoldBySpec),
    /// `reduction` with registered functions.
    Reduction(ReductionSpec),
}

/// A task function over values: partials in, a partial or result out.
pub(crate) type ValuesFn = Arc<dyn Fn(Vec<Value>) -> Result<Value, OpError> + Send + Sync>;

/// The three task functions of a reduction tree (see `Reduction::run`).
pub(crate) struct AggRun {
    pub chunk: PartitionFn,
    pub combine: ValuesFn,
    pub last: ValuesFn,
}

/// Which task of the tree an op is.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub(crate) enum Role {
    Chunk,
    Combine,
    Final,
}

/// What the ops of one reduction tree share: the pipeline feeding the
/// chunks, its record type and the aggregation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct AggDesc {
    pub pipeline: Pipeline,
    pub record: String,
    pub agg: Agg,
}

/// One role of a reduction tree; one op per role is shared by the tasks.
pub(crate) struct AggOp {
    role: Role,
    label: String,
    /// `None` when the pipeline or the aggregation holds a closure.
    desc: Option<Arc<AggDesc>>,
    chunk: Option<PartitionFn>,
    values: Option<ValuesFn>,
}

impl AggOp {
    /// The registry name.
    pub(crate) const NAME: &'static str = "oxidask.bag.aggregate";

    /// The op of `role`, running `run`'s function for it.
    pub(crate) fn new(
        role: Role,
        label: String,
        desc: Option<Arc<AggDesc>>,
        run: &AggRun,
    ) -> AggOp {
        let (chunk, values) = match role {
            Role::Chunk => (Some(run.chunk.clone()), None),
            Role::Combine => (None, Some(run.combine.clone())),
            Role::Final => (None, Some(run.last.clone())),
        };
        AggOp {
            role,
            label,
            desc,
            chunk,
            values,
        }
    }
}

impl Op for AggOp {
    fn name(&self) -> &str {
        AggOp::NAME
    }

    fn label(&self) -> &str {
        &self.label
    }

    fn call(&self, mut args: Vec<Value>) -> Result<Value, OpError> {
        match (&self.chunk, &self.values) {
            (Some(chunk), _) => {
                let (Some(index), Some(base), None) = (args.pop(), args.pop(), args.pop()) else {
                    return Err("a chunk op takes two arguments (base value and index)".into());
                };
                chunk(*index.downcast_ref::<u32>()?, base)
            }
            (None, Some(values)) => values(args),
            (None, None) => Err("an aggregation op without a function".into()),
        }
    }

    fn encode(&self) -> Option<Vec<u8>> {
        let desc = self.desc.as_ref()?;
        postcard::to_stdvec(&(self.role, &self.label, &**desc)).ok()
    }
}

fn decode_agg(bytes: &[u8]) -> Result<Arc<dyn Op>, String> {
    let (role, label, desc): (Role, String, AggDesc) =
        postcard::from_bytes(bytes).map_err(|e| e.to_string())?;
    let entry = records::lookup(&desc.record)?;
    let run = (entry.aggregate)(&desc.agg, desc.pipeline.build()?)?;
    Ok(Arc::new(AggOp::new(
        role,
        label,
        Some(Arc::new(desc)),
        &run,
    )))
}

oxidask_graph::inventory::submit! {
    OpDecoder { name: AggOp::NAME, decode: decode_agg }
}

/// The aggregations any record type supports, rebuilt for `T`.
pub(crate) fn any<T: Record>(agg: &Agg, feed: ErasedFeed) -> Result<AggRun, String> {
    if let Agg::Reduction(spec) = agg {
        return reduction_run(spec, (records::lookup(feed.record())?.collect)(feed)?);
    }
    let typed = feed.typed::<T>()?;
    match agg {
        Agg::Fold(spec) => return fold_run(spec, values::<T>(typed)),
        Agg::FoldBy(spec) => {
            let entry = records::lookup(&spec.pair).ok().and_then(|e| e.foldby);
            let fold = entry.ok_or_else(|| {
                format!(
                    "foldby giving {} needs its pair type registered as one: \
                     register_record!((K, A), pair)",
                    spec.pair
                )
            })?;
            return fold(spec, values::<T>(typed));
        }
        _ => {}
    }
    let feed = Feed::Chain(typed);
    match agg {
        Agg::Count => {
            let (r, finish) = count_parts::<T>();
            Ok(r.run(feed, finish))
        }
        Agg::Any { pred } | Agg::All { pred } => {
            let f = predicate::<T>(pred)?;
            let (r, finish) = predicate_parts::<T>(matches!(agg, Agg::Any { .. }), f);
            Ok(r.run(feed, finish))
        }
        Agg::Fold(_) | Agg::FoldBy(_) | Agg::Reduction(_) => {
            Err(format!("{agg:?} was not rebuilt for {}", type_name::<T>()))
        }
        Agg::Topk { k, key } => topk_run::<T>(*k as usize, key, feed),
        Agg::DistinctBy { key } => distinct_by_run::<T>(key, feed),
        Agg::Frequencies | Agg::FrequenciesSorted | Agg::Distinct => {
            let name = type_name::<T>();
            Err(format!(
                "{agg:?} needs records that hash, and {name} is registered without: \
                 register it with register_record!({}, hash)",
                name.rsplit("::").next().unwrap_or(name)
            ))
        }
        Agg::Sum | Agg::Min | Agg::Max | Agg::Moments { .. } => {
            Err(format!("{agg:?} is for numbers, not {}", type_name::<T>()))
        }
    }
}

/// The aggregations of numbers (and, with `H`, of records that hash),
/// rebuilt for `T`.
fn numbers<T: Numeric + std::iter::Sum<T> + PartialOrd>(
    agg: &Agg,
    erased: ErasedFeed,
    otherwise: fn(&Agg, ErasedFeed) -> Result<AggRun, String>,
) -> Result<AggRun, String> {
    if !matches!(agg, Agg::Sum | Agg::Min | Agg::Max | Agg::Moments { .. }) {
        return otherwise(agg, erased);
    }
    let feed = Feed::Chain(erased.typed::<T>()?);
    match agg {
        Agg::Sum => {
            let (r, finish) = sum_parts::<T>();
            Ok(r.run(feed, finish))
        }
        Agg::Min | Agg::Max => {
            let (what, want) = match agg {
                Agg::Min => ("min", std::cmp::Ordering::Less),
                _ => ("max", std::cmp::Ordering::Greater),
            };
            let (r, finish) = extreme_parts::<T>(what, want);
            Ok(r.run(feed, finish))
        }
        Agg::Moments { what, ddof } => {
            let (r, finish) = moments_parts::<T>(*what, *ddof);
            Ok(r.run(feed, finish))
        }
        _ => Err(format!("{agg:?} is not an aggregation of numbers")),
    }
}

/// The aggregations of integers: numbers that hash.
pub(crate) fn integers<T: Numeric + std::iter::Sum<T> + Ord + Hash>(
    agg: &Agg,
    erased: ErasedFeed,
) -> Result<AggRun, String> {
    numbers::<T>(agg, erased, hashed::<T>)
}

/// The aggregations of floating-point numbers.
pub(crate) fn floats<T: Numeric + std::iter::Sum<T> + PartialOrd>(
    agg: &Agg,
    erased: ErasedFeed,
) -> Result<AggRun, String> {
    numbers::<T>(agg, erased, any::<T>)
}

/// The aggregations of a record type that hashes, rebuilt for `T`.
pub(crate) fn hashed<T: Record + Hash + Eq>(
    agg: &Agg,
    erased: ErasedFeed,
) -> Result<AggRun, String> {
    match agg {
        Agg::Frequencies | Agg::FrequenciesSorted => {
            let sort = matches!(agg, Agg::FrequenciesSorted);
            let (r, finish) = frequencies_parts::<T>(sort);
            Ok(r.run(Feed::Chain(erased.typed::<T>()?), finish))
        }
        Agg::Distinct => {
            let (r, finish) = distinct_parts::<T>();
            Ok(r.run(Feed::Chain(erased.typed::<T>()?), finish))
        }
        _ => any::<T>(agg, erased),
    }
}

/// The records of a feed as values, for folds calling registered
/// functions through their entries (see the `fold` module).
pub(crate) fn values<T: Record>(feed: Arc<PushFeed<T>>) -> Arc<PushFeed<Value>> {
    Arc::new(move |i, base, sink| {
        feed(i, base, &mut |x| {
            sink(Value::sized(x, std::mem::size_of::<T>()))
        })
    })
}

/// The registered predicate `name` as a `fn(&T) -> bool`.
pub(crate) fn predicate<T: Record>(name: &str) -> Result<fn(&T) -> bool, String> {
    let f = remote::lookup(name)
        .ok_or_else(|| format!("no function {name} is registered in this program"))?;
    let pointer = f
        .per_record
        .as_ref()
        .map(|p| (p.pointer)())
        .ok_or_else(|| format!("{name} is not a function of one argument"))?;
    pointer
        .downcast_ref::<fn(&T) -> bool>()
        .copied()
        .ok_or_else(|| format!("{name} is not a fn(&{}) -> bool", type_name::<T>()))
}

/// The name of a registered `fn(&T) -> bool` of type `F`.
pub(crate) fn predicate_name<F: 'static>() -> Option<String> {
    let f = remote::lookup_by_type::<F>()?;
    f.per_record.as_ref()?.filter?;
    Some(f.name.to_string())
}

/// `topk` with the registered key function `key`: its pointer is looked up
/// as `fn(&T) -> K` for each key type a sort key is commonly of.
fn topk_run<T: Record>(k: usize, key: &str, feed: Feed<T>) -> Result<AggRun, String> {
    let f = remote::lookup(key)
        .ok_or_else(|| format!("no function {key} is registered in this program"))?;
    let pointer: Box<dyn Any + Send + Sync> = f
        .per_record
        .as_ref()
        .map(|p| (p.pointer)())
        .ok_or_else(|| format!("{key} is not a function of one argument"))?;
    macro_rules! keys {
        ($($k:ty),*) => {$(
            if let Some(f) = pointer.downcast_ref::<fn(&T) -> $k>() {
                let f = *f;
                let (r, finish) = topk_parts::<T, $k>(k, move |x| f(x));
                return Ok(r.run(feed, finish));
            }
        )*};
    }
    keys!(
        usize,
        u64,
        u32,
        i64,
        i32,
        String,
        bool,
        (usize, String),
        (u64, String),
        (usize, Reverse<String>),
        (u64, Reverse<String>)
    );
    Err(format!(
        "the key of topk, {key}, must be a fn(&{}) -> K with K one of usize, u64, u32, i64, \
         i32, String, bool, or a pair of usize or u64 with String or Reverse<String>",
        type_name::<T>()
    ))
}

/// `distinct_by` with the registered key function `key`, looked up as
/// `fn(&T) -> K` for the common key types.
fn distinct_by_run<T: Record>(key: &str, feed: Feed<T>) -> Result<AggRun, String> {
    let f = remote::lookup(key)
        .ok_or_else(|| format!("no function {key} is registered in this program"))?;
    let pointer: Box<dyn Any + Send + Sync> = f
        .per_record
        .as_ref()
        .map(|p| (p.pointer)())
        .ok_or_else(|| format!("{key} is not a function of one argument"))?;
    let token = || {
        let mut t = oxidask_graph::Tokenizer::new();
        t.add(&format!(
            "{:?}",
            Agg::DistinctBy {
                key: key.to_string()
            }
        ));
        t
    };
    macro_rules! keys {
        ($($k:ty),*) => {$(
            if let Some(f) = pointer.downcast_ref::<fn(&T) -> $k>() {
                let f = *f;
                let (r, finish) = distinct_by_parts::<T, $k>(token(), move |x| f(x));
                return Ok(r.run(feed, finish));
            }
        )*};
    }
    keys!(String, i64, u64, usize, u32, i32, bool);
    Err(format!(
        "the key of distinct_by, {key}, must be a fn(&{}) -> K with K one of String, i64, \
         u64, usize, u32, i32, bool",
        type_name::<T>()
    ))
}

/// The `distinct_by` description for a key function of type `F`, when
/// registered.
pub(crate) fn distinct_by_agg<F: 'static>() -> Option<Agg> {
    let f = remote::lookup_by_type::<F>()?;
    f.per_record.as_ref()?;
    Some(Agg::DistinctBy {
        key: f.name.to_string(),
    })
}

/// The topk description for a key function of type `F`, when registered.
pub(crate) fn topk_agg<F: 'static>(k: usize) -> Option<Agg> {
    let f = remote::lookup_by_type::<F>()?;
    f.per_record.as_ref()?;
    Some(Agg::Topk {
        k: k as u64,
        key: f.name.to_string(),
    })
}
