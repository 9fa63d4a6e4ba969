//! Folds and custom reductions over `#[oxidask::remote]` functions, as
//! data: `fold`, `foldby` and `reduction` written as the functions' names
//! (and the initial values' bytes), rebuilt from the registries.
//!
//! The local bag runs its typed closures, exactly as fast as before; only
//! a graph decoded from bytes runs what this module rebuilds. A registered
//! function of two arguments (`binop(acc, x)`) has no typed pointer in its
//! registry entry, only its call through task values, and the decoder knows
//! the record type (from [`records`](crate::records)) but not the
//! accumulator's. So the decoded folds move accumulators as [`Value`]s and
//! call the functions through their entries: one boxed value per record, the
//! price of running a user's generic fold from bytes. `foldby` keys its
//! partials by the typed key, found in the entry of its result pair type
//! (registered with `register_record!((K, A), pair)`).

use std::hash::Hash;
use std::sync::Arc;

use oxidask_graph::push::PushFeed;
use oxidask_graph::remote::{self, GatherList, RemoteFn};
use oxidask_graph::{OpError, Value, registered_codec};
use serde::{Deserialize, Serialize};

use crate::agg::{AggRun, ValuesFn};
use crate::bag::{Record, arg, part, val};
use crate::keyed::Map;
use crate::records::PartitionFn;

/// A value written with its registered codec, to be read back by its id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Encoded {
    codec: String,
    bytes: Vec<u8>,
}

impl Encoded {
    /// `a`'s bytes, when its type has a registered codec (else a fold
    /// starting from it stays local).
    pub(crate) fn of<A: Record>(a: &A) -> Option<Encoded> {
        let codec = registered_codec::<A>()?;
        let mut bytes = Vec::new();
        Value::with_codec_vtable(a.clone(), 0, Some(codec))
            .encode(&mut bytes)
            .ok()?;
        Some(Encoded {
            codec: codec.id(),
            bytes,
        })
    }

    /// The value back, by its codec.
    pub(crate) fn decode_value(&self) -> Result<Value, String> {
        self.decode()
    }

    fn decode(&self) -> Result<Value, String> {
        Value::decode(&self.codec, &self.bytes).map_err(|e| e.to_string())
    }
}

/// `fold(initial, binop, combine)` with registered functions.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct FoldSpec {
    binop: String,
    combine: String,
    initial: Encoded,
}

/// `foldby(key, binop, initial, combine, combine_initial)` with registered
/// functions; no initial values for `foldby_from_first`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct FoldBySpec {
    key: String,
    binop: String,
    combine: String,
    initial: Option<Encoded>,
    combine_initial: Option<Encoded>,
    /// The result pair type `(K, A)`, whose registry entry folds by `K`.
    pub(crate) pair: String,
}

/// `reduction(per_partition, aggregate)` with registered functions.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ReductionSpec {
    per_partition: String,
    aggregate: String,
    /// The encoded gather of partials into the `Vec<A>` `aggregate` takes.
    list: Vec<u8>,
}

/// The registered function of item type `F`.
fn name_of<F: 'static>() -> Option<String> {
    remote::lookup_by_type::<F>().map(|f| f.name.to_string())
}

/// The description of a fold, when `binop` and `combine` are registered
/// and `initial` has a codec.
pub(crate) fn fold_spec<A: Record, B: 'static, C: 'static>(initial: &A) -> Option<FoldSpec> {
    Some(FoldSpec {
        binop: name_of::<B>()?,
        combine: name_of::<C>()?,
        initial: Encoded::of(initial)?,
    })
}

/// The description of a foldby with result `(K, A)`, when the functions
/// are registered and the initial values (if any) have codecs.
pub(crate) fn foldby_spec<K: 'static, A: Record, F: 'static, B: 'static, C: 'static>(
    initial: Option<&A>,
    combine_initial: Option<&A>,
) -> Option<FoldBySpec> {
    let encode = |a: Option<&A>| match a {
        Some(a) => Encoded::of(a).map(Some),
        None => Some(None),
    };
    Some(FoldBySpec {
        key: name_of::<F>()?,
        binop: name_of::<B>()?,
        combine: name_of::<C>()?,
        initial: encode(initial)?,
        combine_initial: encode(combine_initial)?,
        pair: std::any::type_name::<(K, A)>().to_string(),
    })
}

