//! `topk` and `argtopk`: the `k` largest (or, for negative `k`, smallest)
//! elements along an axis, as `dask.array.topk`/`argtopk`.
//!
//! A tree reduction of per-block top-k, as in Dask: a chunk task keeps the
//! best `min(|k|, len)` elements of each lane of its block (with their
//! global positions along the axis), combine tasks concatenate their
//! inputs' candidates along the axis and keep the best `|k|` again, and the
//! finish task sorts them: descending for `k > 0`, ascending for `k < 0`.
//! The output has the input's chunks along the other axes and one chunk of
//! `|k|` along the axis.
//!
//! NaN is larger than every number, as in NumPy's `sort`/`partition`: it
//! comes first in a `topk` with `k > 0` and last (so only when there are
//! too few numbers) for `k < 0`. Ties keep the lower index first (NumPy's
//! `argpartition` leaves their order unspecified).

use std::cmp::Ordering;
use std::sync::Arc;

use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn};
use oxidask_graph::{
    BlockArg, Blockwise, DataOp, OpError, SerdeCodec, TreeLayer, Value, name_for, register_data_op,
    split_factors,
};
use serde::{Deserialize, Serialize};

use crate::array::Array;
use crate::dataop::{arg, with_number};
use crate::element::{DType, Number};
use crate::error::{Result, invalid};
use crate::expr::chunk_value;
use crate::grid::{Grid, normalize_axis};
use crate::reduce::DEFAULT_SPLIT_EVERY;

/// What every topk op carries.
#[derive(Clone, Copy, Serialize, Deserialize)]
struct TopK {
    dtype: DType,
    k: i64,
    axis: usize,
    /// Return positions (`argtopk`) rather than values.
    arg: bool,
}

/// Candidates of one block or group: values and their global positions
/// along the axis, the axis holding at most `|k|` of them.
#[derive(Clone, Serialize, Deserialize)]
#[serde(bound = "T: Number")]
struct Part<T: Number> {
    shape: Vec<usize>,
    values: Vec<T>,
    index: Vec<i64>,
}

/// Whether `a` goes before `b`: by value (descending for `largest`), NaN
/// as the largest value, ties by position.
fn order<T: Number>(largest: bool, a: (T, i64), b: (T, i64)) -> Ordering {
    let by_value = match (a.0.is_nan(), b.0.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => a.0.partial_cmp(&b.0).unwrap_or(Ordering::Equal),
    };
    let by_value = if largest {
        by_value.reverse()
    } else {
        by_value
    };
    by_value.then(a.1.cmp(&b.1))
}

/// The best `|k|` candidates of every lane of `values` along `axis`,
/// sorted when `sort`.
fn select<T: Number>(
    values: ArrayViewD<T>,
    index: ArrayViewD<i64>,
    t: &TopK,
    sort: bool,
) -> Result<Part<T>, OpError> {
    let largest = t.k > 0;
    let len = values.shape()[t.axis];
    let m = (t.k.unsigned_abs() as usize).min(len);
    let mut shape = values.shape().to_vec();
    shape[t.axis] = m;
    // Lanes in row-major order of the other axes; results laid out with
    // the axis last, then moved back.
    let mut vout = Vec::with_capacity(shape.iter().product());
    let mut iout = Vec::with_capacity(vout.capacity());
    let mut lane: Vec<(T, i64)> = Vec::with_capacity(len);
    for (v, i) in values
        .lanes(Axis(t.axis))
        .into_iter()
        .zip(index.lanes(Axis(t.axis)))
    {
        lane.clear();
        lane.extend(v.iter().copied().zip(i.iter().copied()));
        let cmp = |a: &(T, i64), b: &(T, i64)| order(largest, *a, *b);
        if m < lane.len() && m > 0 {
            lane.select_nth_unstable_by(m - 1, cmp);
        }
        lane.truncate(m);
        if sort {
            lane.sort_unstable_by(cmp);
        }
        vout.extend(lane.iter().map(|p| p.0));
        iout.extend(lane.iter().map(|p| p.1));
    }
    let mut last = shape.clone();
    last.remove(t.axis);
    last.push(m);
    let perm = {
        let mut p: Vec<usize> = (0..last.len() - 1).collect();
        p.insert(t.axis, last.len() - 1);
        p
    };
    Ok(Part {
        values: axis_back(vout, &last, &perm)?,
        index: axis_back(iout, &last, &perm)?,
        shape,
    })
}

