//! Raw little-endian encodings of fixed-width numbers and vectors of them:
//! the spill and wire format of numeric chunks, about as fast as a copy.

use std::io::Write;

use super::Codec;

/// Bytes converted per write when streaming elements: big enough that the
/// per-write cost vanishes, small enough to stay in cache.
const STREAM_CHUNK: usize = 64 * 1024;

/// An element type with a fixed-width little-endian form.
pub trait RawElement: Copy + Send + Sync + 'static {
    /// Width in bytes.
    const WIDTH: usize;
    /// Writes the little-endian bytes into exactly `WIDTH` bytes.
    fn put_into(self, dst: &mut [u8]);
    /// Reads from exactly `WIDTH` bytes.
    fn get(bytes: &[u8]) -> Self;

    /// Appends the little-endian bytes.
    fn put(self, out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + Self::WIDTH, 0);
        self.put_into(&mut out[start..]);
    }

    /// Appends the little-endian bytes of every element in one pass.
    fn put_slice(src: &[Self], out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + src.len() * Self::WIDTH, 0);
        for (dst, &x) in out[start..].chunks_exact_mut(Self::WIDTH).zip(src) {
            x.put_into(dst);
        }
    }

    /// Writes the little-endian bytes of every element to `out`, through a
    /// small buffer: no full-size copy of `src` is made.
    fn write_slice(src: &[Self], out: &mut dyn Write) -> Result<(), String> {
        let per_chunk = (STREAM_CHUNK / Self::WIDTH).max(1);
        let mut buf = Vec::with_capacity(per_chunk.min(src.len()) * Self::WIDTH);
        for part in src.chunks(per_chunk) {
            buf.clear();
            Self::put_slice(part, &mut buf);
            out.write_all(&buf).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Writes the little-endian bytes of every element of `items`, through a
    /// small buffer (for non-contiguous arrays).
    fn write_iter<'a>(
        items: impl Iterator<Item = &'a Self>,
        out: &mut dyn Write,
    ) -> Result<(), String>
    where
        Self: 'a,
    {
        let mut buf = Vec::with_capacity(STREAM_CHUNK);
        for &x in items {
            x.put(&mut buf);
            if buf.len() >= STREAM_CHUNK {
                out.write_all(&buf).map_err(|e| e.to_string())?;
                buf.clear();
            }
        }
        out.write_all(&buf).map_err(|e| e.to_string())
    }

    /// Reads every element of `bytes` (whose length is a multiple of `WIDTH`).
    fn get_slice(bytes: &[u8]) -> Vec<Self> {
        bytes.chunks_exact(Self::WIDTH).map(Self::get).collect()
    }
}

macro_rules! raw_numbers {
    ($($t:ty),*) => {$(
        impl RawElement for $t {
            const WIDTH: usize = std::mem::size_of::<$t>();
            fn put_into(self, dst: &mut [u8]) {
                dst.copy_from_slice(&self.to_le_bytes());
            }
            fn get(bytes: &[u8]) -> Self {
                let mut a = [0u8; std::mem::size_of::<$t>()];
                a.copy_from_slice(bytes);
                <$t>::from_le_bytes(a)
            }
        }
    )*};
}
raw_numbers!(f64, f32, i64, i32, i16, i8, u64, u32, u16, u8);

impl RawElement for bool {
    const WIDTH: usize = 1;
    fn put_into(self, dst: &mut [u8]) {
        dst[0] = self as u8;
    }
    fn get(bytes: &[u8]) -> Self {
        bytes[0] != 0
    }
}

/// Raw little-endian buffers for `Vec`s of [`RawElement`]s: no framing, so
/// encoding is a copy and the encoded size is the data size.
pub struct RawVecCodec;

impl<T: RawElement> Codec<Vec<T>> for RawVecCodec {
    fn encode(value: &Vec<T>, out: &mut dyn Write) -> Result<(), String> {
        T::write_slice(value, out)
    }

    fn decode(bytes: &[u8]) -> Result<Vec<T>, String> {
        if bytes.len() % T::WIDTH != 0 {
            return Err(format!(
                "{} bytes is not a whole number of {}-byte elements",
                bytes.len(),
                T::WIDTH
            ));
        }
        Ok(T::get_slice(bytes))
    }
}
