//! Cumulative sums and products along an axis (or of the flattened
//! array), optionally with NaN counted as the identity.
//!
//! Three layers, as in Dask: each block's own running total along the axis;
//! a chain of carries (carry `j` = carry `j − 1` combined with the last slice
//! of block `j − 1`'s running total), one per block after the first along
//! the axis; and each block combined with its carry, broadcast along the
//! axis. The chain is sequential along the axis and parallel across the
//! other axes.
//!
//! The three ops are data (the dtype they read, the axis, sum or product),
//! each shared by every task of its layer.

use std::sync::Arc;

use ndarray::{ArrayD, Axis, IxDyn};
use oxidask_graph::{Arg, DataOp, Key, Op, OpError, Task, Value, name_for, register_data_op};
use serde::{Deserialize, Serialize};

use crate::array::Array;
use crate::dataop::{arg, with_number};
use crate::element::{DType, Element, Number};
use crate::error::Result;
use crate::expr::chunk_value;
use crate::grid::{Grid, normalize_axis};
use oxidask_graph::Pattern;

/// A block's keys shifted along `axis`: task `idx` reads
/// `inputs[k]` at `idx + offsets[k]` (along the axis).
struct Shifted {
    inputs: Vec<(Arc<str>, i64)>,
    axis: usize,
    op: Arc<dyn Op>,
}

impl Pattern for Shifted {
    fn task(&self, idx: &[u32]) -> Task {
        let args = self
            .inputs
            .iter()
            .map(|(name, off)| {
                let mut i = idx.to_vec();
                i[self.axis] = (i[self.axis] as i64 + off) as u32;
                Arg::Key(Key::with_index(name.clone(), &i))
            })
            .collect();
        Task::new(self.op.clone(), args)
    }

    fn inputs(&self) -> Vec<Arc<str>> {
        self.inputs.iter().map(|i| i.0.clone()).collect()
    }
}

/// What the three layers' ops carry: the element type they read (the
/// input's for the running totals, the accumulation type after), the axis,
/// and whether they multiply (cumprod) or add (cumsum).
#[derive(Clone, Copy, Serialize, Deserialize)]
struct Cum {
    dtype: DType,
    axis: usize,
    prod: bool,
    /// NaN counts as the identity (0 for sums, 1 for products), as
    /// NumPy's `nancumsum`/`nancumprod`; read by the first layer only.
    nan: bool,
}

impl Cum {
    fn what(&self) -> &'static str {
        match (self.prod, self.nan) {
            (false, false) => "cumsum",
            (true, false) => "cumprod",
            (false, true) => "nancumsum",
            (true, true) => "nancumprod",
        }
    }
}

/// `a ⊕ b` and the identity of ⊕.
fn combine<S: Number>(prod: bool) -> (impl Fn(S, S) -> S + Copy, S) {
    let f = move |a: S, b: S| if prod { a.mul(b) } else { a.add(b) };
    (f, if prod { S::one() } else { S::zero() })
}

/// A block of `T` with at least `axis + 1` dimensions.
fn block_along<'a, T: Element>(
    v: &'a Value,
    axis: usize,
    op: &str,
) -> Result<&'a ArrayD<T>, OpError> {
    let a = v.downcast_ref::<ArrayD<T>>()?;
    if axis >= a.ndim() {
        return Err(format!("{op}: axis {axis} of a block of shape {:?}", a.shape()).into());
    }
    Ok(a)
}

/// Running totals within a block. Argument: the input block.
#[derive(Serialize, Deserialize)]
struct CumBlock(Cum);

fn cum_block<T: Number>(c: Cum, v: &Value) -> Result<Value, OpError> {
    let (f, identity) = combine::<T::Sum>(c.prod);
    let block = block_along::<T>(v, c.axis, c.what())?;
    let mut out = if c.nan {
        block.mapv(|x| if x.is_nan() { identity } else { x.to_sum() })
    } else {
        block.mapv(|x| x.to_sum())
    };
    out.accumulate_axis_inplace(Axis(c.axis), |&prev, cur| *cur = f(prev, *cur));
    Ok(chunk_value(out))
}

impl DataOp for CumBlock {
    const NAME: &'static str = "oxidask.array.cumulative-block";

    fn label(&self) -> &str {
        match (self.0.prod, self.0.nan) {
            (false, false) => "cumsum-block",
            (true, false) => "cumprod-block",
            (false, true) => "nancumsum-block",
            (true, true) => "nancumprod-block",
        }
    }

    fn run(&self, args: Vec<Value>) -> Result<Value, OpError> {
        let v = arg(&args, 0, self.0.what())?;
        with_number!(self.0.dtype, T => cum_block::<T>(self.0, v))
    }
}
register_data_op!(CumBlock);

/// The carry into the next block along the axis: the last slice of this
/// block's running totals, combined with the previous carry after the
/// first. Arguments: (the previous carry,) the block of running totals.
#[derive(Serialize, Deserialize)]
struct CumCarry(Cum);

