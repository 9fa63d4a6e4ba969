//! Run-time values: one chunk, partition or scalar held by the scheduler.
//!
//! A [`Value`] is a shared, type-erased handle (`Arc<dyn Any>`) plus what the
//! runtime needs to know without knowing the type:
//!
//! - `nbytes`, the memory it holds (heap included), for memory accounting —
//!   always a real size: [`Value::new`] takes it from the type's
//!   [`DataSize`] implementation, the other constructors from the caller;
//! - its Rust type name, so a mismatch at a task boundary names both types;
//! - optionally a byte *codec*, so it can be spilled to disk or sent to another
//!   process. Values without a codec still run on the local schedulers; the
//!   store reports an error naming the type if the memory limit ever needs
//!   to spill one.
//!
//! Codecs come from an open registry filled at link time
//! ([`register_value!`](crate::register_value)): keyed by type for
//! [`Value::new`], and by name for decoding, so a graph read from bytes can
//! rebuild its literal arguments in another process of the same program.
//! Common types (numbers, strings, numeric vectors, ndarray blocks) are
//! registered by this crate; users register their own record types.

use std::any::{Any, TypeId, type_name};
use std::collections::HashMap;
use std::fmt;
use std::io::Write;
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
    /// Writes the encoding of `value` to `out` — a vector, a spill file, a
    /// socket — as it goes, so encoding a large value never builds a second
    /// full-size copy of it in memory.
    fn encode(value: &T, out: &mut dyn Write) -> Result<(), String>;
    /// Reads a value back from exactly the bytes `encode` wrote. The bytes
    /// may be a memory-mapped file ([`LoadBytes::bytes`]): decoding then
    /// holds only the decoded value.
    fn decode(bytes: &[u8]) -> Result<T, String>;
}

/// The compact serde encoding ([postcard](https://docs.rs/postcard)) used for
/// scalars and records.
pub struct SerdeCodec;

impl<T: Serialize + DeserializeOwned> Codec<T> for SerdeCodec {
    fn encode(value: &T, out: &mut dyn Write) -> Result<(), String> {
        // Straight into `out`: no intermediate vector to grow and copy.
        postcard::to_io(value, out).map_err(|e| e.to_string())?;
        Ok(())
    }

    fn decode(bytes: &[u8]) -> Result<T, String> {
        postcard::from_bytes(bytes).map_err(|e| e.to_string())
    }
}

/// The type-erased functions of one (type, codec) pair.
pub struct CodecVTable {
    type_name: fn() -> &'static str,
    codec_name: fn() -> &'static str,
    type_id: fn() -> TypeId,
    encode: EncodeErased,
    decode: DecodeValue,
}

type EncodeErased = fn(&(dyn Any + Send + Sync), &mut dyn Write) -> Result<(), String>;

impl fmt::Debug for CodecVTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Codec({})", self.id())
    }
}

impl CodecVTable {
    /// The Rust type name of the values this codec writes.
    pub fn name(&self) -> &'static str {
        (self.type_name)()
    }

    /// The id bytes of this codec are registered, written and decoded under:
    /// the value's type *and* the codec, `type@codec`. One type may have
    /// several codecs (a bag partition of `Vec<String>` is written
    /// record by record, a plain `Vec<String>` with serde); the id makes
    /// bytes always decode with the codec that wrote them.
    pub fn id(&self) -> String {
        format!("{}@{}", (self.type_name)(), (self.codec_name)())
    }

    /// The type this codec writes.
    pub fn type_id(&self) -> TypeId {
        (self.type_id)()
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
        codec_name: type_name::<C>,
        type_id: TypeId::of::<T>,
        encode: encode_erased::<T, C>,
        decode: decode_erased::<T, C>,
    };
}

