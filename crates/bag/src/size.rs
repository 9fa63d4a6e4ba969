//! Byte estimates for partitions, for memory accounting.
//!
//! A partition's [`Value`](oxidask_graph::Value) reports the bytes it holds,
//! heap included, so the store can keep memory under its limit. Records are
//! arbitrary serde types, so their heap is estimated by walking them with a
//! counting [`serde::Serializer`]: strings count their length, containers a
//! header and, per element, an inline slot, maps a per-entry overhead. A
//! partition is estimated from up to [`SAMPLE`] records spread evenly over
//! it; one large value (a frequency table) stops walking after
//! [`SAMPLE`] entries of its outer container and extrapolates from its
//! length. Estimates are within a small factor of the truth, which is what
//! spill decisions need; they cost a few microseconds per partition.

use serde::Serialize;
use serde::ser;

/// Records walked per partition, and entries walked per large container.
pub(crate) const SAMPLE: usize = 16;

/// Estimated bytes of a partition: the vector's buffer plus each record's heap.
pub(crate) fn partition_bytes<T: Serialize>(v: &[T], capacity: usize) -> usize {
    let inline = std::mem::size_of::<Vec<T>>() + capacity * std::mem::size_of::<T>();
    if v.is_empty() {
        return inline;
    }
    let step = v.len().div_ceil(SAMPLE);
    let mut heap = 0usize;
    let mut seen = 0usize;
    for r in v.iter().step_by(step) {
        heap += heap_bytes(r);
        seen += 1;
    }
    inline + heap * v.len() / seen
}

/// Estimated bytes of one value, heap included.
pub(crate) fn value_bytes<T: Serialize>(v: &T) -> usize {
    std::mem::size_of::<T>() + heap_bytes(v)
}

/// Estimated heap bytes owned by `v` (its inline size not included).
pub(crate) fn heap_bytes<T: Serialize + ?Sized>(v: &T) -> usize {
    let mut c = Counter::default();
    match v.serialize(&mut c) {
        Ok(()) => c.bytes,
        Err(Stop) => c.extrapolated.unwrap_or(c.bytes),
    }
}

/// Approximate inline size of an element inside a container (a `Vec` slot,
/// a `serde_json::Value`, a map entry's value).
const SLOT: usize = 16;
/// Header of a heap container (pointer, length, capacity).
const HEADER: usize = 24;
/// Per-entry overhead of a map (hash or tree node share).
const ENTRY: usize = 16;

#[derive(Default)]
struct Counter {
    bytes: usize,
    /// Container nesting: 0 while walking the record's inline fields.
    depth: usize,
    /// Entries walked in the current outermost container, and its length.
    outer_seen: usize,
    outer_len: Option<usize>,
    outer_start: usize,
    extrapolated: Option<usize>,
}

#[derive(Debug)]
struct Stop;

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("size estimate complete")
    }
}
impl std::error::Error for Stop {}
impl ser::Error for Stop {
    fn custom<M: std::fmt::Display>(_: M) -> Self {
        Stop
    }
}

impl Counter {
    fn leaf(&mut self, heap: usize) -> Result<(), Stop> {
        if self.depth > 0 {
            self.bytes += SLOT;
        }
        self.bytes += heap;
        Ok(())
    }

    fn open(&mut self, len: Option<usize>) {
        if self.depth > 0 {
            self.bytes += HEADER;
        }
        self.depth += 1;
        if self.depth == 1 {
            self.outer_seen = 0;
            self.outer_len = len;
            self.outer_start = self.bytes;
        }
    }

    /// Called before each element of a container; stops the walk once the
    /// outermost container has shown enough entries to extrapolate.
    fn element(&mut self) -> Result<(), Stop> {
        if self.depth == 1 {
            if let Some(len) = self.outer_len
                && self.outer_seen == SAMPLE * 4
                && len > self.outer_seen
            {
                let per = (self.bytes - self.outer_start) / self.outer_seen;
                self.extrapolated = Some(self.outer_start + per * len);
                return Err(Stop);
            }
            self.outer_seen += 1;
        }
        Ok(())
    }

    fn close(&mut self) -> Result<(), Stop> {
        self.depth -= 1;
        Ok(())
    }
}

macro_rules! leaves {
    ($($m:ident($t:ty)),*) => {$(
        fn $m(self, _: $t) -> Result<(), Stop> { self.leaf(0) }
    )*};
}

