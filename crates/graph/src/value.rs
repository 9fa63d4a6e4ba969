//! Run-time values: one chunk, partition or scalar held by the scheduler.
//!
//! A [`Value`] is a shared, type-erased handle (`Arc<dyn Any>`) plus what the
//! runtime needs to know without knowing the type:
//!
//! - `nbytes`, the memory it holds (heap included), for memory accounting;
//! - its Rust type name, so a mismatch at a task boundary names both types;
//! - optionally a byte *codec*, so it can be spilled to disk or sent to another
//!   process. Values without a codec still run on the local schedulers.
//!
//! [`Value::new`] recognises common types (numbers, strings, `Vec`s of them,
//! and with the `ndarray` feature, `ArrayD` blocks) and gives them an accurate
//! size and a codec. Other types get their shallow size and no codec unless
//! created with [`Value::with_codec`] (collections do this for their data).
//!
//! Decoding by name goes through a registry filled at link time
//! ([`register_value!`](crate::register_value)), so a graph read from bytes
//! can rebuild its literal arguments in another process of the same program.

use std::any::{Any, type_name};
use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// A way to write values of type `T` to bytes and read them back.
///
/// Implemented by [`SerdeCodec`] (compact serde encoding, for records and
/// scalars) and, with the `ndarray` feature, `NdarrayCodec` (raw
/// little-endian buffers).
pub trait Codec<T>: 'static {
    /// Appends the encoding of `value` to `out`.
    fn encode(value: &T, out: &mut Vec<u8>) -> Result<(), String>;
    /// Reads a value back from exactly the bytes `encode` wrote.
    fn decode(bytes: &[u8]) -> Result<T, String>;
}

/// The compact serde encoding ([postcard](https://docs.rs/postcard)) used for
/// scalars and records.
pub struct SerdeCodec;

impl<T: Serialize + DeserializeOwned> Codec<T> for SerdeCodec {
    fn encode(value: &T, out: &mut Vec<u8>) -> Result<(), String> {
        let bytes = postcard::to_stdvec(value).map_err(|e| e.to_string())?;
        out.extend_from_slice(&bytes);
        Ok(())
    }

    fn decode(bytes: &[u8]) -> Result<T, String> {
        postcard::from_bytes(bytes).map_err(|e| e.to_string())
    }
}

/// The type-erased functions of one (type, codec) pair.
pub struct CodecVTable {
    type_name: fn() -> &'static str,
    encode: EncodeErased,
    decode: DecodeValue,
}

type EncodeErased = fn(&(dyn Any + Send + Sync), &mut Vec<u8>) -> Result<(), String>;

impl CodecVTable {
    /// The name a value of this codec is registered and encoded under: its
    /// Rust type name.
    pub fn name(&self) -> &'static str {
        (self.type_name)()
    }

    /// Decodes bytes written by this codec.
    pub fn decode(&self, bytes: &[u8]) -> Result<Value, String> {
        (self.decode)(bytes)
    }
}

struct VTableOf<T, C>(PhantomData<(T, C)>);

impl<T: Any + Send + Sync, C: Codec<T>> VTableOf<T, C> {
    const TABLE: CodecVTable = CodecVTable {
        type_name: type_name::<T>,
        encode: encode_erased::<T, C>,
        decode: decode_erased::<T, C>,
    };
}

fn encode_erased<T: Any + Send + Sync, C: Codec<T>>(
    v: &(dyn Any + Send + Sync),
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let v = v
        .downcast_ref::<T>()
        .ok_or("codec applied to a value of another type")?;
    C::encode(v, out)
}

fn decode_erased<T: Any + Send + Sync, C: Codec<T>>(bytes: &[u8]) -> Result<Value, String> {
    let v = C::decode(bytes)?;
    // The encoded length is a close estimate of the decoded heap size for
    // both raw buffers and the compact serde form.
    let nbytes = std::mem::size_of::<T>() + bytes.len();
    Ok(Value::with_codec_vtable(
        v,
        nbytes,
        Some(codec_of::<T, C>()),
    ))
}

