//! Arrays from data and from formulas: `from_array`, `zeros`, `ones`,
//! `full`, `arange`, `linspace`.
//!
//! Each is one layer of source tasks, one per block, made by the block's
//! index: a task computes or copies just its block when it runs, so a
//! `zeros` of a billion elements costs nothing until its blocks are needed.

use std::sync::Arc;

use ndarray::{ArrayD, ArrayView1, SliceInfoElem};
use oxidask_graph::{Arg, FnOp, Op, OpError, Task, Tokenize, Value, name_for};

use crate::array::{Array, grid_for, unique_token};
use crate::element::{Element, Number, Real};
use crate::error::{Result, invalid};
use crate::expr::chunk_value;
use crate::grid::{Chunks, Grid};
use crate::layer::Pattern;
use crate::stream::{Fill, Filler, OpenFill, PIECE, Visit, fill_block};

type BlockFn = dyn Fn(&[u32]) -> Result<Value, OpError> + Send + Sync;

/// Tasks without inputs: block `idx` is `f(idx)`.
pub(crate) struct Source {
    op: Arc<dyn Op>,
}

impl Source {
    pub fn new(name: &str, f: Arc<BlockFn>) -> Source {
        let op = FnOp::arc(name.to_string(), move |args: Vec<Value>| {
            let idx = args
                .first()
                .ok_or("a source task needs its block index")?
                .downcast_ref::<Vec<u32>>()?;
            f(idx)
        });
        Source { op }
    }
}

impl Pattern for Source {
    fn task(&self, idx: &[u32]) -> Task {
        Task::new(self.op.clone(), vec![Arg::Value(Value::new(idx.to_vec()))])
    }

    fn inputs(&self) -> Vec<Arc<str>> {
        Vec::new()
    }
}

/// A source array of `grid` whose blocks come from the filler `open`
/// (whole blocks for tasks, pieces for streaming reductions), named by
/// `prefix` and `token`.
pub(crate) fn source<T: Element>(
    prefix: &str,
    token: &impl Tokenize,
    grid: Grid,
    open: impl Fn(&Grid, &[u32]) -> Fill<T> + Send + Sync + 'static,
) -> Array<T> {
    let open: OpenFill<T> = Arc::new(open);
    let o = open.clone();
    source_parts(
        prefix,
        token,
        grid,
        move |g, idx| fill_block(&*o, g, idx),
        open,
    )
}

/// [`source`] with a faster way to make whole blocks.
pub(crate) fn source_parts<T: Element>(
    prefix: &str,
    token: &impl Tokenize,
    grid: Grid,
    block: impl Fn(&Grid, &[u32]) -> Result<ArrayD<T>, OpError> + Send + Sync + 'static,
    open: OpenFill<T>,
) -> Array<T> {
    let name: Arc<str> = name_for(prefix, &(token, &grid.chunks, T::DTYPE as u8)).into();
    let g = Arc::new(grid.clone());
    let g2 = g.clone();
    let pattern = Source::new(
        prefix,
        Arc::new(move |idx: &[u32]| Ok(chunk_value(block(&g2, idx)?))),
    );
    let mut a = Array::from_layer(name, "source", grid, Arc::new(pattern), &[]);
    a.stream = Some(Arc::new(Filler { grid: g, open }));
    a
}

pub(crate) fn block_slice(grid: &Grid, idx: &[u32]) -> Vec<SliceInfoElem> {
    let start = grid.block_start(idx);
    let shape = grid.block_shape(idx);
    start
        .iter()
        .zip(&shape)
        .map(|(&s, &n)| SliceInfoElem::from(s..s + n))
        .collect()
}

/// Splits an in-memory array into chunks.
///
/// ```
/// use oxidask_array as da;
/// let a = ndarray::Array::from_shape_fn((4, 6), |(i, j)| (i * 6 + j) as f64).into_dyn();
/// let x = da::from_array(a.clone(), [2, 4])?;
/// assert_eq!(x.chunks(), &[vec![2, 2], vec![4, 2]]);
/// assert_eq!(x.compute()?, a);
/// # Ok::<(), da::Error>(())
/// ```
pub fn from_array<T: Element>(data: ArrayD<T>, chunks: impl Into<Chunks>) -> Result<Array<T>> {
    let grid = grid_for(data.shape(), &chunks.into(), "chunks")?;
    let data = Arc::new(data);
    // Data is not hashed: each call names a new layer, like a closure.
    let d = data.clone();
    let open = Arc::new(move |g: &Grid, idx: &[u32]| -> Fill<T> {
        let (data, info, mut pos) = (d.clone(), block_slice(g, idx), 0);
        Box::new(move |out: &mut Vec<T>, len: usize| {
            let v = data.slice(info.as_slice());
            match v.as_slice() {
                Some(s) => out.extend_from_slice(&s[pos..pos + len]),
                None => out.extend(v.iter().skip(pos).take(len).copied()),
            }
            pos += len;
            Ok(())
        })
    });
    let (d, g) = (data.clone(), Arc::new(grid.clone()));
    let visit: Visit<T> = Arc::new(move |idx, f| {
        let v = d.slice(block_slice(&g, idx).as_slice());
        let mut buf = Vec::new();
        let xs = match v.as_slice() {
            Some(s) => s,
            None => {
                buf.extend(v.iter().copied());
                &buf[..]
            }
        };
        for (k, piece) in xs.chunks(PIECE).enumerate() {
            f(ArrayView1::from(piece), k * PIECE);
        }
        if xs.is_empty() {
            f(ArrayView1::from(xs), 0);
        }
    });
    let mut a = source_parts(
        "array",
        &unique_token(),
        grid,
        move |g, idx| Ok(data.slice(block_slice(g, idx).as_slice()).to_owned()),
        open,
    );
    a.visit = Some(visit);
    Ok(a)
}

