//! Frames and bags of serde records, both ways: [`from_bag`] makes a frame
//! whose columns are a record type's fields, [`DataFrame::to_bag`] makes
//! records of a frame's rows.
//!
//! The schema comes from the record type alone (its `Deserialize` traced by
//! `serde-reflection`), so a frame made from a bag knows its columns when
//! it is built, before any record is read — as every other frame does.
//! Fields that are numbers, booleans, strings and `Option`s of them become
//! columns; anything else (a nested struct, a sequence, an enum) is an
//! error naming the field.
//!
//! Records become columns through a small serde `Serializer` writing each
//! field into its column's builder; rows become records through a
//! `Deserializer` over one row's values. For a record type registered with
//! [`register_frame_record!`](crate::register_frame_record) the conversions
//! are a registered op naming the type (data: they run on a cluster);
//! otherwise they are closures over the type, which run on the local
//! schedulers and which a cluster refuses saying so (as any closure).

use std::any::type_name;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use oxidask_bag::{Bag, Record};
use oxidask_graph::{
    BlockArg, BlockLayer, DataOp, FnOp, Op, OpError, Tokenizer, Value, register_data_op,
};
use polars::prelude::{self as pl, AnyValue, DataType, Field, PlSmallStr, Schema};
use serde::Deserialize;
use serde::de::{self, DeserializeOwned, IntoDeserializer};
use serde::ser::{self, Serialize};
use serde_reflection::{ContainerFormat, Format, Tracer, TracerConfig};

use crate::codec::{frame_arg, frame_value};
use crate::error::{Error, Result};
use crate::frame::DataFrame;

/// The polars type of one traced field format, or why it has none.
fn dtype_of(format: &Format) -> std::result::Result<DataType, String> {
    Ok(match format {
        Format::Bool => DataType::Boolean,
        Format::I8 | Format::I16 | Format::I32 => DataType::Int32,
        Format::I64 => DataType::Int64,
        Format::U8 | Format::U16 | Format::U32 => DataType::UInt32,
        Format::U64 => DataType::UInt64,
        Format::F32 => DataType::Float32,
        Format::F64 => DataType::Float64,
        Format::Char | Format::Str => DataType::String,
        Format::Option(inner) => match inner.as_ref() {
            Format::Option(_) => return Err("an Option of an Option".into()),
            f => dtype_of(f)?,
        },
        other => return Err(format!("{other:?}")),
    })
}

/// The columns of a frame of `T` records: one per field of the struct `T`,
/// in declaration order.
pub fn schema_of<T: DeserializeOwned>() -> Result<Schema> {
    let bad = |message: String| Error::Argument {
        argument: "record type",
        message: format!("{}: {message}", type_name::<T>()),
    };
    let mut tracer = Tracer::new(TracerConfig::default());
    let (format, _) = tracer
        .trace_simple_type::<T>()
        .map_err(|e| bad(format!("cannot trace its fields: {e}")))?;
    let registry = tracer.registry_unchecked();
    let Format::TypeName(name) = format else {
        return Err(bad(
            "a frame's records must be structs with named fields".into()
        ));
    };
    let Some(ContainerFormat::Struct(fields)) = registry.get(&name) else {
        return Err(bad(
            "a frame's records must be structs with named fields".into()
        ));
    };
    fields
        .iter()
        .map(|f| {
            let dtype = dtype_of(&f.value).map_err(|what| {
                bad(format!(
                    "field `{}` is {what}; only numbers, booleans, strings and Options of them \
                     become columns",
                    f.name
                ))
            })?;
            Ok(Field::new(PlSmallStr::from_str(&f.name), dtype))
        })
        .collect()
}

