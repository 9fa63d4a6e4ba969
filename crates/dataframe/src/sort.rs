//! `sort` and `set_index`: a globally sorted frame through a range
//! shuffle, with its divisions recorded.
//!
//! 1. **Sample** (when the frame is built, as Dask's `set_index` computes
//!    its divisions then): one small task per partition reads only the
//!    first sort column, sorts its non-null values and keeps up to `s` of
//!    them evenly spaced (first and last included), each standing for
//!    `rows / s` rows.
//! 2. **Boundaries**: the weighted samples of all partitions, in order,
//!    are cut into `npartitions` parts of equal weight; repeats are dropped
//!    (a key with fewer distinct values than partitions gives fewer
//!    partitions).
//! 3. **Range shuffle** through disk: a row goes to the partition its first
//!    sort key falls in (nulls to the last one), so all rows of one key
//!    meet; each output partition is stacked in input order and sorted by
//!    polars by all sort columns, stably (equal keys keep their order in
//!    the frame).
//!
//! An ascending sort records the **divisions** on its first column: the
//! smallest key, the boundaries, the largest key — partition `j` holds the
//! keys in `[d_j, d_{j+1})` (the last also `d_m` and the nulls).

use std::path::PathBuf;
use std::sync::Arc;

use oxidask_graph::{
    BlockArg, BlockLayer, DataOp, Key, OpError, Tokenizer, Value, register_data_op,
};
use oxidask_scheduler::ComputeOptions;
use polars::prelude::{self as pl, AnyValue, DataType, IdxCa, IdxSize, NamedFrom, Series};
use serde::{Deserialize, Serialize};

use crate::codec::{frame_arg, frame_value};
use crate::error::{Error, Result};
use crate::frame::{DataFrame, concat};
use crate::keys::{SortValues, sortable};
use crate::shuffle::{After, SplitBy, shuffle};

/// The column of a sample's weights.
const WEIGHT: &str = "__oxidask_weight";

/// The sorted key boundaries of a frame's partitions.
#[derive(Clone, Debug)]
pub struct Divisions {
    column: String,
    values: Series,
}

impl Divisions {
    /// The column the frame is sorted by.
    pub fn column(&self) -> &str {
        &self.column
    }

    /// `npartitions + 1` values: partition `j` holds the keys in
    /// `[values[j], values[j + 1])`, the last one also `values[npartitions]`
    /// and the null keys.
    pub fn values(&self) -> Vec<AnyValue<'static>> {
        (0..self.values.len())
            .map(|i| {
                self.values
                    .get(i)
                    .map(AnyValue::into_static)
                    .unwrap_or(AnyValue::Null)
            })
            .collect()
    }

    /// The values as a polars series of the column's type.
    pub fn series(&self) -> &Series {
        &self.values
    }
}

/// How [`DataFrame::sort_with`] and [`DataFrame::set_index_with`] shuffle.
#[derive(Clone, Default)]
pub struct SortOptions {
    npartitions: Option<usize>,
    shuffle_dir: Option<PathBuf>,
    compute: Option<ComputeOptions>,
}

impl SortOptions {
    /// Defaults: as many partitions as the input has, shuffle files in the
    /// configured spill directory, the sample computed with the default
    /// compute options.
    pub fn new() -> SortOptions {
        SortOptions::default()
    }

    /// The number of output partitions wanted (at least 1; fewer when the
    /// key has fewer distinct values).
    pub fn npartitions(mut self, n: usize) -> SortOptions {
        self.npartitions = Some(n.max(1));
        self
    }

    /// Where the shuffle writes its files (a fresh directory under `dir`,
    /// removed when the computation ends).
    pub fn shuffle_dir(mut self, dir: impl Into<PathBuf>) -> SortOptions {
        self.shuffle_dir = Some(dir.into());
        self
    }

