//! Blocked matrix products: `matmul`, `dot`, `tensordot` for 1-d and 2-d
//! arrays.
//!
//! `C = A · B` is computed as Dask does: the contracted axis of both
//! operands is brought to one chunking (the common refinement), each task
//! multiplies one block of `A` by one block of `B` (`ndarray`'s `dot`,
//! blocked and vectorized by `matrixmultiply` for floats), and the partial
//! products of each output block are summed by a tree reduction with
//! `split_every`, so no task holds a whole row or column panel.

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
        let p = Array::<T>::from_layer(
            name,
            "matmul",
            grid,
            Arc::new(pattern),
            &[&a.graph, &b.graph],
        );
        let mut o = Reduce::axis(2);
        if let Some(n) = opts.split_every_value() {
            o = o.split_every(n);
        }
        let summed = p.sum_with(&o)?;
        // Sums of `T` accumulate in `T::Sum`; for floats that is `T` itself.
        Ok(summed.astype::<T>())
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
