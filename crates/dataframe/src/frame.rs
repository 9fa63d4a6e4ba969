//! The `DataFrame` handle: a source (stored partitions or CSV blocks), the
//! polars steps every partition goes through, and the schema they give.
//!
//! # Invariants
//!
//! - Per-partition operations append a [`Step`] and add no graph layer:
//!   a chain of them is one task per partition (see the `plan` module).
//!   A layer is added where partitions must be stored: by `compute`,
//!   `head`, `len` and the chunk layer of a `group_by`.
//! - `schema` is the schema after the steps, found when each step is
//!   added by running it on an empty frame of the previous schema, so an
//!   unknown column or a type error is reported when the frame is built,
//!   not when it is computed.
//! - `name` is deterministic from the source and the steps' parameters
//!   (a frame from memory gets a fresh token, as a bag does).

use std::fmt;
use std::sync::Arc;

use oxidask_graph::{
    BlockArg, BlockLayer, HighLevelGraph, Key, MaterializedLayer, Task, TaskGraph, Tokenizer,
    Value, unique_token,
};
use oxidask_scheduler::ComputeOptions;
use polars::prelude::{self as pl, DataType, Expr, IntoLazy, SchemaRef};

use crate::codec::frame_value;
use crate::error::{Error, Result};
use crate::plan::{PartitionOp, Source, Step, expr_columns};

/// A lazy DataFrame split into ordered partitions, each a polars
/// `DataFrame`, like `dask.dataframe`.
///
/// Build one with [`read_csv`](crate::read_csv) or
/// [`from_polars`](crate::from_polars); transform it with polars
/// expressions (`select`, `filter`, `with_columns`, …); aggregate it with
/// [`group_by`](DataFrame::group_by). Nothing runs until
/// [`compute`](DataFrame::compute), which hands the graph to the
/// configured scheduler. Cloning is cheap: the graph is shared.
#[derive(Clone)]
pub struct DataFrame {
    pub(crate) graph: HighLevelGraph,
    /// The layer whose block `i` is partition `i`'s stored frame (for a
    /// stored source).
    pub(crate) base: Option<Arc<str>>,
    pub(crate) npartitions: u32,
    pub(crate) source: Source,
    pub(crate) steps: Vec<Step>,
    pub(crate) schema: SchemaRef,
    pub(crate) name: Arc<str>,
    /// The partitions' key boundaries, when known (after a sort).
    pub(crate) divisions: Option<Arc<crate::sort::Divisions>>,
}

impl fmt::Debug for DataFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DataFrame({}, {} partitions, columns {:?})",
            self.name,
            self.npartitions,
            self.columns()
        )
    }
}

pub(crate) fn token_of(parent: &str, step: &impl serde::Serialize) -> String {
    let mut t = Tokenizer::new();
    t.add(parent);
    // Steps hold polars expressions; their encoding is their identity.
    match postcard::to_stdvec(step) {
        Ok(bytes) => t.write_bytes(&bytes),
        Err(_) => {
            t.add(&unique_token());
        }
    }
    t.finish_hex()
}

fn column_names(schema: &pl::Schema) -> Vec<String> {
    schema.iter_names().map(|s| s.to_string()).collect()
}

pub(crate) fn described_columns(schema: &pl::Schema) -> Vec<String> {
    schema.iter().map(|(n, t)| format!("{n}: {t}")).collect()
}

/// A frame of exactly these polars partitions, in order (empty ones are
/// kept). They must all have the first one's schema; an empty list is an
/// error, as there is no schema to take.
pub fn from_partitions(parts: Vec<pl::DataFrame>) -> Result<DataFrame> {
    let Some(first) = parts.first() else {
        return Err(Error::Argument {
            argument: "parts",
            message: "a frame needs at least one partition".into(),
        });
    };
    let schema = first.schema().clone();
    for (i, p) in parts.iter().enumerate() {
        if p.schema() != &schema {
            return Err(Error::Argument {
                argument: "parts",
                message: format!(
                    "partition {i} has columns {:?}, partition 0 has {:?}",
                    described_columns(p.schema()),
                    described_columns(&schema)
                ),
            });
        }
    }
    Ok(stored_partitions(parts, schema))
}

pub(crate) fn stored_partitions(parts: Vec<pl::DataFrame>, schema: SchemaRef) -> DataFrame {
    // Contents are not hashed (that would cost as much as the data): each
    // frame made from memory is a new computation.
    let name: Arc<str> = Arc::from(format!("from-polars-{}", unique_token()));
    let n = parts.len() as u32;
    let mut graph = TaskGraph::with_capacity(parts.len());
    for (i, p) in parts.into_iter().enumerate() {
        graph.insert(
            Key::with_index(name.clone(), &[i as u32]),
            Task::literal(frame_value(p)),
        );
    }
    let hlg = HighLevelGraph::from_layer(Arc::new(MaterializedLayer::new(name.clone(), graph)));
    DataFrame::stored(hlg, name, n, schema)
}

