//! Records as bytes: for spilling stored partitions and partials, and for
//! the pieces of the groupby shuffle.
//!
//! postcard is compact and fast, but it is not self-describing: a type whose
//! `Deserialize` asks the format what comes next (`deserialize_any`:
//! `serde_json::Value`, untagged enums, `#[serde(flatten)]`) cannot be read
//! back from it, and `skip_serializing_if` writes bytes its own
//! `Deserialize` reads differently. So every record is written as a tag byte
//! and then either
//!
//! - **postcard**, after proving it: the bytes are decoded again at once and
//!   must give a record using exactly those bytes; or else
//! - **JSON** (a varint length, then the text), which is self-describing and
//!   reads `serde_json::Value` back exactly.
//!
//! The choice is per record, so a type that needs JSON only for some values
//! (`Option<serde_json::Value>` fields) still writes the others compactly.
//! The proof costs one decode per record written (a few tens of
//! nanoseconds for a small struct); it is paid only when records are
//! written — when spilling, and in the shuffle.

use std::io::Write;
use std::marker::PhantomData;

use oxidask_graph::Codec;
use postcard::ser_flavors::Flavor;
use serde::Serialize;
use serde::de::DeserializeOwned;

const POSTCARD: u8 = 0;
const JSON: u8 = 1;

/// postcard's output appended to a borrowed vector.
struct Append<'a>(&'a mut Vec<u8>);

impl Flavor for Append<'_> {
    type Output = ();

    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.push(data);
        Ok(())
    }

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

fn write_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn read_varint(bytes: &[u8]) -> Result<(u64, &[u8]), String> {
    let mut n = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        n |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok((n, &bytes[i + 1..]));
        }
    }
    Err("truncated or invalid length".into())
}

/// Appends one record (tag and bytes) to `out`.
pub(crate) fn encode_record<T: Serialize + DeserializeOwned>(
    x: &T,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let start = out.len();
    out.push(POSTCARD);
    if postcard::serialize_with_flavor(x, Append(out)).is_ok()
        && matches!(
            postcard::take_from_bytes::<T>(&out[start + 1..]),
            Ok((_, rest)) if rest.is_empty()
        )
    {
        return Ok(());
    }
    out.truncate(start);
    let json = serde_json::to_vec(x).map_err(|e| format!("cannot encode a record: {e}"))?;
    out.push(JSON);
    write_varint(out, json.len() as u64);
    out.extend_from_slice(&json);
    Ok(())
}

/// Reads one record from the front of `bytes`; returns it and the rest.
pub(crate) fn decode_record<T: DeserializeOwned>(bytes: &[u8]) -> Result<(T, &[u8]), String> {
    match bytes.split_first() {
        Some((&POSTCARD, rest)) => postcard::take_from_bytes(rest).map_err(|e| e.to_string()),
        Some((&JSON, rest)) => {
            let (len, rest) = read_varint(rest)?;
            let len = usize::try_from(len).map_err(|_| "record length out of range")?;
            if rest.len() < len {
                return Err(format!("a JSON record of {len} bytes, {} left", rest.len()));
            }
            let (text, rest) = rest.split_at(len);
            let x = serde_json::from_slice(text).map_err(|e| e.to_string())?;
            Ok((x, rest))
        }
        Some((tag, _)) => Err(format!("unknown record format {tag}")),
        None => Err("no record where one was expected".into()),
    }
}

/// Decodes a run of records (as [`encode_record`] wrote them one after
/// another), calling `f` with each in order.
pub(crate) fn for_each_record<T: DeserializeOwned, E: From<String>>(
    mut bytes: &[u8],
    mut f: impl FnMut(T) -> Result<(), E>,
) -> Result<(), E> {
    while !bytes.is_empty() {
        let (x, rest) = decode_record::<T>(bytes)?;
        bytes = rest;
        f(x)?;
    }
    Ok(())
}

/// The codec of a stored partition (`Vec<T>`): the count, then each record.
#[doc(hidden)]
pub struct RecordsCodec;

