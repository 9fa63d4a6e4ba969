//! Aggregations by key: `frequencies`, `distinct`, `foldby`, and `topk`.
//!
//! Partials are insertion-ordered hash maps (`IndexMap` with foldhash), and
//! partials are merged in partition order, so results come out in order of
//! first appearance in the bag — deterministic, whatever the scheduler —
//! without requiring `Ord` of the keys. These reductions give one-partition
//! bags, as in Dask.

use std::hash::Hash;
use std::sync::Arc;

use indexmap::{IndexMap, IndexSet};
use oxidask_graph::Tokenizer;

use crate::agg::{Agg, topk_agg};
use crate::bag::{Bag, Record, Records};
use crate::fold::{FoldBySpec, foldby_spec};
use crate::reduce::{Planned, Reduction, SPLIT_EVERY, bag_finish};

pub(crate) type Map<K, V> = IndexMap<K, V, foldhash::fast::RandomState>;
pub(crate) type Set<K> = IndexSet<K, foldhash::fast::RandomState>;

/// Merges maps in order: each key keeps its first position.
fn merge_maps<K: Hash + Eq, V>(parts: Vec<Map<K, V>>, mut add: impl FnMut(&mut V, V)) -> Map<K, V> {
    let mut it = parts.into_iter();
    let mut acc = it.next().unwrap_or_default();
    for m in it {
        for (k, v) in m {
            match acc.get_mut(&k) {
                Some(slot) => add(slot, v),
                None => {
                    acc.insert(k, v);
                }
            }
        }
    }
    acc
}

impl<T: Record + Hash + Eq> Bag<T> {
    /// How often each distinct record occurs, like `dask.bag.frequencies`:
    /// a one-partition bag of `(record, count)` in order of first
    /// appearance. Sort it with [`topk`](Bag::topk).
    pub fn frequencies(&self) -> Bag<(T, usize)> {
        let (r, finish) = frequencies_parts::<T>(false);
        r.into_bag_with(self, finish)
    }

    /// [`frequencies`](Bag::frequencies) sorted by count, largest first, as
    /// Dask's `frequencies(sort=True)`: equal counts keep their order of
    /// first appearance (Dask sorts its dict by count with a stable
    /// `sorted(..., reverse=True)`).
    pub fn frequencies_sorted(&self) -> Bag<(T, usize)> {
        let (r, finish) = frequencies_parts::<T>(true);
        r.into_bag_with(self, finish)
    }

    /// The distinct records, in order of first appearance, as a
    /// one-partition bag.
    pub fn distinct(&self) -> Bag<T> {
        let (r, finish) = distinct_parts::<T>();
        r.into_bag_with(self, finish)
    }
}

/// `frequencies` (by count, largest first, when `sort`) as a reduction and
/// its finish (the local bag and a graph decoded from bytes build it here
/// alike).
pub(crate) fn frequencies_parts<T: Record + Hash + Eq>(sort: bool) -> Planned<T, Map<T, usize>> {
    let mut t = Tokenizer::new();
    t.add("frequencies");
    let r = Reduction::new(
        "frequencies",
        t,
        |r: Records<T>| {
            let mut m: Map<T, usize> = Map::default();
            r.for_each(|x| {
                *m.entry(x).or_insert(0) += 1;
                Ok(())
            })?;
            Ok(m)
        },
        |parts: Vec<Map<T, usize>>| Ok(merge_maps(parts, |a, b| *a += b)),
    );
    let finish = bag_finish(move |m: Map<T, usize>| {
        let mut v = m.into_iter().collect::<Vec<(T, usize)>>();
        if sort {
            // Stable: equal counts stay in order of first appearance.
            v.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
        }
        Ok(v)
    });
    let (r, agg) = if sort {
        let mut r = r;
        r.token.add("sorted");
        (r, Agg::FrequenciesSorted)
    } else {
        (r, Agg::Frequencies)
    };
    (r.described(Some(agg)), finish)
}

