//! The codecs registered for common types, so values of them spill and
//! travel without the user registering anything.
//!
//! Numeric vectors use the raw little-endian codec (a copy, no varints);
//! other scalars, strings and nested vectors the compact serde codec.
//! ndarray blocks are registered in `ndarray_codec`.

use super::raw::RawVecCodec;

macro_rules! register_raw {
    ($($t:ty),* $(,)?) => {$(
        $crate::register_value!(Vec<$t>, RawVecCodec);
    )*};
}

register_raw!(f64, f32, i64, i32, i16, i8, u64, u32, u16, u8, bool);

macro_rules! register_serde {
    ($($t:ty),* $(,)?) => {$(
        $crate::register_value!($t);
    )*};
}

register_serde!(
    f64,
    f32,
    i64,
    i32,
    i16,
    i8,
    u64,
    u32,
    u16,
    u8,
    usize,
    isize,
    bool,
    char,
    (),
    String,
    Vec<usize>,
    Vec<isize>,
    Vec<String>,
    Vec<Vec<f64>>,
    Vec<Vec<f32>>,
    Vec<Vec<i64>>,
    Vec<Vec<u64>>,
    (f64, f64),
    (f64, f64, f64),
    (u64, f64),
    (i64, f64),
    (String, u64),
    (String, f64),
    Vec<(String, u64)>,
    Vec<(String, f64)>,
    Vec<(u64, f64)>,
    Vec<(f64, f64)>,
    Option<f64>,
    Option<i64>,
    Option<String>,
);