impl<T: Serialize + DeserializeOwned> Codec<Vec<T>> for RecordsCodec {
    fn encode(value: &Vec<T>, out: &mut dyn Write) -> Result<(), String> {
        // Records go through a small buffer, written out as it fills: a
        // spilled partition is never encoded whole in memory.
        const FLUSH_AT: usize = 64 * 1024;
        let mut buf = Vec::with_capacity(FLUSH_AT);
        write_varint(&mut buf, value.len() as u64);
        for (j, x) in value.iter().enumerate() {
            encode_record(x, &mut buf).map_err(|e| format!("record {j}: {e}"))?;
            if buf.len() >= FLUSH_AT {
                out.write_all(&buf).map_err(|e| e.to_string())?;
                buf.clear();
            }
        }
        out.write_all(&buf).map_err(|e| e.to_string())
    }

    fn decode(bytes: &[u8]) -> Result<Vec<T>, String> {
        let (n, mut rest) = read_varint(bytes)?;
        // Each record takes at least one byte: do not trust a larger count.
        let mut out = Vec::with_capacity((n as usize).min(rest.len()));
        for _ in 0..n {
            let (x, r) = decode_record(rest)?;
            out.push(x);
            rest = r;
        }
        if !rest.is_empty() {
            return Err(format!("{} bytes after the last record", rest.len()));
        }
        Ok(out)
    }
}

/// The codec of any other value (a partial aggregate, a result): one record.
pub(crate) struct RecordCodec;

impl<A: Serialize + DeserializeOwned> Codec<A> for RecordCodec {
    fn encode(value: &A, out: &mut dyn Write) -> Result<(), String> {
        // One record is proven by decoding its bytes, so it is built whole.
        let mut buf = Vec::new();
        encode_record(value, &mut buf)?;
        out.write_all(&buf).map_err(|e| e.to_string())
    }

    fn decode(bytes: &[u8]) -> Result<A, String> {
        match decode_record(bytes)? {
            (a, []) => Ok(a),
            (_, rest) => Err(format!("{} bytes after the value", rest.len())),
        }
    }
}

/// Records already encoded (one piece of the groupby shuffle): they are
/// written as they come, so the split never holds them as values, and read
/// one at a time by the combine.
pub(crate) struct Encoded<T> {
    pub(crate) bytes: Vec<u8>,
    _type: PhantomData<fn() -> T>,
}

impl<T> Encoded<T> {
    pub(crate) fn with_capacity(bytes: usize) -> Encoded<T> {
        Encoded {
            bytes: Vec::with_capacity(bytes),
            _type: PhantomData,
        }
    }
}

impl<T> Clone for Encoded<T> {
    fn clone(&self) -> Self {
        Encoded {
            bytes: self.bytes.clone(),
            _type: PhantomData,
        }
    }
}

/// Writes an [`Encoded`] piece's bytes as they are.
pub(crate) struct EncodedCodec;

impl<T: 'static> Codec<Encoded<T>> for EncodedCodec {
    fn encode(value: &Encoded<T>, out: &mut dyn Write) -> Result<(), String> {
        out.write_all(&value.bytes).map_err(|e| e.to_string())
    }

    fn decode(bytes: &[u8]) -> Result<Encoded<T>, String> {
        Ok(Encoded {
            bytes: bytes.to_vec(),
            _type: PhantomData,
        })
    }
}

