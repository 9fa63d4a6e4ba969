//! Arithmetic and mathematical functions, and the operators `+ - * / %`,
//! unary `-`, and `& | ^ !` on boolean arrays.

use std::ops;

use crate::array::{Array, Scalar};
use crate::element::{Number, Real};
use crate::elementwise::Operand;
use crate::error::Result;
use crate::expr::unary;

impl<T: Number> Array<T> {
    /// `self + other`, elementwise with broadcasting.
    pub fn add<'a>(&self, other: impl Into<Operand<'a, T>>) -> Result<Array<T>> {
        self.binary_op(other.into(), "add", Number::add)
    }

    /// `self - other`.
    pub fn subtract<'a>(&self, other: impl Into<Operand<'a, T>>) -> Result<Array<T>> {
        self.binary_op(other.into(), "subtract", Number::sub)
    }

    /// `self * other`.
    pub fn multiply<'a>(&self, other: impl Into<Operand<'a, T>>) -> Result<Array<T>> {
        self.binary_op(other.into(), "multiply", Number::mul)
    }

    /// `self / other` (integers: truncating, 0 for a zero divisor).
    pub fn divide<'a>(&self, other: impl Into<Operand<'a, T>>) -> Result<Array<T>> {
        self.binary_op(other.into(), "divide", Number::div)
    }

    /// `self % other` with the sign of the divisor, like NumPy's `mod`.
    pub fn remainder<'a>(&self, other: impl Into<Operand<'a, T>>) -> Result<Array<T>> {
        self.binary_op(other.into(), "remainder", Number::rem)
    }

    /// The larger of each pair (NaN if either is NaN).
    pub fn maximum<'a>(&self, other: impl Into<Operand<'a, T>>) -> Result<Array<T>> {
        self.binary_op(other.into(), "maximum", max_nan)
    }

    /// The smaller of each pair (NaN if either is NaN).
    pub fn minimum<'a>(&self, other: impl Into<Operand<'a, T>>) -> Result<Array<T>> {
        self.binary_op(other.into(), "minimum", min_nan)
    }

    /// The larger of each pair, ignoring NaN: NaN only where both are NaN
    /// (NumPy's `fmax`).
    pub fn fmax<'a>(&self, other: impl Into<Operand<'a, T>>) -> Result<Array<T>> {
        self.binary_op(other.into(), "fmax", fmax)
    }

    /// The smaller of each pair, ignoring NaN (NumPy's `fmin`).
    pub fn fmin<'a>(&self, other: impl Into<Operand<'a, T>>) -> Result<Array<T>> {
        self.binary_op(other.into(), "fmin", fmin)
    }

    /// `self // other`: the quotient rounded toward negative infinity, as
    /// NumPy's `floor_divide` (`-7 // 2 == -4`; integers divided by zero
    /// give 0, floats ±inf or NaN).
    pub fn floor_divide<'a>(&self, other: impl Into<Operand<'a, T>>) -> Result<Array<T>> {
        self.binary_op(other.into(), "floor_divide", floor_divide)
    }

    /// -1, 0 or 1 by the sign of each element (NaN stays NaN), as NumPy's
    /// `sign`.
    pub fn sign(&self) -> Array<T> {
        self.map_expr("sign", &0u8, |b| Ok(unary(b, sign)))
    }

    /// `-self`.
    pub fn negative(&self) -> Array<T> {
        self.map_expr("negative", &0u8, |b| Ok(unary(b, Number::neg)))
    }

    /// `|self|`.
    pub fn abs(&self) -> Array<T> {
        self.map_expr("absolute", &0u8, |b| Ok(unary(b, Number::abs)))
    }

    /// `self` raised to the integer power `n`.
    pub fn powi(&self, n: u32) -> Array<T> {
        self.map_expr("powi", &n, move |b| Ok(unary(b, |x| x.powi(n))))
    }

    /// Values limited to `[lo, hi]`: `minimum(maximum(x, lo), hi)` as in
    /// NumPy, so NaN stays NaN and `hi` wins when `lo > hi`.
    pub fn clip(&self, lo: T, hi: T) -> Array<T> {
        self.map_expr("clip", &(lo, hi), move |b| {
            Ok(unary(b, |x| {
                let y = if x < lo { lo } else { x };
                if y > hi { hi } else { y }
            }))
        })
    }
}

pub(crate) fn fmax<T: Number>(a: T, b: T) -> T {
    if a.is_nan() || (!b.is_nan() && b > a) {
        b
    } else {
        a
    }
}