/// Data laid out with the axis last (`shape`), in row-major order with
/// the axis back in its place (`perm`).
fn axis_back<A: Copy>(v: Vec<A>, shape: &[usize], perm: &[usize]) -> Result<Vec<A>, OpError> {
    let a = ArrayD::from_shape_vec(IxDyn(shape), v)?;
    Ok(a.permuted_axes(IxDyn(perm))
        .as_standard_layout()
        .iter()
        .copied()
        .collect())
}

fn part_value<T: Number>(p: Part<T>) -> Value {
    let n = p.values.len() * std::mem::size_of::<T>() + p.index.len() * 8;
    Value::with_codec::<_, SerdeCodec>(p, n)
}

/// The chunk op. Arguments: the block, its index.
#[derive(Serialize, Deserialize)]
struct TopKChunk {
    t: TopK,
    /// Where each block starts along the axis.
    starts: Vec<usize>,
}

impl TopKChunk {
    fn run_t<T: Number>(&self, args: &[Value]) -> Result<Value, OpError> {
        let block = arg(args, 0, Self::NAME)?.downcast_ref::<ArrayD<T>>()?;
        let idx = arg(args, 1, Self::NAME)?.downcast_ref::<Vec<u32>>()?;
        let at = idx.get(self.t.axis).copied().unwrap_or(u32::MAX) as usize;
        let (Some(&start), true) = (self.starts.get(at), self.t.axis < block.ndim()) else {
            return Err(format!("{}: block {idx:?} is not in the grid", Self::NAME).into());
        };
        let index = ArrayD::from_shape_fn(block.raw_dim(), |p| (start + p[self.t.axis]) as i64);
        Ok(part_value(select(
            block.view(),
            index.view(),
            &self.t,
            false,
        )?))
    }
}

impl DataOp for TopKChunk {
    const NAME: &'static str = "oxidask.array.topk-chunk";

    fn run(&self, args: Vec<Value>) -> Result<Value, OpError> {
        with_number!(self.t.dtype, T => self.run_t::<T>(&args))
    }
}

register_data_op!(TopKChunk);

/// The combine (`finish == false`) and finish ops. Arguments: the parts.
#[derive(Serialize, Deserialize)]
struct TopKMerge {
    t: TopK,
    finish: bool,
}

impl TopKMerge {
    fn run_t<T: Number>(&self, args: Vec<Value>) -> Result<Value, OpError> {
        let parts = args
            .iter()
            .map(|v| v.downcast_ref::<Part<T>>())
            .collect::<Result<Vec<_>, _>>()?;
        let mut vals = Vec::with_capacity(parts.len());
        let mut idxs = Vec::with_capacity(parts.len());
        for p in &parts {
            vals.push(ArrayViewD::from_shape(IxDyn(&p.shape), &p.values)?);
            idxs.push(ArrayViewD::from_shape(IxDyn(&p.shape), &p.index)?);
        }
        if vals.is_empty() {
            return Err(format!("{}: no partial results", self.label()).into());
        }
        let v = ndarray::concatenate(Axis(self.t.axis), &vals)?;
        let i = ndarray::concatenate(Axis(self.t.axis), &idxs)?;
        let best = select(v.view(), i.view(), &self.t, self.finish)?;
        if !self.finish {
            return Ok(part_value(best));
        }
        if best.shape[self.t.axis] as u64 != self.t.k.unsigned_abs() {
            return Err(format!(
                "{}: {} candidates along axis {} for k = {}",
                self.label(),
                best.shape[self.t.axis],
                self.t.axis,
                self.t.k
            )
            .into());
        }
        Ok(if self.t.arg {
            chunk_value(ArrayD::from_shape_vec(IxDyn(&best.shape), best.index)?)
        } else {
            chunk_value(ArrayD::from_shape_vec(IxDyn(&best.shape), best.values)?)
        })
    }
}

impl DataOp for TopKMerge {
    const NAME: &'static str = "oxidask.array.topk-merge";

    fn label(&self) -> &str {
        match (self.t.arg, self.finish) {
            (false, false) => "topk-combine",
            (false, true) => "topk",
            (true, false) => "argtopk-combine",
            (true, true) => "argtopk",
        }
    }

    fn run(&self, args: Vec<Value>) -> Result<Value, OpError> {
        with_number!(self.t.dtype, T => self.run_t::<T>(args))
    }
}

register_data_op!(TopKMerge);