fn encode_erased<T: Any + Send + Sync, C: Codec<T>>(
    v: &(dyn Any + Send + Sync),
    out: &mut dyn Write,
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
    /// Wraps a value, sized by its [`DataSize`] implementation, with the
    /// codec registered for its type if there is one
    /// ([`register_value!`](crate::register_value)).
    pub fn new<T: Any + Send + Sync + DataSize>(value: T) -> Value {
        let nbytes = value.total_bytes();
        Value::with_codec_vtable(value, nbytes, registered_codec::<T>())
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

    /// Wraps a value with its size and a codec chosen at run time (e.g. by a
    /// collection that knows its element type's codec only dynamically);
    /// `None` for no codec.
    pub fn with_codec_vtable<T: Any + Send + Sync>(
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
        self.data_type_id() == TypeId::of::<T>()
    }

    /// The `TypeId` of the wrapped value (of the value it loads, if lazy).
    pub fn data_type_id(&self) -> TypeId {
        match self.data.downcast_ref::<Lazy>() {
            Some(lazy) => lazy.type_id,
            None => (*self.data).type_id(),
        }
    }

    /// Borrows the wrapped value as a `T`, or says which type it really is.
    /// A [lazy](Value::lazy) value is loaded on first access; a failure to
    /// load is an error naming its source.
    pub fn downcast_ref<T: Any>(&self) -> Result<&T> {
        if let Some(x) = self.data.downcast_ref::<T>() {
            return Ok(x);
        }
        match self.data.downcast_ref::<Lazy>() {
            Some(lazy) if lazy.type_id == TypeId::of::<T>() => lazy.get()?.downcast_ref::<T>(),
            _ => Err(self.mismatch::<T>()),
        }
    }

    /// Whether this value is still to be loaded from its source.
    pub fn is_lazy(&self) -> bool {
        self.data
            .downcast_ref::<Lazy>()
            .is_some_and(|l| l.loaded.get().is_none())
    }

    /// A value whose bytes are loaded from `source` (a spill file) and
    /// decoded with the codec of `like` on first access; it reports the type,
    /// size and codec of `like`, the [`meta`](Value::meta) of the value it
    /// stands for. Dropping it before
    /// access never reads the bytes.
    pub fn lazy(source: Arc<dyn LoadBytes>, like: &ValueMeta) -> Value {
        Value {
            data: Arc::new(Lazy {
                source,
                codec: like.codec,
                type_id: like.type_id,
                loaded: OnceLock::new(),
            }),
            nbytes: like.nbytes,
            type_name: like.type_name,
            codec: like.codec,
        }
    }

    /// What a lazy stand-in for this value needs to know about it.
    pub fn meta(&self) -> ValueMeta {
        ValueMeta {
            type_id: self.data_type_id(),
            type_name: self.type_name,
            nbytes: self.nbytes,
            codec: self.codec,
        }
    }

    /// Loads a lazy value now (returns other values as they are).
    pub fn resolve(self) -> Result<Value> {
        if !self.data.is::<Lazy>() {
            return Ok(self);
        }
        let lazy = Arc::downcast::<Lazy>(self.data)
            .map_err(|_| Error::Internal("lazy value lost its type".into()))?;
        match Arc::try_unwrap(lazy) {
            Ok(lazy) => match lazy.loaded.get() {
                Some(_) => Ok(lazy.loaded.into_inner().expect("checked")),
                None => lazy.source_load(),
            },
            Err(shared) => shared.get().cloned(),
        }
    }

    /// Takes the wrapped `T` out, without copying when this is the only
    /// handle to it, else by cloning.
    pub fn take<T: Any + Send + Sync + Clone>(self) -> Result<T> {
        if !self.is::<T>() {
            return Err(self.mismatch::<T>());
        }
        let this = self.resolve()?;
        match Arc::downcast::<T>(this.data) {
            Ok(arc) => Ok(Arc::try_unwrap(arc).unwrap_or_else(|shared| (*shared).clone())),
            Err(_) => Err(Error::Internal(
                "downcast failed after a successful type check".into(),
            )),
        }
    }

    /// Takes the wrapped `T` out only if this is its only handle; otherwise
    /// gives the value back. For types that cannot (or should not) be cloned.
    pub fn try_unwrap<T: Any + Send + Sync>(self) -> std::result::Result<T, Value> {
        if !self.is::<T>() {
            return Err(self);
        }
        // A lazy value that fails to load is handed back unchanged; reading
        // it again reports the failure.
        let this = if self.data.is::<Lazy>() {
            match self.clone().resolve() {
                // The loaded value is shared with `self` until it goes.
                Ok(v) => {
                    drop(self);
                    v
                }
                Err(_) => return Err(self),
            }
        } else {
            self
        };
        let Value {
            data,
            nbytes,
            type_name,
            codec,
        } = this;
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
        self.encode_to(out)
    }

    /// Writes this value's encoding to `out` as it goes (no full-size
    /// buffer in between), or explains why it has none; the error is
    /// given before anything is written when there is no codec.
    pub fn encode_to(&self, out: &mut dyn Write) -> Result<(), String> {
        match self.codec {
            Some(c) => match self.data.downcast_ref::<Lazy>() {
                Some(lazy) => match lazy.loaded.get() {
                    Some(v) => (c.encode)(&*v.data, out),
                    // The source holds exactly this codec's bytes.
                    None => out
                        .write_all(&lazy.source.bytes()?)
                        .map_err(|e| e.to_string()),
                },
                None => (c.encode)(&*self.data, out),
            },
            None => Err(format!(
                "values of type {} have no byte encoding; create them with \
                 Value::with_codec (e.g. SerdeCodec) to make them spillable and sendable",
                self.type_name
            )),
        }
    }

    /// Decodes a value written by the codec registered under `codec_id`
    /// (a [`CodecVTable::id`]).
    pub fn decode(codec_id: &str, bytes: &[u8]) -> Result<Value> {
        Value::decoder(codec_id)?.decode(bytes)
    }

    /// The decoder registered under a codec id, looked up once for many
    /// values of that codec (a graph's literals).
    pub fn decoder(codec_id: &str) -> Result<Decoder<'_>> {
        let decode = registry()
            .by_id
            .get(codec_id)
            .copied()
            .ok_or_else(|| Error::Decode {
                what: describe_codec(codec_id),
                message: "no codec is registered under this id in this program; register the \
                      type with oxidask_graph::register_value!"
                    .into(),
            })?;
        Ok(Decoder { codec_id, decode })
    }
}