/// A frame whose partition `i` holds the records of the bag's partition
/// `i` as rows, one column per field of `T` (Dask's `Bag.to_dataframe`).
///
/// ```
/// use oxidask_dataframe as dd;
/// #[derive(Clone, serde::Serialize, serde::Deserialize)]
/// struct Trip { passengers: Option<i64>, tip: f64 }
/// let trips = oxidask_bag::from_partitions(vec![
///     vec![Trip { passengers: Some(1), tip: 2.0 }],
///     vec![Trip { passengers: None, tip: 0.5 }],
/// ]);
/// let df = dd::from_bag(&trips)?;
/// assert_eq!(df.columns(), ["passengers", "tip"]);
/// let frame = df.compute()?;
/// assert_eq!(frame.column("passengers")?.null_count(), 1);
/// let tips = frame.column("tip")?.f64()?;
/// assert_eq!((tips.get(0), tips.get(1)), (Some(2.0), Some(0.5)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn from_bag<T: Record>(bag: &Bag<T>) -> Result<DataFrame> {
    let schema = Arc::new(schema_of::<T>()?);
    let stored = bag.persist_layer();
    let mut t = Tokenizer::new();
    t.add(&stored.name());
    t.add(&type_name::<T>());
    let name: Arc<str> = Arc::from(format!("from-bag-{}", t.finish_hex()));
    let op = convert_op::<T>(true)
        .unwrap_or_else(|| FnOp::arc(format!("from-bag<{}>", type_name::<T>()), to_frame::<T>));
    let n = bag.npartitions() as u32;
    let layer = BlockLayer::blockwise(
        name.clone(),
        op,
        vec![BlockArg::block(Arc::from(stored.name()))],
        vec![n],
    );
    let graph = stored.graph().clone().with_layer(Arc::new(layer));
    Ok(DataFrame::stored(graph, name, n, schema))
}

impl DataFrame {
    /// A bag whose partition `i` holds the rows of the frame's partition
    /// `i` as `T` records (Dask's `DataFrame.to_bag`). `T`'s fields are
    /// read from the columns of their names (other columns are not read);
    /// a field with no column is an error now, and a null in a field that
    /// is not an `Option` fails the computation naming the column and row.
    pub fn to_bag<T: Record>(&self) -> Result<Bag<T>> {
        let wanted = schema_of::<T>()?;
        let names: Vec<pl::Expr> = wanted.iter_names().map(|n| pl::col(n.clone())).collect();
        // Only the fields' columns are read (and checked to exist).
        let frame = self.select(names)?;
        let (graph, base) = frame.stored_layer();
        let mut t = Tokenizer::new();
        t.add(&*base);
        t.add(&type_name::<T>());
        let name: Arc<str> = Arc::from(format!("to-bag-{}", t.finish_hex()));
        let op = convert_op::<T>(false)
            .unwrap_or_else(|| FnOp::arc(format!("to-bag<{}>", type_name::<T>()), to_records::<T>));
        let layer = BlockLayer::blockwise(
            name.clone(),
            op,
            vec![BlockArg::block(base)],
            vec![self.npartitions],
        );
        Ok(Bag::from_graph(
            graph.with_layer(Arc::new(layer)),
            name,
            self.npartitions(),
        ))
    }
}

/// A bag partition of `T` records as a frame partition.
fn to_frame<T: Record>(args: Vec<Value>) -> std::result::Result<Value, OpError> {
    let records = args
        .into_iter()
        .next()
        .ok_or("from_bag: no partition")?
        .take::<Vec<T>>()?;
    let schema = schema_of::<T>().map_err(|e| e.to_string())?;
    Ok(frame_value(records_to_frame(&records, &schema)?))
}

/// A frame partition as a bag partition of `T` records.
fn to_records<T: Record>(args: Vec<Value>) -> std::result::Result<Value, OpError> {
    let df = frame_arg(args.into_iter().next().ok_or("to_bag: no partition")?)?;
    Ok(oxidask_bag::partition_value(frame_to_records::<T>(&df)?))
}