impl<T: Number> Array<T> {
    /// The `k` largest elements along the last axis, sorted descending; for
    /// negative `k`, the `|k|` smallest, sorted ascending
    /// (`dask.array.topk(x, k)`); see [`topk_with`](Array::topk_with).
    ///
    /// ```
    /// use oxidask_array as da;
    /// let x = da::from_array(da::ndarray::arr1(&[5, 1, 9, 3, 7]).into_dyn(), 2)?;
    /// assert_eq!(x.topk(2)?.compute()?.as_slice().unwrap(), &[9, 7]);
    /// assert_eq!(x.topk(-2)?.compute()?.as_slice().unwrap(), &[1, 3]);
    /// assert_eq!(x.argtopk(2)?.compute()?.as_slice().unwrap(), &[2, 4]);
    /// # Ok::<(), da::Error>(())
    /// ```
    pub fn topk(&self, k: i64) -> Result<Array<T>> {
        self.topk_with(k, -1, None)
    }

    /// `topk` along `axis`, merging up to `split_every` partial results per
    /// task (default 16). An error when `k` is 0 or `|k|` exceeds the axis'
    /// length.
    pub fn topk_with(&self, k: i64, axis: isize, split_every: Option<usize>) -> Result<Array<T>> {
        self.top_k(k, axis, split_every, false)
    }

    /// The positions along the last axis of the `k` largest elements (of
    /// the `|k|` smallest for negative `k`), in `topk`'s order
    /// (`dask.array.argtopk`).
    pub fn argtopk(&self, k: i64) -> Result<Array<i64>> {
        self.argtopk_with(k, -1, None)
    }

    /// `argtopk` along `axis`; see [`topk_with`](Array::topk_with).
    pub fn argtopk_with(
        &self,
        k: i64,
        axis: isize,
        split_every: Option<usize>,
    ) -> Result<Array<i64>> {
        self.top_k(k, axis, split_every, true)
    }

    fn top_k<O: crate::element::Element>(
        &self,
        k: i64,
        axis: isize,
        split_every: Option<usize>,
        arg: bool,
    ) -> Result<Array<O>> {
        self.check()?;
        if self.ndim() == 0 {
            return Err(invalid("self", "topk of a 0-d array".to_string()));
        }
        let axis = normalize_axis(axis, self.ndim(), "axis")?;
        let len = self.shape()[axis];
        if k == 0 || k.unsigned_abs() > len as u64 {
            return Err(invalid(
                "k",
                format!(
                    "must be non-zero with |k| at most {len} (the length of axis {axis}), got {k}"
                ),
            ));
        }
        let split_every = split_every.unwrap_or(DEFAULT_SPLIT_EVERY);
        if split_every < 2 {
            return Err(invalid(
                "split_every",
                format!("must be at least 2, got {split_every}"),
            ));
        }
        let what = if arg { "argtopk" } else { "topk" };
        let t = TopK {
            dtype: T::DTYPE,
            k,
            axis,
            arg,
        };
        let base: Arc<str> = name_for(what, &(&*self.name, k, axis, split_every)).into();
        let chunk_name: Arc<str> = format!("{base}-chunk").into();
        let m = k.unsigned_abs() as usize;
        let mut chunks = self.grid.chunks.clone();
        chunks[axis] = chunks[axis].iter().map(|&c| c.min(m)).collect();
        let starts = self.grid.chunks[axis]
            .iter()
            .scan(0, |s, &c| {
                let at = *s;
                *s += c;
                Some(at)
            })
            .collect();
        let chunk = Array::<T>::from_layer(
            chunk_name.clone(),
            what,
            Grid::new(chunks),
            Arc::new(Blockwise::new(
                Arc::new(TopKChunk { t, starts }),
                vec![BlockArg::block(self.name.clone()), BlockArg::Index],
            )),
            &[&self.graph],
        );
        let nb = self.grid.numblocks();
        let factor = split_factors(&nb, &[axis], split_every);
        let tree = TreeLayer::new(
            base.clone(),
            chunk_name,
            nb,
            factor,
            true,
            false,
            Arc::new(TopKMerge { t, finish: false }),
            Arc::new(TopKMerge { t, finish: true }),
        )?;
        let mut out = self.grid.chunks.clone();
        out[axis] = vec![m];
        Ok(Array::from_any_layer(
            base,
            Grid::new(out),
            Arc::new(tree),
            &[&chunk.graph],
        ))
    }
}

// The candidates of every numeric dtype, decodable by codec id in another
// process of the program (a cluster moves them between workers).
macro_rules! register_parts {
    ($($t:ty),*) => {$(
        oxidask_graph::register_value!(Part<$t>, SerdeCodec);
    )*};
}
register_parts!(f64, f32, i64, i32, i16, i8, u64, u32, u16, u8);
