//! Blocked matrix products: `matmul`, `dot`, `tensordot` for 1-d and 2-d
//! arrays.
//!
//! `C = A · B` is computed as Dask does: the contracted axis of both
//! operands is brought to one chunking (the common refinement), each task
//! multiplies one block of `A` by one block of `B` (`ndarray`'s `dot`,
//! blocked and vectorized by `matrixmultiply` for floats), and the partial
//! products of each output block are summed by a tree reduction with
//! `split_every`, so no task holds a whole row or column panel.
//!
//! The block product is a data op carrying the dtype, reaching the
//! monomorphic kernel through `with_number!`.

use std::sync::Arc;

use ndarray::{ArrayD, Axis, Ix2, LinalgScalar, s};
use oxidask_graph::{Arg, DataOp, Key, Op, OpError, Task, Value, name_for, register_data_op};
use serde::{Deserialize, Serialize};

use crate::array::Array;
use crate::dataop::{arg, with_number};
use crate::element::{DType, Number};
use crate::error::{Error, Result, invalid};
use crate::expr::chunk_value;
use crate::grid::Grid;
use crate::layer::Pattern;
use crate::reduce::Reduce;

/// The product of one block of `A` and one block of `B`, as a 3-d block
/// with a trailing axis of length 1 (the contracted block position, summed
/// over by the reduction). Arguments: the two blocks.
#[derive(Serialize, Deserialize)]
struct MatmulBlock {
    dtype: DType,
}

fn matmul_block<T: Number + LinalgScalar>(x: &Value, y: &Value) -> Result<Value, OpError> {
    let x = x
        .downcast_ref::<ArrayD<T>>()?
        .view()
        .into_dimensionality::<Ix2>()?;
    let y = y
        .downcast_ref::<ArrayD<T>>()?
        .view()
        .into_dimensionality::<Ix2>()?;
    if x.ncols() != y.nrows() {
        return Err(format!(
            "matmul: blocks of shapes {:?} and {:?}",
            x.shape(),
            y.shape()
        )
        .into());
    }
    Ok(chunk_value(x.dot(&y).into_dyn().insert_axis(Axis(2))))
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

/// Task `(i, j, l)` multiplies block `(i, l)` of `A` by block `(l, j)` of `B`.
struct Products {
    a: Arc<str>,
    b: Arc<str>,
    op: Arc<dyn Op>,
}

impl Pattern for Products {
    fn task(&self, idx: &[u32]) -> Task {
        let (i, j, l) = (idx[0], idx[1], idx[2]);
        Task::new(
            self.op.clone(),
            vec![
                Arg::Key(Key::with_index(self.a.clone(), &[i, l])),
                Arg::Key(Key::with_index(self.b.clone(), &[l, j])),
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

impl<T: Number + LinalgScalar> Array<T> {
    /// The matrix product of two 2-d arrays.
    ///
    /// ```
    /// use oxidask_array as da;
    /// let a = da::arange(0.0f64, 6.0, 1.0, 4)?.reshape(&[3, 2])?;
    /// let b = da::ones::<f64>(&[2, 4], [1, 3])?;
    /// let c = a.matmul(&b)?.compute()?;
    /// assert_eq!(c.shape(), &[3, 4]);
    /// assert_eq!(c[[2, 3]], 4.0 + 5.0);
    /// # Ok::<(), da::Error>(())
    /// ```
    pub fn matmul(&self, other: &Array<T>) -> Result<Array<T>> {
        self.matmul_with(other, &Reduce::all())
    }

    /// [`matmul`](Array::matmul) with `split_every` for the sums of
    /// partial products (only `opts`' `split_every` is used).
    pub fn matmul_with(&self, other: &Array<T>, opts: &Reduce) -> Result<Array<T>> {
        let p = self.products(other)?;
        let mut o = Reduce::axis(2);
        if let Some(n) = opts.split_every_value() {
            o = o.split_every(n);
        }
        let summed = p.sum_with(&o)?;
        // Sums of `T` accumulate in `T::Sum`; for floats that is `T` itself.
        Ok(summed.astype::<T>())
    }

    /// The partial products of `self · other` (2-d, inner lengths
    /// checked): element `(i, j, l)` is row `i` of `self` times column `j`
    /// of `other` over the `l`-th chunk of the contracted axis (the common
    /// refinement of both operands' chunks there), one task per block.
    pub(crate) fn products(&self, other: &Array<T>) -> Result<Array<T>> {
        self.check()?;
        other.check()?;
        if self.ndim() != 2 || other.ndim() != 2 || self.shape()[1] != other.shape()[0] {
            return Err(Error::Broadcast {
                op: "matmul (2-d × 2-d with matching inner lengths)".into(),
                left: self.shape().to_vec(),
                right: other.shape().to_vec(),
            });
        }

        let k = refine(&self.grid.chunks[1], &other.grid.chunks[0]);
        let a = self.rechunk(vec![self.grid.chunks[0].clone(), k.clone()])?;
        let b = other.rechunk(vec![k.clone(), other.grid.chunks[1].clone()])?;
        let grid = Grid::new(vec![
            a.grid.chunks[0].clone(),
            b.grid.chunks[1].clone(),
            vec![1; k.len()],
        ]);
        crate::grid::check_size(&grid.shape, "other")?;
        crate::grid::check_blocks(&grid.chunks, "other")?;
        let name: Arc<str> = name_for("matmul", &(&*a.name, &*b.name)).into();
        let pattern = Products {
            a: a.name.clone(),
            b: b.name.clone(),
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
            (1, 1) => {
                if self.shape() != other.shape() {
                    return Err(Error::Broadcast {
                        op: "dot".into(),
                        left: self.shape().to_vec(),
                        right: other.shape().to_vec(),
                    });
                }
                Ok((self * other).sum().into_array().astype::<T>())
            }
            (2, 2) => self.matmul(other),
            (2, 1) => self
                .matmul(&other.slice(s![.., ndarray::NewAxis])?)?
                .slice(s![.., 0]),
            (1, 2) => self
                .slice(s![ndarray::NewAxis, ..])?
                .matmul(other)?
                .slice(s![0, ..]),
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

/// Sum of products over `axes.0` of `a` and `axes.1` of `b` (NumPy's
/// `tensordot`) for 2-d arrays: one pair of axes (a matrix product of the
/// suitably transposed operands) or both (the full contraction).
pub fn tensordot<T: Number + LinalgScalar>(
    a: &Array<T>,
    b: &Array<T>,
    axes: (&[usize], &[usize]),
) -> Result<Array<T>> {
    if a.ndim() != 2
        || b.ndim() != 2
        || axes.0.len() != axes.1.len()
        || axes.0.is_empty()
        || axes.0.len() > 2
    {
        return Err(invalid(
            "axes",
            format!(
                "tensordot supports 2-d arrays and one or two axis pairs; got shapes {:?}, {:?} and axes {axes:?}",
                a.shape(),
                b.shape()
            ),
        ));
    }
    if axes.0.iter().chain(axes.1).any(|&x| x > 1) {
        return Err(Error::Axis {
            arg: "axes",
            axis: *axes.0.iter().chain(axes.1).max().unwrap_or(&0) as isize,
            ndim: 2,
        });
    }
    if axes.0.len() == 2 {
        let bb = if axes.0[0] == axes.1[0] {
            b.clone()
        } else {
            b.t()?
        };
        return Ok((a * &bb).sum().into_array().astype::<T>());
    }
    let aa = if axes.0[0] == 1 { a.clone() } else { a.t()? };
    let bb = if axes.1[0] == 0 { b.clone() } else { b.t()? };
    aa.matmul(&bb)
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