/// A record type's conversions, registered by
/// [`register_frame_record!`](crate::register_frame_record) and found by
/// the type's name when a graph naming it is run.
#[doc(hidden)]
pub struct FrameRecord {
    name: fn() -> &'static str,
    to_frame: fn(Vec<Value>) -> std::result::Result<Value, OpError>,
    to_records: fn(Vec<Value>) -> std::result::Result<Value, OpError>,
}

impl FrameRecord {
    /// The conversions of `T`.
    pub const fn of<T: Record>() -> FrameRecord {
        FrameRecord {
            name: type_name::<T>,
            to_frame: to_frame::<T>,
            to_records: to_records::<T>,
        }
    }
}

oxidask_graph::inventory::collect!(FrameRecord);

/// The registered record type of this name.
fn registered(name: &str) -> Option<&'static FrameRecord> {
    static REGISTRY: OnceLock<HashMap<&'static str, &'static FrameRecord>> = OnceLock::new();
    REGISTRY
        .get_or_init(|| {
            oxidask_graph::inventory::iter::<FrameRecord>
                .into_iter()
                .map(|r| ((r.name)(), r))
                .collect()
        })
        .get(name)
        .copied()
}

/// The conversion as a registered op, if `T` is registered.
fn convert_op<T: Record>(to_frame: bool) -> Option<Arc<dyn Op>> {
    registered(type_name::<T>())?;
    Some(Arc::new(Convert {
        record: type_name::<T>().to_string(),
        to_frame,
    }))
}

/// `from_bag` (`to_frame`) or `to_bag` of a registered record type, named.
#[derive(Clone, Debug, serde::Serialize, Deserialize)]
struct Convert {
    record: String,
    to_frame: bool,
}

impl DataOp for Convert {
    const NAME: &'static str = "oxidask.dataframe.records";

    fn run(&self, args: Vec<Value>) -> std::result::Result<Value, OpError> {
        let r = registered(&self.record).ok_or_else(|| {
            format!(
                "the record type {} is not registered in this program: add \
                 oxidask::dataframe::register_frame_record!({}) next to its definition",
                self.record,
                self.record.rsplit("::").next().unwrap_or(&self.record)
            )
        })?;
        if self.to_frame {
            (r.to_frame)(args)
        } else {
            (r.to_records)(args)
        }
    }

    fn label(&self) -> &str {
        if self.to_frame { "from-bag" } else { "to-bag" }
    }
}

register_data_op!(Convert);

/// `$body` for the vector `$v` of whichever builder `$b` is.
macro_rules! each_builder {
    ($b:expr, $v:ident => $body:expr) => {
        match $b {
            Builder::Bool($v) => $body,
            Builder::I32($v) => $body,
            Builder::I64($v) => $body,
            Builder::U32($v) => $body,
            Builder::U64($v) => $body,
            Builder::F32($v) => $body,
            Builder::F64($v) => $body,
            Builder::Str($v) => $body,
        }
    };
}

/// One column being filled.
enum Builder {
    Bool(Vec<Option<bool>>),
    I32(Vec<Option<i32>>),
    I64(Vec<Option<i64>>),
    U32(Vec<Option<u32>>),
    U64(Vec<Option<u64>>),
    F32(Vec<Option<f32>>),
    F64(Vec<Option<f64>>),
    Str(Vec<Option<String>>),
}

impl Builder {
    fn new(dtype: &DataType, n: usize) -> Builder {
        match dtype {
            DataType::Boolean => Builder::Bool(Vec::with_capacity(n)),
            DataType::Int32 => Builder::I32(Vec::with_capacity(n)),
            DataType::Int64 => Builder::I64(Vec::with_capacity(n)),
            DataType::UInt32 => Builder::U32(Vec::with_capacity(n)),
            DataType::UInt64 => Builder::U64(Vec::with_capacity(n)),
            DataType::Float32 => Builder::F32(Vec::with_capacity(n)),
            DataType::Float64 => Builder::F64(Vec::with_capacity(n)),
            _ => Builder::Str(Vec::with_capacity(n)),
        }
    }

