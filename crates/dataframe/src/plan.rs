//! A partition's work as data: where its rows come from ([`Source`]) and
//! the polars steps applied to them ([`Step`]), run by one registered op,
//! [`PartitionOp`].
//!
//! Every per-partition operation of a [`DataFrame`](crate::DataFrame)
//! (`select`, `filter`, `with_columns`, …, and the partial aggregate of a
//! `group_by`) appends a step instead of adding a graph layer, so a chain
//! of them runs as one task per partition: the steps become one polars
//! lazy plan over the partition, optimized by polars as a whole. The steps
//! hold polars [`Expr`]s, which serialize through polars' `serde-lazy`
//! feature, so the op travels with its graph to another process.
//!
//! Before reading, [`needed_columns`] walks the steps backwards to find
//! the columns they can touch; a CSV source parses only those (projection
//! pushdown to the reader). Steps that could touch every column (a
//! wildcard, `drop_nulls()` without a subset) read everything.

use std::collections::BTreeSet;
use std::sync::Arc;

use oxidask_graph::{DataOp, OpError, Value, register_data_op};
use polars::prelude::{self as pl, Expr, IntoLazy, LazyFrame};
use serde::{Deserialize, Serialize};

use crate::codec::{frame_arg, frame_value};
use crate::csv::CsvSource;
use crate::groupby::AggSpec;
use crate::parquet::ParquetSource;

/// One per-partition step, applied to the partition as a polars lazy plan.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum Step {
    /// `LazyFrame::select`.
    Select(Vec<Expr>),
    /// `LazyFrame::with_columns`.
    WithColumns(Vec<Expr>),
    /// `LazyFrame::filter`.
    Filter(Expr),
    /// Drops these columns (checked against the schema when built; at run
    /// time a column the reader skipped is not an error).
    Drop(Vec<String>),
    /// Renames `old[i]` to `new[i]`.
    Rename(Vec<String>, Vec<String>),
    /// Drops rows with a null in any of these columns (all when `None`).
    DropNulls(Option<Vec<String>>),
    /// Fills nulls with the value of this expression.
    FillNull(Expr),
    /// Keeps at most this many rows from the top.
    Head(u32),
    /// The partial aggregate of a group_by: one row per group.
    PartialAgg(Arc<AggSpec>),
    /// Keeps at most this many rows from the bottom.
    Tail(u32),
    /// A user function of whole partitions (`map_partitions`).
    MapPartitions(PartitionFn),
}

/// The function of a `map_partitions` step: data when it is a
/// `#[oxidask::remote]` function (it encodes as its registered name and
/// decodes, in another process of the program, to the same function); a
/// closure runs here but cannot be written to bytes.
#[derive(Clone)]
pub(crate) struct PartitionFn {
    pub(crate) name: Option<&'static str>,
    pub(crate) f: Arc<dyn Fn(pl::DataFrame) -> pl::PolarsResult<pl::DataFrame> + Send + Sync>,
}

/// The signature a registered function must have to map partitions.
pub(crate) type PartitionFnPtr = fn(pl::DataFrame) -> pl::PolarsResult<pl::DataFrame>;

impl std::fmt::Debug for PartitionFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.name.unwrap_or("<closure>"))
    }
}

impl Serialize for PartitionFn {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.name {
            Some(name) => s.serialize_str(name),
            None => Err(serde::ser::Error::custom(
                "map_partitions was given a closure, which cannot leave this process; \
                 give it a plain fn(DataFrame) -> PolarsResult<DataFrame> marked #[oxidask::remote]",
            )),
        }
    }
}

impl<'de> Deserialize<'de> for PartitionFn {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        let entry = oxidask_graph::remote::lookup(&name).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "map_partitions: no function {name} is registered in this program \
                 (mark it #[oxidask::remote]; a worker must run the same binary)"
            ))
        })?;
        let f = entry
            .per_record
            .as_ref()
            .and_then(|p| (p.pointer)().downcast::<PartitionFnPtr>().ok())
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "map_partitions: {name} is not a fn(DataFrame) -> PolarsResult<DataFrame>"
                ))
            })?;
        let f: PartitionFnPtr = *f;
        Ok(PartitionFn {
            name: Some(entry.name),
            f: Arc::new(f),
        })
    }
}

