//! Changing the chunking of an array.
//!
//! Each output block is one task reading exactly the input blocks that
//! overlap it and copying the overlapping pieces; a block that equals an
//! input block is passed through without a copy. When an output block
//! would read much more than a block's worth of input (rows to columns),
//! the rechunk runs in two stages, like Dask's staged plan: every input
//! block is first cut along the output boundaries (the common refinement
//! of both chunkings), then each output block gathers its pieces. No task
//! then holds more than one input block or one output block (plus its
//! pieces); how many pieces wait at once is the scheduler's ordering and
//! memory limit's business.
//!
//! The op is data: the dtype and both grids, shared by every task of the
//! layer; a task's arguments are its block index and the blocks it reads.

use std::ops::Range;
use std::sync::Arc;

use ndarray::{ArrayD, IxDyn, SliceInfoElem};
use oxidask_graph::{Arg, DataOp, Key, OpError, Task, Value, name_for, register_data_op};
use serde::{Deserialize, Serialize};

use crate::array::Array;
use crate::dataop::block_index;
use crate::element::{DType, Element, with_dtype};
use crate::error::Result;
use crate::expr::chunk_value;
use crate::grid::{Chunks, Grid};
use oxidask_graph::Pattern;

/// An input chunk, its overlapping range, and where that lands in the output block.
type Overlap = (u32, Range<usize>, Range<usize>);

/// For output range `[s, e)` of one axis, the input chunks overlapping it
/// with the overlap in input-block and output-block coordinates.
fn overlaps(starts: &[usize], s: usize, e: usize) -> Vec<Overlap> {
    let mut out = Vec::new();
    if s == e {
        return out;
    }
    let mut j = starts[1..].partition_point(|&x| x <= s);
    while j + 1 < starts.len() && starts[j] < e {
        let (a, b) = (starts[j], starts[j + 1]);
        if b > a {
            let lo = a.max(s);
            let hi = b.min(e);
            out.push((j as u32, lo - a..hi - a, lo - s..hi - s));
        }
        j += 1;
    }
    out
}

/// Per axis, the overlaps of output block `idx`.
fn plan(input: &Grid, output: &Grid, idx: &[u32]) -> Vec<Vec<Overlap>> {
    let start = output.block_start(idx);
    let shape = output.block_shape(idx);
    (0..output.ndim())
        .map(|k| overlaps(&input.starts[k], start[k], start[k] + shape[k]))
        .collect()
}

/// Calls `f` with each combination (cartesian product) of per-axis items.
fn product<I: Clone>(axes: &[Vec<I>], mut f: impl FnMut(&[I])) {
    if axes.iter().any(|a| a.is_empty()) {
        return;
    }
    let mut pos = vec![0usize; axes.len()];
    let mut cur: Vec<I> = axes.iter().map(|a| a[0].clone()).collect();
    loop {
        f(&cur);
        let mut k = axes.len();
        loop {
            if k == 0 {
                return;
            }
            k -= 1;
            pos[k] += 1;
            if pos[k] < axes[k].len() {
                cur[k] = axes[k][pos[k]].clone();
                break;
            }
            pos[k] = 0;
            cur[k] = axes[k][0].clone();
        }
    }
}

/// Output block `idx` reads the input blocks it overlaps, in the order
/// [`product`] visits them.
struct Rechunk {
    input: Arc<str>,
    op: Arc<RechunkOp>,
}

impl Pattern for Rechunk {
    fn task(&self, idx: &[u32]) -> Task {
        let mut args = vec![Arg::Value(Value::new(idx.to_vec()))];
        product(&plan(&self.op.input, &self.op.output, idx), |pieces| {
            let i: Vec<u32> = pieces.iter().map(|p| p.0).collect();
            args.push(Arg::Key(Key::with_index(self.input.clone(), &i)));
        });
        Task::new(self.op.clone(), args)
    }

    fn inputs(&self) -> Vec<Arc<str>> {
        vec![self.input.clone()]
    }
}

/// Output block `idx` of grid `output`, copied together from the input
/// blocks of grid `input` it overlaps. Arguments: the output block index,
/// then the input blocks in [`product`] order. An output block equal to
/// its one input block is that block, passed on without a copy.
#[derive(Serialize, Deserialize)]
struct RechunkOp {
    dtype: DType,
    input: Arc<Grid>,
    output: Arc<Grid>,
}

impl DataOp for RechunkOp {
    const NAME: &'static str = "oxidask.array.rechunk";

    fn label(&self) -> &str {
        "rechunk"
    }

    fn run(&self, args: Vec<Value>) -> Result<Value, OpError> {
        let idx = block_index(&args, 0, &self.output, "rechunk")?.to_vec();
        if self.input.ndim() != self.output.ndim() {
            return Err(format!(
                "rechunk: grids of {} and {} dimensions",
                self.input.ndim(),
                self.output.ndim()
            )
            .into());
        }
        with_dtype!(self.dtype, T => rechunk_block::<T>(&self.input, &self.output, &idx, args))
    }
}
register_data_op!(RechunkOp);