    fn len(&self) -> usize {
        each_builder!(self, v => v.len())
    }

    fn push_null(&mut self) {
        each_builder!(self, v => v.push(None))
    }

    fn finish(self, name: PlSmallStr) -> pl::Column {
        each_builder!(self, v => pl::Column::new(name, v))
    }
}

/// Why a record could not be written as a row, or a row read as a record.
#[derive(Debug)]
struct ConvertError(String);

impl std::fmt::Display for ConvertError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConvertError {}

impl ser::Error for ConvertError {
    fn custom<M: std::fmt::Display>(msg: M) -> Self {
        ConvertError(msg.to_string())
    }
}

impl de::Error for ConvertError {
    fn custom<M: std::fmt::Display>(msg: M) -> Self {
        ConvertError(msg.to_string())
    }
}

/// Rows of `records` as a frame of `schema` (the record type's columns).
pub(crate) fn records_to_frame<T: Serialize>(
    records: &[T],
    schema: &Schema,
) -> std::result::Result<pl::DataFrame, OpError> {
    let mut builders: Vec<Builder> = schema
        .iter_values()
        .map(|t| Builder::new(t, records.len()))
        .collect();
    for (row, r) in records.iter().enumerate() {
        r.serialize(RecordSer {
            schema,
            builders: &mut builders,
            column: None,
        })
        .map_err(|e| format!("record {row} of the partition: {e}"))?;
        // A field left out (`skip_serializing_if`) is a null.
        for b in &mut builders {
            if b.len() == row {
                b.push_null();
            }
        }
    }
    let columns = builders
        .into_iter()
        .zip(schema.iter_names())
        .map(|(b, n)| b.finish(n.clone()))
        .collect();
    Ok(pl::DataFrame::new(records.len(), columns).map_err(|e| e.to_string())?)
}

/// Serializes one record into the builders: at the record level
/// (`column` is `None`) only a struct is taken, and each of its fields is
/// serialized again with `column` set to the field's column.
struct RecordSer<'a> {
    schema: &'a Schema,
    builders: &'a mut [Builder],
    column: Option<usize>,
}

impl RecordSer<'_> {
    /// The column being written and its name; refused at the record level.
    fn cell(&mut self) -> std::result::Result<(&str, &mut Builder), ConvertError> {
        let i = self.column.ok_or_else(not_struct)?;
        let name = self.schema.get_at_index(i).map_or("", |(n, _)| n.as_str());
        Ok((name, &mut self.builders[i]))
    }

    /// A value of a kind no column holds (or a record that is not a struct).
    fn refuse<T>(&self, what: &str) -> std::result::Result<T, ConvertError> {
        match self.column {
            None => Err(not_struct()),
            Some(_) => Err(ConvertError(format!(
                "a {what} cannot be a column value (numbers, booleans, strings and Options of \
                 them can)"
            ))),
        }
    }
}

fn wrong(column: &str, got: &str) -> ConvertError {
    ConvertError(format!(
        "field `{column}`: a {got} where the column holds another type"
    ))
}

fn not_struct() -> ConvertError {
    ConvertError("a frame's records must be structs with named fields".into())
}

macro_rules! cell {
    ($fn:ident, $t:ty, $($variant:ident => $conv:expr),+) => {
        fn $fn(mut self, v: $t) -> std::result::Result<(), ConvertError> {
            let (column, builder) = self.cell()?;
            match builder {
                $(Builder::$variant(b) => {
                    #[allow(clippy::redundant_closure_call)]
                    let x = ($conv)(v).ok_or_else(|| ConvertError(format!(
                        "field `{column}`: {v} does not fit the column's type"
                    )))?;
                    b.push(Some(x));
                    Ok(())
                })+
                _ => Err(wrong(column, stringify!($t))),
            }
        }
    };
}

