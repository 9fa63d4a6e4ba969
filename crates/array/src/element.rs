//! Element types: what an [`Array`](crate::Array) can hold.
//!
//! [`Element`] covers every supported dtype (`f64`, `f32`, `i64`, `i32`,
//! `i16`, `i8`, `u64`, `u32`, `u16`, `u8`, `bool`); [`Number`] the numeric ones (arithmetic, sums, ordering);
//! [`Real`] the floating-point ones (sqrt, exp, log, trig, NaN). An operation
//! a dtype does not support is not a method of its arrays, so the compiler
//! refuses it: `Array<bool>::sqrt` or `Array<i64>::exp` do not exist (cast
//! with [`astype`](crate::Array::astype) first).
//!
//! Integer arithmetic wraps on overflow like NumPy's, and integer division
//! by zero gives 0 (NumPy's `floor_divide` result) instead of panicking.

use std::fmt;

use oxidask_graph::{RawElement, Tokenize};

/// The dtype of an array, printed like NumPy's. Ops in graphs carry it as
/// data and reach the monomorphic kernel through [`with_dtype!`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum DType {
    /// `f64`
    Float64,
    /// `f32`
    Float32,
    /// `i64`
    Int64,
    /// `i32`
    Int32,
    /// `u8`
    UInt8,
    /// `bool`
    Bool,
    /// `i8`
    Int8,
    /// `i16`
    Int16,
    /// `u16`
    UInt16,
    /// `u32`
    UInt32,
    /// `u64`
    UInt64,
}

impl DType {
    /// Every dtype, for code that must find one by a property.
    pub(crate) const ALL: [DType; 11] = [
        DType::Float64,
        DType::Float32,
        DType::Int64,
        DType::Int32,
        DType::UInt8,
        DType::Bool,
        DType::Int8,
        DType::Int16,
        DType::UInt16,
        DType::UInt32,
        DType::UInt64,
    ];
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DType::Float64 => "float64",
            DType::Float32 => "float32",
            DType::Int64 => "int64",
            DType::Int32 => "int32",
            DType::UInt8 => "uint8",
            DType::Bool => "bool",
            DType::Int8 => "int8",
            DType::Int16 => "int16",
            DType::UInt16 => "uint16",
            DType::UInt32 => "uint32",
            DType::UInt64 => "uint64",
        })
    }
}

/// Runs `$body` with `$T` bound to the element type of `$dtype`: how an op
/// that carries its dtype as data calls a generic kernel.
/// `with_dtype!(dtype, T => sum_block::<T>(v))`; with a `bool => expr`
/// arm, booleans run that instead (kernels that need arithmetic).
macro_rules! with_dtype {
    ($dtype:expr, $T:ident => $body:expr) => {
        $crate::element::with_dtype!($dtype, $T => $body, bool => {
            type $T = bool;
            $body
        })
    };
    ($dtype:expr, $T:ident => $body:expr, bool => $on_bool:expr) => {
        match $dtype {
            $crate::element::DType::Float64 => {
                type $T = f64;
                $body
            }
            $crate::element::DType::Float32 => {
                type $T = f32;
                $body
            }
            $crate::element::DType::Int64 => {
                type $T = i64;
                $body
            }
            $crate::element::DType::Int32 => {
                type $T = i32;
                $body
            }
            $crate::element::DType::UInt8 => {
                type $T = u8;
                $body
            }
            $crate::element::DType::Int8 => {
                type $T = i8;
                $body
            }
            $crate::element::DType::Int16 => {
                type $T = i16;
                $body
            }
            $crate::element::DType::UInt16 => {
                type $T = u16;
                $body
            }
            $crate::element::DType::UInt32 => {
                type $T = u32;
                $body
            }
            $crate::element::DType::UInt64 => {
                type $T = u64;
                $body
            }
            $crate::element::DType::Bool => $on_bool,
        }
    };
}
pub(crate) use with_dtype;

/// A value of any element type, for casting between them.
#[derive(Clone, Copy, Debug)]
#[doc(hidden)]
pub enum Wide {
    F(f64),
    I(i64),
    /// Unsigned integers, so `u64` values above `i64::MAX` cast exactly.
    U(u64),
    B(bool),
}

mod sealed {
    pub trait Sealed {}
}