/// An array of `shape` filled with `value`.
pub fn full<T: Element>(shape: &[usize], value: T, chunks: impl Into<Chunks>) -> Result<Array<T>> {
    let grid = grid_for(shape, &chunks.into(), "chunks")?;
    Ok(source("full", &value, grid, move |_, _| {
        Box::new(move |out: &mut Vec<T>, len: usize| {
            out.extend(std::iter::repeat_n(value, len));
            Ok(())
        })
    }))
}

/// An array of `shape` filled with zeros.
pub fn zeros<T: Number>(shape: &[usize], chunks: impl Into<Chunks>) -> Result<Array<T>> {
    full(shape, T::zero(), chunks)
}

/// An array of `shape` filled with ones.
pub fn ones<T: Number>(shape: &[usize], chunks: impl Into<Chunks>) -> Result<Array<T>> {
    full(shape, T::one(), chunks)
}

/// Values `start, start + step, …` below `stop` (above, for a negative
/// step), like `numpy.arange`.
pub fn arange<T: Number>(
    start: T,
    stop: T,
    step: T,
    chunks: impl Into<Chunks>,
) -> Result<Array<T>> {
    let (a, b, s) = (start.cast::<f64>(), stop.cast::<f64>(), step.cast::<f64>());
    if s == 0.0 || !s.is_finite() || !a.is_finite() || !b.is_finite() {
        return Err(invalid(
            "step",
            format!(
                "arange needs a finite non-zero step and bounds, got start={a}, stop={b}, step={s}"
            ),
        ));
    }
    let n = ((b - a) / s).ceil().max(0.0);
    // Checked before the cast, which would saturate (n is never NaN: the
    // bounds and step are finite).
    if n > crate::grid::MAX_ELEMENTS as f64 {
        return Err(invalid(
            "stop",
            format!(
                "arange from {a} to {b} by {s} would have {n:e} elements, more than the \
                 2^60 an array can hold"
            ),
        ));
    }
    let n = n as usize;
    let grid = grid_for(&[n], &chunks.into(), "chunks")?;
    Ok(source(
        "arange",
        &(start, stop, step),
        grid,
        move |g, idx| {
            let mut k = g.block_start(idx)[0];
            Box::new(move |out: &mut Vec<T>, len: usize| {
                out.extend((k..k + len).map(|i| start.add((i as i64).cast::<T>().mul(step))));
                k += len;
                Ok(())
            })
        },
    ))
}

/// `num` evenly spaced values from `start` to `stop` (included when
/// `endpoint`), like `numpy.linspace`.
pub fn linspace<T: Real>(
    start: T,
    stop: T,
    num: usize,
    endpoint: bool,
    chunks: impl Into<Chunks>,
) -> Result<Array<T>> {
    let grid = grid_for(&[num], &chunks.into(), "chunks")?;
    let div = if endpoint { num.saturating_sub(1) } else { num };
    let step = if div > 0 {
        (stop - start) / T::from_f64(div as f64)
    } else {
        <T as Number>::zero()
    };
    Ok(source(
        "linspace",
        &(start, stop, num, endpoint),
        grid,
        move |g, idx| {
            let mut lo = g.block_start(idx)[0];
            Box::new(move |out: &mut Vec<T>, len: usize| {
                out.extend((lo..lo + len).map(|k| {
                    if endpoint && k + 1 == num && num > 1 {
                        stop
                    } else {
                        start + T::from_f64(k as f64) * step
                    }
                }));
                lo += len;
                Ok(())
            })
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::IxDyn;

    #[test]
    fn creation_matches_ndarray() {
        let z = zeros::<f64>(&[5, 3], 2).unwrap();
        assert_eq!(z.compute().unwrap(), ArrayD::<f64>::zeros(IxDyn(&[5, 3])));
        let a = arange(0i64, 10, 3, 2).unwrap();
        assert_eq!(
            a.compute().unwrap().into_raw_vec_and_offset().0,
            vec![0, 3, 6, 9]
        );
        let a = arange(1.0f64, 0.0, -0.25, 3).unwrap();
        assert_eq!(
            a.compute().unwrap().into_raw_vec_and_offset().0,
            vec![1.0, 0.75, 0.5, 0.25]
        );
        let l = linspace(0.0f64, 1.0, 5, true, 2).unwrap();
        assert_eq!(
            l.compute().unwrap().into_raw_vec_and_offset().0,
            vec![0.0, 0.25, 0.5, 0.75, 1.0]
        );
        let l = linspace(0.0f64, 1.0, 4, false, 3).unwrap();
        assert_eq!(
            l.compute().unwrap().into_raw_vec_and_offset().0,
            vec![0.0, 0.25, 0.5, 0.75]
        );
        assert!(
            arange(0.0, 1.0, 0.0, 2)
                .unwrap_err()
                .to_string()
                .contains("`step`")
        );
        assert!(
            full(&[3], true, [4])
                .unwrap()
                .compute()
                .unwrap()
                .iter()
                .all(|&b| b)
        );
    }
}