impl<'a> ser::Serializer for RecordSer<'a> {
    type Ok = ();
    type Error = ConvertError;
    type SerializeSeq = ser::Impossible<(), ConvertError>;
    type SerializeTuple = ser::Impossible<(), ConvertError>;
    type SerializeTupleStruct = ser::Impossible<(), ConvertError>;
    type SerializeTupleVariant = ser::Impossible<(), ConvertError>;
    type SerializeMap = ser::Impossible<(), ConvertError>;
    type SerializeStruct = RecordSer<'a>;
    type SerializeStructVariant = ser::Impossible<(), ConvertError>;

    cell!(serialize_bool, bool, Bool => Some);
    cell!(serialize_i8, i8, I32 => |v: i8| Some(i32::from(v)));
    cell!(serialize_i16, i16, I32 => |v: i16| Some(i32::from(v)));
    cell!(serialize_i32, i32, I32 => Some);
    cell!(serialize_i64, i64, I64 => Some);
    cell!(serialize_u8, u8, U32 => |v: u8| Some(u32::from(v)));
    cell!(serialize_u16, u16, U32 => |v: u16| Some(u32::from(v)));
    cell!(serialize_u32, u32, U32 => Some);
    cell!(serialize_u64, u64, U64 => Some);
    cell!(serialize_f32, f32, F32 => Some);
    cell!(serialize_f64, f64, F64 => Some);

    fn serialize_char(self, v: char) -> std::result::Result<(), ConvertError> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(mut self, v: &str) -> std::result::Result<(), ConvertError> {
        match self.cell()? {
            (_, Builder::Str(b)) => {
                b.push(Some(v.to_string()));
                Ok(())
            }
            (column, _) => Err(wrong(column, "string")),
        }
    }
    fn serialize_none(mut self) -> std::result::Result<(), ConvertError> {
        self.cell()?.1.push_null();
        Ok(())
    }
    fn serialize_some<V: Serialize + ?Sized>(self, v: &V) -> std::result::Result<(), ConvertError> {
        v.serialize(self)
    }
    fn serialize_newtype_struct<V: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &V,
    ) -> std::result::Result<(), ConvertError> {
        v.serialize(self)
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> std::result::Result<RecordSer<'a>, ConvertError> {
        match self.column {
            None => Ok(self),
            Some(_) => self.refuse("nested struct"),
        }
    }
    fn serialize_bytes(self, _: &[u8]) -> std::result::Result<(), ConvertError> {
        self.refuse("byte string")
    }
    fn serialize_unit(self) -> std::result::Result<(), ConvertError> {
        self.refuse("unit")
    }
    fn serialize_unit_struct(self, _: &'static str) -> std::result::Result<(), ConvertError> {
        self.refuse("unit struct")
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
    ) -> std::result::Result<(), ConvertError> {
        self.refuse("enum")
    }
    fn serialize_newtype_variant<V: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &V,
    ) -> std::result::Result<(), ConvertError> {
        self.refuse("enum")
    }
    fn serialize_seq(
        self,
        _: Option<usize>,
    ) -> std::result::Result<Self::SerializeSeq, ConvertError> {
        self.refuse("sequence")
    }
    fn serialize_tuple(self, _: usize) -> std::result::Result<Self::SerializeTuple, ConvertError> {
        self.refuse("tuple")
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> std::result::Result<Self::SerializeTupleStruct, ConvertError> {
        self.refuse("tuple struct")
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> std::result::Result<Self::SerializeTupleVariant, ConvertError> {
        self.refuse("enum")
    }
    fn serialize_map(
        self,
        _: Option<usize>,
    ) -> std::result::Result<Self::SerializeMap, ConvertError> {
        self.refuse("map")
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> std::result::Result<Self::SerializeStructVariant, ConvertError> {
        self.refuse("enum")
    }
}

impl ser::SerializeStruct for RecordSer<'_> {
    type Ok = ();
    type Error = ConvertError;

    fn serialize_field<V: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &V,
    ) -> std::result::Result<(), ConvertError> {
        let i = self
            .schema
            .index_of(key)
            .ok_or_else(|| ConvertError(format!("field `{key}` is not one of the columns")))?;
        value.serialize(RecordSer {
            schema: self.schema,
            builders: &mut *self.builders,
            column: Some(i),
        })
    }

    fn end(self) -> std::result::Result<(), ConvertError> {
        Ok(())
    }
}