pub(crate) fn fmin<T: Number>(a: T, b: T) -> T {
    if a.is_nan() || (!b.is_nan() && b < a) {
        b
    } else {
        a
    }
}

/// NumPy's floor division: for floats its `divmod` (the remainder takes the
/// divisor's sign, the quotient is rounded down, a quotient within rounding
/// of an integer above it is taken as that integer); for integers exact,
/// with 0 for a zero divisor.
pub(crate) fn floor_divide<T: Number>(a: T, b: T) -> T {
    use crate::element::Wide;
    match (a.to_wide(), b.to_wide()) {
        (Wide::F(x), Wide::F(y)) => {
            if y == 0.0 {
                return T::from_wide(Wide::F(x / y));
            }
            let m = x % y;
            let mut d = (x - m) / y;
            if m != 0.0 && ((y < 0.0) != (m < 0.0)) {
                d -= 1.0;
            }
            let f = d.floor();
            T::from_wide(Wide::F(if d - f > 0.5 { f + 1.0 } else { f }))
        }
        (Wide::I(x), Wide::I(y)) => {
            if y == 0 {
                return T::zero();
            }
            let q = x.wrapping_div(y);
            let q = if (x % y != 0) && ((x < 0) != (y < 0)) {
                q - 1
            } else {
                q
            };
            T::from_wide(Wide::I(q))
        }
        _ => a.div(b),
    }
}

pub(crate) fn sign<T: Number>(a: T) -> T {
    if a.is_nan() {
        a
    } else if a > T::zero() {
        T::one()
    } else if a < T::zero() {
        T::zero().sub(T::one())
    } else {
        T::zero()
    }
}

pub(crate) fn max_nan<T: Number>(a: T, b: T) -> T {
    if a.is_nan() || a >= b { a } else { b }
}

pub(crate) fn min_nan<T: Number>(a: T, b: T) -> T {
    if a.is_nan() || a <= b { a } else { b }
}

macro_rules! real_fns {
    ($($(#[$doc:meta])* $name:ident => $f:path;)*) => {
        impl<T: Real> Array<T> {$(
            $(#[$doc])*
            pub fn $name(&self) -> Array<T> {
                self.map_expr(stringify!($name), &0u8, |b| Ok(unary(b, $f)))
            }
        )*}
        impl<T: Real> Scalar<T> {$(
            $(#[$doc])*
            pub fn $name(&self) -> Scalar<T> {
                Scalar::new(self.0.$name())
            }
        )*}
    };
}

real_fns! {
    /// Square root.
    sqrt => num_traits::Float::sqrt;
    /// `e^x`.
    exp => num_traits::Float::exp;
    /// `e^x - 1`, accurate near 0.
    expm1 => num_traits::Float::exp_m1;
    /// Natural logarithm.
    log => num_traits::Float::ln;
    /// `ln(1 + x)`, accurate near 0.
    log1p => num_traits::Float::ln_1p;
    /// Base-2 logarithm.
    log2 => num_traits::Float::log2;
    /// Base-10 logarithm.
    log10 => num_traits::Float::log10;
    /// Sine.
    sin => num_traits::Float::sin;
    /// Cosine.
    cos => num_traits::Float::cos;
    /// Tangent.
    tan => num_traits::Float::tan;
    /// Inverse sine.
    arcsin => num_traits::Float::asin;
    /// Inverse cosine.
    arccos => num_traits::Float::acos;
    /// Inverse tangent.
    arctan => num_traits::Float::atan;
    /// Hyperbolic sine.
    sinh => num_traits::Float::sinh;
    /// Hyperbolic cosine.
    cosh => num_traits::Float::cosh;
    /// Hyperbolic tangent.
    tanh => num_traits::Float::tanh;
    /// Largest integer not above.
    floor => num_traits::Float::floor;
    /// Smallest integer not below.
    ceil => num_traits::Float::ceil;
    /// Nearest integer, halves to even (NumPy's `round`/`rint`: 0.5 → 0,
    /// 1.5 → 2, -2.5 → -2).
    round => round_half_even;
}

/// The nearest integer, ties to the even one.
pub(crate) fn round_half_even<T: Real>(x: T) -> T {
    let r = x.round();
    let one = <T as num_traits::One>::one();
    let two = one + one;
    if num_traits::Float::abs(x - x.trunc()) == one / two {
        // A tie: `round` went away from zero; step back if that is odd.
        (x / two).round() * two
    } else {
        r
    }
}

impl<T: Real> Array<T> {
    /// `self` raised to the power `other` (an array or a scalar).
    pub fn powf<'a>(&self, other: impl Into<Operand<'a, T>>) -> Result<Array<T>> {
        self.binary_op(other.into(), "power", num_traits::Float::powf)
    }

    /// Inverse tangent of `self / other` with the quadrant.
    pub fn arctan2<'a>(&self, other: impl Into<Operand<'a, T>>) -> Result<Array<T>> {
        self.binary_op(other.into(), "arctan2", num_traits::Float::atan2)
    }

    /// Whether each value is finite.
    pub fn isfinite(&self) -> Array<bool> {
        self.map_expr("isfinite", &0u8, |b| {
            Ok(crate::expr::unary_to(b, num_traits::Float::is_finite))
        })
    }

    /// Whether each value is ±∞.
    pub fn isinf(&self) -> Array<bool> {
        self.map_expr("isinf", &0u8, |b| {
            Ok(crate::expr::unary_to(b, num_traits::Float::is_infinite))
        })
    }
}

impl<T: Real> Scalar<T> {
    /// `self` raised to the power `e`.
    pub fn powf(&self, e: T) -> Scalar<T> {
        Scalar::new(self.0.powf(e).unwrap_or_else(Array::poisoned))
    }
}

impl Array<bool> {
    /// Elementwise and.
    pub fn logical_and<'a>(&self, other: impl Into<Operand<'a, bool>>) -> Result<Array<bool>> {
        self.binary_op(other.into(), "logical_and", |a, b| a & b)
    }

    /// Elementwise or.
    pub fn logical_or<'a>(&self, other: impl Into<Operand<'a, bool>>) -> Result<Array<bool>> {
        self.binary_op(other.into(), "logical_or", |a, b| a | b)
    }

    /// Elementwise exclusive or.
    pub fn logical_xor<'a>(&self, other: impl Into<Operand<'a, bool>>) -> Result<Array<bool>> {
        self.binary_op(other.into(), "logical_xor", |a, b| a ^ b)
    }

    /// Elementwise not.
    pub fn logical_not(&self) -> Array<bool> {
        self.map_expr("logical_not", &0u8, |b| Ok(unary(b, |x: bool| !x)))
    }
}

