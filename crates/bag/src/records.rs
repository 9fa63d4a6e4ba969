//! Record types registered by name, so a partition pipeline over them can
//! be rebuilt from bytes.
//!
//! A decoded pipeline names its record types (`type_name`), but a
//! link-time registry cannot list generic instances: the typed pieces a
//! pipeline needs at its ends — a feed of stored `Vec<T>` partitions, a
//! JSON-lines parser into `T`, the collection of `T`s into a stored
//! partition — are instantiated per type by [`register_record!`]
//! (crate::register_record), and found here by name. The crate registers
//! the common types; a user registers their own.

use std::any::type_name;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use oxidask_graph::push::{ErasedFeed, PushFeed};
use oxidask_graph::{CodecVTable, OpError, Value};

use std::hash::Hash;

use crate::agg::{self, Agg, AggRun};
use crate::bag::{Feed, Record, arg, part};
use crate::io::{BlockSpec, json_feed};
use crate::reduce::Numeric;

/// Runs a whole partition: the partition's base value and index in, the
/// stored partition (or partial) out.
pub(crate) type PartitionFn = Arc<dyn Fn(u32, Value) -> Result<Value, OpError> + Send + Sync>;

/// The typed pieces of pipelines over one record type; made by
/// [`register_record!`](crate::register_record).
#[doc(hidden)]
pub struct RecordType {
    /// `std::any::type_name` of the record type: its registry name.
    pub(crate) name: fn() -> &'static str,
    /// A feed of the records of a stored partition (`Vec<T>`).
    pub(crate) stored: fn() -> ErasedFeed,
    /// A feed parsing JSON-lines blocks into records.
    pub(crate) json: fn(Vec<BlockSpec>, bool) -> ErasedFeed,
    /// Runs a feed into a stored partition.
    pub(crate) collect: fn(ErasedFeed) -> Result<PartitionFn, String>,
    /// Rebuilds an aggregation over a feed (those needing `Hash + Eq` only
    /// for types registered as hashing).
    pub(crate) aggregate: fn(&Agg, ErasedFeed) -> Result<AggRun, String>,
    /// Rebuilds a groupby's split (given its pipeline) or combine, for a
    /// registered key function.
    pub(crate) groupby: fn(&str, Option<ErasedFeed>) -> Result<crate::agg::ValuesFn, String>,
    /// Concatenates stored partitions (`repartition` to fewer).
    pub(crate) concat: ValuesFnPtr,
    /// Cuts a piece of a stored partition (`repartition` to more).
    pub(crate) slice: ValuesFnPtr,
    /// The running value after an `accumulate` partition (see the
    /// `accumulate` module).
    pub(crate) carry: ValuesFnPtr,
    /// Extends a feed of `Vec`s of this type with `flatten`.
    pub(crate) flatten: fn(ErasedFeed) -> Result<ErasedFeed, String>,
    /// Extends a feed with `head(n)` (the first `n` records).
    pub(crate) head: fn(ErasedFeed, usize) -> Result<ErasedFeed, String>,
    /// Extends a feed with `remove(pred)`, for a registered `fn(&T) -> bool`.
    pub(crate) remove: fn(ErasedFeed, &str) -> Result<ErasedFeed, String>,
    /// For a pair type `(K, A)` registered as one: the decoded `foldby`
    /// giving it (keys of type `K`, accumulators of type `A`).
    pub(crate) foldby: Option<FoldByFn>,
    /// For a type that prints (`Display`): the `to_textfiles` writer over
    /// a feed of it, to the file names of a pattern.
    pub(crate) write_text: Option<WriteFn>,
    /// Boxes a feed's records as values (for steps calling a registered
    /// function through its entry).
    pub(crate) values: fn(ErasedFeed) -> Result<Arc<PushFeed<Value>>, String>,
    /// Takes values back as records of this type.
    pub(crate) from_values: fn(Arc<PushFeed<Value>>) -> ErasedFeed,
    /// The codecs of the values the aggregations of this type pass
    /// between tasks (partials, results), for decoding in another process:
    /// generic instances a link-time registry cannot list otherwise.
    pub(crate) codecs: fn() -> Vec<&'static CodecVTable>,
}

/// Rebuilds a `to_textfiles` writer over a feed, for a file pattern.
pub(crate) type WriteFn = fn(ErasedFeed, &str) -> Result<PartitionFn, String>;

/// Rebuilds a foldby over records as values (see the `fold` module).
pub(crate) type FoldByFn =
    fn(&crate::fold::FoldBySpec, Arc<PushFeed<Value>>) -> Result<AggRun, String>;

