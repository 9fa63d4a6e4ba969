//! Tree reductions: `sum`, `prod`, `mean`, `var`, `std`, `min`, `max`,
//! `argmin`, `argmax`, `any`, `all`, their NaN-skipping variants, and the
//! moments behind [`stats`](crate::stats).
//!
//! A reduction over some axes runs in three kinds of tasks, as in Dask:
//!
//! 1. **partial**, one per block: the block's elementwise expression (fused,
//!    so `(x * x).sum()` never materializes `x * x`) reduced over the
//!    reduced axes into an accumulator per output element;
//! 2. **combine**, in levels: up to `split_every` neighbouring partials
//!    (spread over the reduced axes) merged into one, until one block is
//!    left along every reduced axis;
//! 3. **finish**, folded into the last task of each output block: the
//!    accumulators turned into values (a mean from a sum and a count, a
//!    skewness from moments), with the reduced axes kept as length 1
//!    (`keepdims`) or dropped.
//!
//! The partial tasks are a `BlockLayer` (`{name}-chunk`); the combine and
//! finish levels are the graph crate's `TreeLayer`, the same tree every
//! collection reduces with (keys `({name}-partial, level, i, …)`, then
//! `({name}, …)`).
//!
//! Accumulators merge associatively; means, variances and higher moments
//! use the pairwise update formulas of Chan et al. and Pébay, which stay
//! accurate when partial means differ, unlike summing raw powers.

use ndarray::ArrayView1;
use oxidask_graph::OpError;

use crate::array::{Array, Scalar};
use crate::element::{Element, Number};
use crate::error::{Result, invalid};

/// Which axes a reduction runs over, whether to keep them, and how many
/// partial results one task combines.
///
/// ```
/// use oxidask_array::{self as da, Reduce};
/// let x = da::ones::<f64>(&[4, 6], [2, 3])?;
/// let s = x.sum_with(&Reduce::axis(1).keepdims(true))?;
/// assert_eq!(s.shape(), &[4, 1]);
/// assert_eq!(s.compute()?[[3, 0]], 6.0);
/// # Ok::<(), da::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reduce {
    axes: Option<Vec<isize>>,
    keepdims: bool,
    split_every: Option<usize>,
}

/// Partials merged per combine task when not set (Dask's default).
pub const DEFAULT_SPLIT_EVERY: usize = 16;

impl Reduce {
    /// Over all axes.
    pub fn all() -> Reduce {
        Reduce::default()
    }

    /// Over one axis (negative counts from the end).
    pub fn axis(axis: isize) -> Reduce {
        Reduce::axes(&[axis])
    }

    /// Over several axes.
    pub fn axes(axes: &[isize]) -> Reduce {
        Reduce {
            axes: Some(axes.to_vec()),
            ..Reduce::default()
        }
    }

    /// Keep the reduced axes with length 1.
    pub fn keepdims(mut self, keep: bool) -> Reduce {
        self.keepdims = keep;
        self
    }

    pub(crate) fn split_every_value(&self) -> Option<usize> {
        self.split_every
    }

    /// Merge up to `n` (≥ 2) partial results per task.
    pub fn split_every(mut self, n: usize) -> Reduce {
        self.split_every = Some(n);
        self
    }
}

/// Where a block sits, for reductions that return indices.
pub(crate) struct Loc<'a> {
    /// Position of the row's first element within the block's row (pieces
    /// of a streamed block).
    offset: usize,
    start: Vec<usize>,
    bshape: Vec<usize>,
    gshape: &'a [usize],
    red: &'a [usize],
}

impl Loc<'_> {
    /// The index, over the reduced axes of the whole array (row-major), of
    /// position `p` of a row of this block.
    pub fn global(&self, p: usize) -> i64 {
        let mut p = p + self.offset;
        let mut local = vec![0usize; self.red.len()];
        for (k, &a) in self.red.iter().enumerate().rev() {
            let n = self.bshape[a].max(1);
            local[k] = p % n;
            p /= n;
        }
        let mut g = 0usize;
        for (k, &a) in self.red.iter().enumerate() {
            g = g * self.gshape[a] + self.start[a] + local[k];
        }
        g as i64
    }
}

/// One kind of reduction: an accumulator per output element.
pub(crate) trait Kernel<T: Element>: Send + Sync + 'static {
    /// Serializable, so partial results can spill (`SerdeCodec`).
    type Acc: Clone + Send + Sync + serde::Serialize + serde::de::DeserializeOwned + 'static;
    type Out: Element;
    /// Whether reducing zero elements is an error (no identity: min, max…).
    const NEEDS_ELEMENTS: bool = false;
    /// Whether `row` uses its location (arg-reductions).
    const NEEDS_LOC: bool = false;
    /// The kernel as data, for ops that leave the process.
    fn spec(&self) -> KernelSpec;
    /// The accumulator of one row of a block (the reduced elements of one
    /// output element).
    fn row(&self, row: ArrayView1<T>, loc: &Loc) -> Self::Acc;
    /// Merges `b` (later in index order) into `a`.
    fn merge(&self, a: &mut Self::Acc, b: Self::Acc);
    /// The value of an accumulator.
    fn finish(&self, a: Self::Acc) -> Result<Self::Out, OpError>;
}

