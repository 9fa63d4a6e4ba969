//! `tensordot` over N-d arrays: both operands transposed so the summed
//! axes meet, reshaped to matrices (rechunking as `reshape` does), and
//! multiplied by `matmul`; the product reshaped to the free axes.

use ndarray::LinalgScalar;

use crate::array::Array;
use crate::element::Number;
use crate::error::{Error, Result, invalid};

/// The axes [`tensordot`] sums over: the last `n` of `a` with the first
/// `n` of `b` (NumPy's integer `axes`), or two lists of axes paired in
/// order.
#[derive(Clone, Debug, PartialEq)]
pub enum TensordotAxes {
    /// The last `n` axes of `a` with the first `n` of `b`.
    Count(usize),
    /// Axis `pairs.0[i]` of `a` with axis `pairs.1[i]` of `b`.
    Pairs(Vec<usize>, Vec<usize>),
}

impl From<usize> for TensordotAxes {
    fn from(n: usize) -> TensordotAxes {
        TensordotAxes::Count(n)
    }
}

impl From<(&[usize], &[usize])> for TensordotAxes {
    fn from(p: (&[usize], &[usize])) -> TensordotAxes {
        TensordotAxes::Pairs(p.0.to_vec(), p.1.to_vec())
    }
}

impl<const A: usize, const B: usize> From<(&[usize; A], &[usize; B])> for TensordotAxes {
    fn from(p: (&[usize; A], &[usize; B])) -> TensordotAxes {
        TensordotAxes::Pairs(p.0.to_vec(), p.1.to_vec())
    }
}

impl From<(Vec<usize>, Vec<usize>)> for TensordotAxes {
    fn from(p: (Vec<usize>, Vec<usize>)) -> TensordotAxes {
        TensordotAxes::Pairs(p.0, p.1)
    }
}

/// Sum of products over the paired axes of `a` and `b` (NumPy's
/// `tensordot`), for arrays of any number of dimensions: the result has
/// `a`'s other axes, then `b`'s. `axes` is an integer `n` (the last `n`
/// axes of `a` with the first `n` of `b`) or two lists of axes. Computed
/// as a matrix product of the operands transposed and reshaped to 2-d.
///
/// ```
/// use oxidask_array as da;
/// let a = da::arange(0.0f64, 24.0, 1.0, 5)?.reshape(&[2, 3, 4])?;
/// let b = da::ones::<f64>(&[3, 4, 5], [2, 4, 5])?;
/// assert_eq!(da::tensordot(&a, &b, 2)?.shape(), &[2, 5]);
/// let c = da::tensordot(&a, &b, (&[1], &[0]))?;               // shape (2, 4, 4, 5)
/// assert_eq!(c.compute()?[[1, 2, 0, 0]], 14.0 + 18.0 + 22.0);
/// # Ok::<(), da::Error>(())
/// ```
pub fn tensordot<T: Number + LinalgScalar>(
    a: &Array<T>,
    b: &Array<T>,
    axes: impl Into<TensordotAxes>,
) -> Result<Array<T>> {
    a.check()?;
    b.check()?;
    let (aa, ba) = match axes.into() {
        TensordotAxes::Count(n) => {
            if n > a.ndim() || n > b.ndim() {
                return Err(invalid(
                    "axes",
                    format!(
                        "{n} axes to sum over for arrays of shapes {:?} and {:?}",
                        a.shape(),
                        b.shape()
                    ),
                ));
            }
            ((a.ndim() - n..a.ndim()).collect(), (0..n).collect())
        }
        TensordotAxes::Pairs(x, y) => (x, y),
    };
    let check = |axes: &[usize], x: &Array<T>| -> Result<()> {
        let mut seen = vec![false; x.ndim()];
        for &k in axes {
            if k >= x.ndim() {
                return Err(Error::Axis {
                    arg: "axes",
                    axis: k as isize,
                    ndim: x.ndim(),
                });
            }
            if std::mem::replace(&mut seen[k], true) {
                return Err(invalid("axes", format!("axis {k} given twice in {axes:?}")));
            }
        }
        Ok(())
    };
    check(&aa, a)?;
    check(&ba, b)?;
    if aa.len() != ba.len()
        || aa
            .iter()
            .zip(&ba)
            .any(|(&x, &y)| a.shape()[x] != b.shape()[y])
    {
        return Err(Error::Broadcast {
            op: format!("tensordot over axes {aa:?} and {ba:?}"),
            left: a.shape().to_vec(),
            right: b.shape().to_vec(),
        });
    }
    let a_free: Vec<usize> = (0..a.ndim()).filter(|k| !aa.contains(k)).collect();
    let b_free: Vec<usize> = (0..b.ndim()).filter(|k| !ba.contains(k)).collect();
    let len =
        |x: &Array<T>, axes: &[usize]| -> usize { axes.iter().map(|&k| x.shape()[k]).product() };
    let (m, k, n) = (len(a, &a_free), len(a, &aa), len(b, &b_free));
    let perm_a: Vec<usize> = a_free.iter().chain(&aa).copied().collect();
    let perm_b: Vec<usize> = ba.iter().chain(&b_free).copied().collect();
    let at = if perm_a.iter().enumerate().all(|(i, &p)| i == p) {
        a.clone()
    } else {
        a.permute_axes(&perm_a)?
    };
    let bt = if perm_b.iter().enumerate().all(|(i, &p)| i == p) {
        b.clone()
    } else {
        b.permute_axes(&perm_b)?
    };
    let c = at.reshape(&[m, k])?.matmul(&bt.reshape(&[k, n])?)?;
    let shape: Vec<usize> = a_free
        .iter()
        .map(|&x| a.shape()[x])
        .chain(b_free.iter().map(|&x| b.shape()[x]))
        .collect();
    c.reshape(&shape)
}