/// Rows of `df` as `T` records, each field from the column of its name.
pub(crate) fn frame_to_records<T: DeserializeOwned>(
    df: &pl::DataFrame,
) -> std::result::Result<Vec<T>, OpError> {
    let names: Vec<&str> = df.columns().iter().map(|c| c.name().as_str()).collect();
    let columns: Vec<pl::Series> = df
        .columns()
        .iter()
        .map(|c| c.as_materialized_series().rechunk())
        .collect();
    let mut out = Vec::with_capacity(df.height());
    let mut values: Vec<AnyValue<'_>> = Vec::with_capacity(columns.len());
    for row in 0..df.height() {
        values.clear();
        for c in &columns {
            values.push(c.get(row).map_err(|e| e.to_string())?);
        }
        let record = T::deserialize(RowDe {
            names: &names,
            values: &values,
            at: 0,
        })
        .map_err(|e| format!("row {row} of the partition: {e}"))?;
        out.push(record);
    }
    Ok(out)
}

/// One row as a map from column name to value.
struct RowDe<'r, 'v> {
    names: &'r [&'r str],
    values: &'r [AnyValue<'v>],
    at: usize,
}

impl<'de> de::Deserializer<'de> for RowDe<'_, '_> {
    type Error = ConvertError;

    fn deserialize_any<V: de::Visitor<'de>>(
        self,
        visitor: V,
    ) -> std::result::Result<V::Value, ConvertError> {
        visitor.visit_map(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

impl<'de> de::MapAccess<'de> for RowDe<'_, '_> {
    type Error = ConvertError;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> std::result::Result<Option<K::Value>, ConvertError> {
        match self.names.get(self.at) {
            None => Ok(None),
            Some(name) => seed.deserialize((*name).into_deserializer()).map(Some),
        }
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> std::result::Result<V::Value, ConvertError> {
        let i = self.at;
        self.at += 1;
        seed.deserialize(CellDe(&self.values[i]))
            .map_err(|e| ConvertError(format!("column {:?}: {e}", self.names[i])))
    }
}

/// One value of a row.
struct CellDe<'r, 'v>(&'r AnyValue<'v>);

impl<'de> de::Deserializer<'de> for CellDe<'_, '_> {
    type Error = ConvertError;

    fn deserialize_any<V: de::Visitor<'de>>(
        self,
        visitor: V,
    ) -> std::result::Result<V::Value, ConvertError> {
        match self.0 {
            AnyValue::Null => visitor.visit_none(),
            AnyValue::Boolean(b) => visitor.visit_bool(*b),
            AnyValue::Int32(x) => visitor.visit_i32(*x),
            AnyValue::Int64(x) => visitor.visit_i64(*x),
            AnyValue::UInt32(x) => visitor.visit_u32(*x),
            AnyValue::UInt64(x) => visitor.visit_u64(*x),
            AnyValue::Float32(x) => visitor.visit_f32(*x),
            AnyValue::Float64(x) => visitor.visit_f64(*x),
            AnyValue::String(s) => visitor.visit_str(s),
            AnyValue::StringOwned(s) => visitor.visit_str(s),
            other => Err(ConvertError(format!(
                "a value of type {} cannot be read into a record field",
                other.dtype()
            ))),
        }
    }

    fn deserialize_option<V: de::Visitor<'de>>(
        self,
        visitor: V,
    ) -> std::result::Result<V::Value, ConvertError> {
        match self.0 {
            AnyValue::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: de::Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> std::result::Result<V::Value, ConvertError> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}
