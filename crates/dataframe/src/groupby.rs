//! `group_by(keys).agg([...])` as an exact tree reduction.
//!
//! 1. Chunk: each partition's steps end with a partial aggregate — one row
//!    per group holding, per aggregation, what combines exactly: a sum, a
//!    count, a min, a first value, `(n, sum, M2)` moments for var/std, the
//!    distinct values (as a list) for `n_unique`. It is a polars lazy plan
//!    fused into the partition's task.
//! 2. Combine: the tree layer concatenates groups of partials (in partition
//!    order, so `first`/`last` keep their meaning) and aggregates them
//!    again per group.
//! 3. Finish: the last combine, then the answers: mean = sum / count,
//!    var = M2 / (n − ddof) with M2 merged by Chan's formula
//!    (M2 = Σ M2ᵢ + Σ nᵢ (meanᵢ − mean)²), n_unique = the number of
//!    distinct values; cast to the types polars gives for the same
//!    aggregation of the whole frame, sorted by the keys (nulls last).
//!
//! Null keys form their own group, as in polars.
//!
//! With [`split_out(n)`](GroupBy::split_out), `n` > 1, steps 2 and 3 run
//! after a hash shuffle of the partials by key (the `shuffle` module)
//! instead of a tree: each of the `n` output partitions combines and
//! finishes the partials of its keys, so no task holds all groups.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use oxidask_graph::{
    DataOp, OpError, Tokenizer, TreeLayer, Value, register_data_op, split_factors,
};
use polars::prelude::{
    self as pl, AggExpr, DataType, Expr, IntoLazy, LazyFrame, SchemaRef, SortMultipleOptions,
};
use serde::{Deserialize, Serialize};

use crate::codec::{frame_arg, frame_value};
use crate::error::{Error, Result};
use crate::frame::{DataFrame, concat};
use crate::hashagg::{self, Partial, Reduce};
use crate::keys::hashable;
use crate::plan::{Step, expr_columns};
use crate::shuffle::{After, SplitBy, shuffle};

/// Partials merged per combine task (Dask's `split_every` for groupby).
pub const SPLIT_EVERY: usize = 8;

/// An aggregation that combines exactly from per-partition partials.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
enum Kind {
    Sum,
    Mean,
    Count { include_nulls: bool },
    Len,
    Min,
    Max,
    First,
    Last,
    NUnique,
    Var(u8),
    Std(u8),
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct AggItem {
    kind: Kind,
    input: Option<Expr>,
    /// The output column's name and type, as polars gives them for the
    /// same aggregation over the whole frame.
    name: String,
    dtype: DataType,
}

/// What a `group_by(..).agg(..)` computes: keys, aggregations, and the
/// output schema.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct AggSpec {
    keys: Vec<String>,
    items: Vec<AggItem>,
    schema: SchemaRef,
}

fn unsupported(e: &Expr, message: &str) -> Error {
    Error::UnsupportedAgg {
        expr: format!("{e}"),
        message: format!(
            "{message}; supported: sum, mean, count, len, min, max, first, last, n_unique, \
             var, std of any expression, optionally aliased"
        ),
    }
}

fn parse(e: &Expr) -> Result<(Kind, Option<Expr>)> {
    let inner = match e {
        Expr::Alias(inner, _) => inner.as_ref(),
        other => other,
    };
    let one = |x: &Arc<Expr>| Some(x.as_ref().clone());
    Ok(match inner {
        Expr::Len => (Kind::Len, None),
        Expr::Agg(a) => match a {
            AggExpr::Sum(x) => (Kind::Sum, one(x)),
            AggExpr::Mean(x) => (Kind::Mean, one(x)),
            AggExpr::Count {
                input,
                include_nulls,
            } => (
                Kind::Count {
                    include_nulls: *include_nulls,
                },
                one(input),
            ),
            AggExpr::Min { input, .. } => (Kind::Min, one(input)),
            AggExpr::Max { input, .. } => (Kind::Max, one(input)),
            AggExpr::First(x) => (Kind::First, one(x)),
            AggExpr::Last(x) => (Kind::Last, one(x)),
            AggExpr::NUnique(x) => (Kind::NUnique, one(x)),
            AggExpr::Var(x, ddof) => (Kind::Var(*ddof), one(x)),
            AggExpr::Std(x, ddof) => (Kind::Std(*ddof), one(x)),
            _ => return Err(unsupported(e, "not an aggregation that combines exactly")),
        },
        _ => return Err(unsupported(e, "not a single aggregation")),
    })
}

