//! Statistics over arrays, with the semantics of `scipy.stats` and
//! `dask.array.stats`: central moments, skewness and kurtosis.
//!
//! Each is one tree reduction of per-block moment sums (count, mean, and
//! `Σ(x − mean)^k` for k ≤ 4) merged with Pébay's pairwise formulas, so the
//! data is read once and no power sums of large numbers are formed. Moments
//! of order above 4 take two passes (mean first), like Dask.
//!
//! As in scipy, a variance that is zero up to rounding gives NaN for
//! skewness and kurtosis (Dask gives 0 there).

use crate::array::{Array, Scalar};
use crate::element::{Number, Real};
use crate::error::Result;
use crate::reduce::{Reduce, Stat, moments_k};

/// The `order`-th central moment `mean((x - mean(x))^order)` over all
/// elements (scipy's `moment`; [`Array::moment`] takes Dask's `ddof`).
pub fn moment<T: Number>(a: &Array<T>, order: u32) -> Result<Scalar<T::Real>> {
    a.moment(order, 0.0)
}

/// The `order`-th central moment over `opts`' axes.
pub fn moment_with<T: Number>(a: &Array<T>, order: u32, opts: &Reduce) -> Result<Array<T::Real>> {
    a.moment_with(order, 0.0, opts)
}

impl<T: Number> Array<T> {
    /// The `order`-th central moment `Σ(x − mean)^order / (n − ddof)` over
    /// all elements, as `dask.array.moment(a, order, ddof=ddof)`: order 0
    /// is 1 and order 1 is 0 (before any division), as in Dask.
    ///
    /// ```
    /// use oxidask_array as da;
    /// let x = da::from_array(da::ndarray::arr1(&[1.0f64, 2.0, 4.0, 7.0]).into_dyn(), 3)?;
    /// // numpy: ((x - x.mean())**3).sum() / (4 - 1) == 8.0
    /// assert!((x.moment(3, 1.0)?.compute()? - 8.0).abs() < 1e-12);
    /// # Ok::<(), da::Error>(())
    /// ```
    pub fn moment(&self, order: u32, ddof: f64) -> Result<Scalar<T::Real>> {
        self.moment_with(order, ddof, &Reduce::all())?.into_scalar()
    }

    /// The `order`-th central moment with `ddof` over `opts`' axes.
    pub fn moment_with(&self, order: u32, ddof: f64, opts: &Reduce) -> Result<Array<T::Real>> {
        if order <= 4 {
            return self.reduction(
                "moment",
                &(order, ddof),
                moments_k::<T>(Stat::Moment { order, ddof }, false),
                opts,
            );
        }
        // Higher orders take two passes (the mean first), like Dask.
        let x: Array<T::Real> = self.astype();
        let m = x.mean_with(&opts.clone().keepdims(true))?;
        let d = x.subtract(&m)?.powi(order);
        let kept = d.mean_with(opts)?;
        let n = self.size() / kept.size().max(1);
        let scale = n as f64 / (n as f64 - ddof).max(0.0);
        kept.multiply(T::Real::from_f64(scale))
    }
}

/// Skewness `m3 / m2^1.5` over all elements; with `bias == false`, the
/// adjusted Fisher–Pearson coefficient (scipy's `skew(bias=False)`).
pub fn skew<T: Number>(a: &Array<T>, bias: bool) -> Result<Scalar<T::Real>> {
    skew_with(a, bias, &Reduce::all())?.into_scalar()
}

/// Skewness over `opts`' axes.
pub fn skew_with<T: Number>(a: &Array<T>, bias: bool, opts: &Reduce) -> Result<Array<T::Real>> {
    a.reduction(
        "skew",
        &bias,
        moments_k::<T>(Stat::Skew { bias }, false),
        opts,
    )
}

/// Kurtosis `m4 / m2²`, minus 3 when `fisher` (excess kurtosis); with
/// `bias == false`, corrected for statistical bias (scipy's `kurtosis`).
pub fn kurtosis<T: Number>(a: &Array<T>, fisher: bool, bias: bool) -> Result<Scalar<T::Real>> {
    kurtosis_with(a, fisher, bias, &Reduce::all())?.into_scalar()
}

/// Kurtosis over `opts`' axes.
pub fn kurtosis_with<T: Number>(
    a: &Array<T>,
    fisher: bool,
    bias: bool,
    opts: &Reduce,
) -> Result<Array<T::Real>> {
    a.reduction(
        "kurtosis",
        &(fisher, bias),
        moments_k::<T>(Stat::Kurtosis { fisher, bias }, false),
        opts,
    )
}
