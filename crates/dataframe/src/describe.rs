//! `describe`: count, nulls, mean, std, min, quartiles and max of every
//! numeric column, as a tree reduction of small per-partition summaries.
//!
//! Count, nulls, mean, std (from combined moments, Chan et al.), min and
//! max are exact. The quartiles come from mergeable summaries, as Dask's
//! are approximate: a partition keeps up to [`SKETCH_POINTS`] of its sorted
//! values, evenly spaced in rank, each weighing the values it stands for;
//! a combine merges summaries and thins them back to that many points.
//! While nothing was thinned (a column of at most that many values) they
//! are exact, polars' `nearest` quantiles; beyond, each thinning moves a
//! quartile by at most half a point's share of the ranks, so over a tree
//! of a few levels they stay within a few parts in a thousand of the
//! values' ranks.
//!
//! A summary is a long frame `column, stat, value, weight` — one row per
//! statistic of a column and one per kept point (`stat` = `point`) — so it
//! travels and spills with the frame codec like any partition.

use std::collections::BTreeMap;
use std::sync::Arc;

use oxidask_graph::{
    BlockArg, BlockLayer, DataOp, OpError, Tokenizer, TreeLayer, Value, register_data_op,
    split_factors,
};
use polars::prelude::{self as pl, DataType};
use serde::{Deserialize, Serialize};

use crate::codec::{frame_arg, frame_value};
use crate::error::{Error, Result};
use crate::frame::DataFrame;
use crate::groupby::SPLIT_EVERY;

/// Points a summary keeps per column: quartiles are exact for a column of
/// at most this many values, and within a few parts in a thousand of the
/// ranks otherwise.
pub const SKETCH_POINTS: usize = 1024;

/// The rows of `describe`'s result, in order.
pub(crate) const STATISTICS: [&str; 9] = [
    "count",
    "null_count",
    "mean",
    "std",
    "min",
    "25%",
    "50%",
    "75%",
    "max",
];

/// One column's summary.
#[derive(Clone, Debug, Default)]
struct Summary {
    n: f64,
    nulls: f64,
    mean: f64,
    m2: f64,
    min: f64,
    max: f64,
    /// Sorted (value, weight) points.
    points: Vec<(f64, f64)>,
}

impl Summary {
    fn of(values: &pl::Float64Chunked) -> Summary {
        let nulls = values.null_count() as f64;
        let mut v: Vec<f64> = values.iter().flatten().collect();
        v.sort_by(f64::total_cmp);
        let n = v.len() as f64;
        let mean = if v.is_empty() {
            0.0
        } else {
            v.iter().sum::<f64>() / n
        };
        let m2 = v.iter().map(|x| (x - mean) * (x - mean)).sum();
        Summary {
            n,
            nulls,
            mean,
            m2,
            // As polars' min and max, NaN only when nothing else is there.
            min: v.iter().copied().find(|x| !x.is_nan()).unwrap_or(f64::NAN),
            max: v
                .iter()
                .rev()
                .copied()
                .find(|x| !x.is_nan())
                .unwrap_or(f64::NAN),
            points: thin(v.into_iter().map(|x| (x, 1.0)).collect()),
        }
    }

    fn merge(mut self, o: Summary) -> Summary {
        if o.n == 0.0 {
            self.nulls += o.nulls;
            return self;
        }
        if self.n == 0.0 {
            return Summary {
                nulls: self.nulls + o.nulls,
                ..o
            };
        }
        let n = self.n + o.n;
        let delta = o.mean - self.mean;
        let mut points = self.points;
        points.extend(o.points);
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        Summary {
            n,
            nulls: self.nulls + o.nulls,
            mean: self.mean + delta * o.n / n,
            m2: self.m2 + o.m2 + delta * delta * self.n * o.n / n,
            min: self.min.min(o.min),
            max: self.max.max(o.max),
            points: thin(points),
        }
    }

    /// The value of 0-based rank `round(q·(n−1))` (polars' `nearest`).
    fn quantile(&self, q: f64) -> f64 {
        if self.n == 0.0 {
            return f64::NAN;
        }
        let rank = (q * (self.n - 1.0)).round();
        let mut below = 0.0;
        for &(v, w) in &self.points {
            below += w;
            if rank < below {
                return v;
            }
        }
        self.max
    }
}