impl Step {
    /// Adds this step to a lazy plan (a `map_partitions` step runs the
    /// plan so far and starts a new one from the function's result).
    pub(crate) fn apply(&self, lf: LazyFrame) -> pl::PolarsResult<LazyFrame> {
        Ok(match self {
            Step::Select(e) => lf.select(e),
            Step::WithColumns(e) => lf.with_columns(e),
            Step::Filter(e) => lf.filter(e.clone()),
            Step::Drop(names) => {
                lf.drop(pl::by_name(names.iter().map(String::as_str), false, false))
            }
            Step::Rename(old, new) => lf.rename(old, new, false),
            Step::DropNulls(subset) => lf.drop_nulls(
                subset
                    .as_ref()
                    .map(|s| pl::by_name(s.iter().map(String::as_str), true, false)),
            ),
            Step::FillNull(e) => lf.fill_null(e.clone()),
            Step::Head(n) => lf.limit(*n as pl::IdxSize),
            Step::PartialAgg(spec) => spec.partial(lf)?,
            Step::Tail(n) => lf.tail(*n as pl::IdxSize),
            Step::MapPartitions(f) => (f.f)(lf.collect()?)?.lazy(),
        })
    }

    /// A short name for task labels.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            Step::Select(_) => "select",
            Step::WithColumns(_) => "with_columns",
            Step::Filter(_) => "filter",
            Step::Drop(_) => "drop",
            Step::Rename(..) => "rename",
            Step::DropNulls(_) => "drop_nulls",
            Step::FillNull(_) => "fill_null",
            Step::Head(_) => "head",
            Step::PartialAgg(_) => "groupby-chunk",
            Step::Tail(_) => "tail",
            Step::MapPartitions(_) => "map-partitions",
        }
    }
}

/// Columns an expression reads; `None` when it may read any (a wildcard or
/// another selector).
pub(crate) fn expr_columns(e: &Expr) -> Option<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    for node in e {
        match node {
            Expr::Column(name) => {
                out.insert(name.to_string());
            }
            Expr::Selector(_) => return None,
            _ => {}
        }
    }
    Some(out)
}

fn union(a: Option<BTreeSet<String>>, b: Option<BTreeSet<String>>) -> Option<BTreeSet<String>> {
    match (a, b) {
        (Some(mut a), Some(b)) => {
            a.extend(b);
            Some(a)
        }
        _ => None,
    }
}

fn exprs_columns(es: &[Expr]) -> Option<BTreeSet<String>> {
    es.iter()
        .map(expr_columns)
        .try_fold(BTreeSet::new(), |acc, c| union(Some(acc), c))
}

/// The source columns `steps` can read, walking backwards from "every
/// column of the result"; `None` for all of them.
pub(crate) fn needed_columns(steps: &[Step]) -> Option<BTreeSet<String>> {
    let mut needed: Option<BTreeSet<String>> = None;
    for step in steps.iter().rev() {
        needed = match step {
            Step::Select(e) => exprs_columns(e),
            // A superset: a column the step overwrites is still read.
            Step::WithColumns(e) => union(needed, exprs_columns(e)),
            Step::Filter(e) | Step::FillNull(e) => union(needed, expr_columns(e)),
            Step::Drop(_) | Step::Head(_) => needed,
            Step::Rename(old, new) => needed.map(|cols| {
                cols.into_iter()
                    .map(|c| match new.iter().position(|n| *n == c) {
                        Some(i) => old[i].clone(),
                        None => c,
                    })
                    .collect()
            }),
            Step::DropNulls(Some(subset)) => union(needed, Some(subset.iter().cloned().collect())),
            Step::DropNulls(None) => None,
            Step::PartialAgg(spec) => spec.columns(),
            Step::Tail(_) => needed,
            Step::MapPartitions(_) => None,
        };
    }
    needed
}

/// Where partition `i`'s rows come from.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum Source {
    /// A stored frame: the task's first argument.
    Stored,
    /// Block `i` of CSV files.
    Csv(Arc<CsvSource>),
    /// Row group `i` of Parquet files.
    Parquet(Arc<ParquetSource>),
}

/// The indices of `schema`'s columns a read of `columns` (all when
/// `None`) gives, in schema order; `None` for all. A read naming no column
/// of the source (only `len()`, say) still reads the first, to count the
/// rows.
pub(crate) fn read_indices(
    schema: &pl::Schema,
    columns: Option<&BTreeSet<String>>,
) -> Option<Vec<usize>> {
    columns.map(|cols| {
        let mut idx: Vec<usize> = cols.iter().filter_map(|c| schema.index_of(c)).collect();
        if idx.is_empty() && !schema.is_empty() {
            idx.push(0);
        }
        idx.sort_unstable();
        idx
    })
}

