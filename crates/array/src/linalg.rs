//! Blocked matrix products: `matmul` (NumPy's rules: 1-d operands as
//! vectors, N-d operands as stacks of matrices with broadcast batch axes),
//! `dot` (1-d and 2-d); `tensordot` (its own module) builds on `matmul`.
//!
//! `C = A · B` is computed as Dask does: the contracted axis of both
//! operands is brought to one chunking (the common refinement), each task
//! multiplies one block of `A` by one block of `B` (`ndarray`'s `dot`,
//! blocked and vectorized by `matrixmultiply` for floats), and the partial
//! products of each output block are summed by a tree with `split_every`
//! blocks per task, so no task holds a whole row or column panel.
//!
//! The block product and the partial sums (`partial_sums`) are data ops
//! carrying the dtype, reaching the monomorphic kernels through
//! `with_number!`.

use std::sync::Arc;

use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayD, Axis, Dimension, Ix2, IxDyn, LinalgScalar, SliceInfoElem, s};
use oxidask_graph::{Arg, DataOp, Key, Op, OpError, Task, Value, name_for, register_data_op};
use serde::{Deserialize, Serialize};

use crate::array::Array;
use crate::dataop::{arg, with_number};
use crate::element::{DType, Number};
use crate::error::{Error, Result, invalid};
use crate::expr::chunk_value;
use crate::grid::Grid;
use crate::reduce::{DEFAULT_SPLIT_EVERY, Reduce};
use oxidask_graph::Pattern;

/// The product of one block of `A` and one block of `B`, with a trailing
/// axis of length 1 (the contracted block position, summed over by the
/// reduction). Blocks are 2-d, or N-d stacks of matrices whose leading
/// (batch) axes are equal or 1 (broadcast). Arguments: the two blocks.
#[derive(Serialize, Deserialize)]
struct MatmulBlock {
    dtype: DType,
}

fn matmul_block<T: Number + LinalgScalar>(x: &Value, y: &Value) -> Result<Value, OpError> {
    let (x, y) = (
        x.downcast_ref::<ArrayD<T>>()?,
        y.downcast_ref::<ArrayD<T>>()?,
    );
    let nd = x.ndim();
    let bad = || -> OpError {
        format!(
            "matmul: blocks of shapes {:?} and {:?}",
            x.shape(),
            y.shape()
        )
        .into()
    };
    if nd < 2 || y.ndim() != nd || x.shape()[nd - 1] != y.shape()[nd - 2] {
        return Err(bad());
    }
    if nd == 2 {
        let x = x.view().into_dimensionality::<Ix2>()?;
        let y = y.view().into_dimensionality::<Ix2>()?;
        return Ok(chunk_value(x.dot(&y).into_dyn().insert_axis(Axis(2))));
    }
    let nb = nd - 2;
    let mut shape = Vec::with_capacity(nd);
    for (&bx, &by) in x.shape()[..nb].iter().zip(&y.shape()[..nb]) {
        shape.push(match (bx, by) {
            _ if bx == by || by == 1 => bx,
            (1, _) => by,
            _ => return Err(bad()),
        });
    }
    let batch = shape.clone();
    shape.extend([x.shape()[nd - 2], y.shape()[nd - 1]]);
    let mut out = ArrayD::<T>::zeros(IxDyn(&shape));
    for bi in ndarray::indices(IxDyn(&batch)) {
        let (mut xv, mut yv, mut ov) = (x.view(), y.view(), out.view_mut());
        for (d, &i) in bi.slice().iter().enumerate() {
            // A batch axis of length 1 broadcasts: always its element 0.
            xv = xv.index_axis_move(Axis(0), if x.shape()[d] == 1 { 0 } else { i });
            yv = yv.index_axis_move(Axis(0), if y.shape()[d] == 1 { 0 } else { i });
            ov = ov.index_axis_move(Axis(0), i);
        }
        let mut ov = ov.into_dimensionality::<Ix2>()?;
        general_mat_mul(
            <T as Number>::one(),
            &xv.into_dimensionality::<Ix2>()?,
            &yv.into_dimensionality::<Ix2>()?,
            <T as Number>::zero(),
            &mut ov,
        );
    }
    Ok(chunk_value(out.insert_axis(Axis(nd))))
}