fn describe_codec(codec_id: &str) -> String {
    match codec_id.split_once('@') {
        Some((ty, codec)) => format!("a value of type {ty} (codec {codec})"),
        None => format!("a value with codec id {codec_id}"),
    }
}

/// Decodes values written by one codec; see [`Value::decoder`].
#[derive(Clone, Copy)]
pub struct Decoder<'a> {
    codec_id: &'a str,
    decode: DecodeValue,
}

impl Decoder<'_> {
    /// The value the codec wrote as `bytes`.
    pub fn decode(&self, bytes: &[u8]) -> Result<Value> {
        (self.decode)(bytes).map_err(|message| Error::Decode {
            what: describe_codec(self.codec_id),
            message,
        })
    }
}

/// The type, size and codec of a value, without the value.
#[derive(Clone, Copy, Debug)]
pub struct ValueMeta {
    type_id: TypeId,
    type_name: &'static str,
    nbytes: usize,
    codec: Option<&'static CodecVTable>,
}

impl ValueMeta {
    /// Bytes the value holds.
    pub fn nbytes(&self) -> usize {
        self.nbytes
    }

    /// The value's Rust type name.
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }

    /// Whether the value can be written to bytes.
    pub fn has_codec(&self) -> bool {
        self.codec.is_some()
    }
}

/// Where a [lazy](Value::lazy) value's encoded bytes come from.
pub trait LoadBytes: Send + Sync + 'static {
    /// Reads the bytes; the error names the source (e.g. the file).
    fn load(&self) -> Result<Vec<u8>, String>;

    /// The bytes as a [`SourceBytes`], which a source may map from a file
    /// instead of reading it, so decoding a large value holds no second
    /// copy of its bytes. Defaults to [`load`](LoadBytes::load).
    fn bytes(&self) -> Result<SourceBytes, String> {
        self.load().map(SourceBytes::from)
    }
}

/// Encoded bytes read back from a source: in memory, or mapped from a file.
pub struct SourceBytes(Box<dyn AsRef<[u8]> + Send + Sync>);

impl SourceBytes {
    /// Bytes held by anything that derefs to a byte slice (a vector, a
    /// memory map).
    pub fn new(bytes: impl AsRef<[u8]> + Send + Sync + 'static) -> SourceBytes {
        SourceBytes(Box::new(bytes))
    }
}

impl From<Vec<u8>> for SourceBytes {
    fn from(bytes: Vec<u8>) -> SourceBytes {
        SourceBytes::new(bytes)
    }
}

impl std::ops::Deref for SourceBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        (*self.0).as_ref()
    }
}

struct Lazy {
    source: Arc<dyn LoadBytes>,
    codec: Option<&'static CodecVTable>,
    type_id: TypeId,
    loaded: OnceLock<Value>,
}

impl Lazy {
    fn source_load(&self) -> Result<Value> {
        let load_err = |message: String| Error::Decode {
            what: "a spilled value".into(),
            message,
        };
        let bytes = self.source.bytes().map_err(load_err)?;
        let codec = self
            .codec
            .ok_or_else(|| Error::Internal("a lazy value without a codec".into()))?;
        codec.decode(&bytes).map_err(load_err)
    }

    fn get(&self) -> Result<&Value> {
        if let Some(v) = self.loaded.get() {
            return Ok(v);
        }
        let v = self.source_load()?;
        // Two threads may load at once; one result wins, both are equal.
        let _ = self.loaded.set(v);
        Ok(self.loaded.get().expect("just set"))
    }
}

/// A decoder registered at link time; see [`register_value!`](crate::register_value).
pub struct ValueDecoder {
    /// The codec's vtable.
    pub vtable: fn() -> &'static CodecVTable,
}

inventory::collect!(ValueDecoder);

/// Many decoders registered at link time at once: the codecs of a generic
/// family of types instantiated for one type argument (e.g. the partial
/// results of every aggregation of one record type), which a macro
/// expanding at the user's type cannot name one by one.
pub struct ValueFamily {
    /// The codecs' vtables.
    pub vtables: fn() -> Vec<&'static CodecVTable>,
}

