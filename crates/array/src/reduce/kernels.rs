//! The kernels: what one reduction accumulates per output element, and how
//! accumulators merge and finish.

use ndarray::ArrayView1;
use oxidask_graph::OpError;

use super::{Kernel, KernelSpec, Loc};
use crate::element::{Element, Number, Real};

/// Sums of floats in independent lanes: vectorizes, and is more accurate
/// than one running sum.
fn lane_sum<T: Number>(row: ArrayView1<T>, skipna: bool) -> T::Sum {
    let one = |acc: T::Sum, x: T| {
        if skipna && x.is_nan() {
            acc
        } else {
            acc.add(x.to_sum())
        }
    };
    match row.as_slice() {
        Some(s) if !skipna => {
            let mut lanes = [T::Sum::zero(); 8];
            let mut it = s.chunks_exact(8);
            for c in &mut it {
                for k in 0..8 {
                    lanes[k] = lanes[k].add(c[k].to_sum());
                }
            }
            let mut acc = it
                .remainder()
                .iter()
                .fold(T::Sum::zero(), |a, &x| one(a, x));
            for l in lanes {
                acc = acc.add(l);
            }
            acc
        }
        _ => row.iter().fold(T::Sum::zero(), |a, &x| one(a, x)),
    }
}

pub(super) struct SumK {
    pub(super) skipna: bool,
}

impl<T: Number> Kernel<T> for SumK {
    type Acc = T::Sum;
    type Out = T::Sum;
    fn spec(&self) -> KernelSpec {
        KernelSpec::Sum {
            skipna: self.skipna,
        }
    }
    fn row(&self, row: ArrayView1<T>, _: &Loc) -> T::Sum {
        lane_sum(row, self.skipna)
    }
    fn merge(&self, a: &mut T::Sum, b: T::Sum) {
        *a = a.add(b);
    }
    fn finish(&self, a: T::Sum) -> Result<T::Sum, OpError> {
        Ok(a)
    }
}

pub(super) struct ProdK {
    pub(super) skipna: bool,
}

impl<T: Number> Kernel<T> for ProdK {
    type Acc = T::Sum;
    type Out = T::Sum;
    fn spec(&self) -> KernelSpec {
        KernelSpec::Prod {
            skipna: self.skipna,
        }
    }
    fn row(&self, row: ArrayView1<T>, _: &Loc) -> T::Sum {
        row.iter().fold(T::Sum::one(), |a, &x| {
            if self.skipna && x.is_nan() {
                a
            } else {
                a.mul(x.to_sum())
            }
        })
    }
    fn merge(&self, a: &mut T::Sum, b: T::Sum) {
        *a = a.mul(b);
    }
    fn finish(&self, a: T::Sum) -> Result<T::Sum, OpError> {
        Ok(a)
    }
}

/// Sum or product accumulated in the element type itself (wrapping for
/// integers): NumPy's `sum(dtype=…)`/`prod(dtype=…)` after the cast.
pub(super) struct InTypeK {
    pub(super) prod: bool,
}

impl<T: Number> Kernel<T> for InTypeK {
    type Acc = T;
    type Out = T;
    fn spec(&self) -> KernelSpec {
        KernelSpec::InType { prod: self.prod }
    }
    fn row(&self, row: ArrayView1<T>, _: &Loc) -> T {
        if self.prod {
            row.iter().fold(T::one(), |a, &x| a.mul(x))
        } else {
            row.iter().fold(T::zero(), |a, &x| a.add(x))
        }
    }
    fn merge(&self, a: &mut T, b: T) {
        *a = if self.prod { a.mul(b) } else { a.add(b) };
    }
    fn finish(&self, a: T) -> Result<T, OpError> {
        Ok(a)
    }
}

/// min (`MAX == false`) or max; NaN propagates unless `skipna`.
pub(super) struct ExtremeK<const MAX: bool> {
    pub(super) skipna: bool,
}

impl<const MAX: bool> ExtremeK<MAX> {
    fn pick<T: Number>(&self, a: Option<T>, x: T) -> Option<T> {
        if self.skipna && x.is_nan() {
            return a;
        }
        Some(match a {
            None => x,
            Some(a) if MAX => crate::ops::max_nan(a, x),
            Some(a) => crate::ops::min_nan(a, x),
        })
    }
}

impl<T: Number, const MAX: bool> Kernel<T> for ExtremeK<MAX> {
    type Acc = Option<T>;
    type Out = T;
    const NEEDS_ELEMENTS: bool = true;
    fn spec(&self) -> KernelSpec {
        KernelSpec::Extreme {
            max: MAX,
            skipna: self.skipna,
        }
    }
    fn row(&self, row: ArrayView1<T>, _: &Loc) -> Option<T> {
        row.iter().fold(None, |a, &x| self.pick(a, x))
    }
    fn merge(&self, a: &mut Option<T>, b: Option<T>) {
        if let Some(b) = b {
            *a = self.pick(*a, b);
        }
    }
    fn finish(&self, a: Option<T>) -> Result<T, OpError> {
        // Only all-NaN rows with skipna get here empty: NumPy gives NaN.
        Ok(a.unwrap_or_else(|| T::from_wide(crate::element::Wide::F(f64::NAN))))
    }
}