impl DataOp for MatmulBlock {
    const NAME: &'static str = "oxidask.array.matmul";

    fn label(&self) -> &str {
        "matmul"
    }

    fn run(&self, args: Vec<Value>) -> Result<Value, OpError> {
        let (x, y) = (arg(&args, 0, "matmul")?, arg(&args, 1, "matmul")?);
        with_number!(self.dtype, T => matmul_block::<T>(x, y))
    }
}
register_data_op!(MatmulBlock);

/// Task `(batch…, i, j, l)` multiplies block `(batch…, i, l)` of `A` by
/// block `(batch…, l, j)` of `B`; a batch axis an operand broadcasts
/// (length 1) reads its block 0.
struct Products {
    a: Arc<str>,
    b: Arc<str>,
    /// Per batch axis: whether `A`, `B` broadcast along it.
    a_bcast: Vec<bool>,
    b_bcast: Vec<bool>,
    op: Arc<dyn Op>,
}

impl Pattern for Products {
    fn task(&self, idx: &[u32]) -> Task {
        let nb = self.a_bcast.len();
        let (i, j, l) = (idx[nb], idx[nb + 1], idx[nb + 2]);
        let batch = |bcast: &[bool]| -> Vec<u32> {
            idx[..nb]
                .iter()
                .zip(bcast)
                .map(|(&x, &b)| if b { 0 } else { x })
                .collect()
        };
        let mut ka = batch(&self.a_bcast);
        ka.extend([i, l]);
        let mut kb = batch(&self.b_bcast);
        kb.extend([l, j]);
        Task::new(
            self.op.clone(),
            vec![
                Arg::Key(Key::with_index(self.a.clone(), &ka)),
                Arg::Key(Key::with_index(self.b.clone(), &kb)),
            ],
        )
    }

    fn inputs(&self) -> Vec<Arc<str>> {
        vec![self.a.clone(), self.b.clone()]
    }
}

fn refine(a: &[usize], b: &[usize]) -> Vec<usize> {
    crate::elementwise::refine(a, b)
}

/// `x` with `n` new leading axes of length 1.
fn lead<T: Number>(x: &Array<T>, n: usize) -> Result<Array<T>> {
    if n == 0 {
        return Ok(x.clone());
    }
    x.slice(vec![SliceInfoElem::NewAxis; n])
}

impl<T: Number + LinalgScalar> Array<T> {
    /// The matrix product by NumPy's `matmul` rules: 2-d operands multiply
    /// as matrices; a 1-d left operand is a row vector and a 1-d right one
    /// a column vector, the added axis removed from the result; N-d
    /// operands are stacks of matrices in their last two axes, whose
    /// leading (batch) axes broadcast.
    ///
    /// ```
    /// use oxidask_array as da;
    /// let a = da::arange(0.0f64, 6.0, 1.0, 4)?.reshape(&[3, 2])?;
    /// let b = da::ones::<f64>(&[2, 4], [1, 3])?;
    /// let c = a.matmul(&b)?.compute()?;
    /// assert_eq!(c.shape(), &[3, 4]);
    /// assert_eq!(c[[2, 3]], 4.0 + 5.0);
    /// let v = da::ones::<f64>(&[2], 1)?;
    /// assert_eq!(a.matmul(&v)?.shape(), &[3]);                    // matrix · vector
    /// let batch = da::ones::<f64>(&[5, 1, 4, 3], [2, 1, 4, 3])?;
    /// assert_eq!(batch.matmul(&a)?.shape(), &[5, 1, 4, 2]);      // (4, 3) · (3, 2), 5 times
    /// # Ok::<(), da::Error>(())
    /// ```
    pub fn matmul(&self, other: &Array<T>) -> Result<Array<T>> {
        self.matmul_with(other, &Reduce::all())
    }

