//! Tree reductions and the aggregations built on them.
//!
//! Every aggregation is three functions: `chunk` turns one partition into a
//! partial result, `combine` merges a list of partials into one (it must be
//! associative, and turn an empty list into the identity), and `finish`
//! turns the last partial into the answer. The graph is a tree: one chunk
//! task per partition, then levels of combine tasks each reading up to
//! `split_every` partials (default [`SPLIT_EVERY`]), then one final task —
//! like Dask's `Bag.reduction(split_every=…)`. It is written as one
//! `MaterializedLayer`; partial keys are `(name-partial, level, j)`.
//!
//! A chunk task is its partition's only reader, so the optimizer fuses it
//! with the partition-wise chain above it: reading, parsing, plucking and
//! counting a block is one task.

use std::sync::Arc;

use oxidask_graph::{
    BlockArg, BlockLayer, HighLevelGraph, Key, Op, OpError, Tokenizer, TreeLayer, Value,
    unique_token,
};

use crate::agg::{Agg, AggDesc, AggOp, AggRun, Role, predicate_name};
use crate::bag::{Bag, Feed, Item, Record, Records, arg, layer_name, part, val};
use crate::error::Error;
use crate::fold::{fold_spec, reduction_spec};

/// Partials each combine task reads, unless set otherwise.
pub const SPLIT_EVERY: usize = 8;

type ChunkFn<T, A> = dyn Fn(Records<T>) -> Result<A, OpError> + Send + Sync;
type CombineFn<A> = dyn Fn(Vec<A>) -> Result<A, OpError> + Send + Sync;
pub(crate) type FinishFn<A> = dyn Fn(A) -> Result<Value, OpError> + Send + Sync;

/// A reduction with its finish: what an aggregation's constructor returns,
/// for the local bag and for a graph decoded from bytes alike.
pub(crate) type Planned<T, A> = (Reduction<T, A>, Arc<FinishFn<A>>);

/// The three functions of an aggregation; see the module docs.
pub(crate) struct Reduction<T, A> {
    pub prefix: &'static str,
    /// Names the computation: parameters for deterministic aggregations, a
    /// unique token for closures.
    pub token: Tokenizer,
    pub split_every: usize,
    pub chunk: Arc<ChunkFn<T, A>>,
    pub combine: Arc<CombineFn<A>>,
    /// The aggregation as data, when it can be rebuilt from bytes (see the
    /// `agg` module); `None` for closures.
    pub agg: Option<Agg>,
}

impl<T: Record, A: Record> Reduction<T, A> {
    pub(crate) fn new(
        prefix: &'static str,
        token: Tokenizer,
        chunk: impl Fn(Records<T>) -> Result<A, OpError> + Send + Sync + 'static,
        combine: impl Fn(Vec<A>) -> Result<A, OpError> + Send + Sync + 'static,
    ) -> Reduction<T, A> {
        Reduction {
            prefix,
            token,
            split_every: SPLIT_EVERY,
            chunk: Arc::new(chunk),
            combine: Arc::new(combine),
            agg: None,
        }
    }

    /// The same reduction, described as `agg`.
    pub(crate) fn described(mut self, agg: Option<Agg>) -> Self {
        self.agg = agg;
        self
    }

    /// The three task functions over partitions fed by `feed`, as values
    /// in and out: the chunk (base value and index → partial), the combine
    /// (partials → partial) and the final task (partials → `finish`ed).
    /// The local graph and a graph decoded from bytes both run these.
    pub(crate) fn run(self, feed: Feed<T>, finish: Arc<FinishFn<A>>) -> AggRun {
        let chunk = self.chunk;
        let combine = self.combine;
        let merge = combine.clone();
        AggRun {
            chunk: Arc::new(move |i, base| Ok(val(chunk(Records::new(i, base, feed.clone()))?))),
            combine: Arc::new(move |args: Vec<Value>| {
                let parts = args
                    .into_iter()
                    .map(arg::<A>)
                    .collect::<Result<Vec<A>, _>>()?;
                Ok(val(merge(parts)?))
            }),
            last: Arc::new(move |args: Vec<Value>| {
                let parts = args
                    .into_iter()
                    .map(arg::<A>)
                    .collect::<Result<Vec<A>, _>>()?;
                finish(combine(parts)?)
            }),
        }
    }

