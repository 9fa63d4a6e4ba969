//! Arrays from data and from formulas: `from_array`, `zeros`, `ones`,
//! `full`, `arange`, `linspace`.
//!
//! Each is one layer of source tasks, one per block, made by the block's
//! index: a task computes or copies just its block when it runs, so a
//! `zeros` of a billion elements costs nothing until its blocks are needed.

use std::sync::Arc;

use ndarray::ArrayD;
use oxidask_graph::{BlockArg, Blockwise, Tokenize, name_for};

use crate::array::{Array, grid_for, unique_token};
use crate::element::{Element, Number, Real};
use crate::error::{Result, invalid};
use crate::grid::{Chunks, Grid};
use crate::source::{InMemory, SourceOp, SourceSpec};

/// A source array of `grid` whose blocks `spec` describes, named by
/// `prefix` and `token`: one layer of tasks sharing one [`SourceOp`],
/// which is also the array's stream of pieces for full reductions.
pub(crate) fn source<T: Element>(
    prefix: &str,
    token: &impl Tokenize,
    grid: Grid,
    spec: SourceSpec<T>,
) -> Result<Array<T>> {
    let name: Arc<str> = name_for(prefix, &(token, &grid.chunks, T::DTYPE as u8)).into();
    let op = Arc::new(
        SourceOp::new(prefix, spec, Arc::new(grid.clone()))
            .map_err(|e| invalid("dtype", format!("{prefix}: {e}")))?,
    );
    let visit = op.visit();
    // Tasks without inputs: block `idx` is the source op on `idx`.
    let pattern = Blockwise::new(op.clone(), vec![BlockArg::Index]);
    let mut a = Array::from_layer(name, "source", grid, Arc::new(pattern), &[]);
    a.stream = Some(op);
    a.visit = visit;
    Ok(a)
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
    // Data is not hashed: each call names a new layer, like a closure.
    source(
        "array",
        &unique_token(),
        grid,
        SourceSpec::Array(InMemory(Arc::new(data))),
    )
}

/// An array of `shape` filled with `value`.
pub fn full<T: Element>(shape: &[usize], value: T, chunks: impl Into<Chunks>) -> Result<Array<T>> {
    let grid = grid_for(shape, &chunks.into(), "chunks")?;
    source("full", &value, grid, SourceSpec::Full { value })
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
    source(
        "arange",
        &(start, stop, step),
        grid,
        SourceSpec::Arange { start, step },
    )
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
    source(
        "linspace",
        &(start, stop, num, endpoint),
        grid,
        SourceSpec::Linspace {
            start,
            stop,
            num,
            endpoint,
        },
    )
}

/// An array whose block `(name, i, j, …)` is computed by `graph` (Dask's
/// `Array(dask, name, chunks, dtype)`): how other collections hand their
/// pieces to arrays, e.g. a data frame's columns. Each block must be a
/// value made by [`block_value`] holding an `ndarray::ArrayD<T>` of the
/// shape `chunks` gives it.
pub fn from_block_graph<T: Element>(
    graph: oxidask_graph::HighLevelGraph,
    name: Arc<str>,
    chunks: Vec<Vec<usize>>,
) -> Array<T> {
    Array::from_graph(graph, name, Grid::new(chunks))
}

/// A block of an array as a value the store can measure, spill and send
/// (see [`from_block_graph`]).
pub fn block_value<T: Element>(block: ArrayD<T>) -> oxidask_graph::Value {
    crate::expr::chunk_value(block)
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