/// argmin (`MAX == false`) or argmax: the first position of the extreme;
/// NaN counts as the extreme unless `skipna`.
pub(super) struct ArgK<const MAX: bool> {
    pub(super) skipna: bool,
}

impl<const MAX: bool> ArgK<MAX> {
    /// Whether `(x, i)` beats `(a, j)`.
    fn better<T: Number>(&self, x: T, i: i64, a: T, j: i64) -> bool {
        match (x.is_nan(), a.is_nan()) {
            (true, false) => return true,
            (false, true) => return false,
            (true, true) => return i < j,
            _ => {}
        }
        if x == a {
            i < j
        } else if MAX {
            x > a
        } else {
            x < a
        }
    }
}

impl<T: Number, const MAX: bool> Kernel<T> for ArgK<MAX> {
    type Acc = Option<(T, i64)>;
    type Out = i64;
    const NEEDS_ELEMENTS: bool = true;
    const NEEDS_LOC: bool = true;
    fn spec(&self) -> KernelSpec {
        KernelSpec::Arg {
            max: MAX,
            skipna: self.skipna,
        }
    }
    fn row(&self, row: ArrayView1<T>, loc: &Loc) -> Option<(T, i64)> {
        let mut best: Option<(T, usize)> = None;
        for (p, &x) in row.iter().enumerate() {
            if self.skipna && x.is_nan() {
                continue;
            }
            match best {
                // Ties keep the earlier position.
                Some((a, _)) if !self.better(x, 1, a, 0) => {}
                _ => best = Some((x, p)),
            }
            if !self.skipna && x.is_nan() {
                break;
            }
        }
        best.map(|(x, p)| (x, loc.global(p)))
    }
    fn merge(&self, a: &mut Option<(T, i64)>, b: Option<(T, i64)>) {
        if let Some((x, i)) = b {
            match *a {
                Some((y, j)) if !self.better(x, i, y, j) => {}
                _ => *a = Some((x, i)),
            }
        }
    }
    fn finish(&self, a: Option<(T, i64)>) -> Result<i64, OpError> {
        a.map(|(_, i)| i)
            .ok_or_else(|| "All-NaN slice encountered in nanargmin/nanargmax".into())
    }
}

pub(super) struct LogicK {
    pub(super) all: bool,
}

impl<T: Element> Kernel<T> for LogicK {
    type Acc = bool;
    type Out = bool;
    fn spec(&self) -> KernelSpec {
        KernelSpec::Logic { all: self.all }
    }
    fn row(&self, row: ArrayView1<T>, _: &Loc) -> bool {
        if self.all {
            row.iter().all(|x| x.is_true())
        } else {
            row.iter().any(|x| x.is_true())
        }
    }
    fn merge(&self, a: &mut bool, b: bool) {
        *a = if self.all { *a && b } else { *a || b };
    }
    fn finish(&self, a: bool) -> Result<bool, OpError> {
        Ok(a)
    }
}

/// Count, mean and central moment sums `M_k = Σ (x - mean)^k` up to order 4.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Moments {
    pub n: f64,
    pub mean: f64,
    pub m2: f64,
    pub m3: f64,
    pub m4: f64,
}