    /// A reduction of closures: named uniquely.
    pub(crate) fn of_closures(
        prefix: &'static str,
        split_every: usize,
        chunk: impl Fn(Records<T>) -> Result<A, OpError> + Send + Sync + 'static,
        combine: impl Fn(Vec<A>) -> Result<A, OpError> + Send + Sync + 'static,
    ) -> Reduction<T, A> {
        let mut token = Tokenizer::new();
        token.add(&unique_token());
        let mut r = Reduction::new(prefix, token, chunk, combine);
        r.split_every = split_every;
        r
    }

    /// Builds the tree over `bag`; the final task, under `out`, runs
    /// `finish(combine(last partials))`.
    fn build(
        mut self,
        bag: &Bag<T>,
        finish: Arc<FinishFn<A>>,
        as_partition: bool,
    ) -> (HighLevelGraph, Key) {
        let split_every = self.split_every.max(2);
        let mut token = std::mem::take(&mut self.token);
        token.add(&(split_every as u64)).add(&as_partition);
        let name = layer_name(self.prefix, &bag.chain, token);
        let prefix = self.prefix;

        let desc = match (&bag.spec, &self.agg) {
            (Some(pipeline), Some(agg)) => Some(Arc::new(AggDesc {
                pipeline: (**pipeline).clone(),
                record: std::any::type_name::<T>().to_string(),
                agg: agg.clone(),
            })),
            _ => None,
        };
        let run = self.run(bag.feed.clone(), finish);
        let chunk_op: Arc<dyn Op> = Arc::new(AggOp::new(
            Role::Chunk,
            format!("{}+{prefix}-chunk", bag.label),
            desc.clone(),
            &run,
        ));
        let combine_op: Arc<dyn Op> = Arc::new(AggOp::new(
            Role::Combine,
            format!("{prefix}-combine"),
            desc.clone(),
            &run,
        ));
        let final_op: Arc<dyn Op> = Arc::new(AggOp::new(
            Role::Final,
            format!("{prefix}-aggregate"),
            desc,
            &run,
        ));

        // One chunk task per partition (its base value and its index), then
        // the graph crate's tree: groups of `split_every` partials combined
        // level by level, the last group finished under `out`.
        let chunk_name: Arc<str> = Arc::from(format!("{prefix}-chunk{}", &name[prefix.len()..]));
        let chunks = BlockLayer::blockwise(
            chunk_name.clone(),
            chunk_op,
            vec![BlockArg::block(bag.base.clone()), BlockArg::Coord(0)],
            vec![bag.npartitions],
        );
        let tree = TreeLayer::new(
            name.clone(),
            chunk_name,
            vec![bag.npartitions],
            vec![split_every as u32],
            as_partition,
            false,
            combine_op,
            final_op,
        )
        .expect("a 1-d tree has one split factor");
        let out = if as_partition {
            Key::with_index(name, &[0])
        } else {
            Key::new(name)
        };
        (
            bag.graph
                .clone()
                .with_layer(Arc::new(chunks))
                .with_layer(Arc::new(tree)),
            out,
        )
    }

    /// The reduction as a lazy value: `finish(all partials combined)`.
    pub(crate) fn into_item<R: Record>(
        self,
        bag: &Bag<T>,
        finish: impl Fn(A) -> Result<R, OpError> + Send + Sync + 'static,
    ) -> Item<R> {
        self.into_item_with(bag, item_finish(finish))
    }

    /// [`into_item`](Reduction::into_item) with the finish already wrapped.
    pub(crate) fn into_item_with<R: Record>(
        self,
        bag: &Bag<T>,
        finish: Arc<FinishFn<A>>,
    ) -> Item<R> {
        let (graph, key) = self.build(bag, finish, false);
        Item::new(graph, key)
    }

    /// The reduction as a one-partition bag.
    pub(crate) fn into_bag<U: Record>(
        self,
        bag: &Bag<T>,
        finish: impl Fn(A) -> Result<Vec<U>, OpError> + Send + Sync + 'static,
    ) -> Bag<U> {
        self.into_bag_with(bag, bag_finish(finish))
    }

    /// [`into_bag`](Reduction::into_bag) with the finish already wrapped.
    pub(crate) fn into_bag_with<U: Record>(self, bag: &Bag<T>, finish: Arc<FinishFn<A>>) -> Bag<U> {
        let (graph, key) = self.build(bag, finish, true);
        Bag::stored_in(graph, key.name_arc().clone(), 1, None)
    }
}

/// A finish giving a single value (an [`Item`]'s).
pub(crate) fn item_finish<A: 'static, R: Record>(
    finish: impl Fn(A) -> Result<R, OpError> + Send + Sync + 'static,
) -> Arc<FinishFn<A>> {
    Arc::new(move |a| Ok(val(finish(a)?)))
}