/// `distinct` as a reduction and its finish.
pub(crate) fn distinct_parts<T: Record + Hash + Eq>() -> Planned<T, Set<T>> {
    let mut t = Tokenizer::new();
    t.add("distinct");
    let r = Reduction::new(
        "distinct",
        t,
        |r: Records<T>| {
            let mut s: Set<T> = Set::default();
            r.for_each(|x| {
                s.insert(x);
                Ok(())
            })?;
            Ok(s)
        },
        |parts: Vec<Set<T>>| {
            let mut it = parts.into_iter();
            let mut acc = it.next().unwrap_or_default();
            for s in it {
                acc.extend(s);
            }
            Ok(acc)
        },
    );
    let finish = bag_finish(|s: Set<T>| Ok(s.into_iter().collect::<Vec<T>>()));
    (r.described(Some(Agg::Distinct)), finish)
}

/// `distinct_by(key)`: the first record of each key, in order of first
/// appearance, as a reduction (named by `token`) and its finish.
pub(crate) fn distinct_by_parts<T: Record, K: Record + Hash + Eq>(
    token: Tokenizer,
    key: impl Fn(&T) -> K + Send + Sync + 'static,
) -> Planned<T, Map<K, T>> {
    let r = Reduction::new(
        "distinct",
        token,
        move |r: Records<T>| {
            let mut m: Map<K, T> = Map::default();
            r.for_each(|x| {
                m.entry(key(&x)).or_insert(x);
                Ok(())
            })?;
            Ok(m)
        },
        // The first partial holding a key holds its first record.
        |parts: Vec<Map<K, T>>| Ok(merge_maps(parts, |_, _| {})),
    );
    let finish = bag_finish(|m: Map<K, T>| Ok(m.into_values().collect::<Vec<T>>()));
    (r, finish)
}

/// Tree-reduction pieces of `topk(k, key)`: the reduction (named uniquely:
/// the key may be a closure) and its finish.
pub(crate) fn topk_parts<T: Record, K: Ord>(
    k: usize,
    key: impl Fn(&T) -> K + Send + Sync + 'static,
) -> Planned<T, Vec<(u32, u64, T)>> {
    let key = std::sync::Arc::new(key);
    let key2 = key.clone();
    let r = Reduction::of_closures(
        "topk",
        SPLIT_EVERY,
        move |r: Records<T>| {
            // Keep at most about 2k candidates: prune when the buffer doubles.
            let i = r.index;
            let limit = (2 * k).max(1024);
            let mut buf: Vec<(u32, u64, T)> = Vec::new();
            let mut j = 0u64;
            r.for_each(|x| {
                buf.push((i, j, x));
                j += 1;
                if buf.len() >= limit {
                    buf = top(std::mem::take(&mut buf), k, &*key);
                }
                Ok(())
            })?;
            Ok(top(buf, k, &*key))
        },
        move |parts: Vec<Vec<(u32, u64, T)>>| Ok(top(parts.concat(), k, &*key2)),
    );
    let finish = bag_finish(|v: Vec<(u32, u64, T)>| {
        Ok(v.into_iter().map(|(_, _, x)| x).collect::<Vec<T>>())
    });
    (r, finish)
}

impl<T: Record> Bag<T> {
    /// The first record of each distinct `key(&record)`, in order of first
    /// appearance, as a one-partition bag: Dask's `distinct(key=key)`.
    /// Records need not hash, only their keys.
    ///
    /// With `key` a `#[oxidask::remote] fn(&T) -> K` (K one of `String`,
    /// `i64`, `u64`, `usize`, `u32`, `i32`, `bool`) the aggregation is data.
    pub fn distinct_by<K, F>(&self, key: F) -> Bag<T>
    where
        K: Record + Hash + Eq,
        F: Fn(&T) -> K + Send + Sync + 'static,
    {
        let agg = crate::agg::distinct_by_agg::<F>();
        let mut t = Tokenizer::new();
        match &agg {
            // A registered key names the computation.
            Some(a) => t.add(&format!("{a:?}")),
            None => t.add(&oxidask_graph::unique_token()),
        };
        let (r, finish) = distinct_by_parts::<T, K>(t, key);
        r.described(agg).into_bag_with(self, finish)
    }