    /// How the sample of the keys is computed when the sort is built
    /// (scheduler, memory limit).
    pub fn compute_options(mut self, options: ComputeOptions) -> SortOptions {
        self.compute = Some(options);
        self
    }
}

/// A partition's sample of its sort key: up to `max` sorted non-null
/// values, evenly spaced, with the rows each stands for.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct SampleKey {
    key: String,
    max: u32,
}

impl DataOp for SampleKey {
    const NAME: &'static str = "oxidask.dataframe.sort-sample";

    fn run(&self, mut args: Vec<Value>) -> Result<Value, OpError> {
        let part = frame_arg(args.pop().ok_or("a sort sample takes a partition")?)?;
        let s = part
            .column(&self.key)
            .map_err(|e| e.to_string())?
            .as_materialized_series()
            .drop_nulls()
            .sort(pl::SortOptions::default().with_multithreaded(false))
            .map_err(|e| format!("sorting the sample of {:?}: {e}", self.key))?;
        let n = s.len();
        let k = n.min(self.max as usize);
        let idx: Vec<IdxSize> = match k {
            0 => Vec::new(),
            1 => vec![0],
            _ => (0..k)
                .map(|i| ((i * (n - 1)) as f64 / (k - 1) as f64).round() as IdxSize)
                .collect(),
        };
        let sample = s
            .take(&IdxCa::from_vec(pl::PlSmallStr::EMPTY, idx))
            .map_err(|e| e.to_string())?;
        let w = if k == 0 { 0.0 } else { n as f64 / k as f64 };
        let weights = Series::new(WEIGHT.into(), vec![w; k]);
        let df = pl::DataFrame::new(k, vec![sample.into(), weights.into()])
            .map_err(|e| e.to_string())?;
        Ok(frame_value(df))
    }

    fn label(&self) -> &str {
        "sort-sample"
    }
}

register_data_op!(SampleKey);

impl DataFrame {
    /// The frame sorted by these columns (all ascending, or all
    /// descending), nulls last, as polars' `sort` with
    /// `maintain_order`: sample the first column's quantiles, range-shuffle
    /// through disk, sort each partition. Computes the sample now (one
    /// small task per partition reading only that column). An ascending
    /// sort records its [`divisions`](DataFrame::divisions).
    pub fn sort<S: AsRef<str>>(
        &self,
        by: impl IntoIterator<Item = S>,
        descending: bool,
    ) -> Result<DataFrame> {
        self.sort_with(by, descending, &SortOptions::default())
    }

    /// [`sort`](DataFrame::sort) with options: output partitions, shuffle
    /// directory, how the sample is computed.
    pub fn sort_with<S: AsRef<str>>(
        &self,
        by: impl IntoIterator<Item = S>,
        descending: bool,
        options: &SortOptions,
    ) -> Result<DataFrame> {
        let by: Vec<String> = by.into_iter().map(|s| s.as_ref().to_string()).collect();
        let Some(key) = by.first().cloned() else {
            return Err(Error::Argument {
                argument: "by",
                message: "sort needs at least one column".into(),
            });
        };
        for c in &by {
            if self.schema.get(c.as_str()).is_none() {
                return Err(Error::UnknownColumn {
                    op: "sort",
                    column: c.clone(),
                    columns: self.columns(),
                });
            }
        }
        let dtype = self
            .schema
            .get(key.as_str())
            .cloned()
            .unwrap_or(DataType::Null);
        if !sortable(&dtype) {
            return Err(Error::Argument {
                argument: "by",
                message: format!(
                    "the first sort column {key:?} is of type {dtype}; it must be an \
                     integer, float, string or boolean (or a date or time)"
                ),
            });
        }
        let want = options
            .npartitions
            .unwrap_or(self.npartitions as usize)
            .max(1);
        let (values, weights) = self.sample(&key, want, options)?;
        let (bounds, ends) = match values.boundaries(&weights, want, descending) {
            Some((b, e)) => (b, Some(e)),
            None => (SortValues::of(&Series::new_empty("".into(), &dtype))?, None),
        };
        let m = bounds.len() as u32 + 1;
        let mut t = Tokenizer::new();
        t.add(&*self.name).add(&m).add(&descending);
        t.write_bytes(&postcard::to_stdvec(&(&by, &bounds)).unwrap_or_default());
        let name: Arc<str> = Arc::from(format!("sort-{}", t.finish_hex()));
        let divisions = match (ends, descending) {
            (Some(ends), false) => {
                let lo = ends.to_series(&key, &dtype)?;
                let mid = bounds.to_series(&key, &dtype)?;
                let hi = lo.slice(1, 1);
                let mut all = lo.slice(0, 1);
                all.append(&mid)?;
                all.append(&hi)?;
                Some(Arc::new(Divisions {
                    column: key.clone(),
                    values: all,
                }))
            }
            _ => None,
        };
        let mut out = shuffle(
            name,
            &[self],
            SplitBy::Range {
                key,
                bounds,
                descending,
            },
            m,
            After::Sort { by, descending },
            self.schema.clone(),
            options.shuffle_dir.clone(),
        );
        out.divisions = divisions;
        Ok(out)
    }

