//! `reshape`, `ravel` and `flatten`, rechunking as `dask.array.reshape`
//! does.
//!
//! Axes are matched from the last: an input axis equal to an output axis
//! keeps its chunks; otherwise the smallest group of trailing input axes
//! and trailing output axes with equal products is found, and the input is
//! rechunked so that the group is cut along its first input axis only, in
//! lengths that hold whole rows of the group's output axes. Each output
//! block then is exactly one input block in row-major order, reshaped (the
//! `Reshape` data op, one per layer, the block index a literal argument).

use std::sync::Arc;

use oxidask_graph::{Value, name_for};

use crate::array::Array;
use crate::array::internal;
use crate::element::Element;
use crate::error::{Result, invalid};
use crate::grid::Grid;
use crate::shape::MapPattern;
use crate::shape_ops::Reshape;

/// A shape given to [`Array::reshape`]: lengths, of which one may be `-1`
/// (inferred from the array's size, as in NumPy). Implemented for slices,
/// arrays and vectors of `usize`, `isize`, `i64` and `i32` (so a literal
/// `&[4, -1]` works).
pub trait ReshapeDims {
    /// The lengths, `-1` standing for the inferred one.
    fn dims(&self) -> Vec<i64>;
}

macro_rules! reshape_dims {
    ($($t:ty),*) => {$(
        impl ReshapeDims for [$t] {
            fn dims(&self) -> Vec<i64> {
                self.iter().map(|&x| x as i64).collect()
            }
        }
        impl<const N: usize> ReshapeDims for [$t; N] {
            fn dims(&self) -> Vec<i64> {
                self[..].dims()
            }
        }
        impl ReshapeDims for Vec<$t> {
            fn dims(&self) -> Vec<i64> {
                self[..].dims()
            }
        }
    )*};
}
reshape_dims!(usize, isize, i64, i32);

/// The shape `dims` asks for an array of `shape` (one `-1` inferred), or
/// an error naming both shapes.
fn resolve(dims: &[i64], shape: &[usize]) -> Result<Vec<usize>> {
    let size: usize = shape.iter().product();
    let bad = |why: &str| {
        invalid(
            "shape",
            format!(
                "cannot reshape an array of shape {shape:?} ({size} elements) into {dims:?}: {why}"
            ),
        )
    };
    if dims.iter().filter(|&&d| d == -1).count() > 1 {
        return Err(bad("only one dimension can be -1"));
    }
    if dims.iter().any(|&d| d < -1) {
        return Err(bad("lengths must be non-negative (or one -1)"));
    }
    let known = dims
        .iter()
        .filter(|&&d| d >= 0)
        .try_fold(1usize, |acc, &d| acc.checked_mul(d as usize))
        .ok_or_else(|| bad("the lengths overflow"))?;
    let out: Vec<usize> = if dims.contains(&-1) {
        if known == 0 || size % known != 0 {
            return Err(bad(&format!(
                "{size} elements do not divide into rows of {known}"
            )));
        }
        dims.iter()
            .map(|&d| if d == -1 { size / known } else { d as usize })
            .collect()
    } else {
        dims.iter().map(|&d| d as usize).collect()
    };
    if known != size && !dims.contains(&-1) {
        return Err(bad(&format!("{known} elements asked for")));
    }
    Ok(out)
}