    /// [`matmul`](Array::matmul) with `split_every` for the sums of
    /// partial products (only `opts`' `split_every` is used).
    pub fn matmul_with(&self, other: &Array<T>, opts: &Reduce) -> Result<Array<T>> {
        self.check()?;
        other.check()?;
        let (l, r) = (self.ndim(), other.ndim());
        if l == 0 || r == 0 {
            return Err(Error::Broadcast {
                op: "matmul (operands need at least one dimension)".into(),
                left: self.shape().to_vec(),
                right: other.shape().to_vec(),
            });
        }
        let a = if l == 1 {
            self.slice(s![ndarray::NewAxis, ..])?
        } else {
            self.clone()
        };
        let b = if r == 1 {
            other.slice(s![.., ndarray::NewAxis])?
        } else {
            other.clone()
        };
        let nd = a.ndim().max(b.ndim());
        let (a, b) = (lead(&a, nd - a.ndim())?, lead(&b, nd - b.ndim())?);
        let p = a.products_nd(&b, (self.shape(), other.shape()))?;
        let every = opts.split_every_value().unwrap_or(DEFAULT_SPLIT_EVERY);
        let c = crate::partial_sums::sum_partials(p, every)?;
        if l > 1 && r > 1 {
            return Ok(c);
        }
        // Drop the axes added to 1-d operands.
        let full = SliceInfoElem::Slice {
            start: 0,
            end: None,
            step: 1,
        };
        let mut info = vec![full; nd];
        if l == 1 {
            info[nd - 2] = SliceInfoElem::Index(0);
        }
        if r == 1 {
            info[nd - 1] = SliceInfoElem::Index(0);
        }
        c.slice(info)
    }

    /// The partial products of `self · other` (2-d, inner lengths
    /// checked): element `(i, j, l)` is row `i` of `self` times column `j`
    /// of `other` over the `l`-th chunk of the contracted axis (the common
    /// refinement of both operands' chunks there), one task per block.
    #[cfg(test)]
    pub(crate) fn products(&self, other: &Array<T>) -> Result<Array<T>> {
        if self.ndim() != 2 || other.ndim() != 2 {
            return Err(invalid("other", "products of 2-d arrays"));
        }
        self.products_nd(other, (self.shape(), other.shape()))
    }

    /// The partial products of two stacks of matrices of equal numbers of
    /// dimensions (at least 2), as [`products`](Array::products) with the
    /// batch axes first (equal lengths unified to the common refinement of
    /// their chunks, a length 1 broadcast). `shapes`: the operands as the
    /// user gave them, for errors.
    fn products_nd(&self, other: &Array<T>, shapes: (&[usize], &[usize])) -> Result<Array<T>> {
        let nd = self.ndim();
        let mismatch = || Error::Broadcast {
            op: "matmul (batch axes equal or 1, inner lengths equal)".into(),
            left: shapes.0.to_vec(),
            right: shapes.1.to_vec(),
        };
        if nd < 2 || other.ndim() != nd || self.shape()[nd - 1] != other.shape()[nd - 2] {
            return Err(mismatch());
        }
        let nb = nd - 2;
        let (mut ac, mut bc) = (self.grid.chunks.clone(), other.grid.chunks.clone());
        let (mut a_bcast, mut b_bcast) = (vec![false; nb], vec![false; nb]);
        let mut chunks = Vec::with_capacity(nd + 1);
        for d in 0..nb {
            let (x, y) = (self.shape()[d], other.shape()[d]);
            if x == y {
                let c = refine(&ac[d], &bc[d]);
                ac[d] = c.clone();
                bc[d] = c.clone();
                chunks.push(c);
            } else if x == 1 {
                // One chunk, so block 0 is the element (not an empty chunk).
                a_bcast[d] = true;
                ac[d] = vec![1];
                chunks.push(bc[d].clone());
            } else if y == 1 {
                b_bcast[d] = true;
                bc[d] = vec![1];
                chunks.push(ac[d].clone());
            } else {
                return Err(mismatch());
            }
        }
        let k = refine(&ac[nd - 1], &bc[nd - 2]);
        ac[nd - 1] = k.clone();
        bc[nd - 2] = k.clone();
        let a = self.rechunk(ac)?;
        let b = other.rechunk(bc)?;
        chunks.extend([
            a.grid.chunks[nd - 2].clone(),
            b.grid.chunks[nd - 1].clone(),
            vec![1; k.len()],
        ]);
        let grid = Grid::new(chunks);
        crate::grid::check_size(&grid.shape, "other")?;
        crate::grid::check_blocks(&grid.chunks, "other")?;
        let name: Arc<str> = name_for("matmul", &(&*a.name, &*b.name)).into();
        let pattern = Products {
            a: a.name.clone(),
            b: b.name.clone(),
            a_bcast,
            b_bcast,
            op: Arc::new(MatmulBlock { dtype: T::DTYPE }),
        };
        Ok(Array::<T>::from_layer(
            name,
            "matmul",
            grid,
            Arc::new(pattern),
            &[&a.graph, &b.graph],
        ))
    }