/// Array–array, array–scalar and scalar–array forms of one operator.
macro_rules! operator {
    ($Tr:ident, $m:ident, $method:ident, $bound:ident, $left:expr, [$($prim:ty),*]) => {
        impl<T: $bound> ops::$Tr<&Array<T>> for &Array<T> {
            type Output = Array<T>;
            fn $m(self, o: &Array<T>) -> Array<T> {
                self.$method(o).unwrap_or_else(Array::poisoned)
            }
        }
        impl<T: $bound> ops::$Tr<Array<T>> for Array<T> {
            type Output = Array<T>;
            fn $m(self, o: Array<T>) -> Array<T> { ops::$Tr::$m(&self, &o) }
        }
        impl<T: $bound> ops::$Tr<&Array<T>> for Array<T> {
            type Output = Array<T>;
            fn $m(self, o: &Array<T>) -> Array<T> { ops::$Tr::$m(&self, o) }
        }
        impl<T: $bound> ops::$Tr<Array<T>> for &Array<T> {
            type Output = Array<T>;
            fn $m(self, o: Array<T>) -> Array<T> { ops::$Tr::$m(self, &o) }
        }
        impl<T: $bound> ops::$Tr<T> for &Array<T> {
            type Output = Array<T>;
            fn $m(self, o: T) -> Array<T> {
                self.$method(o).unwrap_or_else(Array::poisoned)
            }
        }
        impl<T: $bound> ops::$Tr<T> for Array<T> {
            type Output = Array<T>;
            fn $m(self, o: T) -> Array<T> { ops::$Tr::$m(&self, o) }
        }
        impl<T: $bound> ops::$Tr<&Scalar<T>> for &Array<T> {
            type Output = Array<T>;
            fn $m(self, o: &Scalar<T>) -> Array<T> { ops::$Tr::$m(self, &o.0) }
        }
        impl<T: $bound> ops::$Tr<&Array<T>> for &Scalar<T> {
            type Output = Array<T>;
            fn $m(self, o: &Array<T>) -> Array<T> { ops::$Tr::$m(&self.0, o) }
        }
        impl<T: $bound> ops::$Tr<&Scalar<T>> for &Scalar<T> {
            type Output = Scalar<T>;
            fn $m(self, o: &Scalar<T>) -> Scalar<T> { Scalar::new(ops::$Tr::$m(&self.0, &o.0)) }
        }
        impl<T: $bound> ops::$Tr<Scalar<T>> for Scalar<T> {
            type Output = Scalar<T>;
            fn $m(self, o: Scalar<T>) -> Scalar<T> { Scalar::new(ops::$Tr::$m(&self.0, &o.0)) }
        }
        impl<T: $bound> ops::$Tr<T> for &Scalar<T> {
            type Output = Scalar<T>;
            fn $m(self, o: T) -> Scalar<T> { Scalar::new(ops::$Tr::$m(&self.0, o)) }
        }
        impl<T: $bound> ops::$Tr<T> for Scalar<T> {
            type Output = Scalar<T>;
            fn $m(self, o: T) -> Scalar<T> { Scalar::new(ops::$Tr::$m(&self.0, o)) }
        }
        $(
            impl ops::$Tr<&Array<$prim>> for $prim {
                type Output = Array<$prim>;
                fn $m(self, o: &Array<$prim>) -> Array<$prim> {
                    o.binary_op_left(self, stringify!($m), $left)
                }
            }
            impl ops::$Tr<Array<$prim>> for $prim {
                type Output = Array<$prim>;
                fn $m(self, o: Array<$prim>) -> Array<$prim> { ops::$Tr::$m(self, &o) }
            }
            impl ops::$Tr<&Scalar<$prim>> for $prim {
                type Output = Scalar<$prim>;
                fn $m(self, o: &Scalar<$prim>) -> Scalar<$prim> { Scalar::new(ops::$Tr::$m(self, &o.0)) }
            }
        )*
    };
}