/// The names of the columns [`read_indices`] gives.
pub(crate) fn read_names(
    schema: &pl::Schema,
    columns: Option<&BTreeSet<String>>,
) -> Option<Vec<String>> {
    read_indices(schema, columns).map(|idx| {
        idx.iter()
            .filter_map(|&i| schema.get_at_index(i))
            .map(|(n, _)| n.to_string())
            .collect()
    })
}

impl Source {
    /// What identifies this source's reads (its kind and token), for
    /// sharing them; `None` for stored partitions.
    pub(crate) fn read_token(&self) -> Option<(&'static str, Arc<str>)> {
        match self {
            Source::Csv(src) => Some(("csv", src.token())),
            Source::Parquet(src) => Some(("parquet", src.token())),
            Source::Stored => None,
        }
    }

    /// The columns a read of `columns` gives from this source; `None` for
    /// all (and for stored partitions, which are not read).
    pub(crate) fn read_names(&self, columns: Option<&BTreeSet<String>>) -> Option<Vec<String>> {
        match self {
            Source::Csv(src) => read_names(src.schema(), columns),
            Source::Parquet(src) => read_names(src.schema(), columns),
            Source::Stored => None,
        }
    }

    /// The name of reading from this source, for keys and task labels.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            Source::Stored => "frame",
            Source::Csv(_) => "read-csv",
            Source::Parquet(_) => "read-parquet",
        }
    }
}

/// The op of a frame partition: read the source, run the steps as one
/// polars lazy plan. Arguments: the stored frame (for [`Source::Stored`])
/// then the partition number.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct PartitionOp {
    pub(crate) source: Source,
    pub(crate) steps: Vec<Step>,
    /// For a Parquet read several frames share (`crate::share`): their
    /// steps, so a row group is skipped only when every one's filters
    /// rule it out. `None`: this op's own steps decide.
    #[serde(default)]
    pub(crate) prune_for: Option<Vec<Vec<Step>>>,
    #[serde(skip)]
    label: String,
}

impl PartitionOp {
    pub(crate) fn new(source: Source, steps: Vec<Step>) -> PartitionOp {
        let mut label = String::from(source.label());
        for s in &steps {
            label.push('+');
            label.push_str(s.label());
        }
        PartitionOp {
            source,
            steps,
            prune_for: None,
            label,
        }
    }

    /// Runs the op on partition `i` given the stored frame, if any.
    pub(crate) fn run_partition(
        &self,
        stored: Option<pl::DataFrame>,
        i: u32,
    ) -> Result<pl::DataFrame, OpError> {
        let df = match (&self.source, stored) {
            (Source::Stored, Some(df)) => df,
            (Source::Csv(src), None) => src.read_block(i, needed_columns(&self.steps).as_ref())?,
            (Source::Parquet(src), None) => {
                let prune: Vec<&[Step]> = match &self.prune_for {
                    Some(lists) => lists.iter().map(Vec::as_slice).collect(),
                    None => vec![&self.steps],
                };
                src.read_piece(i, needed_columns(&self.steps).as_ref(), &prune)?
            }
            _ => return Err("frame partition: wrong arguments for its source".into()),
        };
        if self.steps.is_empty() {
            return Ok(df);
        }
        self.steps
            .iter()
            .try_fold(df.lazy(), |lf, s| s.apply(lf))
            .and_then(|lf| lf.collect())
            .map_err(|e| format!("partition {i} ({}): {e}", self.label).into())
    }
}

impl DataOp for PartitionOp {
    const NAME: &'static str = "oxidask.dataframe.partition";

    fn run(&self, mut args: Vec<Value>) -> Result<Value, OpError> {
        let i = *args
            .pop()
            .ok_or("frame partition: no partition number")?
            .downcast_ref::<u32>()?;
        let stored = match args.pop() {
            Some(v) => Some(frame_arg(v)?),
            None => None,
        };
        Ok(frame_value(self.run_partition(stored, i)?))
    }

    fn label(&self) -> &str {
        if self.label.is_empty() {
            Self::NAME
        } else {
            &self.label
        }
    }

    /// For `crate::share`, which merges reads of the same CSV block.
    fn as_any(&self) -> Option<&(dyn std::any::Any + Send + Sync)> {
        Some(self)
    }
}

register_data_op!(PartitionOp);