/// Splits a polars frame into `npartitions` partitions of near-equal row
/// counts (the first ones one row longer), like `dask.dataframe.from_pandas`.
///
/// ```
/// use oxidask_dataframe as dd;
/// use polars::prelude::*;
/// let df = df!("x" => [1i64, 2, 3, 4, 5])?;
/// let ddf = dd::from_polars(df.clone(), 2)?;
/// assert_eq!(ddf.npartitions(), 2);
/// assert!(ddf.compute()?.equals(&df));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn from_polars(df: pl::DataFrame, npartitions: usize) -> Result<DataFrame> {
    if npartitions == 0 {
        return Err(Error::Argument {
            argument: "npartitions",
            message: "a frame needs at least one partition".into(),
        });
    }
    let rows = df.height();
    let (base, extra) = (rows / npartitions, rows % npartitions);
    let mut offset = 0usize;
    let parts = (0..npartitions)
        .map(|p| {
            let len = base + usize::from(p < extra);
            let part = df.slice(offset as i64, len);
            offset += len;
            part
        })
        .collect();
    Ok(stored_partitions(parts, df.schema().clone()))
}

impl DataFrame {
    pub(crate) fn stored(
        graph: HighLevelGraph,
        base: Arc<str>,
        npartitions: u32,
        schema: SchemaRef,
    ) -> DataFrame {
        DataFrame {
            graph,
            name: base.clone(),
            base: Some(base),
            npartitions,
            source: Source::Stored,
            steps: Vec::new(),
            schema,
            divisions: None,
        }
    }

    pub(crate) fn from_source(source: Source, npartitions: u32, schema: SchemaRef) -> DataFrame {
        let name = format!("{}-{}", source.label(), token_of(source.label(), &source));
        DataFrame {
            graph: HighLevelGraph::new(),
            base: None,
            npartitions,
            source,
            steps: Vec::new(),
            schema,
            name: Arc::from(name),
            divisions: None,
        }
    }

    /// Number of partitions.
    pub fn npartitions(&self) -> usize {
        self.npartitions as usize
    }

    /// The schema of every partition (known without computing).
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The column names, in order.
    pub fn columns(&self) -> Vec<String> {
        column_names(&self.schema)
    }

