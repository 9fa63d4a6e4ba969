//! Frame operations beyond per-partition expressions: user functions on
//! whole partitions, `tail`, distinct rows and value counts (through the
//! exact tree `group_by`), `repartition`, and `persist`.

use std::sync::Arc;

use oxidask_graph::{
    Arg, DataOp, HighLevelGraph, Key, MaterializedLayer, OpError, Task, TaskGraph, Value,
    register_data_op, unique_token,
};
use oxidask_scheduler::ComputeOptions;
use polars::prelude::{self as pl, Expr, IntoLazy, SortMultipleOptions};
use serde::{Deserialize, Serialize};

use crate::codec::{frame_arg, frame_value};
use crate::error::{Error, Result};
use crate::frame::{DataFrame, concat};
use crate::plan::{PartitionFn, Step};

/// Stacks its frame arguments in order (the schema's empty frame when a
/// new partition takes none).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct ConcatOp {
    schema: pl::SchemaRef,
}

impl DataOp for ConcatOp {
    const NAME: &'static str = "oxidask.dataframe.concat";

    fn run(&self, args: Vec<Value>) -> std::result::Result<Value, OpError> {
        let parts = args
            .into_iter()
            .map(frame_arg)
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let df = concat(parts, &self.schema).map_err(|e| format!("repartition: {e}"))?;
        Ok(frame_value(df))
    }

    fn label(&self) -> &str {
        "repartition-concat"
    }
}

register_data_op!(ConcatOp);

/// Piece `piece` of `of` near-equal row ranges of its frame argument.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct SliceOp {
    piece: u32,
    of: u32,
}

impl DataOp for SliceOp {
    const NAME: &'static str = "oxidask.dataframe.slice";

    fn run(&self, mut args: Vec<Value>) -> std::result::Result<Value, OpError> {
        let df = frame_arg(args.pop().ok_or("repartition: no partition")?)?;
        let h = df.height() as u64;
        let (p, of) = (u64::from(self.piece), u64::from(self.of.max(1)));
        let (start, end) = (h * p / of, h * (p + 1) / of);
        Ok(frame_value(df.slice(start as i64, (end - start) as usize)))
    }

    fn label(&self) -> &str {
        "repartition-split"
    }
}

register_data_op!(SliceOp);

impl DataFrame {
    /// Applies `f` to every partition as a polars `DataFrame`, like Dask's
    /// `map_partitions`. The output schema is found by calling `f` on an
    /// empty frame of this frame's schema when the frame is built, so `f`
    /// must accept one (an error then names what it said).
    ///
    /// With a closure the frame computes here; with a plain function
    /// marked `#[oxidask::remote]` (`fn(DataFrame) ->
    /// PolarsResult<DataFrame>`) its graph is data and can run in another
    /// process of the program (a cluster worker).
    ///
    /// ```
    /// use oxidask_dataframe as dd;
    /// use polars::prelude::*;
    /// let df = dd::from_polars(df!("x" => [1i64, 2, 3, 4])?, 2)?;
    /// let with_rank = df.map_partitions(|p: DataFrame| {
    ///     let n = p.height() as u32;
    ///     p.lazy().with_column(lit(n).alias("rows_here")).collect()
    /// })?;
    /// assert_eq!(with_rank.columns(), ["x", "rows_here"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn map_partitions<F>(&self, f: F) -> Result<DataFrame>
    where
        F: Fn(pl::DataFrame) -> pl::PolarsResult<pl::DataFrame> + Send + Sync + 'static,
    {
        let name = oxidask_graph::remote::lookup_by_type::<F>().map(|r| r.name);
        self.then(
            "map_partitions",
            Step::MapPartitions(PartitionFn {
                name,
                f: Arc::new(f),
            }),
        )
    }

    /// The last `n` rows, computing only the partitions needed: the last,
    /// then earlier ones while fewer than `n` rows have come.
    pub fn tail(&self, n: usize) -> Result<pl::DataFrame> {
        let limited = self.then("tail", Step::Tail(n.min(u32::MAX as usize) as u32))?;
        let mut parts = limited.partitions_until(n, (0..self.npartitions).rev())?;
        parts.reverse();
        Ok(concat(parts, &self.schema)?.tail(Some(n)))
    }