operator!(
    Add,
    add,
    add,
    Number,
    Number::add,
    [f64, f32, i64, i32, i16, i8, u64, u32, u16, u8]
);
operator!(
    Sub,
    sub,
    subtract,
    Number,
    Number::sub,
    [f64, f32, i64, i32, i16, i8, u64, u32, u16, u8]
);
operator!(
    Mul,
    mul,
    multiply,
    Number,
    Number::mul,
    [f64, f32, i64, i32, i16, i8, u64, u32, u16, u8]
);
operator!(
    Div,
    div,
    divide,
    Number,
    Number::div,
    [f64, f32, i64, i32, i16, i8, u64, u32, u16, u8]
);
operator!(
    Rem,
    rem,
    remainder,
    Number,
    Number::rem,
    [f64, f32, i64, i32, i16, i8, u64, u32, u16, u8]
);

/// Boolean operators on `Array<bool>`.
macro_rules! bool_operator {
    ($Tr:ident, $m:ident, $method:ident) => {
        impl ops::$Tr<&Array<bool>> for &Array<bool> {
            type Output = Array<bool>;
            fn $m(self, o: &Array<bool>) -> Array<bool> {
                self.$method(o).unwrap_or_else(Array::poisoned)
            }
        }
        impl ops::$Tr<Array<bool>> for Array<bool> {
            type Output = Array<bool>;
            fn $m(self, o: Array<bool>) -> Array<bool> {
                ops::$Tr::$m(&self, &o)
            }
        }
    };
}
bool_operator!(BitAnd, bitand, logical_and);
bool_operator!(BitOr, bitor, logical_or);
bool_operator!(BitXor, bitxor, logical_xor);

impl<T: Number> ops::Neg for &Array<T> {
    type Output = Array<T>;
    fn neg(self) -> Array<T> {
        self.negative()
    }
}

impl<T: Number> ops::Neg for Array<T> {
    type Output = Array<T>;
    fn neg(self) -> Array<T> {
        self.negative()
    }
}

impl<T: Number> ops::Neg for &Scalar<T> {
    type Output = Scalar<T>;
    fn neg(self) -> Scalar<T> {
        Scalar::new(self.0.negative())
    }
}

impl ops::Not for &Array<bool> {
    type Output = Array<bool>;
    fn not(self) -> Array<bool> {
        self.logical_not()
    }
}

impl ops::Not for Array<bool> {
    type Output = Array<bool>;
    fn not(self) -> Array<bool> {
        self.logical_not()
    }
}

#[cfg(test)]
mod round_tests {
    use super::round_half_even;

    #[test]
    fn halves_round_to_even_like_numpy() {
        for x in [
            -3.5f64,
            -2.5,
            -1.5,
            -0.5,
            0.5,
            1.5,
            2.5,
            3.5,
            2.4,
            2.6,
            -2.6,
            0.0,
            1e16 + 2.0,
            4503599627370497.0,
        ] {
            assert_eq!(round_half_even(x), x.round_ties_even(), "{x}");
        }
        assert_eq!(round_half_even(2.5f32), 2.0);
        assert!(round_half_even(f64::NAN).is_nan());
        assert_eq!(round_half_even(f64::INFINITY), f64::INFINITY);
    }
}
