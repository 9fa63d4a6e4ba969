//! Elementwise operations with NumPy broadcasting.
//!
//! Every operation here composes the per-chunk expressions of its operands
//! (see the `expr` module), so a chain of them is one task per chunk.
//! Operands of different shapes broadcast as in NumPy (shapes aligned at the
//! right, length-1 axes stretched); operands with different chunks along an
//! axis are rechunked to the common refinement of both chunkings. Shapes
//! that do not broadcast are an error naming both shapes when the operation
//! is built: methods return it, operators (`&a + &b`) keep it in the result,
//! which returns it from its next fallible method (see
//! [`Error::Earlier`](crate::Error::Earlier)).

use ndarray::{ArrayD, ArrayViewD, Axis};
use oxidask_graph::{OpError, Tokenize};
use serde::Serialize;

use crate::array::{Array, Scalar, unique_token};
use crate::element::Element;
use crate::error::{Error, Result};
use crate::expr::{Blk, Step, binary, binary_to, select, unary, unary_to};
use crate::grid::Grid;

/// The right-hand side of a binary operation: an array or a scalar.
pub enum Operand<'a, T: Element> {
    /// An array (broadcast against the other operand).
    Array(&'a Array<T>),
    /// A single value.
    Scalar(T),
}

impl<'a, T: Element> From<&'a Array<T>> for Operand<'a, T> {
    fn from(a: &'a Array<T>) -> Self {
        Operand::Array(a)
    }
}

impl<'a, T: Element> From<&'a Scalar<T>> for Operand<'a, T> {
    fn from(a: &'a Scalar<T>) -> Self {
        Operand::Array(&a.0)
    }
}

impl<T: Element> From<T> for Operand<'_, T> {
    fn from(v: T) -> Self {
        Operand::Scalar(v)
    }
}

/// The common refinement of two chunkings of one axis.
pub(crate) fn refine(a: &[usize], b: &[usize]) -> Vec<usize> {
    let mut cuts: Vec<usize> = Vec::new();
    for c in [a, b] {
        let mut acc = 0;
        for &x in c {
            acc += x;
            cuts.push(acc);
        }
    }
    cuts.sort_unstable();
    cuts.dedup();
    let mut out = Vec::new();
    let mut prev = 0;
    for c in cuts {
        if c > prev {
            out.push(c - prev);
            prev = c;
        }
    }
    if out.is_empty() {
        out.push(0);
    }
    out
}

/// The block grid of the broadcast of two arrays, or an error naming `op`
/// and both shapes.
pub(crate) fn broadcast_grid(a: &Grid, b: &Grid, op: &str) -> Result<Grid> {
    let n = a.ndim().max(b.ndim());
    let axis = |g: &Grid, k: usize| -> Option<(usize, Vec<usize>)> {
        let pad = n - g.ndim();
        (k >= pad).then(|| (g.shape[k - pad], g.chunks[k - pad].clone()))
    };
    let mut chunks = Vec::with_capacity(n);
    for k in 0..n {
        let c = match (axis(a, k), axis(b, k)) {
            (Some((x, ca)), Some((y, cb))) if x == y => {
                if ca == cb {
                    ca
                } else {
                    refine(&ca, &cb)
                }
            }
            (Some((1, _)), Some((_, cb))) | (None, Some((_, cb))) => cb,
            (Some((_, ca)), Some((1, _))) | (Some((_, ca)), None) => ca,
            _ => {
                return Err(Error::Broadcast {
                    op: op.to_string(),
                    left: a.shape.clone(),
                    right: b.shape.clone(),
                });
            }
        };
        chunks.push(c);
    }
    let grid = Grid::new(chunks);
    // Broadcasting can multiply sizes: [2^40, 1] with [1, 2^40].
    crate::grid::check_size(&grid.shape, "other")?;
    crate::grid::check_blocks(&grid.chunks, "other")?;
    Ok(grid)
}