/// An element type of an [`Array`](crate::Array).
pub trait Element:
    RawElement
    + PartialOrd
    + Default
    + fmt::Debug
    + Tokenize
    + serde::Serialize
    + serde::de::DeserializeOwned
    + sealed::Sealed
{
    /// The dtype.
    const DTYPE: DType;
    /// Whether the value is NaN (never, for integers and booleans).
    fn is_nan(self) -> bool;
    /// NumPy truthiness: non-zero.
    fn is_true(self) -> bool;
    #[doc(hidden)]
    fn to_wide(self) -> Wide;
    #[doc(hidden)]
    fn from_wide(w: Wide) -> Self;
    /// Converts with NumPy's `astype` semantics (`as` casts; booleans are
    /// 0/1; anything non-zero is `true`).
    fn cast<U: Element>(self) -> U {
        U::from_wide(self.to_wide())
    }
}

/// A numeric element type.
pub trait Number: Element {
    /// The type sums and products accumulate in (NumPy's: integers in
    /// `i64`, floats in themselves).
    type Sum: Number;
    /// The floating-point type of means and variances (`f32` for `f32`,
    /// `f64` otherwise).
    type Real: Real;
    /// 0
    fn zero() -> Self;
    /// 1
    fn one() -> Self;
    /// The smallest value (−∞ for floats).
    fn lowest() -> Self;
    /// The largest value (+∞ for floats).
    fn highest() -> Self;
    /// `a + b`, wrapping for integers.
    fn add(self, b: Self) -> Self;
    /// `a - b`, wrapping for integers.
    fn sub(self, b: Self) -> Self;
    /// `a * b`, wrapping for integers.
    fn mul(self, b: Self) -> Self;
    /// `a / b`; integer division truncates, and gives 0 for a zero divisor.
    fn div(self, b: Self) -> Self;
    /// `a % b` with the sign of the divisor (NumPy's `mod`); 0 for a zero
    /// integer divisor.
    fn rem(self, b: Self) -> Self;
    /// `-a`, wrapping for integers.
    fn neg(self) -> Self;
    /// `|a|`, wrapping for the smallest integer.
    fn abs(self) -> Self;
    /// Widening to the accumulation type.
    fn to_sum(self) -> Self::Sum;
    /// Conversion to the floating-point type.
    fn to_real(self) -> Self::Real;
    /// `self` raised to an integer power (wrapping for integers).
    fn powi(self, n: u32) -> Self {
        let mut acc = Self::one();
        for _ in 0..n {
            acc = acc.mul(self);
        }
        acc
    }
}

/// A floating-point element type.
pub trait Real: Number<Sum = Self, Real = Self> + num_traits::Float {
    /// Conversion from `f64`.
    fn from_f64(x: f64) -> Self;
    /// Conversion to `f64`.
    fn to_f64(self) -> f64;
}

macro_rules! wide_int {
    ($t:ty, $wide:ident, $w:ty) => {
        fn from_wide(w: Wide) -> Self {
            match w {
                Wide::F(x) => x as $t,
                Wide::I(i) => i as $t,
                Wide::U(u) => u as $t,
                Wide::B(b) => b as $t,
            }
        }
        fn to_wide(self) -> Wide {
            Wide::$wide(self as $w)
        }
    };
}

/// Integer element types; `$sum` is what sums and products accumulate in
/// (NumPy on a 64-bit platform: `int64` for signed, `uint64` for unsigned
/// types), `$wide` how casts carry them.
macro_rules! int_element {
    ($sum:ty, $wide:ident; $($t:ty => $dt:ident),*) => {$(
        impl sealed::Sealed for $t {}
        impl Element for $t {
            const DTYPE: DType = DType::$dt;
            fn is_nan(self) -> bool { false }
            fn is_true(self) -> bool { self != 0 }
            wide_int!($t, $wide, $sum);
        }
        impl Number for $t {
            type Sum = $sum;
            type Real = f64;
            fn zero() -> Self { 0 }
            fn one() -> Self { 1 }
            fn lowest() -> Self { <$t>::MIN }
            fn highest() -> Self { <$t>::MAX }
            fn add(self, b: Self) -> Self { self.wrapping_add(b) }
            fn sub(self, b: Self) -> Self { self.wrapping_sub(b) }
            fn mul(self, b: Self) -> Self { self.wrapping_mul(b) }
            fn div(self, b: Self) -> Self { if b == 0 { 0 } else { self.wrapping_div(b) } }
            fn rem(self, b: Self) -> Self {
                if b == 0 { return 0; }
                let r = self.wrapping_rem(b);
                #[allow(unused_comparisons)]
                if r != 0 && ((r < 0) != (b < 0)) { r.wrapping_add(b) } else { r }
            }
            #[allow(clippy::unnecessary_cast)]
            fn neg(self) -> Self { (0 as $t).wrapping_sub(self) }
            #[allow(unused_comparisons)]
            fn abs(self) -> Self { if self < 0 { self.neg() } else { self } }
            fn to_sum(self) -> $sum { self as $sum }
            fn to_real(self) -> f64 { self as f64 }
        }
    )*};
}
int_element!(i64, I; i64 => Int64, i32 => Int32, i16 => Int16, i8 => Int8);
int_element!(u64, U; u64 => UInt64, u32 => UInt32, u16 => UInt16, u8 => UInt8);