inventory::collect!(ValueFamily);

type DecodeValue = fn(&[u8]) -> Result<Value, String>;

/// The registered codecs, by [id](CodecVTable::id) (for decoding) and by
/// type (for [`Value::new`]). When one type is registered with two codecs,
/// the first registration seen wins for `Value::new`; both decode by their
/// ids.
struct Registry {
    by_id: HashMap<String, DecodeValue>,
    /// Looked up for every `Value::new`: a fast hasher, not SipHash.
    by_type: HashMap<TypeId, &'static CodecVTable, foldhash::fast::FixedState>,
}

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut r = Registry {
            by_id: HashMap::new(),
            by_type: HashMap::default(),
        };
        for d in inventory::iter::<ValueDecoder> {
            let vt = (d.vtable)();
            r.by_id.entry(vt.id()).or_insert(vt.decode);
            r.by_type.entry(vt.type_id()).or_insert(vt);
        }
        // By id only: a family decodes what its crate wrote with an
        // explicit codec, and does not choose the codec of `Value::new`.
        for f in inventory::iter::<ValueFamily> {
            for vt in (f.vtables)() {
                r.by_id.entry(vt.id()).or_insert(vt.decode);
            }
        }
        r
    })
}

/// The codec registered for `T`, if any.
pub fn registered_codec<T: Any>() -> Option<&'static CodecVTable> {
    registry().by_type.get(&TypeId::of::<T>()).copied()
}

/// Registers a type's codec so values of it can be decoded by name, e.g. when
/// a graph with literal arguments of that type is read from bytes.
///
/// Registering also gives [`Value::new`] (and so delayed results) of the
/// type a codec, so they can spill when the memory limit needs it.
///
/// `register_value!(MyRecord)` uses [`SerdeCodec`] (the type must implement
/// serde's `Serialize` and `Deserialize`);
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
mod raw;
mod size;
pub use raw::{RawElement, RawVecCodec};
pub use size::{DataSize, allocation_bytes};
#[cfg(feature = "ndarray")]
mod ndarray_codec;
#[cfg(feature = "ndarray")]
pub use ndarray_codec::NdarrayCodec;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_types_have_sizes_and_codecs() {
        let v = Value::new(vec![1.0f64; 100]);
        assert!(v.nbytes() >= 800);
        let mut bytes = Vec::new();
        v.encode(&mut bytes).unwrap();
        let back = Value::decode(&v.codec().unwrap().id(), &bytes).unwrap();
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
    fn unregistered_types_run_but_do_not_encode() {
        struct Opaque;
        impl DataSize for Opaque {
            fn heap_bytes(&self) -> usize {
                0
            }
        }
        let v = Value::new(Opaque);
        let err = v.encode(&mut Vec::new()).unwrap_err();
        assert!(err.contains("Opaque"), "{err}");
        assert!(Value::decode("no::such::Type", &[]).is_err());
    }

    struct Bytes(Vec<u8>, std::sync::atomic::AtomicUsize);
    impl LoadBytes for Bytes {
        fn load(&self) -> Result<Vec<u8>, String> {
            self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(self.0.clone())
        }
    }

    #[test]
    fn lazy_values_load_on_first_access_only() {
        let original = Value::new(vec![1.5f64, 2.5]);
        let mut bytes = Vec::new();
        original.encode(&mut bytes).unwrap();
        let source = Arc::new(Bytes(bytes, Default::default()));
        let lazy = Value::lazy(source.clone(), &original.meta());
        assert!(lazy.is::<Vec<f64>>() && lazy.is_lazy());
        assert_eq!(lazy.nbytes(), original.nbytes());
        assert_eq!(source.1.load(std::sync::atomic::Ordering::SeqCst), 0);
        assert!(lazy.downcast_ref::<String>().is_err());
        assert_eq!(lazy.downcast_ref::<Vec<f64>>().unwrap(), &vec![1.5, 2.5]);
        assert_eq!(lazy.downcast_ref::<Vec<f64>>().unwrap().len(), 2);
        assert_eq!(source.1.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(lazy.take::<Vec<f64>>().unwrap(), vec![1.5, 2.5]);
        let unread = Value::lazy(source.clone(), &original.meta());
        assert_eq!(unread.try_unwrap::<Vec<f64>>().unwrap(), vec![1.5, 2.5]);
    }

    #[test]
    fn take_clones_only_when_shared() {
        let v = Value::new(vec![1u8, 2, 3]);
        let w = v.clone();
        assert_eq!(v.take::<Vec<u8>>().unwrap(), vec![1, 2, 3]);
        assert_eq!(w.try_unwrap::<Vec<u8>>().unwrap(), vec![1, 2, 3]);
    }
}