/// A finish giving one stored partition (a one-partition bag's).
pub(crate) fn bag_finish<A: 'static, U: Record>(
    finish: impl Fn(A) -> Result<Vec<U>, OpError> + Send + Sync + 'static,
) -> Arc<FinishFn<A>> {
    Arc::new(move |a| Ok(part(finish(a)?)))
}

/// `count` as a reduction and its finish.
pub(crate) fn count_parts<T: Record>() -> Planned<T, usize> {
    let r = Reduction::new(
        "count",
        named("count"),
        |r: Records<T>| {
            let mut n = 0usize;
            r.for_each(|_| {
                n += 1;
                Ok(())
            })?;
            Ok(n)
        },
        |c: Vec<usize>| Ok(c.into_iter().sum()),
    );
    (r.described(Some(Agg::Count)), item_finish(Ok))
}

fn named(what: &str) -> Tokenizer {
    let mut t = Tokenizer::new();
    t.add(what);
    t
}

/// Numbers `mean`, `var` and `std` accept.
pub trait Numeric: Record + Copy {
    /// The value as an `f64` (rounded for 64-bit integers beyond 2^53).
    fn to_f64(self) -> f64;
}

macro_rules! numeric {
    ($($t:ty),*) => {$(
        impl Numeric for $t {
            fn to_f64(self) -> f64 { self as f64 }
        }
    )*};
}
numeric!(f64, f32, i8, i16, i32, i64, isize, u8, u16, u32, u64, usize);

/// Count, mean and sum of squared deviations of a set of numbers, merged
/// with Chan et al.'s parallel update (stable for large counts).
type Moments = (u64, f64, f64);

fn merge_moments(parts: Vec<Moments>) -> Moments {
    parts
        .into_iter()
        .fold((0, 0.0, 0.0), |(n, mean, m2), (k, mk, m2k)| {
            if k == 0 {
                return (n, mean, m2);
            }
            let total = n + k;
            let delta = mk - mean;
            let mean = mean + delta * k as f64 / total as f64;
            let m2 = m2 + m2k + delta * delta * n as f64 * k as f64 / total as f64;
            (total, mean, m2)
        })
}

/// Welford's update, one record at a time.
fn moments<T: Numeric>(r: Records<T>) -> Result<Moments, OpError> {
    let (mut n, mut mean, mut m2) = (0u64, 0.0f64, 0.0f64);
    r.for_each(|x| {
        let x = x.to_f64();
        n += 1;
        let delta = x - mean;
        mean += delta / n as f64;
        m2 += delta * (x - mean);
        Ok(())
    })?;
    Ok((n, mean, m2))
}

/// The smaller (or larger, `want = Greater`) of two optional values,
/// skipping values not comparable with themselves (NaN); on ties the first.
fn pick<T: PartialOrd>(a: Option<T>, b: Option<T>, want: std::cmp::Ordering) -> Option<T> {
    match (a, b) {
        (None, x) | (x, None) => x,
        (Some(a), Some(b)) => {
            if b.partial_cmp(&a) == Some(want) {
                Some(b)
            } else {
                Some(a)
            }
        }
    }
}

fn extreme<T: Record + PartialOrd>(
    r: Records<T>,
    want: std::cmp::Ordering,
) -> Result<Option<T>, OpError> {
    let mut acc = None;
    r.for_each(|x| {
        if x.partial_cmp(&x).is_some() {
            acc = pick(acc.take(), Some(x), want);
        }
        Ok(())
    })?;
    Ok(acc)
}

impl<T: Record> Bag<T> {
    /// The number of records.
    pub fn count(&self) -> Item<usize> {
        let (r, finish) = count_parts::<T>();
        r.into_item_with(self, finish)
    }

