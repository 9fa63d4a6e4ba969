//! Numeric columns as a chunked [`Array`]: one block of rows per partition
//! (Dask's `DataFrame.to_dask_array(lengths=True)`).
//!
//! An array needs its chunk sizes when it is built, and a partition's row
//! count is known only once it is read, so the partitions' lengths are
//! computed first (one pass over the data, reading only one column); the
//! array's blocks then read their partitions again. Persist the frame first
//! (`persist()`) when reading it twice costs too much.

use std::sync::Arc;

use oxidask_array::Array;
use oxidask_graph::{
    Arg, DataOp, Key, MaterializedLayer, OpError, Task, TaskGraph, Tokenizer, Value,
    register_data_op,
};
use polars::prelude::{self as pl, DataType};
use serde::{Deserialize, Serialize};

use crate::codec::frame_arg;

use crate::error::{Error, Result};
use crate::frame::DataFrame;

impl DataFrame {
    /// The columns `columns` (all when empty) as a 2-D `f64` array of shape
    /// `[rows, columns]`, chunked by partition along the rows and whole
    /// along the columns. Integer, float and boolean columns are cast to
    /// `f64`; a null becomes NaN (as in NumPy); a column of another type is
    /// an error naming it.
    ///
    /// ```
    /// use oxidask_dataframe as dd;
    /// use polars::prelude::*;
    /// let df = dd::from_polars(df!("a" => [1i64, 2, 3], "b" => [0.5, 1.5, 2.5])?, 2)?;
    /// let x = df.to_array(&["a", "b"])?;
    /// assert_eq!(x.shape(), [3, 2]);
    /// assert_eq!(x.chunks(), [vec![2, 1], vec![2]]);
    /// assert_eq!(x.compute()?.sum(), 10.5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_array<S: AsRef<str>>(&self, columns: &[S]) -> Result<Array<f64>> {
        let names: Vec<String> = if columns.is_empty() {
            self.columns()
        } else {
            columns.iter().map(|c| c.as_ref().to_string()).collect()
        };
        let frame = self.select(
            names
                .iter()
                .map(|n| pl::col(n.as_str()))
                .collect::<Vec<_>>(),
        )?;
        for (name, dtype) in frame.schema.iter() {
            if !(dtype.is_primitive_numeric() || *dtype == DataType::Boolean) {
                return Err(Error::Argument {
                    argument: "columns",
                    message: format!(
                        "column {name:?} is {dtype}; only numeric and boolean columns make an array"
                    ),
                });
            }
        }
        let lengths = frame.partition_lengths()?;
        let (graph, base) = frame.stored_layer();
        let mut t = Tokenizer::new();
        t.add(&*base);
        let name: Arc<str> = Arc::from(format!("to-array-{}", t.finish_hex()));
        let width = names.len();
        let op: Arc<dyn oxidask_graph::Op> = Arc::new(ToBlock {
            width: width as u32,
        });
        // Block (i, 0) of the array reads partition i.
        let mut tasks = TaskGraph::with_capacity(self.npartitions());
        for i in 0..self.npartitions {
            tasks.insert(
                Key::with_index(name.clone(), &[i, 0]),
                Task::new(
                    op.clone(),
                    vec![Arg::Key(Key::with_index(base.clone(), &[i]))],
                ),
            );
        }
        let layer = MaterializedLayer::new(name.clone(), tasks);
        Ok(oxidask_array::from_block_graph(
            graph.with_layer(Arc::new(layer)),
            name,
            vec![lengths, vec![width]],
        ))
    }

    /// The number of rows of each partition (computed: one pass reading
    /// one column).
    pub fn partition_lengths(&self) -> Result<Vec<usize>> {
        let first = match self.schema.get_at_index(0) {
            Some((n, _)) => n.clone(),
            None => return Ok(vec![0; self.npartitions()]),
        };
        let lens = self.select([pl::col(first).len().alias("len")])?;
        let parts = lens.compute_partitions(
            &(0..self.npartitions).collect::<Vec<_>>(),
            &oxidask_scheduler::ComputeOptions::default(),
        )?;
        parts
            .iter()
            .map(|p| {
                let c = p.column("len")?.cast(&DataType::UInt64)?;
                Ok(c.u64()?.get(0).unwrap_or(0) as usize)
            })
            .collect::<std::result::Result<Vec<usize>, pl::PolarsError>>()
            .map_err(Error::from)
    }
}

/// A partition (its columns already selected) as an array block: an op,
/// so a frame's `to_array` is data and runs on a cluster.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct ToBlock {
    width: u32,
}

impl DataOp for ToBlock {
    const NAME: &'static str = "oxidask.dataframe.to-array";

    fn run(&self, args: Vec<Value>) -> std::result::Result<Value, OpError> {
        let df = frame_arg(args.into_iter().next().ok_or("to_array: no partition")?)?;
        Ok(oxidask_array::block_value(frame_block(
            &df,
            self.width as usize,
        )?))
    }

    fn label(&self) -> &str {
        "to-array"
    }
}

register_data_op!(ToBlock);

/// A partition as a `[rows, width]` block of `f64`, nulls as NaN.
fn frame_block(
    df: &pl::DataFrame,
    width: usize,
) -> std::result::Result<oxidask_array::ndarray::ArrayD<f64>, oxidask_graph::OpError> {
    let rows = df.height();
    let mut out = oxidask_array::ndarray::Array2::<f64>::from_elem((rows, width), f64::NAN);
    for (j, c) in df.columns().iter().enumerate() {
        let f = c.cast(&DataType::Float64).map_err(|e| e.to_string())?;
        let f = f.f64().map_err(|e| e.to_string())?;
        for (i, v) in f.iter().enumerate() {
            if let Some(v) = v {
                out[[i, j]] = v;
            }
        }
    }
    Ok(out.into_dyn())
}