/// A task function of values, as a plain function pointer.
pub(crate) type ValuesFnPtr = fn(Vec<Value>) -> Result<Value, OpError>;

oxidask_graph::inventory::collect!(RecordType);

impl RecordType {
    /// The entry of `T`.
    pub const fn of<T: Record>() -> RecordType {
        RecordType {
            name: type_name::<T>,
            stored: stored::<T>,
            json: json::<T>,
            collect: collect::<T>,
            aggregate: agg::any::<T>,
            groupby: crate::groupby::rebuild::<T>,
            concat: crate::reshape::concat::<T>,
            slice: crate::reshape::slice::<T>,
            carry: crate::accumulate::carry::<T>,
            flatten: flatten::<T>,
            head: head::<T>,
            remove: remove::<T>,
            foldby: None,
            write_text: None,
            values: values::<T>,
            from_values: from_values::<T>,
            codecs: crate::partials::of::<T>,
        }
    }

    /// This entry with the `to_textfiles` writer of `T`, a type that prints.
    const fn printing<T: Record + std::fmt::Display>(self) -> RecordType {
        RecordType {
            write_text: Some(crate::io::write_text::<T>),
            ..self
        }
    }

    /// The entry of a pair type `(K, A)`: `foldby` giving it can be rebuilt.
    pub const fn pair<K: Record + Hash + Eq, A: Record>() -> RecordType {
        RecordType {
            foldby: Some(crate::fold::foldby_run::<K, A>),
            codecs: crate::partials::pair::<K, A>,
            ..RecordType::of::<(K, A)>()
        }
    }

    /// The entry of a pair type whose both halves hash: `foldby` giving it,
    /// `frequencies` and `distinct` of it.
    pub(crate) const fn hashed_pair<K: Record + Hash + Eq, A: Record + Hash + Eq>() -> RecordType {
        RecordType {
            foldby: Some(crate::fold::foldby_run::<K, A>),
            codecs: crate::partials::hashed_pair::<K, A>,
            ..RecordType::hashed::<(K, A)>()
        }
    }

    /// The entry of an integer type: the aggregations of numbers and of
    /// records that hash.
    pub(crate) const fn integer<T: Numeric + std::iter::Sum<T> + Ord + Hash>() -> RecordType {
        RecordType {
            aggregate: agg::integers::<T>,
            codecs: crate::partials::hashed::<T>,
            ..RecordType::of::<T>()
        }
    }

    /// The entry of a floating-point type: the aggregations of numbers.
    pub(crate) const fn float<T: Numeric + std::iter::Sum<T> + PartialOrd>() -> RecordType {
        RecordType {
            aggregate: agg::floats::<T>,
            ..RecordType::of::<T>()
        }
    }

    /// The entry of `T`, with the aggregations of records that hash
    /// (`frequencies`, `distinct`).
    pub const fn hashed<T: Record + Hash + Eq>() -> RecordType {
        RecordType {
            aggregate: agg::hashed::<T>,
            codecs: crate::partials::hashed::<T>,
            ..RecordType::of::<T>()
        }
    }
}

fn stored<T: Record>() -> ErasedFeed {
    let feed: Arc<PushFeed<T>> =
        Arc::new(|_, base, sink| arg::<Vec<T>>(base)?.into_iter().try_for_each(sink));
    ErasedFeed::new(feed)
}

fn flatten<T: Record>(feed: ErasedFeed) -> Result<ErasedFeed, String> {
    let prev = feed.typed::<Vec<T>>()?;
    let feed: Arc<PushFeed<T>> = Arc::new(move |i, base, sink| {
        prev(i, base, &mut |xs| xs.into_iter().try_for_each(&mut *sink))
    });
    Ok(ErasedFeed::new(feed))
}

fn head<T: Record>(feed: ErasedFeed, n: usize) -> Result<ErasedFeed, String> {
    let feed = Feed::Chain(feed.typed::<T>()?);
    Ok(ErasedFeed::new(crate::transform::head_feed(feed, n)))
}

fn remove<T: Record>(feed: ErasedFeed, name: &str) -> Result<ErasedFeed, String> {
    let pred = crate::agg::predicate::<T>(name)?;
    let prev = feed.typed::<T>()?;
    let feed: Arc<PushFeed<T>> = Arc::new(move |i, base, sink| {
        prev(i, base, &mut |x| if pred(&x) { Ok(()) } else { sink(x) })
    });
    Ok(ErasedFeed::new(feed))
}

fn values<T: Record>(feed: ErasedFeed) -> Result<Arc<PushFeed<Value>>, String> {
    Ok(agg::values::<T>(feed.typed::<T>()?))
}