/// The description of a custom reduction with partials of type `A`.
pub(crate) fn reduction_spec<A: 'static, P: 'static, G: 'static>() -> Option<ReductionSpec> {
    Some(ReductionSpec {
        per_partition: name_of::<P>()?,
        aggregate: name_of::<G>()?,
        list: GatherList::of::<A>()?.encode()?,
    })
}

/// The registry entry of `name`, or an error saying how to register it.
fn function(name: &str) -> Result<&'static RemoteFn, String> {
    remote::lookup(name).ok_or_else(|| {
        format!(
            "no function {name} is registered in this program (mark it #[oxidask::remote]; \
             a worker must run the same binary as the client)"
        )
    })
}

/// Calls `f` with task values.
fn call(f: &RemoteFn, args: Vec<Value>) -> Result<Value, OpError> {
    (f.call)(args)
}

/// A placeholder left in an accumulator's slot while it is being updated.
fn hole() -> Value {
    Value::sized((), 0)
}

/// Folds a list of values with `f` from `init` (from the first when `None`).
fn fold_values(
    f: &RemoteFn,
    init: Option<&Value>,
    values: Vec<Value>,
) -> Result<Option<Value>, OpError> {
    let mut acc = init.cloned();
    for v in values {
        acc = Some(match acc {
            Some(a) => call(f, vec![a, v])?,
            None => v,
        });
    }
    Ok(acc)
}

/// The decoded fold over a feed of records as values.
pub(crate) fn fold_run(spec: &FoldSpec, feed: Arc<PushFeed<Value>>) -> Result<AggRun, String> {
    let binop = function(&spec.binop)?;
    let combine = function(&spec.combine)?;
    let initial = spec.initial.decode()?;
    let init = initial.clone();
    let chunk: PartitionFn = Arc::new(move |i: u32, base: Value| -> Result<Value, OpError> {
        let mut acc = init.clone();
        feed(i, base, &mut |x| {
            acc = call(binop, vec![std::mem::replace(&mut acc, hole()), x])?;
            Ok(())
        })?;
        Ok(acc)
    });
    let merge: ValuesFn = Arc::new(move |parts: Vec<Value>| -> Result<Value, OpError> {
        fold_values(combine, Some(&initial), parts)?
            .ok_or_else(|| "fold lost its accumulator".into())
    });
    Ok(AggRun {
        chunk,
        combine: merge.clone(),
        last: merge,
    })
}

/// The decoded foldby, for its result pair type `(K, A)`.
pub(crate) fn foldby_run<K: Record + Hash + Eq, A: Record>(
    spec: &FoldBySpec,
    feed: Arc<PushFeed<Value>>,
) -> Result<AggRun, String> {
    let key = function(&spec.key)?;
    let binop = function(&spec.binop)?;
    let combine = function(&spec.combine)?;
    let initial = spec.initial.as_ref().map(Encoded::decode).transpose()?;
    let combine_initial = spec
        .combine_initial
        .as_ref()
        .map(Encoded::decode)
        .transpose()?;
    let chunk: PartitionFn = Arc::new(move |i: u32, base: Value| -> Result<Value, OpError> {
        let mut m: Map<K, Value> = Map::default();
        feed(i, base, &mut |x| {
            let k = call(key, vec![x.clone()])?.take::<K>()?;
            match m.get_mut(&k) {
                Some(slot) => {
                    *slot = call(binop, vec![std::mem::replace(slot, hole()), x])?;
                }
                None => {
                    let a = match &initial {
                        Some(init) => call(binop, vec![init.clone(), x])?,
                        None => x,
                    };
                    m.insert(k, a);
                }
            }
            Ok(())
        })?;
        let typed = m
            .into_iter()
            .map(|(k, a)| Ok((k, arg::<A>(a)?)))
            .collect::<Result<Map<K, A>, OpError>>()?;
        Ok(val(typed))
    });
    let merge = Arc::new(move |parts: Vec<Value>| -> Result<Map<K, A>, OpError> {
        let mut acc: Map<K, Option<A>> = Map::default();
        for p in parts {
            for (k, a) in arg::<Map<K, A>>(p)? {
                let slot = acc.entry(k).or_insert(None);
                let prev = slot
                    .take()
                    .map(|p| Value::sized(p, std::mem::size_of::<A>()))
                    .or_else(|| combine_initial.clone());
                let a = Value::sized(a, std::mem::size_of::<A>());
                let next = match prev {
                    Some(p) => call(combine, vec![p, a])?,
                    None => a,
                };
                *slot = Some(arg::<A>(next)?);
            }
        }
        Ok(acc.into_iter().filter_map(|(k, a)| Some((k, a?))).collect())
    });
    let last = merge.clone();
    Ok(AggRun {
        chunk,
        combine: Arc::new(move |parts: Vec<Value>| -> Result<Value, OpError> {
            Ok(val(merge(parts)?))
        }),
        last: Arc::new(move |parts: Vec<Value>| -> Result<Value, OpError> {
            Ok(part(last(parts)?.into_iter().collect::<Vec<(K, A)>>()))
        }),
    })
}

