//! Deterministic names for computations.
//!
//! `tokenize` hashes an operation's name, its parameters and the keys of its
//! inputs into a short hex token. The same computation built twice therefore
//! gets the same keys (and is computed once when both appear in one graph),
//! while any change of parameter or input changes the key. The hash is XXH3
//! with a fixed seed, so tokens are stable across runs and processes of the
//! same build.

use xxhash_rust::xxh3::Xxh3;

use crate::Key;

/// Feeds a value into a [`Tokenizer`]. Implemented for numbers, strings,
/// keys, slices, tuples and options; collections implement it for their
/// parameters.
pub trait Tokenize {
    /// Writes this value's identity into `t`. Distinct values must write
    /// distinct byte streams (lengths are written before variable-size data).
    fn tokenize(&self, t: &mut Tokenizer);
}

/// An incremental hasher producing tokens; see [`tokenize`](crate::tokenize()).
pub struct Tokenizer(Xxh3);

impl Default for Tokenizer {
    fn default() -> Self {
        Tokenizer::new()
    }
}

impl Tokenizer {
    /// A fresh tokenizer.
    pub fn new() -> Tokenizer {
        Tokenizer(Xxh3::with_seed(0x6f78_6964_6173_6b31))
    }

    /// Adds raw bytes (prefixed by their length).
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        self.0.update(&(bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
    }

    /// Adds any tokenizable value; returns `self` for chaining.
    pub fn add<T: Tokenize + ?Sized>(&mut self, value: &T) -> &mut Self {
        value.tokenize(self);
        self
    }

    /// The 128-bit token as 32 hex digits.
    pub fn finish_hex(&self) -> String {
        format!("{:032x}", self.0.digest128())
    }
}

/// The token of one value, e.g. `tokenize(&("sum", &input_key, axis))`.
pub fn tokenize<T: Tokenize + ?Sized>(value: &T) -> String {
    let mut t = Tokenizer::new();
    value.tokenize(&mut t);
    t.finish_hex()
}

/// A layer name `"{prefix}-{token}"` as collections use for their keys.
pub fn name_for<T: Tokenize + ?Sized>(prefix: &str, value: &T) -> String {
    let mut t = Tokenizer::new();
    t.write_bytes(prefix.as_bytes());
    value.tokenize(&mut t);
    format!("{prefix}-{}", t.finish_hex())
}

/// A token unique to this call: for layers built from closures, which
/// cannot be hashed by content (Dask uses a uuid for them). Unique within
/// the process, and across processes with high probability (it mixes the
/// process id and start time).
pub fn unique_token() -> String {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static SALT: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let salt = *SALT.get_or_init(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        t ^ ((std::process::id() as u64) << 32)
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    tokenize(&(salt, n))
}

macro_rules! tokenize_le {
    ($($t:ty),*) => {$(
        impl Tokenize for $t {
            fn tokenize(&self, t: &mut Tokenizer) {
                t.0.update(&self.to_le_bytes());
            }
        }
    )*};
}
tokenize_le!(
    u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, f32, f64
);

impl Tokenize for bool {
    fn tokenize(&self, t: &mut Tokenizer) {
        t.0.update(&[*self as u8]);
    }
}

impl Tokenize for str {
    fn tokenize(&self, t: &mut Tokenizer) {
        t.write_bytes(self.as_bytes());
    }
}

impl Tokenize for String {
    fn tokenize(&self, t: &mut Tokenizer) {
        t.write_bytes(self.as_bytes());
    }
}

impl Tokenize for Key {
    fn tokenize(&self, t: &mut Tokenizer) {
        t.write_bytes(self.name().as_bytes());
        self.index().tokenize(t);
    }
}

impl<T: Tokenize> Tokenize for [T] {
    fn tokenize(&self, t: &mut Tokenizer) {
        t.0.update(&(self.len() as u64).to_le_bytes());
        for x in self {
            x.tokenize(t);
        }
    }
}

impl<T: Tokenize> Tokenize for Vec<T> {
    fn tokenize(&self, t: &mut Tokenizer) {
        self.as_slice().tokenize(t);
    }
}

impl<T: Tokenize> Tokenize for Option<T> {
    fn tokenize(&self, t: &mut Tokenizer) {
        match self {
            None => t.0.update(&[0]),
            Some(x) => {
                t.0.update(&[1]);
                x.tokenize(t);
            }
        }
    }
}

impl<T: Tokenize + ?Sized> Tokenize for &T {
    fn tokenize(&self, t: &mut Tokenizer) {
        (**self).tokenize(t);
    }
}

macro_rules! tokenize_tuple {
    ($($n:tt $T:ident),+) => {
        impl<$($T: Tokenize),+> Tokenize for ($($T,)+) {
            fn tokenize(&self, t: &mut Tokenizer) {
                $(self.$n.tokenize(t);)+
            }
        }
    };
}
tokenize_tuple!(0 A);
tokenize_tuple!(0 A, 1 B);
tokenize_tuple!(0 A, 1 B, 2 C);
tokenize_tuple!(0 A, 1 B, 2 C, 3 D);
tokenize_tuple!(0 A, 1 B, 2 C, 3 D, 4 E);
tokenize_tuple!(0 A, 1 B, 2 C, 3 D, 4 E, 5 F);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_inputs_same_token_and_different_inputs_differ() {
        let k = Key::with_index("x-1", &[0]);
        assert_eq!(tokenize(&("sum", &k, 1u32)), tokenize(&("sum", &k, 1u32)));
        assert_ne!(tokenize(&("sum", &k, 1u32)), tokenize(&("sum", &k, 2u32)));
        // Length prefixes keep concatenations apart.
        assert_ne!(tokenize(&("ab", "c")), tokenize(&("a", "bc")));
        assert!(name_for("sum", &1u8).starts_with("sum-"));
    }
}