fn p(i: usize, what: &str) -> String {
    format!("__oxidask_p{i}_{what}")
}

fn c(i: usize, what: &str) -> Expr {
    pl::col(p(i, what).as_str())
}

fn f64_of(x: &Expr) -> Expr {
    x.clone().cast(DataType::Float64)
}

/// How item `i`'s partials are computed.
enum PartialPlan {
    /// Plain reductions of its input (sum, mean as sum and count, count,
    /// len, min, max): by hashing when every item's are.
    Reduce(Vec<Partial>),
    /// polars aggregations of a lazy `group_by` (first, last, n_unique,
    /// var, std).
    Lazy(Vec<Expr>),
}

fn partial_plan(i: usize, it: &AggItem) -> PartialPlan {
    let x = it.input.clone();
    let one = |input, reduce, what| Partial {
        input,
        reduce,
        name: p(i, what),
    };
    let lit_or = |x: Option<Expr>| x.unwrap_or_else(|| pl::lit(1));
    match it.kind {
        Kind::Sum => PartialPlan::Reduce(vec![one(x, Reduce::Sum, "s")]),
        Kind::Mean => PartialPlan::Reduce(vec![
            one(x.as_ref().map(f64_of), Reduce::Sum, "s"),
            one(x, Reduce::Count(false), "n"),
        ]),
        Kind::Count { include_nulls } => {
            PartialPlan::Reduce(vec![one(x, Reduce::Count(include_nulls), "n")])
        }
        Kind::Len => PartialPlan::Reduce(vec![one(None, Reduce::Count(true), "n")]),
        Kind::Min => PartialPlan::Reduce(vec![one(x, Reduce::Min, "v")]),
        Kind::Max => PartialPlan::Reduce(vec![one(x, Reduce::Max, "v")]),
        Kind::First => PartialPlan::Lazy(vec![lit_or(x).first().alias(p(i, "v"))]),
        Kind::Last => PartialPlan::Lazy(vec![lit_or(x).last().alias(p(i, "v"))]),
        Kind::NUnique => PartialPlan::Lazy(vec![lit_or(x).unique().alias(p(i, "u"))]),
        Kind::Var(_) | Kind::Std(_) => {
            let xf = f64_of(&lit_or(x));
            let dev = xf.clone() - xf.clone().mean();
            PartialPlan::Lazy(vec![
                xf.clone().count().alias(p(i, "n")),
                xf.sum().alias(p(i, "s")),
                (dev.clone() * dev).sum().alias(p(i, "m2")),
            ])
        }
    }
}

impl AggSpec {
    /// The columns the partial aggregate reads; `None` for all.
    pub(crate) fn columns(&self) -> Option<BTreeSet<String>> {
        let mut out: BTreeSet<String> = self.keys.iter().cloned().collect();
        for it in &self.items {
            if let Some(x) = &it.input {
                out.extend(expr_columns(x)?);
            }
        }
        Some(out)
    }

    fn key_exprs(&self) -> Vec<Expr> {
        self.keys.iter().map(|k| pl::col(k.as_str())).collect()
    }

    /// Step 1: one row of partials per group of one partition — by
    /// hashing ([`hashagg`]) when every aggregation's partials are plain
    /// reductions, by polars' lazy `group_by` otherwise.
    pub(crate) fn partial(&self, lf: LazyFrame) -> pl::PolarsResult<LazyFrame> {
        let plans: Vec<PartialPlan> = self
            .items
            .iter()
            .enumerate()
            .map(|(i, it)| partial_plan(i, it))
            .collect();
        if plans.iter().all(|p| matches!(p, PartialPlan::Reduce(_))) {
            let partials: Vec<Partial> = plans
                .into_iter()
                .flat_map(|p| match p {
                    PartialPlan::Reduce(v) => v,
                    PartialPlan::Lazy(_) => Vec::new(),
                })
                .collect();
            return Ok(hashagg::partial(lf, &self.keys, &partials)?.lazy());
        }
        let aggs: Vec<Expr> = plans
            .into_iter()
            .flat_map(|p| match p {
                PartialPlan::Reduce(v) => v.iter().map(Partial::lazy).collect(),
                PartialPlan::Lazy(e) => e,
            })
            .collect();
        Ok(lf.group_by(self.key_exprs()).agg(aggs))
    }