/// The `'static` vtable of a (type, codec) pair.
pub fn codec_of<T: Any + Send + Sync, C: Codec<T>>() -> &'static CodecVTable {
    &VTableOf::<T, C>::TABLE
}

/// One chunk of data at run time; cheap to clone (a shared handle).
#[derive(Clone)]
pub struct Value {
    data: Arc<dyn Any + Send + Sync>,
    nbytes: usize,
    type_name: &'static str,
    codec: Option<&'static CodecVTable>,
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Value<{}>({} bytes)", self.type_name, self.nbytes)
    }
}

impl Value {
    /// Wraps any value. Common types get an accurate size and a codec; others
    /// get their shallow size and none (see the module docs).
    pub fn new<T: Any + Send + Sync>(value: T) -> Value {
        let (nbytes, codec) = known::describe(&value);
        Value::with_codec_vtable(value, nbytes, codec)
    }

    /// Wraps a value with a known size and no codec: it runs locally but can
    /// be neither spilled nor sent to another process.
    pub fn sized<T: Any + Send + Sync>(value: T, nbytes: usize) -> Value {
        Value::with_codec_vtable(value, nbytes, None)
    }

    /// Wraps a value with its size and a codec `C`, e.g.
    /// `Value::with_codec::<_, SerdeCodec>(records, bytes)`.
    pub fn with_codec<T: Any + Send + Sync, C: Codec<T>>(value: T, nbytes: usize) -> Value {
        Value::with_codec_vtable(value, nbytes, Some(codec_of::<T, C>()))
    }

    fn with_codec_vtable<T: Any + Send + Sync>(
        value: T,
        nbytes: usize,
        codec: Option<&'static CodecVTable>,
    ) -> Value {
        Value {
            data: Arc::new(value),
            nbytes,
            type_name: type_name::<T>(),
            codec,
        }
    }

    /// Bytes this value holds, heap included (an estimate for records).
    pub fn nbytes(&self) -> usize {
        self.nbytes
    }

    /// The Rust type name of the wrapped value.
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }

    /// Whether the wrapped value is a `T`.
    pub fn is<T: Any>(&self) -> bool {
        self.data.is::<T>()
    }

    /// Borrows the wrapped value as a `T`, or says which type it really is.
    pub fn downcast_ref<T: Any>(&self) -> Result<&T> {
        self.data
            .downcast_ref::<T>()
            .ok_or_else(|| self.mismatch::<T>())
    }

    /// Takes the wrapped `T` out, without copying when this is the only
    /// handle to it, else by cloning.
    pub fn take<T: Any + Send + Sync + Clone>(self) -> Result<T> {
        if !self.data.is::<T>() {
            return Err(self.mismatch::<T>());
        }
        match Arc::downcast::<T>(self.data) {
            Ok(arc) => Ok(Arc::try_unwrap(arc).unwrap_or_else(|shared| (*shared).clone())),
            Err(_) => Err(Error::Internal(
                "downcast failed after a successful type check".into(),
            )),
        }
    }

    /// Takes the wrapped `T` out only if this is its only handle; otherwise
    /// gives the value back. For types that cannot (or should not) be cloned.
    pub fn try_unwrap<T: Any + Send + Sync>(self) -> std::result::Result<T, Value> {
        if !self.data.is::<T>() {
            return Err(self);
        }
        let Value {
            data,
            nbytes,
            type_name,
            codec,
        } = self;
        match Arc::downcast::<T>(data) {
            Ok(arc) => Arc::try_unwrap(arc).map_err(|arc| Value {
                data: arc,
                nbytes,
                type_name,
                codec,
            }),
            Err(data) => Err(Value {
                data,
                nbytes,
                type_name,
                codec,
            }),
        }
    }

    fn mismatch<T>(&self) -> Error {
        Error::TypeMismatch {
            expected: type_name::<T>(),
            found: self.type_name,
            context: String::new(),
        }
    }

    /// Whether two handles share one allocation.
    pub fn ptr_eq(&self, other: &Value) -> bool {
        Arc::ptr_eq(&self.data, &other.data)
    }

    /// The codec this value encodes with, if any.
    pub fn codec(&self) -> Option<&'static CodecVTable> {
        self.codec
    }

    /// Appends this value's encoding to `out`, or explains why it has none.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), String> {
        match self.codec {
            Some(c) => (c.encode)(&*self.data, out),
            None => Err(format!(
                "values of type {} have no byte encoding; create them with \
                 Value::with_codec (e.g. SerdeCodec) to make them spillable and sendable",
                self.type_name
            )),
        }
    }

    /// Decodes a value written by the codec registered under `codec_name`.
    pub fn decode(codec_name: &str, bytes: &[u8]) -> Result<Value> {
        let decode = registry().get(codec_name).ok_or_else(|| Error::Decode {
            what: format!("a value of type {codec_name}"),
            message: "no codec is registered under this name; register the type with \
                      oxidask_graph::register_value!"
                .into(),
        })?;
        decode(bytes).map_err(|message| Error::Decode {
            what: format!("a value of type {codec_name}"),
            message,
        })
    }
}