    /// Whether `pred` holds for any record (false for an empty bag; data
    /// when `pred` is a `#[oxidask::remote] fn(&T) -> bool`).
    pub fn any<F: Fn(&T) -> bool + Send + Sync + 'static>(&self, pred: F) -> Item<bool> {
        self.predicate(true, pred)
    }

    /// Whether `pred` holds for every record (true for an empty bag; data
    /// when `pred` is a `#[oxidask::remote] fn(&T) -> bool`).
    pub fn all<F: Fn(&T) -> bool + Send + Sync + 'static>(&self, pred: F) -> Item<bool> {
        self.predicate(false, pred)
    }

    fn predicate<F: Fn(&T) -> bool + Send + Sync + 'static>(
        &self,
        any: bool,
        pred: F,
    ) -> Item<bool> {
        let (mut r, finish) = predicate_parts::<T>(any, pred);
        let agg = predicate_name::<F>().map(|pred| {
            if any {
                Agg::Any { pred }
            } else {
                Agg::All { pred }
            }
        });
        if let Some(a) = &agg {
            r.token = named(&format!("{a:?}"));
        }
        r.described(agg).into_item_with(self, finish)
    }

    /// Folds every record into an accumulator, like `dask.bag.fold`: each
    /// partition folds its records with `binop` starting from a clone of
    /// `initial`, then the partials are merged with `combine` (associative;
    /// `initial` must be its identity, as 0 is for `+`).
    ///
    /// With `binop` and `combine` `#[oxidask::remote]` functions and
    /// `initial` of a type with a registered codec (numbers, `String`, …,
    /// or `register_value!`), the fold is data.
    pub fn fold<A, B, C>(&self, initial: A, binop: B, combine: C) -> Item<A>
    where
        A: Record,
        B: Fn(A, T) -> A + Send + Sync + 'static,
        C: Fn(A, A) -> A + Send + Sync + 'static,
    {
        self.fold_split(initial, binop, combine, SPLIT_EVERY)
    }

    /// [`fold`](Bag::fold) with the fan-in of the combine tree.
    pub fn fold_split<A, B, C>(
        &self,
        initial: A,
        binop: B,
        combine: C,
        split_every: usize,
    ) -> Item<A>
    where
        A: Record,
        B: Fn(A, T) -> A + Send + Sync + 'static,
        C: Fn(A, A) -> A + Send + Sync + 'static,
    {
        let spec = fold_spec::<A, B, C>(&initial);
        let init = initial.clone();
        let mut r = Reduction::of_closures(
            "fold",
            split_every,
            move |r: Records<T>| {
                let mut acc = Some(init.clone());
                r.for_each(|x| {
                    if let Some(a) = acc.take() {
                        acc = Some(binop(a, x));
                    }
                    Ok(())
                })?;
                acc.ok_or_else(|| "fold lost its accumulator".into())
            },
            move |parts: Vec<A>| Ok(parts.into_iter().fold(initial.clone(), &combine)),
        );
        if let Some(s) = &spec {
            // Registered functions name the computation.
            r.token = named(&format!("{s:?}"));
        }
        r.described(spec.map(Agg::Fold)).into_item(self, Ok)
    }

    /// A custom reduction, like `dask.bag.reduction`: `per_partition` turns
    /// each partition into a partial, `aggregate` merges a list of partials
    /// into one. `aggregate` runs at every level of the tree (and on the
    /// list of all partials when there are few), so it must be associative:
    /// aggregating groups of partials and then the results gives the same.
    /// Data when both are `#[oxidask::remote]` functions.
    pub fn reduction<A, P, G>(&self, per_partition: P, aggregate: G) -> Item<A>
    where
        A: Record,
        P: Fn(Vec<T>) -> A + Send + Sync + 'static,
        G: Fn(Vec<A>) -> A + Send + Sync + 'static,
    {
        let spec = reduction_spec::<A, P, G>();
        let mut r = Reduction::of_closures(
            "reduction",
            SPLIT_EVERY,
            move |r: Records<T>| Ok(per_partition(r.collect()?)),
            move |parts: Vec<A>| Ok(aggregate(parts)),
        );
        if let Some(s) = &spec {
            r.token = named(&format!("{s:?}"));
        }
        r.described(spec.map(Agg::Reduction)).into_item(self, Ok)
    }
}

/// `any` (or `all`, `any = false`) of `pred` as a reduction and its finish:
/// a partition stops at its first deciding record.
pub(crate) fn predicate_parts<T: Record>(
    any: bool,
    pred: impl Fn(&T) -> bool + Send + Sync + 'static,
) -> Planned<T, bool> {
    let r = Reduction::of_closures(
        if any { "any" } else { "all" },
        SPLIT_EVERY,
        move |r: Records<T>| {
            // `any` looks for a true, `all` for a false: the first decides.
            let mut decided = false;
            r.until(|x| {
                decided = pred(&x) == any;
                !decided
            })?;
            Ok(decided == any)
        },
        move |c: Vec<bool>| {
            Ok(if any {
                c.into_iter().any(|b| b)
            } else {
                c.into_iter().all(|b| b)
            })
        },
    );
    (r, item_finish(Ok))
}

impl<T: Record + std::iter::Sum<T>> Bag<T> {
    /// The sum of the records (zero for an empty bag). Partitions are summed
    /// separately and then together, so floating-point sums may differ from a
    /// sequential loop in the last bits.
    pub fn sum(&self) -> Item<T> {
        let (r, finish) = sum_parts::<T>();
        r.into_item_with(self, finish)
    }
}