    /// Step 2: partials of several partitions (concatenated in order)
    /// merged per group; with `last`, distinct values are counted instead
    /// of kept.
    fn combine(&self, lf: LazyFrame, last: bool) -> Result<LazyFrame, pl::PolarsError> {
        let keys = self.key_exprs();
        let mut pre = Vec::new();
        let mut aggs = Vec::new();
        for (i, it) in self.items.iter().enumerate() {
            match it.kind {
                Kind::Sum => aggs.push(c(i, "s").sum()),
                Kind::Mean => {
                    aggs.push(c(i, "s").sum());
                    aggs.push(c(i, "n").sum());
                }
                Kind::Count { .. } | Kind::Len => aggs.push(c(i, "n").sum()),
                Kind::Min => aggs.push(c(i, "v").min()),
                Kind::Max => aggs.push(c(i, "v").max()),
                Kind::First => aggs.push(c(i, "v").first()),
                Kind::Last => aggs.push(c(i, "v").last()),
                Kind::NUnique => {
                    let all = c(i, "u").explode(pl::ExplodeOptions {
                        empty_as_null: false,
                        keep_nulls: true,
                    });
                    aggs.push(if last {
                        all.n_unique().alias(p(i, "u"))
                    } else {
                        all.unique().alias(p(i, "u"))
                    });
                }
                Kind::Var(_) | Kind::Std(_) => {
                    // The group's mean over all the partials, beside each.
                    let mean = c(i, "s").sum().over(&keys)? / c(i, "n").sum().over(&keys)?;
                    pre.push(mean.alias(p(i, "mean")));
                    let between = pl::when(c(i, "n").gt(pl::lit(0)))
                        .then({
                            let d = c(i, "s") / c(i, "n") - c(i, "mean");
                            c(i, "n").cast(DataType::Float64) * d.clone() * d
                        })
                        .otherwise(pl::lit(0.0));
                    aggs.push(c(i, "n").sum());
                    aggs.push(c(i, "s").sum());
                    aggs.push((c(i, "m2") + between).sum().alias(p(i, "m2")));
                }
            }
        }
        let lf = if pre.is_empty() {
            lf
        } else {
            lf.with_columns(pre)
        };
        Ok(lf.group_by(keys).agg(aggs))
    }

    /// Steps 2 and 3 over partials of one frame: the answers, sorted by
    /// the keys (a shuffle's output partition under `split_out`).
    pub(crate) fn combine_finish(&self, df: pl::DataFrame) -> pl::PolarsResult<pl::DataFrame> {
        self.finish(self.combine(df.lazy(), true)?).collect()
    }

    /// Step 3: the answers from the merged partials.
    fn finish(&self, lf: LazyFrame) -> LazyFrame {
        let mut out = self.key_exprs();
        for (i, it) in self.items.iter().enumerate() {
            let e = match it.kind {
                Kind::Sum => c(i, "s"),
                Kind::Mean => pl::when(c(i, "n").gt(pl::lit(0)))
                    .then(c(i, "s") / c(i, "n"))
                    .otherwise(pl::lit(pl::NULL)),
                Kind::Count { .. } | Kind::Len => c(i, "n"),
                Kind::Min | Kind::Max | Kind::First | Kind::Last => c(i, "v"),
                Kind::NUnique => c(i, "u"),
                Kind::Var(ddof) | Kind::Std(ddof) => {
                    let var = pl::when(c(i, "n").gt(pl::lit(ddof as u32)))
                        .then(
                            c(i, "m2") / (c(i, "n").cast(DataType::Float64) - pl::lit(ddof as f64)),
                        )
                        .otherwise(pl::lit(pl::NULL));
                    if matches!(it.kind, Kind::Std(_)) {
                        var.sqrt()
                    } else {
                        var
                    }
                }
            };
            out.push(e.strict_cast(it.dtype.clone()).alias(it.name.as_str()));
        }
        lf.select(out).sort(
            self.keys.clone(),
            SortMultipleOptions::default().with_nulls_last(true),
        )
    }
}