/// Sorted weighted points thinned to [`SKETCH_POINTS`]: each kept point is
/// the one at the middle rank of an equal share of the total weight.
fn thin(points: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    if points.len() <= SKETCH_POINTS {
        return points;
    }
    let total: f64 = points.iter().map(|p| p.1).sum();
    let share = total / SKETCH_POINTS as f64;
    let mut out = Vec::with_capacity(SKETCH_POINTS);
    let mut below = 0.0;
    let mut next = 0;
    for (v, w) in points {
        below += w;
        while next < SKETCH_POINTS && (next as f64 + 0.5) * share < below {
            out.push((v, share));
            next += 1;
        }
    }
    out
}

/// Summaries as a long frame (see the module docs).
fn to_frame(summaries: &BTreeMap<String, Summary>) -> pl::PolarsResult<pl::DataFrame> {
    let (mut col, mut stat, mut value, mut weight) = (vec![], vec![], vec![], vec![]);
    for (name, s) in summaries {
        for (k, v) in [
            ("n", s.n),
            ("nulls", s.nulls),
            ("mean", s.mean),
            ("m2", s.m2),
            ("min", s.min),
            ("max", s.max),
        ] {
            col.push(name.clone());
            stat.push(k);
            value.push(v);
            weight.push(0.0);
        }
        for &(v, w) in &s.points {
            col.push(name.clone());
            stat.push("point");
            value.push(v);
            weight.push(w);
        }
    }
    pl::DataFrame::new_infer_height(vec![
        pl::Column::new("column".into(), col),
        pl::Column::new("stat".into(), stat),
        pl::Column::new("value".into(), value),
        pl::Column::new("weight".into(), weight),
    ])
}

fn from_frame(df: &pl::DataFrame) -> pl::PolarsResult<BTreeMap<String, Summary>> {
    let col = df.column("column")?.str()?;
    let stat = df.column("stat")?.str()?;
    let value = df.column("value")?.f64()?;
    let weight = df.column("weight")?.f64()?;
    let mut out: BTreeMap<String, Summary> = BTreeMap::new();
    for i in 0..df.height() {
        let (Some(c), Some(k), Some(v), Some(w)) =
            (col.get(i), stat.get(i), value.get(i), weight.get(i))
        else {
            continue;
        };
        let s = out.entry(c.to_string()).or_default();
        match k {
            "n" => s.n = v,
            "nulls" => s.nulls = v,
            "mean" => s.mean = v,
            "m2" => s.m2 = v,
            "min" => s.min = v,
            "max" => s.max = v,
            _ => s.points.push((v, w)),
        }
    }
    Ok(out)
}

/// A partition → its columns' summaries.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct DescribeChunk {
    columns: Vec<String>,
}

impl DataOp for DescribeChunk {
    const NAME: &'static str = "oxidask.dataframe.describe-chunk";

    fn run(&self, args: Vec<Value>) -> std::result::Result<Value, OpError> {
        let df = frame_arg(args.into_iter().next().ok_or("describe: no partition")?)?;
        let mut out = BTreeMap::new();
        for c in &self.columns {
            let f = df
                .column(c)
                .and_then(|c| c.cast(&DataType::Float64))
                .map_err(|e| e.to_string())?;
            out.insert(c.clone(), Summary::of(f.f64().map_err(|e| e.to_string())?));
        }
        Ok(frame_value(to_frame(&out).map_err(|e| e.to_string())?))
    }

    fn label(&self) -> &str {
        "describe-chunk"
    }
}

register_data_op!(DescribeChunk);

/// Merges summaries; the finish makes `describe`'s table.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct DescribeCombine {
    columns: Vec<String>,
    finish: bool,
}

impl DataOp for DescribeCombine {
    const NAME: &'static str = "oxidask.dataframe.describe-combine";

    fn run(&self, args: Vec<Value>) -> std::result::Result<Value, OpError> {
        let mut merged: BTreeMap<String, Summary> = BTreeMap::new();
        for a in args {
            let part = from_frame(&frame_arg(a)?).map_err(|e| e.to_string())?;
            for (c, s) in part {
                let m = merged.remove(&c).unwrap_or_default();
                merged.insert(c, m.merge(s));
            }
        }
        let df = if self.finish {
            table(&self.columns, &merged)
        } else {
            to_frame(&merged)
        };
        Ok(frame_value(df.map_err(|e| e.to_string())?))
    }