/// `sum` as a reduction and its finish.
pub(crate) fn sum_parts<T: Record + std::iter::Sum<T>>() -> Planned<T, T> {
    let r = Reduction::new(
        "sum",
        named("sum"),
        |r: Records<T>| {
            let mut acc: Option<T> = None;
            r.for_each(|x| {
                acc = Some(match acc.take() {
                    None => x,
                    Some(a) => [a, x].into_iter().sum(),
                });
                Ok(())
            })?;
            Ok(acc.unwrap_or_else(|| std::iter::empty().sum()))
        },
        |parts: Vec<T>| Ok(parts.into_iter().sum()),
    );
    (r.described(Some(Agg::Sum)), item_finish(Ok))
}

/// `min` (`want = Less`) or `max` as a reduction and its finish.
pub(crate) fn extreme_parts<T: Record + PartialOrd>(
    what: &'static str,
    want: std::cmp::Ordering,
) -> Planned<T, Option<T>> {
    let r = Reduction::new(
        what,
        named(what),
        move |r: Records<T>| extreme(r, want),
        move |parts: Vec<Option<T>>| Ok(parts.into_iter().fold(None, |a, b| pick(a, b, want))),
    );
    let agg = if want == std::cmp::Ordering::Less {
        Agg::Min
    } else {
        Agg::Max
    };
    let finish = item_finish(move |r: Option<T>| r.ok_or_else(|| Error::Empty { what }.into()));
    (r.described(Some(agg)), finish)
}

/// `mean`, `var` or `std` (`what`) with `ddof` as a reduction and its finish.
pub(crate) fn moments_parts<T: Numeric>(what: Moment, ddof: f64) -> Planned<T, Moments> {
    let name = what.name();
    let mut t = named(name);
    t.add(&ddof);
    let r = Reduction::new(name, t, moments, |parts: Vec<Moments>| {
        Ok(merge_moments(parts))
    });
    let finish = item_finish(move |(n, mean, m2): Moments| -> Result<f64, OpError> {
        let dof = n as f64 - ddof;
        Ok(match what {
            Moment::Mean if n == 0 => return Err(Error::Empty { what: "mean" }.into()),
            Moment::Mean => mean,
            _ if dof <= 0.0 => f64::NAN,
            Moment::Var => m2 / dof,
            Moment::Std => (m2 / dof).sqrt(),
        })
    });
    (r.described(Some(Agg::Moments { what, ddof })), finish)
}

/// Which statistic of the moments a reduction finishes with.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) enum Moment {
    Mean,
    Var,
    Std,
}

impl Moment {
    fn name(self) -> &'static str {
        match self {
            Moment::Mean => "mean",
            Moment::Var => "var",
            Moment::Std => "std",
        }
    }
}

impl<T: Record + PartialOrd> Bag<T> {
    /// The smallest record; the first of equal ones; NaN-like values (not
    /// comparable with themselves) are skipped. Fails on an empty bag.
    pub fn min(&self) -> Item<T> {
        self.extreme("min", std::cmp::Ordering::Less)
    }

    /// The largest record; see [`min`](Bag::min).
    pub fn max(&self) -> Item<T> {
        self.extreme("max", std::cmp::Ordering::Greater)
    }

    fn extreme(&self, what: &'static str, want: std::cmp::Ordering) -> Item<T> {
        let (r, finish) = extreme_parts::<T>(what, want);
        r.into_item_with(self, finish)
    }
}

impl<T: Numeric> Bag<T> {
    /// The arithmetic mean. Fails on an empty bag (`mean of an empty bag`),
    /// as Dask's `Bag.mean` does (it divides by a zero count).
    pub fn mean(&self) -> Item<f64> {
        let (r, finish) = moments_parts::<T>(Moment::Mean, 0.0);
        r.into_item_with(self, finish)
    }

    /// The variance with `ddof` delta degrees of freedom (0: population, 1:
    /// sample; a float as in NumPy and for arrays); NaN when there are no
    /// more records than `ddof`.
    pub fn var(&self, ddof: f64) -> Item<f64> {
        let (r, finish) = moments_parts::<T>(Moment::Var, ddof);
        r.into_item_with(self, finish)
    }

    /// The standard deviation: the square root of [`var`](Bag::var).
    pub fn std(&self, ddof: f64) -> Item<f64> {
        let (r, finish) = moments_parts::<T>(Moment::Std, ddof);
        r.into_item_with(self, finish)
    }
}