/// Merges a group of partials; the tree's combine and finish tasks.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct GroupByCombine {
    spec: Arc<AggSpec>,
    finish: bool,
}

impl DataOp for GroupByCombine {
    const NAME: &'static str = "oxidask.dataframe.groupby-combine";

    fn run(&self, args: Vec<Value>) -> Result<Value, OpError> {
        let parts = args
            .into_iter()
            .map(frame_arg)
            .collect::<Result<Vec<_>, OpError>>()?;
        let mut schema: Option<SchemaRef> = None;
        if let Some(first) = parts.first() {
            schema = Some(first.schema().clone());
        }
        let schema = schema.ok_or("groupby combine: no partials")?;
        let df = concat(parts, &schema).map_err(|e| e.to_string())?;
        let lf = self
            .spec
            .combine(df.lazy(), self.finish)
            .map_err(|e| e.to_string())?;
        let lf = if self.finish {
            self.spec.finish(lf)
        } else {
            lf
        };
        Ok(frame_value(
            lf.collect().map_err(|e| format!("groupby: {e}"))?,
        ))
    }

    fn label(&self) -> &str {
        if self.finish {
            "groupby-finish"
        } else {
            "groupby-combine"
        }
    }
}

register_data_op!(GroupByCombine);

/// A frame grouped by key columns; [`agg`](GroupBy::agg) computes
/// aggregations per group. Made by [`DataFrame::group_by`].
#[derive(Clone, Debug)]
pub struct GroupBy {
    df: DataFrame,
    keys: Vec<String>,
    split_every: usize,
    split_out: usize,
    shuffle_dir: Option<PathBuf>,
}

impl DataFrame {
    /// Groups rows by the values of these columns (null is a group of its
    /// own, as in polars); aggregate with [`GroupBy::agg`].
    pub fn group_by<S: AsRef<str>>(&self, keys: impl IntoIterator<Item = S>) -> GroupBy {
        GroupBy {
            df: self.clone(),
            keys: keys.into_iter().map(|k| k.as_ref().to_string()).collect(),
            split_every: SPLIT_EVERY,
            split_out: 1,
            shuffle_dir: None,
        }
    }
}

impl GroupBy {
    /// How many partials one combine task merges (default
    /// [`SPLIT_EVERY`], at least 2).
    pub fn split_every(mut self, n: usize) -> GroupBy {
        self.split_every = n.max(2);
        self
    }

    /// The number of output partitions (Dask's `split_out`): with `n` > 1
    /// the partials of every partition are hash-shuffled through disk by
    /// key into `n` partitions and combined there, so no partition holds
    /// all groups — for very many groups. Each output partition is sorted
    /// by the keys (nulls last); the partitions are not in key order (a
    /// key's partition is a hash of it). 1, the default, is the tree
    /// reduction into one partition.
    pub fn split_out(mut self, n: usize) -> GroupBy {
        self.split_out = n.max(1);
        self
    }

    /// Where a `split_out` shuffle writes its files (a fresh directory
    /// under `dir`, removed when the computation ends); by default the
    /// spill directory configured when `agg` is called, else the system
    /// temp dir.
    pub fn shuffle_dir(mut self, dir: impl Into<PathBuf>) -> GroupBy {
        self.shuffle_dir = Some(dir.into());
        self
    }