/// How a reshape cuts its input and output: the chunks the input is
/// rechunked to, the output chunks, and for each input axis the output
/// axis whose block index it takes (`None`: the axis is one block).
#[derive(Debug, PartialEq)]
pub(crate) struct Plan {
    pub(crate) in_chunks: Vec<Vec<usize>>,
    pub(crate) out_chunks: Vec<Vec<usize>>,
    pub(crate) from: Vec<Option<usize>>,
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// `chunks` merged into lengths that are multiples of `factor` (a short
/// chunk's remainder joins the next one), as Dask's `contract_tuple`.
fn contract(chunks: &[usize], factor: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut residual = 0;
    for &c in chunks {
        let c = c + residual;
        residual = c % factor;
        if c >= factor {
            out.push(c - residual);
        }
    }
    out
}

/// The plan of reshaping an array of `inshape` (chunked `inchunks`) into
/// `outshape`, both of the same nonzero size and at least one dimension.
pub(crate) fn plan(inshape: &[usize], outshape: &[usize], inchunks: &[Vec<usize>]) -> Result<Plan> {
    let mut p = Plan {
        in_chunks: vec![Vec::new(); inshape.len()],
        out_chunks: vec![Vec::new(); outshape.len()],
        from: vec![None; inshape.len()],
    };
    let (mut ii, mut oi) = (inshape.len(), outshape.len());
    // `ii`, `oi`: one past the last axis not yet planned.
    while ii > 0 || oi > 0 {
        if ii == 0 || oi == 0 {
            // The rest of the other side has product 1: axes of length 1.
            if ii > 0 {
                ii -= 1;
                p.in_chunks[ii] = vec![inshape[ii]];
            } else {
                oi -= 1;
                p.out_chunks[oi] = vec![outshape[oi]];
            }
            continue;
        }
        let (i, o) = (ii - 1, oi - 1);
        let (din, dout) = (inshape[i], outshape[o]);
        if din == dout {
            p.in_chunks[i] = inchunks[i].clone();
            p.out_chunks[o] = inchunks[i].clone();
            p.from[i] = Some(o);
            (ii, oi) = (i, o);
            continue;
        }
        if din == 1 {
            p.in_chunks[i] = vec![1];
            ii = i;
            continue;
        }
        if dout == 1 {
            p.out_chunks[o] = vec![1];
            oi = o;
            continue;
        }
        // The smallest trailing groups with equal products.
        let (mut il, mut ol, mut pin, mut pout) = (i, o, din, dout);
        while pin != pout {
            if pin < pout {
                il = il
                    .checked_sub(1)
                    .ok_or_else(|| internal("reshape: axis products do not match"))?;
                pin *= inshape[il];
            } else {
                ol = ol
                    .checked_sub(1)
                    .ok_or_else(|| internal("reshape: axis products do not match"))?;
                pout *= outshape[ol];
            }
        }
        let row_in: usize = inshape[il + 1..=i].iter().product();
        let row_out: usize = outshape[ol + 1..=o].iter().product();
        // Input chunks along `il` must hold whole output rows.
        let c = contract(&inchunks[il], row_out / gcd(row_in, row_out));
        for (c, &n) in p.in_chunks[il + 1..=i].iter_mut().zip(&inshape[il + 1..=i]) {
            *c = vec![n];
        }
        for (c, &n) in p.out_chunks[ol + 1..=o]
            .iter_mut()
            .zip(&outshape[ol + 1..=o])
        {
            *c = vec![n];
        }
        p.out_chunks[ol] = c.iter().map(|&x| x * row_in / row_out).collect();
        p.in_chunks[il] = c;
        p.from[il] = Some(ol);
        (ii, oi) = (il, ol);
    }
    Ok(p)
}

impl<T: Element> Array<T> {
    /// The same elements in row-major order with a new shape, one length
    /// of which may be `-1` (inferred), as NumPy's and Dask's `reshape`.
    /// The input is rechunked as Dask does where chunk boundaries do not
    /// allow a block-by-block reshape: within each group of axes that
    /// merge or split, only the first input axis stays chunked.
    ///
    /// ```
    /// use oxidask_array as da;
    /// let x = da::arange(0i64, 24, 1, 5)?.reshape(&[4, -1])?;
    /// assert_eq!(x.shape(), &[4, 6]);
    /// let y = x.rechunk([3, 4])?.reshape(&[2, 3, 4])?;
    /// assert_eq!(y.compute()?[[1, 2, 3]], 23);
    /// assert!(x.reshape(&[-1, -1]).unwrap_err().to_string().contains("only one dimension can be -1"));
    /// # Ok::<(), da::Error>(())
    /// ```
    pub fn reshape<S: ReshapeDims + ?Sized>(&self, shape: &S) -> Result<Array<T>> {
        self.check()?;
        let shape = resolve(&shape.dims(), self.shape())?;
        if shape == self.shape() {
            return Ok(self.clone());
        }
        if shape.is_empty() || self.ndim() == 0 || self.size() == 0 {
            // No axes to match (or nothing to move): one block.
            let one = self.rechunk(crate::Chunks::full())?;
            let out = shape.iter().map(|&s| vec![s]).collect();
            return one.reshape_blocks(out, vec![None; self.ndim()]);
        }
        let p = plan(self.shape(), &shape, self.chunks())?;
        let x = self.rechunk(p.in_chunks)?;
        crate::grid::check_blocks(&p.out_chunks, "shape")?;
        x.reshape_blocks(p.out_chunks, p.from)
    }