impl<T: Element> Array<T> {
    /// `f` on every block of this array, fused with its elementwise inputs.
    /// `f` must be the step the `steps` tables know as `op` with `params`:
    /// it runs here, the name and parameters elsewhere.
    pub(crate) fn map_expr<U: Element>(
        &self,
        op: &str,
        params: &(impl Tokenize + Serialize),
        f: impl Fn(Blk<T>) -> Result<Blk<U>, OpError> + Send + Sync + 'static,
    ) -> Array<U> {
        self.map_expr_kind(op, params, Step::named(op, params), true, f)
    }

    /// [`map_expr`](Array::map_expr) for any step, elementwise
    /// (`pointwise`) or seeing whole blocks (see `Expr::pointwise`).
    fn map_expr_kind<U: Element>(
        &self,
        op: &str,
        params: &impl Tokenize,
        step: Step,
        pointwise: bool,
        f: impl Fn(Blk<T>) -> Result<Blk<U>, OpError> + Send + Sync + 'static,
    ) -> Array<U> {
        match self.expr(&self.grid) {
            Ok(e) => {
                let e = e.map(op, params, step, f);
                let e = if pointwise { e } else { e.opaque() };
                Array::from_expr(op, e, (*self.grid).clone())
            }
            Err(e) => Array::poisoned(e),
        }
    }

    /// `f` on the broadcast blocks of two arrays.
    pub(crate) fn zip_expr<U: Element, V: Element>(
        &self,
        other: &Array<U>,
        op: &str,
        params: &impl Tokenize,
        f: impl Fn(Blk<T>, Blk<U>) -> Result<Blk<V>, OpError> + Send + Sync + 'static,
    ) -> Result<Array<V>> {
        self.zip_expr_kind(other, op, params, Step::named(op, &()), true, f)
    }

    /// [`zip_expr`](Array::zip_expr) for a function that is elementwise or
    /// must see whole blocks.
    fn zip_expr_kind<U: Element, V: Element>(
        &self,
        other: &Array<U>,
        op: &str,
        params: &impl Tokenize,
        step: Step,
        pointwise: bool,
        f: impl Fn(Blk<T>, Blk<U>) -> Result<Blk<V>, OpError> + Send + Sync + 'static,
    ) -> Result<Array<V>> {
        self.check()?;
        other.check()?;
        let grid = broadcast_grid(&self.grid, &other.grid, op)?;
        let (a, b) = (self.expr(&grid)?, other.expr(&grid)?);
        let e = a.zip(b, op, params, step, f);
        let e = if pointwise { e } else { e.opaque() };
        Ok(Array::from_expr(op, e, grid))
    }

    /// A binary operation with an array or scalar operand, `self` on the left.
    pub(crate) fn binary_op(
        &self,
        other: Operand<'_, T>,
        op: &'static str,
        f: fn(T, T) -> T,
    ) -> Result<Array<T>> {
        match other {
            Operand::Scalar(s) => {
                self.check()?;
                Ok(
                    self.map_expr_kind(op, &s, scalar_step(op, s, false), true, move |b| {
                        Ok(unary(b, |x| f(x, s)))
                    }),
                )
            }
            Operand::Array(o) => self.zip_expr(o, op, &0u8, move |a, b| binary(a, b, f)),
        }
    }

    /// A binary operation with a scalar on the left: `s op self`.
    pub(crate) fn binary_op_left(&self, s: T, op: &'static str, f: fn(T, T) -> T) -> Array<T> {
        self.map_expr_kind(op, &(s, "left"), scalar_step(op, s, true), true, move |b| {
            Ok(unary(b, |x| f(s, x)))
        })
    }