/// The decoded custom reduction: `collect` gathers a partition's records
/// into a stored partition for `per_partition`.
pub(crate) fn reduction_run(spec: &ReductionSpec, collect: PartitionFn) -> Result<AggRun, String> {
    let per_partition = function(&spec.per_partition)?;
    let aggregate = function(&spec.aggregate)?;
    let list = oxidask_graph::decode_op(GatherList::NAME, &spec.list).map_err(|e| e.to_string())?;
    let chunk: PartitionFn = Arc::new(move |i: u32, base: Value| -> Result<Value, OpError> {
        call(per_partition, vec![collect(i, base)?])
    });
    let merge: ValuesFn = Arc::new(move |parts: Vec<Value>| -> Result<Value, OpError> {
        call(aggregate, vec![list.call(parts)?])
    });
    Ok(AggRun {
        chunk,
        combine: merge.clone(),
        last: merge,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Registered nowhere: no codec, so a fold starting from it stays local.
    #[derive(Clone, Debug, Serialize, Deserialize)]
    struct Unlisted(u8);

    fn no_records() -> Arc<PushFeed<Value>> {
        Arc::new(|_, _, _| Ok(()))
    }

    #[test]
    fn initial_values_encode_only_with_a_registered_codec() {
        let e = Encoded::of(&41i64).expect("i64 has a codec");
        assert_eq!(*e.decode().unwrap().downcast_ref::<i64>().unwrap(), 41);
        assert!(Encoded::of(&Unlisted(1)).is_none());
    }

    #[test]
    fn a_decoded_fold_of_an_unknown_function_is_an_error_naming_it() {
        let spec = FoldSpec {
            binop: "nowhere::binop".into(),
            combine: "nowhere::combine".into(),
            initial: Encoded::of(&0i64).unwrap(),
        };
        let e = fold_run(&spec, no_records()).err().unwrap();
        assert!(
            e.contains("nowhere::binop") && e.contains("#[oxidask::remote]"),
            "{e}"
        );
        let spec = FoldBySpec {
            key: "nowhere::key".into(),
            binop: "nowhere::binop".into(),
            combine: "nowhere::combine".into(),
            initial: None,
            combine_initial: None,
            pair: std::any::type_name::<(String, i64)>().into(),
        };
        let e = foldby_run::<String, i64>(&spec, no_records())
            .err()
            .unwrap();
        assert!(e.contains("nowhere::key"), "{e}");
    }

    #[test]
    fn a_damaged_initial_value_is_an_error_naming_its_type() {
        let bad = Encoded {
            codec: Encoded::of(&0i64).unwrap().codec,
            bytes: vec![],
        };
        let e = bad.decode().unwrap_err();
        assert!(e.contains("i64"), "{e}");
    }
}