/// See [`RechunkOp`]; `args[0]` is the block index.
fn rechunk_block<T: Element>(
    input: &Grid,
    output: &Grid,
    idx: &[u32],
    mut args: Vec<Value>,
) -> Result<Value, OpError> {
    let shape = output.block_shape(idx);
    let plan = plan(input, output, idx);
    let pieces: usize = plan.iter().map(|p| p.len()).product();
    if args.len() != pieces + 1 {
        return Err(format!(
            "rechunk: block {idx:?} reads {pieces} input blocks, its task has {}",
            args.len() - 1
        )
        .into());
    }
    if args.len() == 2 {
        let whole = plan.iter().zip(&shape).all(|(p, &n)| p[0].2 == (0..n));
        let src = args.pop().expect("two arguments");
        if whole && src.downcast_ref::<ArrayD<T>>()?.shape() == shape.as_slice() {
            return Ok(src);
        }
        args.push(src);
    }
    let mut out = ArrayD::<T>::default(IxDyn(&shape));
    let mut inputs = args.into_iter().skip(1);
    let mut failed = None;
    product(&plan, |pieces| {
        let Some(v) = inputs.next() else {
            failed = Some("fewer inputs than pieces".to_string());
            return;
        };
        match v.downcast_ref::<ArrayD<T>>() {
            Ok(block)
                if block.ndim() != pieces.len()
                    || pieces.iter().zip(block.shape()).any(|(p, &n)| p.1.end > n) =>
            {
                failed = Some(format!(
                    "an input block of shape {:?} is smaller than the grid says",
                    block.shape()
                ));
            }
            Ok(block) => {
                let src: Vec<SliceInfoElem> = pieces
                    .iter()
                    .map(|p| SliceInfoElem::from(p.1.clone()))
                    .collect();
                let dst: Vec<SliceInfoElem> = pieces
                    .iter()
                    .map(|p| SliceInfoElem::from(p.2.clone()))
                    .collect();
                out.slice_mut(dst.as_slice())
                    .assign(&block.slice(src.as_slice()));
            }
            Err(e) => failed = Some(e.to_string()),
        }
    });
    if let Some(e) = failed {
        return Err(format!("rechunk: {e}").into());
    }
    Ok(chunk_value(out))
}

impl<T: Element> Array<T> {
    /// The same values cut into new chunks.
    ///
    /// ```
    /// use oxidask_array as da;
    /// let x = da::arange(0i64, 10, 1, 3)?;
    /// let y = x.rechunk(vec![vec![5, 5]])?;
    /// assert_eq!(y.chunks(), &[vec![5, 5]]);
    /// assert_eq!(y.compute()?, x.compute()?);
    /// # Ok::<(), da::Error>(())
    /// ```
    pub fn rechunk(&self, chunks: impl Into<Chunks>) -> Result<Array<T>> {
        self.check()?;
        let out = Grid::new(chunks.into().resolve(self.shape(), "chunks")?);
        if out == *self.grid {
            return Ok(self.clone());
        }
        if self.needs_stages(&out) {
            // Cut every input block along the output boundaries first, so
            // no task holds more than one input block or one output block.
            let pieces: Vec<Vec<usize>> = (0..self.ndim())
                .map(|a| crate::elementwise::refine(&self.grid.chunks[a], &out.chunks[a]))
                .collect();
            return self.rechunk_direct(Grid::new(pieces))?.rechunk_direct(out);
        }
        self.rechunk_direct(out)
    }

    /// Whether reading, for some output block, all the input blocks it
    /// overlaps could take more than 4× the larger of an input and an output
    /// block (e.g. rows to columns).
    fn needs_stages(&self, out: &Grid) -> bool {
        let mut bound = 1usize;
        let (mut max_in, mut max_out) = (1usize, 1usize);
        for a in 0..self.ndim() {
            let starts = &self.grid.starts[a];
            let widest = (0..out.chunks[a].len())
                .map(|j| {
                    let (s, e) = (out.starts[a][j], out.starts[a][j + 1]);
                    overlaps(starts, s, e)
                        .iter()
                        .map(|o| self.grid.chunks[a][o.0 as usize])
                        .sum::<usize>()
                })
                .max()
                .unwrap_or(0);
            bound = bound.saturating_mul(widest);
            max_in = max_in.saturating_mul(self.grid.chunks[a].iter().copied().max().unwrap_or(0));
            max_out = max_out.saturating_mul(out.chunks[a].iter().copied().max().unwrap_or(0));
        }
        bound > 4usize.saturating_mul(max_in.max(max_out))
    }

    /// One layer: each output block reads the input blocks it overlaps.
    fn rechunk_direct(&self, out: Grid) -> Result<Array<T>> {
        let name: Arc<str> = name_for("rechunk", &(&*self.name, &out.chunks)).into();
        let op = Arc::new(RechunkOp {
            dtype: T::DTYPE,
            input: self.grid.clone(),
            output: Arc::new(out.clone()),
        });
        let pattern = Rechunk {
            input: self.name.clone(),
            op,
        };
        Ok(Array::from_layer(
            name,
            "rechunk",
            out,
            Arc::new(pattern),
            &[&self.graph],
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlaps_cover_the_range() {
        let starts = [0, 3, 3, 7, 10];
        let o = overlaps(&starts, 2, 8);
        assert_eq!(o, vec![(0, 2..3, 0..1), (2, 0..4, 1..5), (3, 0..1, 5..6)]);
        assert!(overlaps(&starts, 4, 4).is_empty());
    }

    #[test]
    fn rechunk_2d_ragged() {
        let a = ndarray::Array::from_shape_fn((7, 5), |(i, j)| (i * 5 + j) as i32).into_dyn();
        let x = crate::from_array(a.clone(), vec![vec![3, 0, 4], vec![2, 3]]).unwrap();
        let y = x.rechunk(vec![vec![1, 6], vec![5]]).unwrap();
        assert_eq!(y.compute().unwrap(), a);
        let z = y.rechunk(2).unwrap();
        assert_eq!(z.chunks(), &[vec![2, 2, 2, 1], vec![2, 2, 1]]);
        assert_eq!(z.compute().unwrap(), a);
        assert!(
            x.rechunk(vec![vec![3], vec![5]])
                .unwrap_err()
                .to_string()
                .contains("`chunks`")
        );
    }
}