    /// A comparison (or other operation into a new type) with an array or
    /// scalar operand.
    fn compare<U: Element>(
        &self,
        other: Operand<'_, T>,
        op: &'static str,
        f: fn(T, T) -> U,
    ) -> Result<Array<U>> {
        match other {
            Operand::Scalar(s) => {
                self.check()?;
                Ok(
                    self.map_expr_kind(op, &s, scalar_step(op, s, false), true, move |b| {
                        Ok(unary_to(b, |x| f(x, s)))
                    }),
                )
            }
            Operand::Array(o) => self.zip_expr(o, op, &0u8, move |a, b| binary_to(a, b, f)),
        }
    }

    /// `self == other`, elementwise.
    pub fn equal<'a>(&self, other: impl Into<Operand<'a, T>>) -> Result<Array<bool>> {
        self.compare(other.into(), "equal", |a, b| a == b)
    }

    /// `self != other`, elementwise.
    pub fn not_equal<'a>(&self, other: impl Into<Operand<'a, T>>) -> Result<Array<bool>> {
        self.compare(other.into(), "not_equal", |a, b| a != b)
    }

    /// `self < other`, elementwise.
    pub fn less<'a>(&self, other: impl Into<Operand<'a, T>>) -> Result<Array<bool>> {
        self.compare(other.into(), "less", |a, b| a < b)
    }

    /// `self <= other`, elementwise.
    pub fn less_equal<'a>(&self, other: impl Into<Operand<'a, T>>) -> Result<Array<bool>> {
        self.compare(other.into(), "less_equal", |a, b| a <= b)
    }

    /// `self > other`, elementwise.
    pub fn greater<'a>(&self, other: impl Into<Operand<'a, T>>) -> Result<Array<bool>> {
        self.compare(other.into(), "greater", |a, b| a > b)
    }

    /// `self >= other`, elementwise.
    pub fn greater_equal<'a>(&self, other: impl Into<Operand<'a, T>>) -> Result<Array<bool>> {
        self.compare(other.into(), "greater_equal", |a, b| a >= b)
    }

    /// The values converted to `U` (NumPy's `astype`).
    pub fn astype<U: Element>(&self) -> Array<U> {
        self.map_expr("astype", &(U::DTYPE as u8), |b| {
            Ok(unary_to(b, |x: T| x.cast::<U>()))
        })
    }

    /// Whether each value is NaN (always false for integers and booleans).
    pub fn isnan(&self) -> Array<bool> {
        self.map_expr("isnan", &0u8, |b| Ok(unary_to(b, |x: T| x.is_nan())))
    }

    /// `f` applied to each block (an owned `ndarray` the function may update
    /// in place); the block must keep its shape. Fuses with neighbouring
    /// elementwise operations.
    ///
    /// ```
    /// use oxidask_array as da;
    /// let x = da::arange(0.0f64, 6.0, 1.0, 4)?;
    /// let y = x.map_blocks(|mut b| { b.mapv_inplace(|v| v * 10.0); b });
    /// assert_eq!(y.compute()?.iter().copied().collect::<Vec<_>>(), vec![0.0, 10.0, 20.0, 30.0, 40.0, 50.0]);
    /// # Ok::<(), da::Error>(())
    /// ```
    ///
    /// A function registered with `#[oxidask::remote]` (taking and
    /// returning owned arrays) makes a graph that can leave the process; a
    /// closure runs on the local schedulers only.
    pub fn map_blocks<U: Element, F>(&self, f: F) -> Array<U>
    where
        F: Fn(ArrayD<T>) -> ArrayD<U> + Send + Sync + 'static,
    {
        // Not elementwise: `f` sees whole blocks, so a reduction never
        // streams this expression piece by piece.
        let ndim = self.ndim();
        let step = user_step::<F>("map_blocks", ndim, U::DTYPE);
        self.map_expr_kind("map_blocks", &unique_token(), step, false, move |b| {
            // Fused into an expression of more dimensions, the block comes
            // with leading axes of length 1: `f` gets it without them.
            let (block, pad) = unpad(b.into_owned(), ndim);
            let shape = block.shape().to_vec();
            let out = f(block);
            if out.shape() != shape.as_slice() {
                return Err(format!(
                    "map_blocks: the function turned a block of shape {shape:?} into one of \
                     shape {:?}; it must keep the shape",
                    out.shape()
                )
                .into());
            }
            Ok(Blk::Owned(crate::expr::pad(out, pad)))
        })
    }
}

