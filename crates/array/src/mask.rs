//! Boolean masks given as lazy arrays: `x[mask]` (a mask of `x`'s shape,
//! result 1-d in C order) and `x[.., mask, ..]` (a 1-d mask along one axis).
//!
//! The length of the result depends on the mask's values. Dask gives such
//! arrays unknown (NaN) chunk sizes until `compute_chunk_sizes()`; here an
//! [`Array`] always knows its chunks, so building the masked array runs one
//! small computation first: the number of true values in each block of the
//! mask (one `u64` per block). The gather itself stays lazy, with exact
//! chunks (one output chunk per mask block that selects something).
//!
//! Both ops are data: counting needs nothing, the gather its dtype and
//! axis; each task gets the count it must select as a literal argument.

use std::sync::Arc;

use ndarray::{ArrayD, Axis, Ix1};
use oxidask_graph::{Arg, DataOp, Key, Op, OpError, Task, Value, name_for, register_data_op};
use oxidask_scheduler::ComputeOptions;
use serde::{Deserialize, Serialize};

use crate::array::Array;
use crate::dataop::arg;
use crate::element::{DType, Element, with_dtype};
use crate::error::{Error, Result};
use crate::expr::chunk_value;
use crate::grid::{Grid, normalize_axis};
use oxidask_graph::{BlockArg, Blockwise, Pattern};

/// Output block `idx` reads the input block at the same position, except
/// along `axis` where it reads block `kept[idx[axis]]`, and that block of
/// the 1-d mask; the task also gets the count it must select.
struct GatherPattern {
    input: Arc<str>,
    mask: Arc<str>,
    axis: usize,
    kept: Arc<[(u32, u64)]>,
    op: Arc<dyn Op>,
}

impl Pattern for GatherPattern {
    fn task(&self, idx: &[u32]) -> Task {
        let (b, count) = self.kept[idx[self.axis] as usize];
        let mut i = idx.to_vec();
        i[self.axis] = b;
        Task::new(
            self.op.clone(),
            vec![
                Arg::Key(Key::with_index(self.input.clone(), &i)),
                Arg::Key(Key::with_index(self.mask.clone(), &[b])),
                Arg::Value(Value::new(count)),
            ],
        )
    }

    fn inputs(&self) -> Vec<Arc<str>> {
        vec![self.input.clone(), self.mask.clone()]
    }
}

/// The number of true values in a block of a mask (a `u64`). Argument:
/// the mask block.
#[derive(Serialize, Deserialize)]
struct MaskCount;

impl DataOp for MaskCount {
    const NAME: &'static str = "oxidask.array.mask-count";

    fn label(&self) -> &str {
        "mask-count"
    }

    fn run(&self, args: Vec<Value>) -> Result<Value, OpError> {
        let b = arg(&args, 0, "mask-count")?.downcast_ref::<ArrayD<bool>>()?;
        Ok(Value::new(b.iter().filter(|&&v| v).count() as u64))
    }
}
register_data_op!(MaskCount);

/// The elements of a block along `axis` where the matching 1-d mask block
/// is true. Arguments: the block, the mask block, and the number of true
/// values counted when the graph was built (a mask that changed since is
/// an error, not a result of the wrong length).
#[derive(Serialize, Deserialize)]
struct MaskGather {
    dtype: DType,
    axis: usize,
}

impl DataOp for MaskGather {
    const NAME: &'static str = "oxidask.array.mask";

    fn label(&self) -> &str {
        "mask"
    }

    fn run(&self, args: Vec<Value>) -> Result<Value, OpError> {
        let mb = arg(&args, 1, "mask")?.downcast_ref::<ArrayD<bool>>()?;
        let mb = mb.view().into_dimensionality::<Ix1>()?;
        let picks: Vec<usize> = mb
            .iter()
            .enumerate()
            .filter(|(_, v)| **v)
            .map(|(i, _)| i)
            .collect();
        let expect = *arg(&args, 2, "mask")?.downcast_ref::<u64>()? as usize;
        if picks.len() != expect {
            return Err(format!(
                "the mask changed between counting and selecting: a block counted {expect} true values, now {}",
                picks.len()
            )
            .into());
        }
        let block = arg(&args, 0, "mask")?;
        with_dtype!(self.dtype, T => gather_block::<T>(block, self.axis, mb.len(), &picks))
    }
}
register_data_op!(MaskGather);