    /// The name of this frame's partitions: once stored, key `(name, i)`
    /// is partition `i`.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn check_columns<'a>(
        &self,
        op: &'static str,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<()> {
        for c in names {
            if self.schema.get(c).is_none() {
                return Err(Error::UnknownColumn {
                    op,
                    column: c.to_string(),
                    columns: self.columns(),
                });
            }
        }
        Ok(())
    }

    fn check_exprs(&self, op: &'static str, exprs: &[Expr]) -> Result<()> {
        for e in exprs {
            if let Some(cols) = expr_columns(e) {
                self.check_columns(op, cols.iter().map(String::as_str))?;
            }
        }
        Ok(())
    }

    /// The schema after `step`, by running it on an empty frame: types are
    /// checked here, at build time.
    pub(crate) fn schema_after(&self, op: &'static str, step: &Step) -> Result<SchemaRef> {
        let empty = pl::DataFrame::empty_with_schema(&self.schema);
        let out = step
            .apply(empty.lazy())
            .and_then(|lf| lf.collect())
            .map_err(|e| Error::Plan {
                op,
                message: e.to_string(),
                columns: described_columns(&self.schema),
            })?;
        Ok(out.schema().clone())
    }

    /// This frame followed by one more per-partition step.
    pub(crate) fn then(&self, op: &'static str, step: Step) -> Result<DataFrame> {
        let schema = self.schema_after(op, &step)?;
        let mut steps = self.steps.clone();
        let name = format!("{}-{}", step.label(), token_of(&self.name, &step));
        // Steps that only drop rows keep the partitions' key ranges.
        let divisions = match step {
            Step::Filter(_) | Step::Head(_) | Step::DropNulls(_) => self.divisions.clone(),
            _ => None,
        };
        steps.push(step);
        Ok(DataFrame {
            graph: self.graph.clone(),
            base: self.base.clone(),
            npartitions: self.npartitions,
            source: self.source.clone(),
            steps,
            schema,
            name: Arc::from(name),
            divisions,
        })
    }

    /// Columns computed by polars expressions, as `LazyFrame::select`. A
    /// column not in the frame is an error listing the columns there are.
    pub fn select<E: AsRef<[Expr]>>(&self, exprs: E) -> Result<DataFrame> {
        let exprs = exprs.as_ref().to_vec();
        self.check_exprs("select", &exprs)?;
        self.then("select", Step::Select(exprs))
    }

    /// Adds or replaces columns, as `LazyFrame::with_columns`.
    pub fn with_columns<E: AsRef<[Expr]>>(&self, exprs: E) -> Result<DataFrame> {
        let exprs = exprs.as_ref().to_vec();
        self.check_exprs("with_columns", &exprs)?;
        self.then("with_columns", Step::WithColumns(exprs))
    }

    /// Keeps the rows where `predicate` is true, as `LazyFrame::filter`.
    pub fn filter(&self, predicate: Expr) -> Result<DataFrame> {
        self.check_exprs("filter", std::slice::from_ref(&predicate))?;
        self.then("filter", Step::Filter(predicate))
    }

    /// Drops these columns.
    pub fn drop<S: AsRef<str>>(&self, columns: impl IntoIterator<Item = S>) -> Result<DataFrame> {
        let cols: Vec<String> = columns
            .into_iter()
            .map(|s| s.as_ref().to_string())
            .collect();
        self.check_columns("drop", cols.iter().map(String::as_str))?;
        self.then("drop", Step::Drop(cols))
    }

    /// Renames column `old[i]` to `new[i]`.
    pub fn rename<S: AsRef<str>, T: AsRef<str>>(
        &self,
        old: impl IntoIterator<Item = S>,
        new: impl IntoIterator<Item = T>,
    ) -> Result<DataFrame> {
        let old: Vec<String> = old.into_iter().map(|s| s.as_ref().to_string()).collect();
        let new: Vec<String> = new.into_iter().map(|s| s.as_ref().to_string()).collect();
        if old.len() != new.len() {
            return Err(Error::Argument {
                argument: "new",
                message: format!("{} old names but {} new ones", old.len(), new.len()),
            });
        }
        self.check_columns("rename", old.iter().map(String::as_str))?;
        self.then("rename", Step::Rename(old, new))
    }

    /// Casts columns to new types (strictly: a value that does not convert
    /// is an error, not a null).
    pub fn cast<S: AsRef<str>>(
        &self,
        dtypes: impl IntoIterator<Item = (S, DataType)>,
    ) -> Result<DataFrame> {
        let mut exprs = Vec::new();
        for (name, dtype) in dtypes {
            self.check_columns("cast", [name.as_ref()])?;
            exprs.push(pl::col(name.as_ref()).strict_cast(dtype));
        }
        self.then("cast", Step::WithColumns(exprs))
    }

    /// Drops rows with a null in any of `subset`'s columns (any column when
    /// `None`), as `LazyFrame::drop_nulls`.
    pub fn drop_nulls<S: AsRef<str>>(&self, subset: Option<&[S]>) -> Result<DataFrame> {
        let subset: Option<Vec<String>> =
            subset.map(|s| s.iter().map(|c| c.as_ref().to_string()).collect());
        if let Some(s) = &subset {
            self.check_columns("drop_nulls", s.iter().map(String::as_str))?;
        }
        self.then("drop_nulls", Step::DropNulls(subset))
    }

    /// Replaces nulls with `value`, as `LazyFrame::fill_null`.
    pub fn fill_null(&self, value: Expr) -> Result<DataFrame> {
        self.check_exprs("fill_null", std::slice::from_ref(&value))?;
        self.then("fill_null", Step::FillNull(value))
    }

    /// The graph holding this frame's partitions as layer `name`, and that
    /// name: the source and steps become one op, one task per partition.
    pub(crate) fn stored_layer(&self) -> (HighLevelGraph, Arc<str>) {
        if let (Source::Stored, Some(base), true) =
            (&self.source, &self.base, self.steps.is_empty())
        {
            return (self.graph.clone(), base.clone());
        }
        let op = PartitionOp::new(self.source.clone(), self.steps.clone());
        let args = match (&self.source, &self.base) {
            (Source::Stored, Some(base)) => vec![BlockArg::block(base.clone()), BlockArg::Coord(0)],
            _ => vec![BlockArg::Coord(0)],
        };
        let layer = BlockLayer::blockwise(
            self.name.clone(),
            Arc::new(op),
            args,
            vec![self.npartitions],
        );
        (
            self.graph.clone().with_layer(Arc::new(layer)),
            self.name.clone(),
        )
    }

    /// The same frame with its partitions stored (computed once when used
    /// by several later steps), a new base for further steps.
    pub fn persist_layer(&self) -> DataFrame {
        let (graph, name) = self.stored_layer();
        DataFrame::stored(graph, name, self.npartitions, self.schema.clone())
    }

    /// The keys of the partitions once stored, in order.
    pub fn keys(&self) -> Vec<Key> {
        (0..self.npartitions)
            .map(|i| Key::with_index(self.name.clone(), &[i]))
            .collect()
    }

    pub(crate) fn compute_partitions(
        &self,
        indices: &[u32],
        options: &ComputeOptions,
    ) -> Result<Vec<pl::DataFrame>> {
        let (graph, name) = self.stored_layer();
        let keys: Vec<Key> = indices
            .iter()
            .map(|&i| Key::with_index(name.clone(), &[i]))
            .collect();
        crate::share::compute_layers(&graph, &keys, options)?
            .into_iter()
            .map(|v| Ok(v.take::<pl::DataFrame>()?))
            .collect()
    }

    /// Computes the whole frame into one polars `DataFrame`, partitions in
    /// order.
    pub fn compute(&self) -> Result<pl::DataFrame> {
        self.compute_with(&ComputeOptions::default())
    }

    /// [`compute`](DataFrame::compute) with options (scheduler, memory
    /// limit, …).
    pub fn compute_with(&self, options: &ComputeOptions) -> Result<pl::DataFrame> {
        let indices: Vec<u32> = (0..self.npartitions).collect();
        concat(self.compute_partitions(&indices, options)?, &self.schema)
    }

    /// The first `n` rows, computing only the partitions needed: the first,
    /// then the next ones while fewer than `n` rows have come.
    pub fn head(&self, n: usize) -> Result<pl::DataFrame> {
        let limited = self.then("head", Step::Head(n.min(u32::MAX as usize) as u32))?;
        let parts = limited.partitions_until(n, 0..self.npartitions)?;
        Ok(concat(parts, &self.schema)?.head(Some(n)))
    }

    /// Computes partitions in `order`, one at a time, until at least `n`
    /// rows have come (for `head` and `tail`); returned in that order.
    pub(crate) fn partitions_until(
        &self,
        n: usize,
        order: impl Iterator<Item = u32>,
    ) -> Result<Vec<pl::DataFrame>> {
        let mut parts = Vec::new();
        let mut rows = 0;
        for i in order {
            if rows >= n {
                break;
            }
            let p = self
                .compute_partitions(&[i], &ComputeOptions::default())?
                .pop()
                .expect("one partition asked for");
            rows += p.height();
            parts.push(p);
        }
        Ok(parts)
    }

    /// The number of rows. Reads one column of a CSV source, not all.
    pub fn len(&self) -> Result<usize> {
        let counts = self
            .then("len", Step::Select(vec![pl::len().alias("len")]))?
            .compute()?;
        let col = counts.column("len")?.as_materialized_series().clone();
        Ok(col
            .cast(&DataType::UInt64)?
            .u64()?
            .into_no_null_iter()
            .sum::<u64>() as usize)
    }

    /// Whether the frame has no rows (computes its length).
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }
}

