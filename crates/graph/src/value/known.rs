//! Sizes and codecs for the types [`Value::new`](super::Value::new) recognises.
//!
//! Rust has no specialization, so recognition is a run-time type check against
//! a fixed list. Each check is a `TypeId` comparison; the list stays short.

use std::any::Any;

use super::raw::RawVecCodec;
use super::{CodecVTable, SerdeCodec, codec_of};

/// Heap-inclusive size of a value, for the recognised types.
trait DeepSize {
    fn deep_size(&self) -> usize;
}

macro_rules! flat_size {
    ($($t:ty),*) => {$(
        impl DeepSize for $t {
            fn deep_size(&self) -> usize { std::mem::size_of::<$t>() }
        }
        impl DeepSize for Vec<$t> {
            fn deep_size(&self) -> usize {
                std::mem::size_of::<Vec<$t>>() + self.capacity() * std::mem::size_of::<$t>()
            }
        }
    )*};
}
flat_size!(
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
    (),
    char
);

impl DeepSize for String {
    fn deep_size(&self) -> usize {
        std::mem::size_of::<String>() + self.capacity()
    }
}

impl DeepSize for Vec<String> {
    fn deep_size(&self) -> usize {
        std::mem::size_of::<Vec<String>>()
            + self.capacity() * std::mem::size_of::<String>()
            + self.iter().map(|s| s.capacity()).sum::<usize>()
    }
}

impl DeepSize for Vec<Vec<f64>> {
    fn deep_size(&self) -> usize {
        std::mem::size_of::<Self>() + self.iter().map(DeepSize::deep_size).sum::<usize>()
    }
}

macro_rules! recognise_raw {
    ($any:expr; $($t:ty),* $(,)?) => {$(
        if let Some(x) = $any.downcast_ref::<Vec<$t>>() {
            return (x.deep_size(), Some(codec_of::<Vec<$t>, RawVecCodec>()));
        }
    )*};
}

macro_rules! register_raw {
    ($($t:ty),* $(,)?) => {$(
        inventory::submit! { super::ValueDecoder { vtable: || codec_of::<Vec<$t>, RawVecCodec>() } }
    )*};
}

/// Numeric vectors: raw little-endian, a copy rather than varints.
macro_rules! raw_vectors {
    ($mac:ident $(; $any:expr)?) => {
        $mac!($($any;)? f64, f32, i64, i32, u64, u32, u8, bool);
    };
}

raw_vectors!(register_raw);

macro_rules! recognise {
    ($any:expr; $($t:ty),* $(,)?) => {$(
        if let Some(x) = $any.downcast_ref::<$t>() {
            return (x.deep_size(), Some(codec_of::<$t, SerdeCodec>()));
        }
    )*};
}

/// Registers the recognised types for decoding by name.
macro_rules! register_known {
    ($($t:ty),* $(,)?) => {$(
        inventory::submit! { super::ValueDecoder { vtable: || codec_of::<$t, SerdeCodec>() } }
    )*};
}

macro_rules! known_types {
    ($mac:ident $(; $any:expr)?) => {
        $mac!($($any;)?
            f64, f32, i64, i32, u64, u32, u8, usize, bool, (), String,
            Vec<usize>, Vec<String>, Vec<Vec<f64>>,
        );
    };
}

known_types!(register_known);

/// The size and codec of a value of a recognised type; the shallow size and
/// no codec otherwise.
pub(super) fn describe<T: Any>(value: &T) -> (usize, Option<&'static CodecVTable>) {
    let any = value as &dyn Any;
    raw_vectors!(recognise_raw; any);
    known_types!(recognise; any);
    #[cfg(feature = "ndarray")]
    if let Some(found) = super::ndarray_codec::describe(any) {
        return found;
    }
    (std::mem::size_of::<T>(), None)
}