fn cum_carry<S: Number>(c: Cum, args: &[Value]) -> Result<Value, OpError> {
    let (f, identity) = combine::<S>(c.prod);
    let block = block_along::<S>(
        arg(args, args.len().saturating_sub(1), c.what())?,
        c.axis,
        c.what(),
    )?;
    let mut out = last_slice(block, c.axis, identity);
    if args.len() == 2 {
        let prev = args[0].downcast_ref::<ArrayD<S>>()?;
        if prev.shape() != out.shape() {
            return Err(format!(
                "{}: a carry of shape {:?} for a slice of shape {:?}",
                c.what(),
                prev.shape(),
                out.shape()
            )
            .into());
        }
        out.zip_mut_with(prev, |o, &p| *o = f(p, *o));
    }
    Ok(chunk_value(out))
}

impl DataOp for CumCarry {
    const NAME: &'static str = "oxidask.array.cumulative-carry";

    fn label(&self) -> &str {
        if self.0.prod {
            "cumprod-carry"
        } else {
            "cumsum-carry"
        }
    }

    fn run(&self, args: Vec<Value>) -> Result<Value, OpError> {
        with_number!(self.0.dtype, S => cum_carry::<S>(self.0, &args))
    }
}
register_data_op!(CumCarry);

/// A block of the result: the block of running totals combined with the
/// carry into it (broadcast along the axis), updated in place when it is
/// the block's only reader; the first block along the axis passes
/// through. Arguments: the block of running totals(, its carry).
#[derive(Serialize, Deserialize)]
struct CumFinish(Cum);

fn cum_finish<S: Number>(c: Cum, mut args: Vec<Value>) -> Result<Value, OpError> {
    let (f, _) = combine::<S>(c.prod);
    let carry = args.pop().ok_or("missing carry")?;
    let block = args.pop().ok_or("missing block")?;
    let mut out = block.take::<ArrayD<S>>()?;
    let carry = block_along::<S>(&carry, c.axis, c.what())?;
    let mut expect = out.shape().to_vec();
    if let Some(n) = expect.get_mut(c.axis) {
        *n = 1;
    }
    if carry.shape() != expect.as_slice() {
        return Err(format!(
            "{}: a carry of shape {:?} for a block of shape {:?}",
            c.what(),
            carry.shape(),
            out.shape()
        )
        .into());
    }
    out.zip_mut_with(carry, |o, &c| *o = f(c, *o));
    Ok(chunk_value(out))
}

impl DataOp for CumFinish {
    const NAME: &'static str = "oxidask.array.cumulative";

    fn label(&self) -> &str {
        self.0.what()
    }

    fn run(&self, mut args: Vec<Value>) -> Result<Value, OpError> {
        if args.len() == 1 {
            return Ok(args.swap_remove(0));
        }
        with_number!(self.0.dtype, S => cum_finish::<S>(self.0, args))
    }
}
register_data_op!(CumFinish);

fn last_slice<S: Number>(a: &ArrayD<S>, axis: usize, identity: S) -> ArrayD<S> {
    let n = a.shape()[axis];
    if n == 0 {
        let mut shape = a.shape().to_vec();
        shape[axis] = 1;
        return ArrayD::from_elem(IxDyn(&shape), identity);
    }
    a.index_axis(Axis(axis), n - 1)
        .insert_axis(Axis(axis))
        .to_owned()
}

impl<T: Number> Array<T> {
    fn cumulative(&self, axis: isize, prod: bool, nan: bool) -> Result<Array<T::Sum>> {
        self.check()?;
        let axis = normalize_axis(axis, self.ndim(), "axis")?;
        let what = Cum {
            dtype: T::DTYPE,
            axis,
            prod,
            nan,
        }
        .what();
        let sum_dtype = <T::Sum as Element>::DTYPE;
        let grid: Grid = (*self.grid).clone();
        let nb = grid.numblocks();

        // 1. Running totals within each block.
        let local: Arc<str> = name_for(what, &("local", &*self.name, axis)).into();
        let op = Arc::new(CumBlock(Cum {
            dtype: T::DTYPE,
            axis,
            prod,
            nan,
        }));
        let l = Array::<T::Sum>::from_layer(
            local.clone(),
            what,
            grid.clone(),
            Arc::new(Shifted {
                inputs: vec![(self.name.clone(), 0)],
                axis,
                op,
            }),
            &[&self.graph],
        );
        if nb[axis] <= 1 {
            return Ok(l);
        }

        // 2. Carries: carry k (for block k + 1) = carry k − 1 ⊕ last slice of block k.
        let carry: Arc<str> = name_for(what, &("carry", &*self.name, axis)).into();
        let mut cgrid = grid.chunks.clone();
        cgrid[axis] = vec![1; nb[axis] as usize - 1];
        let pattern = CarryPattern {
            carry: carry.clone(),
            local: local.clone(),
            axis,
            op: Arc::new(CumCarry(Cum {
                dtype: sum_dtype,
                axis,
                prod,
                nan,
            })),
        };
        let c = Array::<T::Sum>::from_layer(
            carry.clone(),
            what,
            Grid::new(cgrid),
            Arc::new(pattern),
            &[&l.graph],
        );

        // 3. Each block after the first combined with its carry.
        let out_name: Arc<str> = name_for(what, &(&*self.name, axis)).into();
        let pattern = FinishPattern {
            local,
            carry,
            axis,
            op: Arc::new(CumFinish(Cum {
                dtype: sum_dtype,
                axis,
                prod,
                nan,
            })),
        };
        Ok(Array::from_layer(
            out_name,
            what,
            grid,
            Arc::new(pattern),
            &[&c.graph],
        ))
    }