impl<'a> ser::Serializer for &'a mut Counter {
    type Ok = ();
    type Error = Stop;
    type SerializeSeq = &'a mut Counter;
    type SerializeTuple = &'a mut Counter;
    type SerializeTupleStruct = &'a mut Counter;
    type SerializeTupleVariant = &'a mut Counter;
    type SerializeMap = &'a mut Counter;
    type SerializeStruct = &'a mut Counter;
    type SerializeStructVariant = &'a mut Counter;

    leaves!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_i128(i128),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_u128(u128),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char)
    );

    fn serialize_str(self, v: &str) -> Result<(), Stop> {
        let extra = if self.depth > 0 { HEADER - SLOT } else { 0 };
        self.leaf(v.len() + extra)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Stop> {
        let extra = if self.depth > 0 { HEADER - SLOT } else { 0 };
        self.leaf(v.len() + extra)
    }
    fn serialize_none(self) -> Result<(), Stop> {
        self.leaf(0)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), Stop> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Stop> {
        self.leaf(0)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Stop> {
        self.leaf(0)
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<(), Stop> {
        self.leaf(0)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<(), Stop> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        v: &T,
    ) -> Result<(), Stop> {
        v.serialize(self)
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Self, Stop> {
        self.open(len);
        Ok(self)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self, Stop> {
        Ok(self)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self, Stop> {
        Ok(self)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, Stop> {
        Ok(self)
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Self, Stop> {
        self.open(len);
        Ok(self)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, Stop> {
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, Stop> {
        Ok(self)
    }
}

impl ser::SerializeSeq for &mut Counter {
    type Ok = ();
    type Error = Stop;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Stop> {
        self.element()?;
        v.serialize(&mut **self)
    }
    fn end(self) -> Result<(), Stop> {
        self.close()
    }
}

impl ser::SerializeMap for &mut Counter {
    type Ok = ();
    type Error = Stop;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), Stop> {
        self.element()?;
        self.bytes += ENTRY;
        k.serialize(&mut **self)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Stop> {
        v.serialize(&mut **self)
    }
    fn end(self) -> Result<(), Stop> {
        self.close()
    }
}

macro_rules! inline_compound {
    ($($tr:ident :: $m:ident),*) => {$(
        impl ser::$tr for &mut Counter {
            type Ok = ();
            type Error = Stop;
            fn $m<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Stop> {
                v.serialize(&mut **self)
            }
            fn end(self) -> Result<(), Stop> {
                Ok(())
            }
        }
    )*};
}
inline_compound!(
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeStruct for &mut Counter {
    type Ok = ();
    type Error = Stop;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        _: &'static str,
        v: &T,
    ) -> Result<(), Stop> {
        v.serialize(&mut **self)
    }
    fn end(self) -> Result<(), Stop> {
        Ok(())
    }
}

impl ser::SerializeStructVariant for &mut Counter {
    type Ok = ();
    type Error = Stop;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        _: &'static str,
        v: &T,
    ) -> Result<(), Stop> {
        v.serialize(&mut **self)
    }
    fn end(self) -> Result<(), Stop> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_count_their_heap() {
        assert_eq!(heap_bytes(&String::from("hello")), 5);
        assert_eq!(heap_bytes(&5u64), 0);
        let v = vec!["ab".to_string(), "cde".to_string()];
        // two slots of header size plus five bytes of text
        assert_eq!(heap_bytes(&v), 2 * HEADER + 5);
        let bytes = partition_bytes(&v, v.capacity());
        assert!(
            bytes >= std::mem::size_of::<Vec<String>>() + 2 * 24 + 5,
            "{bytes}"
        );
    }

    #[test]
    fn json_values_are_estimated_near_their_size() {
        let rec: serde_json::Value = serde_json::from_str(
            r#"{"id":1,"name":"Kalomi","age":33,"tags":["red","vip"],"address":{"city":"City001","zip":"01234"}}"#,
        )
        .unwrap();
        let est = value_bytes(&rec);
        // The real heap of this record is a few hundred bytes.
        assert!((200..2000).contains(&est), "{est}");
    }

    #[test]
    fn large_containers_extrapolate() {
        let v: Vec<String> = (0..10_000).map(|i| format!("{i:08}")).collect();
        let est = heap_bytes(&v);
        let exact = 10_000 * (HEADER + 8);
        assert!(est.abs_diff(exact) < exact / 10, "{est} vs {exact}");
    }
}