/// Stacks partitions in order into one frame (the schema's empty frame
/// when there are none).
pub(crate) fn concat(parts: Vec<pl::DataFrame>, schema: &SchemaRef) -> Result<pl::DataFrame> {
    let mut it = parts.into_iter();
    let Some(mut out) = it.next() else {
        return Ok(pl::DataFrame::empty_with_schema(schema));
    };
    for p in it {
        out.vstack_mut_owned(p)?;
    }
    Ok(out)
}

/// A frame computes to one polars `DataFrame` in `compute(&(a, b, …))`
/// beside other collections, sharing the tasks they have in common.
impl oxidask_scheduler::Computable for DataFrame {
    type Output = pl::DataFrame;

    fn collect(
        &self,
        graph: &mut oxidask_graph::TaskGraph,
        keys: &mut Vec<Key>,
    ) -> oxidask_scheduler::Result<()> {
        let stored = self.persist_layer();
        let parts = stored.keys();
        graph.merge(stored.graph.cull(&parts)?.to_task_graph()?);
        // With the frames and other collections collected before this one:
        // reads of the same CSV blocks are shared.
        crate::share::share_reads(graph).map_err(oxidask_scheduler::Error::Internal)?;
        keys.extend(parts);
        Ok(())
    }

    fn finish(
        &self,
        values: &mut std::vec::IntoIter<Value>,
    ) -> oxidask_scheduler::Result<pl::DataFrame> {
        let mut parts = Vec::with_capacity(self.npartitions as usize);
        for _ in 0..self.npartitions {
            parts.push(oxidask_scheduler::next_value(values)?.take::<pl::DataFrame>()?);
        }
        Ok(concat(parts, &self.schema)?)
    }
}
