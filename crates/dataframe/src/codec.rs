//! A polars frame as a run-time value: its real size for the memory limit,
//! and Arrow IPC bytes so a partition can be spilled to disk or sent to
//! another process.
//!
//! The orphan rule keeps `DataSize` off polars' `DataFrame` here, so frames
//! enter the graph through [`frame_value`], which takes the size from
//! polars' own `estimated_size` (the buffers the columns hold).

use std::io::{Cursor, Write};

use oxidask_graph::{Codec, OpError, Value, register_value};
use polars::prelude as pl;
use polars_io::ipc::{IpcReader, IpcWriter};
use polars_io::{SerReader, SerWriter};

/// Writes a polars frame as an Arrow IPC file and reads it back: the
/// format polars and Arrow tools share, written column buffer by column
/// buffer into the sink (no second copy of the frame in memory).
pub struct IpcCodec;

impl Codec<pl::DataFrame> for IpcCodec {
    fn encode(value: &pl::DataFrame, out: &mut dyn Write) -> Result<(), String> {
        // `finish` wants `&mut` only to rechunk when asked; a clone shares
        // the column buffers.
        let mut df = value.clone();
        IpcWriter::new(out)
            .finish(&mut df)
            .map_err(|e| format!("writing a frame as Arrow IPC: {e}"))
    }

    fn decode(bytes: &[u8]) -> Result<pl::DataFrame, String> {
        IpcReader::new(Cursor::new(bytes))
            .finish()
            .map_err(|e| format!("reading a frame from Arrow IPC: {e}"))
    }
}

register_value!(pl::DataFrame, IpcCodec);

/// A polars frame as a graph value: sized by polars' estimate of the
/// buffers it holds, with the IPC codec.
pub fn frame_value(df: pl::DataFrame) -> Value {
    let nbytes = df.estimated_size() + std::mem::size_of::<pl::DataFrame>();
    Value::with_codec::<pl::DataFrame, IpcCodec>(df, nbytes)
}

/// Takes the frame out of a task argument (moved when this task was its
/// last reader; the columns are shared otherwise, never copied).
pub(crate) fn frame_arg(v: Value) -> Result<pl::DataFrame, OpError> {
    Ok(v.take::<pl::DataFrame>()?)
}