    /// NumPy's `dot` for 1-d and 2-d arrays: inner product (1-d · 1-d, a 0-d
    /// array), matrix–vector, vector–matrix, matrix product.
    pub fn dot(&self, other: &Array<T>) -> Result<Array<T>> {
        self.check()?;
        other.check()?;
        match (self.ndim(), other.ndim()) {
            (1, 1) | (2, 2) | (2, 1) | (1, 2) => self.matmul(other),
            _ => Err(invalid(
                "other",
                format!(
                    "dot of arrays of shapes {:?} and {:?}: only 1-d and 2-d operands are supported",
                    self.shape(),
                    other.shape()
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use ndarray::{Array2, Ix2, s};
    use oxidask_testing::both_ways;
    use proptest::prelude::*;

    use crate::Array;

    /// Chunk lengths from cuts of an axis of length `n`.
    fn cut(n: usize, cuts: &[usize]) -> Vec<usize> {
        let mut at: Vec<usize> = cuts.iter().map(|c| c % (n + 1)).collect();
        at.push(0);
        at.push(n);
        at.sort_unstable();
        at.windows(2).map(|w| w[1] - w[0]).collect()
    }

    /// Blocks held in memory: literal values in the graph, encodable today
    /// (`from_array`'s own source becomes data with the expression work).
    fn held(a: &Array2<i64>, chunks: Vec<Vec<usize>>) -> Array<i64> {
        crate::from_array(a.clone().into_dyn(), chunks)
            .unwrap()
            .persist()
            .unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// The block products through bytes equal the products of the
        /// matching ndarray slices; they sum to the matrix product. (The
        /// sum itself is the reduction's, which is data with the
        /// expression work; `matmul` is then tested through bytes whole.)
        #[test]
        fn block_products_through_bytes(
            (m, k, n) in (1usize..6, 1usize..7, 1usize..6),
            cuts in prop::collection::vec(0usize..8, 6),
            seed in 0i64..100,
        ) {
            let a = Array2::from_shape_fn((m, k), |(i, j)| (i as i64 * 7 + j as i64 * 3 + seed) % 11 - 5);
            let b = Array2::from_shape_fn((k, n), |(i, j)| (i as i64 * 5 + j as i64 + seed) % 13 - 6);
            let (ka, kb) = (cut(k, &cuts[0..2]), cut(k, &cuts[2..4]));
            let x = held(&a, vec![cut(m, &cuts[4..5]), ka.clone()]);
            let y = held(&b, vec![kb.clone(), cut(n, &cuts[5..6])]);
            let p = x.products(&y).unwrap();
            let got = both_ways(|| p.compute().map_err(|e| e.to_string())).unwrap();
            // The contracted axis in the common refinement of both chunkings.
            let mut bounds: Vec<usize> = [&ka, &kb]
                .iter()
                .flat_map(|c| c.iter().scan(0, |s, &l| { *s += l; Some(*s) }))
                .collect();
            bounds.push(0);
            bounds.sort_unstable();
            bounds.dedup();
            let pieces: Vec<(usize, usize)> = bounds.windows(2).map(|w| (w[0], w[1])).collect();
            prop_assert_eq!(got.shape(), &[m, n, pieces.len()]);
            let mut total = Array2::<i64>::zeros((m, n));
            for (l, &(lo, hi)) in pieces.iter().enumerate() {
                let expect = a.slice(s![.., lo..hi]).dot(&b.slice(s![lo..hi, ..]));
                let slot = got.slice(s![.., .., l]).into_dimensionality::<Ix2>().unwrap().to_owned();
                prop_assert_eq!(&slot, &expect);
                total += &slot;
            }
            prop_assert_eq!(total, a.dot(&b));
        }
    }
}
