//! Raw little-endian encoding of `ndarray` blocks (feature `ndarray`).
//!
//! Layout: `ndim: u32`, then `ndim` × `u64` extents, then the elements in
//! standard (row-major) order, each little-endian. No per-element framing, so
//! encoding is a copy and the encoded size equals the data size plus a header.

use std::io::Write;

use ndarray::{Array, ArrayD, Dimension, IxDyn};

use super::raw::RawElement;
use super::{Codec, codec_of};

/// Raw little-endian buffers for `ndarray` arrays of [`RawElement`]s.
pub struct NdarrayCodec;

impl<A: RawElement, D: Dimension + 'static> Codec<Array<A, D>> for NdarrayCodec {
    fn encode(value: &Array<A, D>, out: &mut dyn Write) -> Result<(), String> {
        let mut header = Vec::with_capacity(4 + 8 * value.ndim());
        header.extend_from_slice(&(value.ndim() as u32).to_le_bytes());
        for &d in value.shape() {
            header.extend_from_slice(&(d as u64).to_le_bytes());
        }
        out.write_all(&header).map_err(|e| e.to_string())?;
        // The elements stream through a small buffer: spilling a block
        // never holds a second full-size copy of it.
        match value.as_slice() {
            Some(contiguous) => A::write_slice(contiguous, out),
            None => A::write_iter(value.iter(), out),
        }
    }

    fn decode(bytes: &[u8]) -> Result<Array<A, D>, String> {
        let short = || format!("truncated ndarray encoding ({} bytes)", bytes.len());
        let ndim = u32::from_le_bytes(bytes.get(..4).ok_or_else(short)?.try_into().unwrap());
        let header = 4 + 8 * ndim as usize;
        let mut shape = Vec::with_capacity(ndim as usize);
        for i in 0..ndim as usize {
            let b = bytes.get(4 + 8 * i..12 + 8 * i).ok_or_else(short)?;
            shape.push(u64::from_le_bytes(b.try_into().unwrap()) as usize);
        }
        let n = shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .filter(|n| n.checked_mul(A::WIDTH).is_some())
            .ok_or_else(|| {
                format!("ndarray encoding of shape {shape:?} overflows the address space")
            })?;
        let body = bytes.get(header..).ok_or_else(short)?;
        if body.len() != n * A::WIDTH {
            return Err(format!(
                "ndarray encoding of shape {shape:?} needs {} data bytes, found {}",
                n * A::WIDTH,
                body.len()
            ));
        }
        let data: Vec<A> = A::get_slice(body);
        ArrayD::from_shape_vec(IxDyn(&shape), data)
            .map_err(|e| e.to_string())?
            .into_dimensionality::<D>()
            .map_err(|e| e.to_string())
    }
}

macro_rules! arrays {
    ($mac:ident $(; $any:expr)?) => {
        $mac!($($any;)? f64, f32, i64, i32, i16, i8, u64, u32, u16, u8, bool);
    };
}

macro_rules! register_arrays {
    ($($t:ty),*) => {$(
        inventory::submit! {
            super::ValueDecoder { vtable: || codec_of::<ArrayD<$t>, NdarrayCodec>() }
        }
    )*};
}

arrays!(register_arrays);

#[cfg(test)]
mod tests {
    use super::super::Value;
    use ndarray::{ArrayD, IxDyn};

    #[test]
    fn blocks_round_trip_through_bytes() {
        let a = ArrayD::from_shape_fn(IxDyn(&[3, 4]), |ix| (ix[0] * 10 + ix[1]) as f64);
        let v = Value::new(a.clone());
        assert!(v.nbytes() >= 96);
        let mut bytes = Vec::new();
        v.encode(&mut bytes).unwrap();
        assert_eq!(bytes.len(), 4 + 16 + 96);
        let back = Value::decode(&v.codec().unwrap().id(), &bytes).unwrap();
        assert_eq!(back.downcast_ref::<ArrayD<f64>>().unwrap(), &a);
        assert!(Value::decode(&v.codec().unwrap().id(), &bytes[..50]).is_err());
    }
}