macro_rules! float_element {
    ($($t:ty => $dt:ident),*) => {$(
        impl sealed::Sealed for $t {}
        impl Element for $t {
            const DTYPE: DType = DType::$dt;
            fn is_nan(self) -> bool { <$t>::is_nan(self) }
            fn is_true(self) -> bool { self != 0.0 }
            fn from_wide(w: Wide) -> Self {
                match w {
                    Wide::F(x) => x as $t,
                    Wide::I(i) => i as $t,
                    Wide::U(u) => u as $t,
                    Wide::B(b) => b as u8 as $t,
                }
            }
            fn to_wide(self) -> Wide { Wide::F(self as f64) }
        }
        impl Number for $t {
            type Sum = $t;
            type Real = $t;
            fn zero() -> Self { 0.0 }
            fn one() -> Self { 1.0 }
            fn lowest() -> Self { <$t>::NEG_INFINITY }
            fn highest() -> Self { <$t>::INFINITY }
            fn add(self, b: Self) -> Self { self + b }
            fn sub(self, b: Self) -> Self { self - b }
            fn mul(self, b: Self) -> Self { self * b }
            fn div(self, b: Self) -> Self { self / b }
            fn rem(self, b: Self) -> Self {
                let r = self % b;
                // NumPy: a zero remainder takes the divisor's sign too.
                if r == 0.0 {
                    (0.0 as $t).copysign(b)
                } else if (r < 0.0) != (b < 0.0) {
                    r + b
                } else {
                    r
                }
            }
            fn neg(self) -> Self { -self }
            fn abs(self) -> Self { <$t>::abs(self) }
            fn to_sum(self) -> $t { self }
            fn to_real(self) -> $t { self }
            fn powi(self, n: u32) -> Self { <$t>::powi(self, n as i32) }
        }
        impl Real for $t {
            fn from_f64(x: f64) -> Self { x as $t }
            fn to_f64(self) -> f64 { self as f64 }
        }
    )*};
}
float_element!(f64 => Float64, f32 => Float32);

impl sealed::Sealed for bool {}
impl Element for bool {
    const DTYPE: DType = DType::Bool;
    fn is_nan(self) -> bool {
        false
    }
    fn is_true(self) -> bool {
        self
    }
    fn from_wide(w: Wide) -> Self {
        match w {
            Wide::F(x) => x != 0.0,
            Wide::I(i) => i != 0,
            Wide::U(u) => u != 0,
            Wide::B(b) => b,
        }
    }
    fn to_wide(self) -> Wide {
        Wide::B(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_arithmetic_never_panics() {
        assert_eq!(Number::div(7i32, 0), 0);
        assert_eq!(Number::rem(-7i64, 3), 2);
        assert_eq!(Number::rem(7i64, -3), -2);
        assert_eq!(Number::add(255u8, 1), 0);
        assert_eq!(Number::neg(1u8), 255);
        assert_eq!(Number::abs(i64::MIN), i64::MIN);
        assert_eq!(Number::rem(-7.5f64, 2.0), 0.5);
    }

    #[test]
    fn casts_follow_numpy() {
        assert_eq!(2.7f64.cast::<i64>(), 2);
        assert!(0.5f64.cast::<bool>());
        assert_eq!(true.cast::<f32>(), 1.0);
        assert_eq!(300i64.cast::<u8>(), 44);
        assert_eq!(f64::NAN.cast::<i32>(), 0);
    }
}

#[cfg(test)]
mod dtype_tests {
    use super::*;

    fn name_of<T: Element>() -> DType {
        T::DTYPE
    }

    #[test]
    fn with_dtype_binds_the_element_type() {
        for d in [
            DType::Float64,
            DType::Float32,
            DType::Int64,
            DType::Int32,
            DType::UInt8,
            DType::Bool,
            DType::Int8,
            DType::Int16,
            DType::UInt16,
            DType::UInt32,
            DType::UInt64,
        ] {
            assert_eq!(with_dtype!(d, T => name_of::<T>()), d);
        }
    }
}