/// The elements at `picks` along `axis` of a block whose length there is `n`.
fn gather_block<T: Element>(
    block: &Value,
    axis: usize,
    n: usize,
    picks: &[usize],
) -> Result<Value, OpError> {
    let block = block.downcast_ref::<ArrayD<T>>()?;
    if block.shape().get(axis) != Some(&n) {
        return Err(format!(
            "mask: a mask block of length {n} for a block of shape {:?} along axis {axis}",
            block.shape()
        )
        .into());
    }
    Ok(chunk_value(block.select(Axis(axis), picks)))
}

/// The number of true values in each block of a 1-d mask (computed now).
fn block_counts(mask: &Array<bool>, options: &ComputeOptions) -> Result<Vec<u64>> {
    let op = Arc::new(MaskCount);
    let name: Arc<str> = name_for("mask-count", &(&*mask.name,)).into();
    let counts: Array<bool> = Array::from_layer(
        name,
        "mask-count",
        (*mask.grid).clone(),
        Arc::new(Blockwise::new(op, vec![BlockArg::block(mask.name.clone())])),
        &[&mask.graph],
    );
    let keys = counts.keys();
    let values = oxidask_scheduler::compute_with(counts.task_graph()?, &keys, options)?;
    values
        .iter()
        .map(|v| Ok(*v.downcast_ref::<u64>()?))
        .collect()
}

impl<T: Element> Array<T> {
    /// The elements where `mask` is true, in C order, as a 1-d array
    /// (NumPy's `x[mask]` for a boolean array of `x`'s shape, e.g.
    /// `x[x > 0]`).
    ///
    /// **Eager part**: the number of true values per block of the mask is
    /// computed when this is called (one small computation, like Dask's
    /// `compute_chunk_sizes()`), so the result has exact chunks; the
    /// selection itself is lazy. The mask is therefore evaluated twice,
    /// once for the counts and once when the result is computed (`persist`
    /// it first if it is expensive). Both arrays are first cut into blocks
    /// of whole rows (C order), about as large as `x`'s largest block (at
    /// least one row), and raveled.
    ///
    /// ```
    /// use oxidask_array as da;
    /// let x = da::arange(0i64, 12, 1, 4)?.reshape(&[3, 4])?.rechunk([2, 3])?;
    /// let odd = x.mask(&x.remainder(2)?.equal(1)?)?;
    /// assert_eq!(odd.shape(), &[6]);
    /// assert_eq!(odd.compute()?.into_raw_vec_and_offset().0, vec![1, 3, 5, 7, 9, 11]);
    /// # Ok::<(), da::Error>(())
    /// ```
    pub fn mask(&self, mask: &Array<bool>) -> Result<Array<T>> {
        self.mask_with(mask, &ComputeOptions::new())
    }

    /// [`mask`](Array::mask), counting with these options.
    pub fn mask_with(&self, mask: &Array<bool>, options: &ComputeOptions) -> Result<Array<T>> {
        self.check()?;
        mask.check()?;
        if mask.shape() != self.shape() {
            return Err(Error::Index {
                arg: "mask",
                message: format!(
                    "boolean mask of shape {:?} for an array of shape {:?} (a full mask must have the array's shape; use mask_axis for one axis)",
                    mask.shape(),
                    self.shape()
                ),
            });
        }
        let rows = self.row_chunks();
        let x = self.rechunk(rows.clone())?.reshape(&[self.size()])?;
        let m = mask.rechunk(rows)?.reshape(&[self.size()])?;
        x.gather(&m, 0, options)
    }