/// A decoder registered at link time; see [`register_value!`](crate::register_value).
pub struct ValueDecoder {
    /// The codec's vtable.
    pub vtable: fn() -> &'static CodecVTable,
}

inventory::collect!(ValueDecoder);

type DecodeValue = fn(&[u8]) -> Result<Value, String>;

fn registry() -> &'static HashMap<&'static str, DecodeValue> {
    static REGISTRY: OnceLock<HashMap<&'static str, DecodeValue>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        inventory::iter::<ValueDecoder>
            .into_iter()
            .map(|d| {
                let vt = (d.vtable)();
                (vt.name(), vt.decode)
            })
            .collect()
    })
}

/// Registers a type's codec so values of it can be decoded by name, e.g. when
/// a graph with literal arguments of that type is read from bytes.
///
/// `register_value!(MyRecord)` uses [`SerdeCodec`];
/// `register_value!(MyType, MyCodec)` uses another codec.
#[macro_export]
macro_rules! register_value {
    ($t:ty) => {
        $crate::register_value!($t, $crate::SerdeCodec);
    };
    ($t:ty, $codec:ty) => {
        $crate::inventory::submit! {
            $crate::ValueDecoder { vtable: || $crate::codec_of::<$t, $codec>() }
        }
    };
}

mod known;
#[cfg(feature = "ndarray")]
mod ndarray_codec;
#[cfg(feature = "ndarray")]
pub use ndarray_codec::{NdarrayCodec, RawElement};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_types_have_sizes_and_codecs() {
        let v = Value::new(vec![1.0f64; 100]);
        assert!(v.nbytes() >= 800);
        let mut bytes = Vec::new();
        v.encode(&mut bytes).unwrap();
        let back = Value::decode(v.codec().unwrap().name(), &bytes).unwrap();
        assert_eq!(back.downcast_ref::<Vec<f64>>().unwrap(), &vec![1.0f64; 100]);

        let s = Value::new(String::from("hello"));
        assert!(s.nbytes() >= 5);
        assert_eq!(s.take::<String>().unwrap(), "hello");
    }

    #[test]
    fn mismatch_names_both_types() {
        let v = Value::new(1.5f64);
        let e = v.downcast_ref::<String>().unwrap_err().to_string();
        assert!(e.contains("f64") && e.contains("String"), "{e}");
    }

    #[test]
    fn unknown_types_run_but_do_not_encode() {
        struct Opaque;
        let v = Value::new(Opaque);
        let err = v.encode(&mut Vec::new()).unwrap_err();
        assert!(err.contains("Opaque"), "{err}");
        assert!(Value::decode("no::such::Type", &[]).is_err());
    }

    #[test]
    fn take_clones_only_when_shared() {
        let v = Value::new(vec![1u8, 2, 3]);
        let w = v.clone();
        assert_eq!(v.take::<Vec<u8>>().unwrap(), vec![1, 2, 3]);
        assert_eq!(w.try_unwrap::<Vec<u8>>().unwrap(), vec![1, 2, 3]);
    }
}