impl Moments {
    /// Two passes over `xs` (NaN skipped when `skipna`), in lanes.
    pub fn of<T: Number>(row: ArrayView1<T>, order: u32, skipna: bool) -> Moments {
        let f = |x: T| x.to_real().to_f64();
        let (n, sum) = match row.as_slice() {
            Some(s) if !skipna => {
                let mut lanes = [0.0f64; 4];
                let mut it = s.chunks_exact(4);
                for c in &mut it {
                    for k in 0..4 {
                        lanes[k] += f(c[k]);
                    }
                }
                let rest: f64 = it.remainder().iter().map(|&x| f(x)).sum();
                (s.len() as f64, lanes.iter().sum::<f64>() + rest)
            }
            _ => row
                .iter()
                .filter(|x| !(skipna && x.is_nan()))
                .fold((0.0, 0.0), |(n, s), &x| (n + 1.0, s + f(x))),
        };
        if n == 0.0 {
            return Moments::default();
        }
        let mean = sum / n;
        // Second pass: sums of d, d², d³, d⁴ with d = x − mean, in four
        // independent lanes per power (no branch in the hot loop).
        let mut acc = [[0.0f64; 4]; 4]; // [power-1][lane]
        match row.as_slice() {
            Some(xs) if !skipna => {
                let mut it = xs.chunks_exact(4);
                if order >= 3 {
                    for c in &mut it {
                        for k in 0..4 {
                            let d = f(c[k]) - mean;
                            let d2 = d * d;
                            acc[0][k] += d;
                            acc[1][k] += d2;
                            acc[2][k] += d2 * d;
                            acc[3][k] += d2 * d2;
                        }
                    }
                } else {
                    for c in &mut it {
                        for k in 0..4 {
                            let d = f(c[k]) - mean;
                            acc[0][k] += d;
                            acc[1][k] += d * d;
                        }
                    }
                }
                for &x in it.remainder() {
                    let d = f(x) - mean;
                    let d2 = d * d;
                    acc[0][0] += d;
                    acc[1][0] += d2;
                    acc[2][0] += d2 * d;
                    acc[3][0] += d2 * d2;
                }
            }
            _ => {
                for &x in row.iter().filter(|x| !(skipna && x.is_nan())) {
                    let d = f(x) - mean;
                    let d2 = d * d;
                    acc[0][0] += d;
                    acc[1][0] += d2;
                    acc[2][0] += d2 * d;
                    acc[3][0] += d2 * d2;
                }
            }
        }
        let s: Vec<f64> = acc.iter().map(|l| l.iter().sum()).collect();
        // Correct for the rounding of the first pass's mean: with
        // δ = Σd/n, the moments about the true mean follow from those
        // about `mean` by the binomial shift.
        let delta = s[0] / n;
        let m2 = s[1] - n * delta * delta;
        let (m3, m4) = if order >= 3 {
            (
                s[2] - 3.0 * delta * s[1] + 2.0 * n * delta.powi(3),
                s[3] - 4.0 * delta * s[2] + 6.0 * delta * delta * s[1] - 3.0 * n * delta.powi(4),
            )
        } else {
            (0.0, 0.0)
        };
        Moments {
            n,
            mean: mean + delta,
            m2,
            m3,
            m4,
        }
    }

    /// Pébay's pairwise update (Chan et al. for order 2).
    pub fn merge(&mut self, b: Moments, order: u32) {
        if b.n == 0.0 {
            return;
        }
        if self.n == 0.0 {
            *self = b;
            return;
        }
        let a = *self;
        let n = a.n + b.n;
        let d = b.mean - a.mean;
        let d_n = d / n;
        let mean = a.mean + d_n * b.n;
        let m2 = a.m2 + b.m2 + d * d_n * a.n * b.n;
        let (mut m3, mut m4) = (0.0, 0.0);
        if order >= 3 {
            m3 = a.m3
                + b.m3
                + d * d_n * d_n * a.n * b.n * (a.n - b.n)
                + 3.0 * d_n * (a.n * b.m2 - b.n * a.m2);
            m4 = a.m4
                + b.m4
                + d * d_n * d_n * d_n * a.n * b.n * (a.n * a.n - a.n * b.n + b.n * b.n)
                + 6.0 * d_n * d_n * (a.n * a.n * b.m2 + b.n * b.n * a.m2)
                + 4.0 * d_n * (a.n * b.m3 - b.n * a.m3);
        }
        *self = Moments {
            n,
            mean,
            m2,
            m3,
            m4,
        };
    }
}

/// What a moments reduction returns.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) enum Stat {
    Mean,
    Var {
        ddof: f64,
        sqrt: bool,
    },
    /// The `order`-th central moment, `Σ(x − mean)^order / (n − ddof)`.
    Moment {
        order: u32,
        ddof: f64,
    },
    Skew {
        bias: bool,
    },
    Kurtosis {
        fisher: bool,
        bias: bool,
    },
}

impl Stat {
    fn order(self) -> u32 {
        match self {
            Stat::Mean | Stat::Var { .. } => 2,
            Stat::Moment { order, .. } => order.max(2),
            Stat::Skew { .. } | Stat::Kurtosis { .. } => 4,
        }
    }