fn from_values<T: Record>(feed: Arc<PushFeed<Value>>) -> ErasedFeed {
    let typed: Arc<PushFeed<T>> =
        Arc::new(move |i, base, sink| feed(i, base, &mut |v| sink(arg::<T>(v)?)));
    ErasedFeed::new(typed)
}

fn json<T: Record>(blocks: Vec<BlockSpec>, lossy: bool) -> ErasedFeed {
    ErasedFeed::new(json_feed::<T>(blocks, lossy))
}

fn collect<T: Record>(feed: ErasedFeed) -> Result<PartitionFn, String> {
    let feed = feed.typed::<T>()?;
    Ok(Arc::new(move |i, base| {
        let mut out = Vec::new();
        feed(i, base, &mut |x| {
            out.push(x);
            Ok(())
        })?;
        Ok(part(out))
    }))
}

/// The entry of the record type named `name`; an error naming it and how
/// to register it when it is missing.
pub(crate) fn lookup(name: &str) -> Result<&'static RecordType, String> {
    static REGISTRY: OnceLock<HashMap<&'static str, &'static RecordType>> = OnceLock::new();
    let registry = REGISTRY.get_or_init(|| {
        oxidask_graph::inventory::iter::<RecordType>
            .into_iter()
            .map(|r| ((r.name)(), r))
            .collect()
    });
    registry.get(name).copied().ok_or_else(|| {
        format!(
            "the record type {name} is not registered in this program: add \
             oxidask::bag::register_record!({}) next to its definition",
            name.rsplit("::").next().unwrap_or(name)
        )
    })
}

/// Registers a record type so that bag pipelines over it can be written to
/// bytes and rebuilt in another process of the same program (and its stored
/// partitions decoded there): `register_record!(Person);` next to the type,
/// or `register_record!(Person, hash);` for a type that is `Hash + Eq`
/// (then `frequencies` and `distinct` of it are data too), or
/// `register_record!((K, A), pair);` for the result of a `foldby` with keys
/// `K` and accumulators `A` (then that `foldby` is data).
/// Built-in types (`String`, numbers, `bool`, `serde_json::Value`,
/// `Vec<String>`, `(String, i64)`, `(String, u64)`, `(String, usize)`) are
/// registered by the crate.
#[macro_export]
macro_rules! register_record {
    ($t:ty) => {
        $crate::__private::inventory::submit! {
            $crate::__private::RecordType::of::<$t>()
        }
        $crate::__private::register_value!(::std::vec::Vec<$t>, $crate::__private::RecordsCodec);
    };
    (($k:ty, $a:ty), pair) => {
        $crate::__private::inventory::submit! {
            $crate::__private::RecordType::pair::<$k, $a>()
        }
        $crate::__private::register_value!(
            ::std::vec::Vec<($k, $a)>,
            $crate::__private::RecordsCodec
        );
    };
    ($t:ty, hash) => {
        $crate::__private::inventory::submit! {
            $crate::__private::RecordType::hashed::<$t>()
        }
        $crate::__private::register_value!(::std::vec::Vec<$t>, $crate::__private::RecordsCodec);
    };
}

macro_rules! builtin {
    ($kind:ident: $($t:ty),* $(,)?) => {$(
        oxidask_graph::inventory::submit! { RecordType::$kind::<$t>().printing::<$t>() }
    )*};
}

builtin!(integer: u8, u16, u32, u64, usize, i8, i16, i32, i64);
builtin!(float: f32, f64);
builtin!(hashed: String, bool);
oxidask_graph::inventory::submit! { RecordType::hashed::<Vec<String>>() }
oxidask_graph::inventory::submit! { RecordType::hashed_pair::<String, i64>() }
oxidask_graph::inventory::submit! { RecordType::hashed_pair::<String, u64>() }
oxidask_graph::inventory::submit! { RecordType::hashed_pair::<String, usize>() }
builtin!(of: serde_json::Value);
// `pluck_many` of JSON records gives a `Vec` of values per record.
oxidask_graph::inventory::submit! { RecordType::of::<Vec<serde_json::Value>>() }

// Partition codecs of the built-in types the graph crate has none for
// (`Vec<serde_json::Value>` is registered in `codec`; `Vec<String>`,
// `Vec<u64>`, … have the graph crate's, which `part` then uses).
oxidask_graph::register_value!(Vec<Vec<String>>, crate::codec::RecordsCodec);
oxidask_graph::register_value!(Vec<Vec<serde_json::Value>>, crate::codec::RecordsCodec);
oxidask_graph::register_value!(Vec<(String, i64)>, crate::codec::RecordsCodec);
oxidask_graph::register_value!(Vec<(String, usize)>, crate::codec::RecordsCodec);