    /// The elements whose index along `axis` is true in the 1-d `mask`
    /// (NumPy's `x[:, mask]`, or [`compress`](Array::compress) with a lazy
    /// mask); the other axes are kept.
    ///
    /// Counts the true values of each block of the mask when called, like
    /// [`mask`](Array::mask).
    ///
    /// ```
    /// use oxidask_array as da;
    /// let x = da::arange(0.0f64, 12.0, 1.0, 6)?.reshape(&[2, 6])?;
    /// let cols = da::arange(0i64, 6, 1, 2)?.greater(3)?;
    /// let y = x.mask_axis(&cols, 1)?;
    /// assert_eq!(y.shape(), &[2, 2]);
    /// assert_eq!(y.compute()?.into_raw_vec_and_offset().0, vec![4.0, 5.0, 10.0, 11.0]);
    /// # Ok::<(), da::Error>(())
    /// ```
    pub fn mask_axis(&self, mask: &Array<bool>, axis: isize) -> Result<Array<T>> {
        self.mask_axis_with(mask, axis, &ComputeOptions::new())
    }

    /// [`mask_axis`](Array::mask_axis), counting with these options.
    pub fn mask_axis_with(
        &self,
        mask: &Array<bool>,
        axis: isize,
        options: &ComputeOptions,
    ) -> Result<Array<T>> {
        self.check()?;
        mask.check()?;
        let ax = normalize_axis(axis, self.ndim(), "axis")?;
        if mask.ndim() != 1 || mask.shape()[0] != self.shape()[ax] {
            return Err(Error::Index {
                arg: "mask",
                message: format!(
                    "boolean mask of shape {:?} for axis {ax} of length {} (shape {:?})",
                    mask.shape(),
                    self.shape()[ax],
                    self.shape()
                ),
            });
        }
        let m = mask.rechunk(vec![self.chunks()[ax].clone()])?;
        self.gather(&m, ax, options)
    }

    /// Chunks of whole trailing rows along axis 0, each about as large as
    /// this array's largest block (one chunk for 0-d or empty rows).
    fn row_chunks(&self) -> Vec<Vec<usize>> {
        if self.ndim() == 0 {
            return Vec::new();
        }
        let n0 = self.shape()[0];
        let row: usize = self.shape()[1..].iter().product();
        let block: usize = self
            .chunks()
            .iter()
            .map(|c| c.iter().copied().max().unwrap_or(0))
            .product::<usize>()
            .max(1);
        let per = block.checked_div(row).map_or(n0.max(1), |p| p.max(1));
        let mut first = Vec::new();
        let mut left = n0;
        while left > 0 {
            first.push(left.min(per));
            left -= left.min(per);
        }
        if first.is_empty() {
            first.push(0);
        }
        let mut chunks = vec![first];
        chunks.extend(self.shape()[1..].iter().map(|&s| vec![s]));
        chunks
    }

    /// The selection along `axis` by a 1-d mask chunked like that axis.
    fn gather(&self, m: &Array<bool>, axis: usize, options: &ComputeOptions) -> Result<Array<T>> {
        let counts = block_counts(m, options)?;
        let mut kept: Vec<(u32, u64)> = (0..counts.len() as u32)
            .map(|j| (j, counts[j as usize]))
            .filter(|&(_, c)| c > 0)
            .collect();
        if kept.is_empty() {
            kept.push((0, 0));
        }
        let sizes: Vec<usize> = kept.iter().map(|&(_, c)| c as usize).collect();
        let mut chunks = self.grid.chunks.clone();
        chunks[axis] = sizes.clone();
        let name: Arc<str> =
            name_for("mask", &(&*self.name, &*m.name, axis, counts.clone())).into();
        let op = Arc::new(MaskGather {
            dtype: T::DTYPE,
            axis,
        });
        let pattern = GatherPattern {
            input: self.name.clone(),
            mask: m.name.clone(),
            axis,
            kept: kept.into(),
            op,
        };
        Ok(Array::from_layer(
            name,
            "mask",
            Grid::new(chunks),
            Arc::new(pattern),
            &[&self.graph, &m.graph],
        ))
    }
}