    pub fn value(self, m: &Moments) -> f64 {
        let n = m.n;
        // scipy.stats: a variance this small relative to the mean is zero.
        let zero = || m.m2 / n <= (1e-15 * m.mean).powi(2);
        match self {
            Stat::Mean => m.mean + if n == 0.0 { f64::NAN } else { 0.0 },
            Stat::Var { ddof, sqrt } => {
                let v = m.m2 / (n - ddof).max(0.0);
                if sqrt { v.sqrt() } else { v }
            }
            Stat::Moment { order: 0, .. } => 1.0,
            Stat::Moment { order: 1, .. } => 0.0,
            Stat::Moment { order, ddof } => {
                let sum = match order {
                    2 => m.m2,
                    3 => m.m3,
                    _ => m.m4,
                };
                sum / (n - ddof).max(0.0)
            }
            Stat::Skew { bias } => {
                if n == 0.0 || zero() {
                    return f64::NAN;
                }
                let (m2, m3) = (m.m2 / n, m.m3 / n);
                let g1 = m3 / m2.powf(1.5);
                if !bias && n > 2.0 {
                    g1 * (n * (n - 1.0)).sqrt() / (n - 2.0)
                } else {
                    g1
                }
            }
            Stat::Kurtosis { fisher, bias } => {
                if n == 0.0 || zero() {
                    return f64::NAN;
                }
                let (m2, m4) = (m.m2 / n, m.m4 / n);
                let mut g2 = m4 / (m2 * m2);
                if !bias && n > 3.0 {
                    g2 = 1.0 / (n - 2.0) / (n - 3.0)
                        * ((n * n - 1.0) * g2 - 3.0 * (n - 1.0) * (n - 1.0))
                        + 3.0;
                }
                if fisher { g2 - 3.0 } else { g2 }
            }
        }
    }
}

pub(crate) struct MomentsK<R> {
    pub stat: Stat,
    pub skipna: bool,
    pub _r: std::marker::PhantomData<fn() -> R>,
}

impl<T: Number> Kernel<T> for MomentsK<T::Real> {
    type Acc = Moments;
    type Out = T::Real;
    fn spec(&self) -> KernelSpec {
        KernelSpec::Moments {
            stat: self.stat,
            skipna: self.skipna,
        }
    }
    fn row(&self, row: ArrayView1<T>, _: &Loc) -> Moments {
        Moments::of(row, self.stat.order(), self.skipna)
    }
    fn merge(&self, a: &mut Moments, b: Moments) {
        a.merge(b, self.stat.order());
    }
    fn finish(&self, a: Moments) -> Result<T::Real, OpError> {
        // NumPy's nanvar/nanstd: no degrees of freedom left is NaN (its
        // var/std divide by zero instead, giving inf for a spread).
        if let (true, Stat::Var { ddof, .. }) = (self.skipna, self.stat) {
            if a.n - ddof <= 0.0 {
                return Ok(T::Real::from_f64(f64::NAN));
            }
        }
        Ok(T::Real::from_f64(self.stat.value(&a)))
    }
}

pub(crate) fn moments_k<T: Number>(stat: Stat, skipna: bool) -> MomentsK<T::Real> {
    MomentsK {
        stat,
        skipna,
        _r: std::marker::PhantomData,
    }
}

/// The kernel of a spec for element type `T`, given to `f`: how a decoded
/// reduction op reaches its monomorphic kernel. Per concrete type, since
/// most kernels need numbers and `bool` has only `any`/`all`.
pub(crate) trait Kernels: Element {
    /// `f::<Self, K>(kernel)` for the kernel `spec` describes, or why none.
    fn with_kernel<R>(spec: KernelSpec, f: impl KernelUser<Self, R>) -> Result<R, String>;
}

/// A generic function over a kernel type (what [`Kernels::with_kernel`]
/// calls).
pub(crate) trait KernelUser<T: Element, R> {
    fn call<K: Kernel<T>>(self, k: K) -> Result<R, String>;
}

fn number_kernel<T: Number, R>(spec: KernelSpec, f: impl KernelUser<T, R>) -> Result<R, String> {
    match spec {
        KernelSpec::Sum { skipna } => f.call(SumK { skipna }),
        KernelSpec::Prod { skipna } => f.call(ProdK { skipna }),
        KernelSpec::InType { prod } => f.call(InTypeK { prod }),
        KernelSpec::Extreme { max: true, skipna } => f.call(ExtremeK::<true> { skipna }),
        KernelSpec::Extreme { max: false, skipna } => f.call(ExtremeK::<false> { skipna }),
        KernelSpec::Arg { max: true, skipna } => f.call(ArgK::<true> { skipna }),
        KernelSpec::Arg { max: false, skipna } => f.call(ArgK::<false> { skipna }),
        KernelSpec::Logic { all } => f.call(LogicK { all }),
        KernelSpec::Moments { stat, skipna } => f.call(moments_k::<T>(stat, skipna)),
    }
}

macro_rules! number_kernels {
    ($($t:ty),*) => {$(
        impl Kernels for $t {
            fn with_kernel<R>(spec: KernelSpec, f: impl KernelUser<$t, R>) -> Result<R, String> {
                number_kernel(spec, f)
            }
        }
    )*};
}

number_kernels!(f64, f32, i64, i32, i16, i8, u64, u32, u16, u8);

impl Kernels for bool {
    fn with_kernel<R>(spec: KernelSpec, f: impl KernelUser<bool, R>) -> Result<R, String> {
        match spec {
            KernelSpec::Logic { all } => f.call(LogicK { all }),
            other => Err(format!("no reduction {other:?} of bool")),
        }
    }
}