    /// The frame sorted by `column`, ascending, nulls last, with its
    /// divisions recorded — Dask's `set_index`, except that polars frames
    /// have no index: the column stays a column.
    pub fn set_index(&self, column: &str) -> Result<DataFrame> {
        self.sort_with([column], false, &SortOptions::default())
    }

    /// [`set_index`](DataFrame::set_index) with options.
    pub fn set_index_with(&self, column: &str, options: &SortOptions) -> Result<DataFrame> {
        self.sort_with([column], false, options)
    }

    /// The key boundaries of the partitions, when known: after an
    /// ascending `sort` or `set_index`, kept through `filter`, `head` and
    /// `drop_nulls`.
    pub fn divisions(&self) -> Option<&Divisions> {
        self.divisions.as_deref()
    }

    /// Every partition's weighted sample of `key`, stacked.
    fn sample(
        &self,
        key: &str,
        want: usize,
        options: &SortOptions,
    ) -> Result<(SortValues, Vec<f64>)> {
        // Enough samples for `want` parts, but at most about a million in all.
        let per = (20 * want).clamp(64, 1 << 16);
        let per = per
            .min((1usize << 20) / self.npartitions.max(1) as usize)
            .max(16);
        let keys = self.select([pl::col(key)])?;
        let (graph, layer) = keys.stored_layer();
        let mut t = Tokenizer::new();
        t.add(&*keys.name).add(&per);
        let name: Arc<str> = Arc::from(format!("sort-sample-{}", t.finish_hex()));
        let op = SampleKey {
            key: key.to_string(),
            max: per as u32,
        };
        let graph = graph.with_layer(Arc::new(BlockLayer::blockwise(
            name.clone(),
            Arc::new(op),
            vec![BlockArg::block(layer)],
            vec![keys.npartitions],
        )));
        let outs: Vec<Key> = (0..keys.npartitions)
            .map(|i| Key::with_index(name.clone(), &[i]))
            .collect();
        let compute = options.compute.clone().unwrap_or_default();
        let parts = crate::share::compute_layers(&graph, &outs, &compute)?
            .into_iter()
            .map(|v| Ok(v.take::<pl::DataFrame>()?))
            .collect::<Result<Vec<_>>>()?;
        let dtype = self.schema.get(key).cloned().unwrap_or(DataType::Null);
        let schema =
            pl::Schema::from_iter([(key.into(), dtype), (WEIGHT.into(), DataType::Float64)]);
        let all = concat(parts, &Arc::new(schema))?;
        let values = SortValues::of(all.column(key)?.as_materialized_series())?;
        let weights = all.column(WEIGHT)?.f64()?.into_no_null_iter().collect();
        Ok((values, weights))
    }
}
