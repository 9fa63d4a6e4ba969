//! The codecs of the values a bag's aggregations pass between tasks, by
//! record type, so another process of the program decodes them by id.
//!
//! Partial results are generic (`Option<T>`, a map of `T` to counts, …)
//! and written with the one-record codec ([`val`](crate::bag::val)); a
//! link-time registry cannot list generic instances, so each registered
//! record type ([`RecordType`](crate::records::RecordType)) lists its own
//! here and the crate hands them all to the graph crate's registry as one
//! [`ValueFamily`].

use std::hash::Hash;

use oxidask_graph::{CodecVTable, ValueFamily, codec_of};

use crate::bag::Record;
use crate::codec::{Encoded, EncodedCodec, RecordCodec, RecordsCodec};
use crate::keyed::{Map, Set};

/// Moments of numbers: count, mean, sum of squared deviations.
type Moments = (u64, f64, f64);

/// One value written with the one-record codec.
fn one<A: Record>() -> &'static CodecVTable {
    codec_of::<A, RecordCodec>()
}

/// The values of the aggregations of any record type `T`.
pub(crate) fn of<T: Record>() -> Vec<&'static CodecVTable> {
    macro_rules! distinct_by_keys {
        ($($k:ty),*) => { [$(one::<Map<$k, T>>()),*] };
    }
    let mut v = vec![
        // count, any/all, mean/var/std and their moments.
        one::<usize>(),
        one::<bool>(),
        one::<f64>(),
        one::<Moments>(),
        // sum's and min/max's partials and results.
        one::<T>(),
        one::<Option<T>>(),
        // topk's candidates.
        one::<Vec<(u32, u64, T)>>(),
        // A stored partition without a registered codec of its own.
        codec_of::<Vec<T>, RecordsCodec>(),
        // A groupby piece of already encoded records.
        codec_of::<Encoded<T>, EncodedCodec>(),
    ];
    // distinct_by's first record per key, for every key type it takes.
    v.extend(distinct_by_keys!(String, i64, u64, usize, u32, i32, bool));
    v
}

/// The values of the aggregations of a record type that hashes: also
/// `frequencies` and `distinct`.
pub(crate) fn hashed<T: Record + Hash + Eq>() -> Vec<&'static CodecVTable> {
    let mut v = of::<T>();
    v.extend([
        one::<Map<T, usize>>(),
        one::<Set<T>>(),
        codec_of::<Vec<(T, usize)>, RecordsCodec>(),
    ]);
    v
}

/// The values of a `foldby` giving pairs `(K, A)`.
pub(crate) fn pair<K: Record + Hash + Eq, A: Record>() -> Vec<&'static CodecVTable> {
    let mut v = of::<(K, A)>();
    v.push(one::<Map<K, A>>());
    v
}

/// [`pair`] for pairs that also hash.
pub(crate) fn hashed_pair<K: Record + Hash + Eq, A: Record + Hash + Eq>()
-> Vec<&'static CodecVTable> {
    let mut v = hashed::<(K, A)>();
    v.push(one::<Map<K, A>>());
    v
}

/// Every registered record type's values.
fn all() -> Vec<&'static CodecVTable> {
    oxidask_graph::inventory::iter::<crate::records::RecordType>
        .into_iter()
        .flat_map(|r| (r.codecs)())
        .collect()
}

oxidask_graph::inventory::submit! { ValueFamily { vtables: all } }