    /// Folds the records of each key, like `dask.bag.foldby`: within a
    /// partition, the records with key `key(&x)` are folded with `binop`
    /// from a clone of `initial`; across partitions, the partial results of
    /// one key are folded with `combine` from a clone of `combine_initial`
    /// (which must be `combine`'s identity). Gives a one-partition bag of
    /// `(key, value)` in order of first appearance.
    ///
    /// Unlike a groupby, nothing but one accumulator per key per partition is
    /// held, so it needs no shuffle.
    ///
    /// The arguments come in Dask's order: `foldby(key, binop, initial,
    /// combine, combine_initial)`. With `key`, `binop` and `combine`
    /// `#[oxidask::remote]` functions, initial values of types with a
    /// registered codec and the pair `(K, A)` registered with
    /// `register_record!((K, A), pair)` (built in for `(String, i64)`,
    /// `(String, u64)`, `(String, usize)`), the foldby is data.
    pub fn foldby<K, A, F, B, C>(
        &self,
        key: F,
        binop: B,
        initial: A,
        combine: C,
        combine_initial: A,
    ) -> Bag<(K, A)>
    where
        K: Record + Hash + Eq,
        A: Record,
        F: Fn(&T) -> K + Send + Sync + 'static,
        B: Fn(A, T) -> A + Send + Sync + 'static,
        C: Fn(A, A) -> A + Send + Sync + 'static,
    {
        let spec = foldby_spec::<K, A, F, B, C>(Some(&initial), Some(&combine_initial));
        let binop = Arc::new(binop);
        let step = binop.clone();
        self.foldby_with(
            key,
            move |x| (*step)(initial.clone(), x),
            move |a, x| (*binop)(a, x),
            combine,
            Some(combine_initial),
            spec,
        )
    }

    /// [`foldby`](Bag::foldby) without initial values, as Dask's
    /// `foldby(key, binop, combine=combine)` with neither `initial` nor
    /// `combine_initial`: a key's first record in a partition starts its
    /// accumulator, and its first partial starts the combine. Data under
    /// the same conditions as `foldby` (with `(K, T)` registered as a pair).
    pub fn foldby_from_first<K, F, B, C>(&self, key: F, binop: B, combine: C) -> Bag<(K, T)>
    where
        K: Record + Hash + Eq,
        F: Fn(&T) -> K + Send + Sync + 'static,
        B: Fn(T, T) -> T + Send + Sync + 'static,
        C: Fn(T, T) -> T + Send + Sync + 'static,
    {
        let spec = foldby_spec::<K, T, F, B, C>(None, None);
        self.foldby_with(key, |x| x, binop, combine, None, spec)
    }

    /// The foldby of a key's first record `start(x)`, then `binop`; partials
    /// combined from `combine_initial` (from the first when `None`).
    fn foldby_with<K: Record + Hash + Eq, A: Record>(
        &self,
        key: impl Fn(&T) -> K + Send + Sync + 'static,
        start: impl Fn(T) -> A + Send + Sync + 'static,
        binop: impl Fn(A, T) -> A + Send + Sync + 'static,
        combine: impl Fn(A, A) -> A + Send + Sync + 'static,
        combine_initial: Option<A>,
        spec: Option<FoldBySpec>,
    ) -> Bag<(K, A)> {
        let mut r = Reduction::of_closures(
            "foldby",
            SPLIT_EVERY,
            move |r: Records<T>| {
                let mut m: Map<K, Option<A>> = Map::default();
                r.for_each(|x| {
                    let slot = m.entry(key(&x)).or_insert(None);
                    *slot = Some(match slot.take() {
                        Some(a) => binop(a, x),
                        None => start(x),
                    });
                    Ok(())
                })?;
                Ok(m.into_iter()
                    .filter_map(|(k, a)| Some((k, a?)))
                    .collect::<Map<K, A>>())
            },
            move |parts: Vec<Map<K, A>>| {
                let mut acc: Map<K, Option<A>> = Map::default();
                for m in parts {
                    for (k, a) in m {
                        let slot = acc.entry(k).or_insert(None);
                        *slot = Some(match slot.take().or_else(|| combine_initial.clone()) {
                            Some(prev) => combine(prev, a),
                            None => a,
                        });
                    }
                }
                Ok(acc
                    .into_iter()
                    .filter_map(|(k, a)| Some((k, a?)))
                    .collect::<Map<K, A>>())
            },
        );
        if let Some(s) = &spec {
            // Registered functions name the computation.
            let mut t = Tokenizer::new();
            t.add(&format!("{s:?}"));
            r.token = t;
        }
        r.described(spec.map(Agg::FoldBy))
            .into_bag(self, |m| Ok(m.into_iter().collect()))
    }