// Partitions of the record types the readers produce, decodable by codec
// id in another process of the same program (a user's record type is
// registered the same way: `register_value!(Vec<Person>, ...)`).
oxidask_graph::register_value!(Vec<String>, crate::codec::RecordsCodec);
oxidask_graph::register_value!(Vec<serde_json::Value>, crate::codec::RecordsCodec);

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    struct Typed {
        id: u64,
        name: String,
        score: f64,
    }

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    struct Skipping {
        #[serde(skip_serializing_if = "Option::is_none", default)]
        nick: Option<String>,
        id: u8,
    }

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    struct WithJson {
        id: u32,
        extra: Option<serde_json::Value>,
    }

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(untagged)]
    enum Loose {
        Num(i64),
        Text(String),
    }

    fn roundtrip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(x: &T) -> (T, u8) {
        let mut out = Vec::new();
        encode_record(x, &mut out).unwrap();
        let (y, rest) = decode_record::<T>(&out).unwrap();
        assert!(rest.is_empty());
        (y, out[0])
    }

    #[test]
    fn typed_records_are_postcard() {
        let x = Typed {
            id: 7,
            name: "Ann".into(),
            score: f64::NAN,
        };
        let (y, tag) = roundtrip(&x);
        assert_eq!(tag, POSTCARD);
        assert!(y.score.is_nan() && y.name == "Ann" && y.id == 7);
    }

    #[test]
    fn self_describing_records_fall_back_to_json() {
        let v = json!({"name": "Ann", "tags": ["a", 1, null], "n": 1.5});
        assert_eq!(roundtrip(&v), (v.clone(), JSON));
        assert_eq!(
            roundtrip(&Loose::Text("x".into())),
            (Loose::Text("x".into()), JSON)
        );
        // Per record: only values that need it.
        let plain = WithJson { id: 1, extra: None };
        assert_eq!(roundtrip(&plain), (plain.clone(), POSTCARD));
        let rich = WithJson {
            id: 2,
            extra: Some(json!({"a": [1, 2]})),
        };
        assert_eq!(roundtrip(&rich), (rich.clone(), JSON));
    }

    #[test]
    fn skipped_fields_are_not_misread() {
        let none = Skipping { nick: None, id: 5 };
        assert_eq!(roundtrip(&none), (none.clone(), JSON));
        let some = Skipping {
            nick: Some("x".into()),
            id: 6,
        };
        assert_eq!(roundtrip(&some).0, some);
    }

    #[test]
    fn partitions_roundtrip_and_bad_bytes_are_errors() {
        let v = vec![json!(1), json!({"a": "b"}), json!(null)];
        let mut out = Vec::new();
        <RecordsCodec as Codec<Vec<serde_json::Value>>>::encode(&v, &mut out).unwrap();
        let back: Vec<serde_json::Value> = RecordsCodec::decode(&out).unwrap();
        assert_eq!(back, v);
        for cut in 0..out.len() {
            assert!(
                <RecordsCodec as Codec<Vec<serde_json::Value>>>::decode(&out[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        assert!(<RecordCodec as Codec<u64>>::decode(&[9, 1]).is_err());
        let mut one = Vec::new();
        RecordCodec::encode(&(3u8, "x".to_string()), &mut one).unwrap();
        assert_eq!(
            <RecordCodec as Codec<(u8, String)>>::decode(&one).unwrap(),
            (3, "x".to_string())
        );
    }

    #[test]
    fn varints() {
        for n in [0u64, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            write_varint(&mut out, n);
            assert_eq!(read_varint(&out).unwrap(), (n, &[][..]));
        }
        assert!(read_varint(&[0x80]).is_err());
    }

    #[test]
    fn a_string_partition_decodes_with_the_codec_that_wrote_it() {
        // Vec<String> has two codecs (records here, serde in the graph
        // crate): the id written with the bytes picks the one that wrote
        // them, whichever a partition was given.
        let lines: Vec<String> = vec!["a b".into(), String::new(), "ü\r\n".into()];
        let records =
            oxidask_graph::Value::with_codec::<Vec<String>, RecordsCodec>(lines.clone(), 64);
        let serde = oxidask_graph::Value::with_codec::<Vec<String>, oxidask_graph::SerdeCodec>(
            lines.clone(),
            64,
        );
        let ids: Vec<String> = [&records, &serde, &crate::bag::part(lines.clone())]
            .iter()
            .map(|v| v.codec().unwrap().id())
            .collect();
        assert!(
            ids[0].contains("RecordsCodec") && ids[1].contains("SerdeCodec"),
            "{ids:?}"
        );
        assert!(
            ids[2] == ids[0] || ids[2] == ids[1],
            "a partition has a registered codec"
        );
        for (v, id) in [&records, &serde].into_iter().zip(&ids) {
            let mut bytes = Vec::new();
            v.encode(&mut bytes).unwrap();
            let back = oxidask_graph::Value::decode(id, &bytes).unwrap();
            assert_eq!(back.downcast_ref::<Vec<String>>().unwrap(), &lines);
        }
        // The records codec's bytes are not the serde codec's.
        let mut bytes = Vec::new();
        records.encode(&mut bytes).unwrap();
        let wrong = oxidask_graph::Value::decode(&ids[1], &bytes);
        assert!(wrong.map_or(true, |w| w.downcast_ref::<Vec<String>>().unwrap() != &lines));
    }
}