    /// Cumulative sum along `axis` (integers accumulate in `i64`).
    pub fn cumsum(&self, axis: isize) -> Result<Array<T::Sum>> {
        self.cumulative(axis, false, false)
    }

    /// Cumulative product along `axis`.
    pub fn cumprod(&self, axis: isize) -> Result<Array<T::Sum>> {
        self.cumulative(axis, true, false)
    }

    /// Cumulative sum along `axis` with NaN counted as 0 (NumPy's
    /// `nancumsum`; for integers the same as [`cumsum`](Array::cumsum)).
    pub fn nancumsum(&self, axis: isize) -> Result<Array<T::Sum>> {
        self.cumulative(axis, false, true)
    }

    /// Cumulative product along `axis` with NaN counted as 1 (NumPy's
    /// `nancumprod`).
    pub fn nancumprod(&self, axis: isize) -> Result<Array<T::Sum>> {
        self.cumulative(axis, true, true)
    }

    /// Cumulative sum of the flattened array, in row-major order (NumPy's
    /// `cumsum` with `axis=None`): a 1-d array of `self.size()` elements.
    ///
    /// ```
    /// use oxidask_array as da;
    /// let x = da::arange(1i64, 7, 1, 4)?.reshape(&[2, 3])?;
    /// let c = x.cumsum_flat()?.compute()?;
    /// assert_eq!(c.iter().copied().collect::<Vec<_>>(), vec![1, 3, 6, 10, 15, 21]);
    /// # Ok::<(), da::Error>(())
    /// ```
    pub fn cumsum_flat(&self) -> Result<Array<T::Sum>> {
        self.ravel()?.cumsum(0)
    }

    /// Cumulative product of the flattened array, in row-major order
    /// (NumPy's `cumprod` with `axis=None`).
    pub fn cumprod_flat(&self) -> Result<Array<T::Sum>> {
        self.ravel()?.cumprod(0)
    }

    /// [`nancumsum`](Array::nancumsum) of the flattened array (`axis=None`).
    pub fn nancumsum_flat(&self) -> Result<Array<T::Sum>> {
        self.ravel()?.nancumsum(0)
    }

    /// [`nancumprod`](Array::nancumprod) of the flattened array (`axis=None`).
    pub fn nancumprod_flat(&self) -> Result<Array<T::Sum>> {
        self.ravel()?.nancumprod(0)
    }
}

/// Carry `k` reads block `k` of the running totals, and carry `k − 1`
/// after the first.
struct CarryPattern {
    carry: Arc<str>,
    local: Arc<str>,
    axis: usize,
    op: Arc<dyn Op>,
}

impl Pattern for CarryPattern {
    fn task(&self, idx: &[u32]) -> Task {
        let k = idx[self.axis];
        let block = Arg::Key(Key::with_index(self.local.clone(), idx));
        if k == 0 {
            return Task::new(self.op.clone(), vec![block]);
        }
        let mut p = idx.to_vec();
        p[self.axis] = k - 1;
        Task::new(
            self.op.clone(),
            vec![Arg::Key(Key::with_index(self.carry.clone(), &p)), block],
        )
    }

    fn inputs(&self) -> Vec<Arc<str>> {
        vec![self.local.clone(), self.carry.clone()]
    }
}

/// Block `k` of the result reads block `k` of the running totals, and
/// carry `k − 1` after the first.
struct FinishPattern {
    local: Arc<str>,
    carry: Arc<str>,
    axis: usize,
    op: Arc<dyn Op>,
}

impl Pattern for FinishPattern {
    fn task(&self, idx: &[u32]) -> Task {
        let mut args = vec![Arg::Key(Key::with_index(self.local.clone(), idx))];
        let k = idx[self.axis];
        if k > 0 {
            let mut p = idx.to_vec();
            p[self.axis] = k - 1;
            args.push(Arg::Key(Key::with_index(self.carry.clone(), &p)));
        }
        Task::new(self.op.clone(), args)
    }

    fn inputs(&self) -> Vec<Arc<str>> {
        vec![self.local.clone(), self.carry.clone()]
    }
}