    /// The `k` records with the largest `key`, largest first, as a
    /// one-partition bag, like `dask.bag.topk(k, key)`.
    ///
    /// Ties are broken by position: of records with equal keys, the one
    /// earlier in the bag (lower partition, then earlier in its partition)
    /// comes first — so the result does not depend on the scheduler. For
    /// another tie-break, put it in the key: `|(name, n)| (*n,
    /// Reverse(name.clone()))` orders equal counts by name ascending.
    ///
    /// With `key` a `#[oxidask::remote] fn(&T) -> K` (K one of the common
    /// key types: integers, `String`, `bool`) the aggregation is data.
    pub fn topk<K: Ord, F: Fn(&T) -> K + Send + Sync + 'static>(&self, k: usize, key: F) -> Bag<T> {
        let agg = topk_agg::<F>(k);
        let (mut r, finish) = topk_parts::<T, K>(k, key);
        if let Some(Agg::Topk { key, .. }) = &agg {
            // A registered key names the computation: the same topk of the
            // same records is the same task.
            let mut t = Tokenizer::new();
            t.add("topk").add(key).add(&(k as u64));
            r.token = t;
        }
        r.described(agg).into_bag_with(self, finish)
    }
}

/// The `k` largest by key, ties by position, sorted.
fn top<T, K: Ord>(
    items: Vec<(u32, u64, T)>,
    k: usize,
    key: &(impl Fn(&T) -> K + ?Sized),
) -> Vec<(u32, u64, T)> {
    if k == 0 {
        return Vec::new();
    }
    let mut keyed: Vec<(K, u32, u64, usize)> = items
        .iter()
        .enumerate()
        .map(|(idx, (p, j, x))| (key(x), *p, *j, idx))
        .collect();
    let order = |a: &(K, u32, u64, usize), b: &(K, u32, u64, usize)| {
        b.0.cmp(&a.0).then((a.1, a.2).cmp(&(b.1, b.2)))
    };
    if keyed.len() > k {
        keyed.select_nth_unstable_by(k - 1, order);
        keyed.truncate(k);
    }
    keyed.sort_unstable_by(order);
    let mut slots: Vec<Option<(u32, u64, T)>> = items.into_iter().map(Some).collect();
    keyed
        .into_iter()
        .filter_map(|(_, _, _, idx)| slots[idx].take())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_breaks_ties_by_position() {
        let items = vec![(1, 0, 'a'), (0, 5, 'b'), (0, 2, 'c'), (2, 0, 'd')];
        // all keys equal: position order
        let got: Vec<char> = top(items.clone(), 3, &|_: &char| 0)
            .into_iter()
            .map(|t| t.2)
            .collect();
        assert_eq!(got, vec!['c', 'b', 'a']);
        let got: Vec<char> = top(items, 2, &|c: &char| *c == 'd')
            .into_iter()
            .map(|t| t.2)
            .collect();
        assert_eq!(got, vec!['d', 'c']);
    }
}