    fn label(&self) -> &str {
        if self.finish {
            "describe-finish"
        } else {
            "describe-combine"
        }
    }
}

register_data_op!(DescribeCombine);

/// The `statistic` column and one `f64` column per described column.
fn table(columns: &[String], s: &BTreeMap<String, Summary>) -> pl::PolarsResult<pl::DataFrame> {
    let mut cols = vec![pl::Column::new(
        "statistic".into(),
        STATISTICS.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
    )];
    for c in columns {
        let x = s.get(c).cloned().unwrap_or_default();
        let std = (x.n > 1.0).then(|| (x.m2 / (x.n - 1.0)).sqrt());
        let some = |v: f64| (x.n > 0.0).then_some(v);
        let values: Vec<Option<f64>> = vec![
            Some(x.n),
            Some(x.nulls),
            some(x.mean),
            std,
            some(x.min),
            some(x.quantile(0.25)),
            some(x.quantile(0.5)),
            some(x.quantile(0.75)),
            some(x.max),
        ];
        cols.push(pl::Column::new(c.as_str().into(), values));
    }
    pl::DataFrame::new_infer_height(cols)
}

impl DataFrame {
    /// Count, null count, mean, std (ddof 1), min, 25%, 50%, 75% and max of
    /// every numeric column (boolean and string columns are left out), as
    /// polars' and pandas' `describe`: a `statistic` column and one `f64`
    /// column per described column. One pass over the data; all exact but
    /// the quartiles, which are exact for a column of at most
    /// [`SKETCH_POINTS`] values and approximate beyond (as Dask's are).
    ///
    /// ```
    /// use oxidask_dataframe as dd;
    /// use polars::prelude::*;
    /// let df = dd::from_polars(df!("x" => [4.0, 1.0, 3.0, 2.0], "s" => ["a", "b", "c", "d"])?, 2)?;
    /// let d = df.describe()?;
    /// assert_eq!(d.get_column_names(), ["statistic", "x"]);
    /// let x = d.column("x")?.f64()?;
    /// assert_eq!((x.get(0), x.get(2), x.get(6)), (Some(4.0), Some(2.5), Some(3.0)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn describe(&self) -> Result<pl::DataFrame> {
        let columns: Vec<String> = self
            .schema
            .iter()
            .filter(|(_, t)| t.is_primitive_numeric())
            .map(|(n, _)| n.to_string())
            .collect();
        if columns.is_empty() {
            return Err(Error::Argument {
                argument: "describe",
                message: format!("no numeric column to describe among {:?}", self.columns()),
            });
        }
        let frame = self.select(
            columns
                .iter()
                .map(|c| pl::col(c.as_str()))
                .collect::<Vec<_>>(),
        )?;
        let (graph, base) = frame.stored_layer();
        let mut t = Tokenizer::new();
        t.add(&*base);
        let hex = t.finish_hex();
        let chunk: Arc<str> = Arc::from(format!("describe-chunk-{hex}"));
        let name: Arc<str> = Arc::from(format!("describe-{hex}"));
        let n = self.npartitions;
        let chunks = BlockLayer::blockwise(
            chunk.clone(),
            Arc::new(DescribeChunk {
                columns: columns.clone(),
            }),
            vec![BlockArg::block(base)],
            vec![n],
        );
        let tree = TreeLayer::new(
            name.clone(),
            chunk,
            vec![n],
            split_factors(&[n], &[0], SPLIT_EVERY),
            true,
            false,
            Arc::new(DescribeCombine {
                columns: columns.clone(),
                finish: false,
            }),
            Arc::new(DescribeCombine {
                columns,
                finish: true,
            }),
        )?;
        let graph = graph
            .with_layer(Arc::new(chunks))
            .with_layer(Arc::new(tree));
        let schema = Arc::new(pl::Schema::default());
        let mut out = DataFrame::stored(graph, name, 1, schema)
            .compute_partitions(&[0], &oxidask_scheduler::ComputeOptions::default())?;
        Ok(out.remove(0))
    }
}