/// A scalar operand's step: `s op x` when `left`, else `x op s`.
fn scalar_step<T: Element>(op: &str, s: T, left: bool) -> Step {
    Step::named(&format!("scalar:{op}"), &(s, left))
}

/// The step of a user's block function `F`: a call by path when `F` is a
/// function registered with `#[oxidask::remote]`, else a closure.
fn user_step<F: 'static>(what: &str, ndim: usize, out: crate::DType) -> Step {
    match oxidask_graph::remote::lookup_by_type::<F>() {
        Some(r) => Step::Remote {
            name: r.name,
            ndim,
            out,
        },
        None => Step::Closure(what.to_string()),
    }
}

/// `a` without its first `n` axes, which must have length 1.
fn unpad<T>(mut a: ArrayD<T>, ndim: usize) -> (ArrayD<T>, usize) {
    let n = a.ndim().saturating_sub(ndim);
    for _ in 0..n {
        debug_assert_eq!(a.shape()[0], 1, "padding axes have length 1");
        a = a.index_axis_move(Axis(0), 0);
    }
    (a, n)
}

/// A view without its first `n` axes (of length 1).
fn unpad_view<T>(mut a: ArrayViewD<'_, T>, n: usize) -> ArrayViewD<'_, T> {
    for _ in 0..n {
        a = a.index_axis_move(Axis(0), 0);
    }
    a
}

/// `f` on the blocks of two arrays broadcast against each other (Dask's
/// `blockwise` for the elementwise index pattern): `f` gets views of the two
/// blocks, already broadcast to the output block's shape, and must return a
/// block of that shape.
///
/// ```
/// use oxidask_array as da;
/// let x = da::arange(0i64, 4, 1, 2)?;
/// let y = da::full(&[3, 1], 10i64, 2)?;
/// let z = da::blockwise(&x, &y, |a, b| &a + &b)?;
/// assert_eq!(z.shape(), &[3, 4]);
/// assert_eq!(z.compute()?[[2, 3]], 13);
/// # Ok::<(), da::Error>(())
/// ```
pub fn blockwise<T: Element, U: Element, V: Element>(
    a: &Array<T>,
    b: &Array<U>,
    f: impl Fn(ArrayViewD<T>, ArrayViewD<U>) -> ArrayD<V> + Send + Sync + 'static,
) -> Result<Array<V>> {
    let ndim = a.ndim().max(b.ndim());
    let step = Step::Closure("blockwise".to_string());
    a.zip_expr_kind(b, "blockwise", &unique_token(), step, false, move |x, y| {
        let full = crate::expr::broadcast_shapes(&x.shape(), &y.shape())
            .ok_or("blockwise: blocks do not broadcast")?;
        // Leading axes beyond the output's own come from fusing into an
        // expression of more dimensions: `f` sees blocks without them.
        let pad = full.len().saturating_sub(ndim);
        let shape = full[pad..].to_vec();
        let sh = ndarray::IxDyn(&shape);
        let (xv, yv) = (x.view(), y.view());
        let (xv, yv) = (
            unpad_view(xv, x.shape().len().saturating_sub(ndim)),
            unpad_view(yv, y.shape().len().saturating_sub(ndim)),
        );
        let (Some(xv), Some(yv)) = (xv.broadcast(sh.clone()), yv.broadcast(sh)) else {
            return Err("blockwise: blocks do not broadcast".into());
        };
        checked_block(f(xv, yv), &shape, pad)
    })
}

/// [`blockwise`] for a function of owned blocks: one registered with
/// `#[oxidask::remote]` (`fn f(a: ArrayD<f64>, b: ArrayD<f64>) ->
/// ArrayD<f64>`) makes a graph that can leave the process, which a
/// view-taking function cannot (views do not travel). The blocks come
/// broadcast to the output block's shape.
///
/// ```
/// use oxidask_array as da;
/// let x = da::arange(0i64, 4, 1, 2)?;
/// let y = da::full(&[3, 1], 10i64, 2)?;
/// let z = da::blockwise_owned(&x, &y, |a, b| a + b)?;
/// assert_eq!(z.compute()?[[2, 3]], 13);
/// # Ok::<(), da::Error>(())
/// ```
pub fn blockwise_owned<T: Element, U: Element, V: Element, F>(
    a: &Array<T>,
    b: &Array<U>,
    f: F,
) -> Result<Array<V>>
where
    F: Fn(ArrayD<T>, ArrayD<U>) -> ArrayD<V> + Send + Sync + 'static,
{
    let ndim = a.ndim().max(b.ndim());
    let step = user_step::<F>("blockwise_owned", ndim, V::DTYPE);
    a.zip_expr_kind(b, "blockwise", &unique_token(), step, false, move |x, y| {
        let full = crate::expr::broadcast_shapes(&x.shape(), &y.shape())
            .ok_or("blockwise: blocks do not broadcast")?;
        let pad = full.len().saturating_sub(ndim);
        let shape = full[pad..].to_vec();
        // The same blocks the registered function gets in another process
        // (see `steps::call_remote`): broadcast, fusion padding removed.
        let xo = owned_block(x.view(), ndim, &shape)?;
        let yo = owned_block(y.view(), ndim, &shape)?;
        checked_block(f(xo, yo), &shape, pad)
    })
}

/// A block function's result, checked to have the block's `shape`, with
/// the fusion padding put back.
fn checked_block<V>(out: ArrayD<V>, shape: &[usize], pad: usize) -> Result<Blk<V>, OpError> {
    if out.shape() != shape {
        return Err(format!(
            "blockwise: the function returned a block of shape {:?} for inputs of shape {shape:?}",
            out.shape()
        )
        .into());
    }
    Ok(Blk::Owned(crate::expr::pad(out, pad)))
}

/// A block without the leading axes beyond `ndim`, broadcast to `shape`.
fn owned_block<E: Element>(
    v: ArrayViewD<'_, E>,
    ndim: usize,
    shape: &[usize],
) -> Result<ArrayD<E>, OpError> {
    let n = v.ndim().saturating_sub(ndim);
    let v = unpad_view(v, n);
    Ok(v.broadcast(ndarray::IxDyn(shape))
        .ok_or("blockwise: blocks do not broadcast")?
        .to_owned())
}

/// `a` where `cond` is true, else `b`, broadcasting all three (NumPy's
/// `where`).
pub fn where_<'a, 'b, T: Element>(
    cond: &Array<bool>,
    a: impl Into<Operand<'a, T>>,
    b: impl Into<Operand<'b, T>>,
) -> Result<Array<T>> {
    cond.check()?;
    let as_array = |o: Operand<'_, T>| -> Result<Array<T>> {
        match o {
            Operand::Array(x) => Ok(x.clone()),
            Operand::Scalar(s) => crate::creation::full(&[], s, crate::Chunks::full()),
        }
    };
    let (a, b) = (as_array(a.into())?, as_array(b.into())?);
    let ab = broadcast_grid(&a.grid, &b.grid, "where")?;
    let grid = broadcast_grid(&cond.grid, &ab, "where")?;
    let (ec, ea, eb) = (cond.expr(&grid)?, a.expr(&grid)?, b.expr(&grid)?);
    Ok(Array::from_expr(
        "where",
        ec.zip3(ea, eb, "where", &0u8, select),
        grid,
    ))
}