/// A reduction kernel as data: which kernel, with its parameters
/// (`kernels::Kernels` turns it back into the kernel type).
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) enum KernelSpec {
    Sum { skipna: bool },
    Prod { skipna: bool },
    InType { prod: bool },
    Extreme { max: bool, skipna: bool },
    Arg { max: bool, skipna: bool },
    Logic { all: bool },
    Moments { stat: Stat, skipna: bool },
}

mod kernels;
mod scan;
mod shared;
mod tree;

pub(crate) use shared::share_scans;

use kernels::{ArgK, ExtremeK, InTypeK, LogicK, ProdK, SumK};
pub(crate) use kernels::{Stat, moments_k};

// ------------------------------------------------------------- public API

macro_rules! reductions {
    ($bound:ident; $($(#[$doc:meta])* $name:ident, $name_with:ident -> $out:ty = $k:expr;)*) => {
        impl<T: $bound> Array<T> {$(
            $(#[$doc])*
            /// Over all axes; see the `_with` form for axes, `keepdims` and
            /// `split_every`.
            pub fn $name(&self) -> Scalar<$out> {
                self.full_reduction(stringify!($name), &0u8, $k)
            }
            $(#[$doc])*
            pub fn $name_with(&self, opts: &Reduce) -> Result<Array<$out>> {
                self.reduction(stringify!($name), &0u8, $k, opts)
            }
        )*}
    };
}

reductions! { Number;
    /// Sum; integers accumulate as NumPy's do on a 64-bit platform (signed
    /// in `i64`, unsigned in `u64`); see `sum_as` for another dtype.
    sum, sum_with -> T::Sum = SumK { skipna: false };
    /// Sum, NaN counted as zero.
    nansum, nansum_with -> T::Sum = SumK { skipna: true };
    /// Product.
    prod, prod_with -> T::Sum = ProdK { skipna: false };
    /// Product, NaN counted as one.
    nanprod, nanprod_with -> T::Sum = ProdK { skipna: true };
    /// Minimum (NaN if any is NaN).
    min, min_with -> T = ExtremeK::<false> { skipna: false };
    /// Maximum (NaN if any is NaN).
    max, max_with -> T = ExtremeK::<true> { skipna: false };
    /// Minimum ignoring NaN.
    nanmin, nanmin_with -> T = ExtremeK::<false> { skipna: true };
    /// Maximum ignoring NaN.
    nanmax, nanmax_with -> T = ExtremeK::<true> { skipna: true };
    /// Arithmetic mean.
    mean, mean_with -> T::Real = moments_k::<T>(Stat::Mean, false);
    /// Mean ignoring NaN.
    nanmean, nanmean_with -> T::Real = moments_k::<T>(Stat::Mean, true);
}

reductions! { Element;
    /// Whether any element is true (non-zero).
    any, any_with -> bool = LogicK { all: false };
    /// Whether all elements are true (non-zero).
    all, all_with -> bool = LogicK { all: true };
}

macro_rules! arg_reductions {
    ($($(#[$doc:meta])* $name:ident, $name_with:ident = $k:expr;)*) => {
        impl<T: Number> Array<T> {$(
            $(#[$doc])*
            /// Over the flattened array; see the `_with` form for one axis.
            pub fn $name(&self) -> Scalar<i64> {
                self.full_reduction(stringify!($name), &0u8, $k)
            }
            $(#[$doc])*
            /// `opts` must name one axis (or none, for the flattened array).
            pub fn $name_with(&self, opts: &Reduce) -> Result<Array<i64>> {
                if opts.axes.as_ref().is_some_and(|a| a.len() > 1) {
                    return Err(invalid("axis", format!(
                        "{} takes one axis or none, got {:?}", stringify!($name), opts.axes.as_ref().unwrap_or(&vec![]))));
                }
                self.reduction(stringify!($name), &0u8, $k, opts)
            }
        )*}
    };
}

arg_reductions! {
    /// Index of the first minimum (of the first NaN, if any).
    argmin, argmin_with = ArgK::<false> { skipna: false };
    /// Index of the first maximum (of the first NaN, if any).
    argmax, argmax_with = ArgK::<true> { skipna: false };
    /// Index of the first minimum ignoring NaN (an error for all-NaN).
    nanargmin, nanargmin_with = ArgK::<false> { skipna: true };
    /// Index of the first maximum ignoring NaN (an error for all-NaN).
    nanargmax, nanargmax_with = ArgK::<true> { skipna: true };
}

impl<T: Element> Array<T> {
    /// The sum in dtype `U`, as NumPy's `sum(dtype=U)`: the elements cast
    /// to `U` (NumPy's `astype`) and added in `U`, wrapping on integer
    /// overflow — `sum_as::<u8>` of `[250u8, 10]` is 4, where `sum` gives
    /// 260 in `u64`.
    ///
    /// ```
    /// use oxidask_array::{self as da, Reduce};
    /// let x = da::from_array(da::ndarray::arr1(&[250u8, 10]).into_dyn(), 1)?;
    /// assert_eq!(x.sum().compute()?, 260u64);
    /// assert_eq!(x.sum_as::<u8>(&Reduce::all())?.compute()?[[]], 4);
    /// assert_eq!(x.sum_as::<f32>(&Reduce::all())?.compute()?[[]], 260.0);
    /// # Ok::<(), da::Error>(())
    /// ```
    pub fn sum_as<U: Number>(&self, opts: &Reduce) -> Result<Array<U>> {
        self.astype::<U>()
            .reduction("sum", &U::DTYPE.to_string(), InTypeK { prod: false }, opts)
    }

    /// The product in dtype `U`, as NumPy's `prod(dtype=U)`.
    pub fn prod_as<U: Number>(&self, opts: &Reduce) -> Result<Array<U>> {
        self.astype::<U>()
            .reduction("prod", &U::DTYPE.to_string(), InTypeK { prod: true }, opts)
    }

    /// The mean as the floating-point dtype `U`, as NumPy's
    /// `mean(dtype=U)`: the elements cast to `U`, then averaged (moments
    /// accumulate in `f64` for every dtype, so an `f32` mean is the exact
    /// mean of the `f32` values rounded once, where NumPy adds in `f32`).
    pub fn mean_as<U: crate::element::Real>(&self, opts: &Reduce) -> Result<Array<U>> {
        self.astype::<U>().mean_with(opts)
    }
}

impl<T: Number> Array<T> {
    /// Variance with `ddof` delta degrees of freedom (NumPy's `var`).
    pub fn var(&self, ddof: f64) -> Scalar<T::Real> {
        self.full_reduction(
            "var",
            &ddof,
            moments_k::<T>(Stat::Var { ddof, sqrt: false }, false),
        )
    }

    /// Variance over `opts`' axes.
    pub fn var_with(&self, ddof: f64, opts: &Reduce) -> Result<Array<T::Real>> {
        self.reduction(
            "var",
            &ddof,
            moments_k::<T>(Stat::Var { ddof, sqrt: false }, false),
            opts,
        )
    }

    /// Standard deviation with `ddof`.
    pub fn std(&self, ddof: f64) -> Scalar<T::Real> {
        self.full_reduction(
            "std",
            &ddof,
            moments_k::<T>(Stat::Var { ddof, sqrt: true }, false),
        )
    }

    /// Standard deviation over `opts`' axes.
    pub fn std_with(&self, ddof: f64, opts: &Reduce) -> Result<Array<T::Real>> {
        self.reduction(
            "std",
            &ddof,
            moments_k::<T>(Stat::Var { ddof, sqrt: true }, false),
            opts,
        )
    }

    /// Variance ignoring NaN.
    pub fn nanvar(&self, ddof: f64) -> Scalar<T::Real> {
        self.full_reduction(
            "nanvar",
            &ddof,
            moments_k::<T>(Stat::Var { ddof, sqrt: false }, true),
        )
    }

    /// Variance ignoring NaN over `opts`' axes.
    pub fn nanvar_with(&self, ddof: f64, opts: &Reduce) -> Result<Array<T::Real>> {
        self.reduction(
            "nanvar",
            &ddof,
            moments_k::<T>(Stat::Var { ddof, sqrt: false }, true),
            opts,
        )
    }

    /// Standard deviation ignoring NaN.
    pub fn nanstd(&self, ddof: f64) -> Scalar<T::Real> {
        self.full_reduction(
            "nanstd",
            &ddof,
            moments_k::<T>(Stat::Var { ddof, sqrt: true }, true),
        )
    }

    /// Standard deviation ignoring NaN over `opts`' axes.
    pub fn nanstd_with(&self, ddof: f64, opts: &Reduce) -> Result<Array<T::Real>> {
        self.reduction(
            "nanstd",
            &ddof,
            moments_k::<T>(Stat::Var { ddof, sqrt: true }, true),
            opts,
        )
    }
}