    /// The aggregations, as polars expressions (`col("x").mean()`,
    /// `len()`, `col("y").n_unique().alias("k")`, …), computed exactly per
    /// group by a tree reduction over the partitions. The result is a
    /// frame of one partition: the keys then one column per aggregation,
    /// sorted by the keys with nulls last, with the names and types polars
    /// gives for the same aggregation of the whole frame.
    pub fn agg<E: AsRef<[Expr]>>(&self, aggs: E) -> Result<DataFrame> {
        let aggs = aggs.as_ref();
        let df = &self.df;
        if self.keys.is_empty() {
            return Err(Error::Argument {
                argument: "keys",
                message: "group_by needs at least one key column".into(),
            });
        }
        for k in &self.keys {
            if df.schema.get(k.as_str()).is_none() {
                return Err(Error::UnknownColumn {
                    op: "group_by",
                    column: k.clone(),
                    columns: df.columns(),
                });
            }
        }
        for e in aggs {
            if let Some(cols) = expr_columns(e) {
                for col in cols {
                    if df.schema.get(col.as_str()).is_none() {
                        return Err(Error::UnknownColumn {
                            op: "agg",
                            column: col,
                            columns: df.columns(),
                        });
                    }
                }
            }
        }
        // What polars gives for the whole frame: the names and types to match.
        let keys: Vec<Expr> = self.keys.iter().map(|k| pl::col(k.as_str())).collect();
        let oracle = pl::DataFrame::empty_with_schema(&df.schema)
            .lazy()
            .group_by(keys)
            .agg(aggs)
            .collect()
            .map_err(|e| Error::Plan {
                op: "agg",
                message: e.to_string(),
                columns: df.columns(),
            })?;
        let schema = oracle.schema().clone();
        let mut items = Vec::with_capacity(aggs.len());
        for (e, (name, dtype)) in aggs.iter().zip(schema.iter().skip(self.keys.len())) {
            let (kind, input) = parse(e)?;
            items.push(AggItem {
                kind,
                input,
                name: name.to_string(),
                dtype: dtype.clone(),
            });
        }
        let spec = Arc::new(AggSpec {
            keys: self.keys.clone(),
            items,
            schema: schema.clone(),
        });
        let chunks = df.then("group_by", Step::PartialAgg(spec.clone()))?;
        if self.split_out > 1 {
            return self.shuffled(&chunks, spec);
        }
        let (graph, chunk_name) = chunks.stored_layer();
        let name: Arc<str> = Arc::from(format!(
            "groupby-agg-{}",
            &chunk_name[chunk_name.len().saturating_sub(16)..]
        ));
        let n = df.npartitions;
        let tree = TreeLayer::new(
            name.clone(),
            chunk_name,
            vec![n],
            split_factors(&[n], &[0], self.split_every),
            true,
            false,
            Arc::new(GroupByCombine {
                spec: spec.clone(),
                finish: false,
            }),
            Arc::new(GroupByCombine { spec, finish: true }),
        )?;
        Ok(DataFrame::stored(
            graph.with_layer(Arc::new(tree)),
            name,
            1,
            schema,
        ))
    }
}

impl GroupBy {
    /// `split_out` > 1: the partials hash-shuffled by key, combined and
    /// finished per output partition.
    fn shuffled(&self, chunks: &DataFrame, spec: Arc<AggSpec>) -> Result<DataFrame> {
        for k in &self.keys {
            let dtype = chunks.schema.get(k.as_str()).unwrap_or(&DataType::Null);
            if !hashable(dtype) {
                return Err(Error::Argument {
                    argument: "split_out",
                    message: format!(
                        "the key column {k:?} is of type {dtype}; a shuffled group_by needs \
                         integer, float, string or boolean keys"
                    ),
                });
            }
        }
        let m = u32::try_from(self.split_out).map_err(|_| Error::Argument {
            argument: "split_out",
            message: format!("{} output partitions is too many", self.split_out),
        })?;
        let mut t = Tokenizer::new();
        t.add(&*chunks.name).add(&m);
        let name: Arc<str> = Arc::from(format!("groupby-shuffle-{}", t.finish_hex()));
        let schema = spec.schema.clone();
        Ok(shuffle(
            name,
            &[chunks],
            SplitBy::Hash(vec![self.keys.clone()]),
            m,
            After::Agg(spec),
            schema,
            self.shuffle_dir.clone(),
        ))
    }
}