    /// The elements as a 1-d array in row-major order (NumPy's `ravel`).
    pub fn ravel(&self) -> Result<Array<T>> {
        self.reshape(&[self.size()])
    }

    /// The elements as a 1-d array in row-major order (NumPy's `flatten`;
    /// the same as [`ravel`](Array::ravel): arrays here are never views).
    pub fn flatten(&self) -> Result<Array<T>> {
        self.ravel()
    }

    /// Each block reshaped to the matching block of `chunks`: output block
    /// `idx` reads the input block whose index along input axis `k` is
    /// `idx[from[k]]` (0 where `from[k]` is `None`).
    fn reshape_blocks(
        &self,
        chunks: Vec<Vec<usize>>,
        from: Vec<Option<usize>>,
    ) -> Result<Array<T>> {
        let out = Grid::new(chunks);
        let name: Arc<str> = name_for("reshape", &(&*self.name, &out.chunks)).into();
        let op = Arc::new(Reshape {
            dtype: T::DTYPE,
            out: out.clone(),
        });
        let pattern = MapPattern {
            input: self.name.clone(),
            f: Box::new(move |idx: &[u32]| {
                let i = from
                    .iter()
                    .map(|f| f.and_then(|o| idx.get(o).copied()).unwrap_or(0))
                    .collect();
                (i, Some(Value::new(idx.to_vec())))
            }),
            op,
        };
        Ok(Array::from_layer(
            name,
            "reshape",
            out,
            Arc::new(pattern),
            &[&self.graph],
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dask's `reshape_rechunk` on the same inputs (worked by hand from its
    /// rules): a split keeps the input chunks in whole output rows, a merge
    /// makes the trailing axes one chunk.
    #[test]
    fn plans_follow_dask() {
        // Split (24,) chunked 5 into (4, 6): rows of 6 → input chunks 6, 6, 6, 6.
        let p = plan(&[24], &[4, 6], &[vec![5, 5, 5, 5, 4]]).unwrap();
        assert_eq!(p.in_chunks, vec![vec![6, 6, 6, 6]]);
        assert_eq!(p.out_chunks, vec![vec![1, 1, 1, 1], vec![6]]);
        // Merge (4, 6) chunked (3, 4) into (24,): trailing axis whole.
        let p = plan(&[4, 6], &[24], &[vec![3, 1], vec![4, 2]]).unwrap();
        assert_eq!(p.in_chunks, vec![vec![3, 1], vec![6]]);
        assert_eq!(p.out_chunks, vec![vec![18, 6]]);
        // Equal trailing axes keep their chunks; size-1 axes are one chunk.
        let p = plan(
            &[2, 3, 5],
            &[6, 1, 5],
            &[vec![1, 1], vec![2, 1], vec![2, 3]],
        )
        .unwrap();
        assert_eq!(p.in_chunks, vec![vec![1, 1], vec![3], vec![2, 3]]);
        assert_eq!(p.out_chunks, vec![vec![3, 3], vec![1], vec![2, 3]]);
        assert_eq!(p.from, vec![Some(0), None, Some(2)]);
        // (2, 3) into (3, 2): neither divides the other; one group of both.
        let p = plan(&[2, 3], &[3, 2], &[vec![1, 1], vec![3]]).unwrap();
        assert_eq!(p.in_chunks, vec![vec![2], vec![3]]);
        assert_eq!(p.out_chunks, vec![vec![3], vec![2]]);
    }

    #[test]
    fn shapes_resolve_as_numpy() {
        assert_eq!(resolve(&[-1, 4], &[2, 6]).unwrap(), vec![3, 4]);
        let e = resolve(&[0, -1], &[0, 3]).unwrap_err().to_string();
        assert!(e.contains("[0, 3]") && e.contains("[0, -1]"), "{e}");
        let e = resolve(&[5, -1], &[2, 6]).unwrap_err().to_string();
        assert!(e.contains("[2, 6]") && e.contains("[5, -1]"), "{e}");
        let e = resolve(&[5, 3], &[2, 6]).unwrap_err().to_string();
        assert!(e.contains("[2, 6]") && e.contains("[5, 3]"), "{e}");
        assert!(resolve(&[-1, -1], &[4]).is_err());
        assert!(resolve(&[-2, 2], &[4]).is_err());
    }
}