    /// The distinct rows (of `subset`'s columns only, when given), like
    /// Dask's `drop_duplicates` — computed exactly by the tree `group_by`
    /// on those columns, so the result is sorted by them (nulls last), one
    /// row per distinct combination; a null is a value like any other.
    pub fn unique<S: AsRef<str>>(&self, subset: Option<&[S]>) -> Result<DataFrame> {
        let keys: Vec<String> = match subset {
            Some(s) => s.iter().map(|c| c.as_ref().to_string()).collect(),
            None => self.columns(),
        };
        if keys.is_empty() {
            return Err(Error::Argument {
                argument: "subset",
                message: "no columns to find distinct values of".into(),
            });
        }
        self.group_by(&keys).agg(Vec::<Expr>::new())
    }

    /// How often each value of `column` occurs, like Dask's
    /// `Series.value_counts()`: columns `column` and `count`, most frequent
    /// first (ties by value, nulls last); nulls are counted as a value.
    pub fn value_counts(&self, column: &str) -> Result<pl::DataFrame> {
        let counts = self
            .group_by([column])
            .agg([pl::len().alias("count")])?
            .compute()?;
        Ok(counts
            .lazy()
            .sort(
                [String::from("count"), column.to_string()],
                SortMultipleOptions::default()
                    .with_order_descending_multi([true, false])
                    .with_nulls_last(true),
            )
            .collect()?)
    }

    /// The number of distinct values of `column` (null counts as one, as
    /// polars' `n_unique`).
    pub fn n_unique(&self, column: &str) -> Result<usize> {
        self.unique(Some(&[column]))?.len()
    }

    /// Computes the partitions and keeps them: a frame of the results, so
    /// later computations on it start from them instead of recomputing
    /// (Dask's `persist`). In memory on the local schedulers; on a cluster
    /// (its client the scheduler in force) the partitions stay on the
    /// workers, held while the returned frame (or anything built on it)
    /// lives, and this returns at once.
    pub fn persist(&self) -> Result<DataFrame> {
        let (graph, base) = self.stored_layer();
        let keys: Vec<Key> = (0..self.npartitions)
            .map(|i| Key::with_index(base.clone(), &[i]))
            .collect();
        let (hlg, name) =
            oxidask_scheduler::persist_partitions(&graph, &keys, &ComputeOptions::default())?;
        Ok(DataFrame::stored(
            hlg,
            name,
            self.npartitions,
            self.schema.clone(),
        ))
    }

    /// The same rows in `npartitions` partitions, like Dask's
    /// `repartition(npartitions=…)`: fewer by stacking neighbouring
    /// partitions, more by splitting each into near-equal row ranges.
    /// Order is kept.
    pub fn repartition(&self, npartitions: usize) -> Result<DataFrame> {
        if npartitions == 0 || npartitions > u32::MAX as usize {
            return Err(Error::Argument {
                argument: "npartitions",
                message: format!("must be between 1 and {}, not {npartitions}", u32::MAX),
            });
        }
        let (n_old, n_new) = (self.npartitions, npartitions as u32);
        if n_new == n_old {
            return Ok(self.clone());
        }
        let (graph, base) = self.stored_layer();
        let name: Arc<str> = Arc::from(format!("repartition-{}", unique_token()));
        let key = |name: &Arc<str>, i: u32| Key::with_index(name.clone(), &[i]);
        let mut tasks = TaskGraph::with_capacity(npartitions);
        if n_new < n_old {
            let op = Arc::new(ConcatOp {
                schema: self.schema.clone(),
            });
            for j in 0..n_new {
                let (a, b) = (
                    (u64::from(j) * u64::from(n_old) / u64::from(n_new)) as u32,
                    (u64::from(j + 1) * u64::from(n_old) / u64::from(n_new)) as u32,
                );
                let args = (a..b).map(|i| Arg::Key(key(&base, i))).collect();
                tasks.insert(key(&name, j), Task::new(op.clone(), args));
            }
        } else {
            // Old partition i becomes pieces [i*new/old, (i+1)*new/old).
            for i in 0..n_old {
                let (a, b) = (
                    (u64::from(i) * u64::from(n_new) / u64::from(n_old)) as u32,
                    (u64::from(i + 1) * u64::from(n_new) / u64::from(n_old)) as u32,
                );
                for j in a..b {
                    let op = Arc::new(SliceOp {
                        piece: j - a,
                        of: b - a,
                    });
                    tasks.insert(key(&name, j), Task::new(op, vec![Arg::Key(key(&base, i))]));
                }
            }
        }
        let hlg: HighLevelGraph =
            graph.with_layer(Arc::new(MaterializedLayer::new(name.clone(), tasks)));
        Ok(DataFrame::stored(hlg, name, n_new, self.schema.clone()))
    }
}
