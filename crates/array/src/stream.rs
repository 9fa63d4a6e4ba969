//! Streaming sources: blocks produced piece by piece, never whole.
//!
//! A full reduction of a source array (`random::standard_normal(..).sum()`,
//! `stats::skew(&from_array(..))`), possibly through elementwise
//! operations, does not need the source's blocks in memory: each partial
//! task asks every leaf for the next few thousand elements of its block in
//! row-major order, runs the fused expression on those pieces, and merges
//! the kernel's accumulators piece by piece. Memory per task is a few
//! cache-sized buffers instead of whole blocks, and the source tasks
//! disappear from the graph. Sources that can stream say so with a
//! [`Stream`]; everything else takes the materialized path.
//!
//! Only a *pointwise* expression (every step elementwise, see
//! `Expr::pointwise`) may run on pieces: a piece is a 1-d run of a block
//! in row-major order, so a user's block function (`map_blocks`,
//! `blockwise`) given one would compute on the wrong data. Such chains take
//! the materialized path, where the function sees exactly its block.

use std::sync::Arc;

use ndarray::{ArrayD, ArrayView1, IxDyn};
use oxidask_graph::{OpError, Value};

use crate::element::Element;
use crate::expr::chunk_value;
use crate::grid::Grid;

/// Elements per piece: 64 KiB of `f64`, inside L2 and below malloc's mmap
/// threshold.
pub(crate) const PIECE: usize = 8192;

/// Appends the next `len` elements of one block to a vector, or says why
/// it cannot (a file that went missing or shrank), naming the source.
pub(crate) type Fill<T> = Box<dyn FnMut(&mut Vec<T>, usize) -> Result<(), OpError> + Send>;

/// Opens a block's filler: how a streaming source is described.
pub(crate) type OpenFill<T> = Arc<dyn Fn(&Grid, &[u32]) -> Fill<T> + Send + Sync>;

/// Calls the function with consecutive pieces of block `idx` of the grid
/// and their offsets, without copying (in-memory sources).
pub(crate) type Visit<T> =
    Arc<dyn Fn(&Grid, &[u32], &mut dyn FnMut(ArrayView1<T>, usize)) + Send + Sync>;

/// A source that can hand out its blocks piece by piece. A source array's
/// op is its stream (`source::SourceOp`), so a streamed reduction's op
/// writes the source's spec and another process streams it the same way.
pub(crate) trait Stream: Send + Sync {
    /// A reader of block `idx`, from its first element.
    fn open(&self, idx: &[u32]) -> Box<dyn Reader>;
    /// The source's spec as bytes, read back by `source::decode_stream`.
    fn encode(&self) -> Option<Vec<u8>>;
    /// For in-memory data, its [`Visit`] (of the source's element type).
    fn visit(&self) -> Option<Box<dyn std::any::Any + Send + Sync>>;
}

/// Consecutive pieces of one block.
pub(crate) trait Reader {
    /// The next `len` elements, as a 1-d `ArrayD` value.
    fn next(&mut self, len: usize) -> Result<Value, OpError>;
}

/// A stream from a per-block filler.
pub(crate) struct Filler<T: Element> {
    pub grid: Arc<Grid>,
    pub open: OpenFill<T>,
}

struct FillReader<T: Element> {
    fill: Fill<T>,
}

impl<T: Element> Reader for FillReader<T> {
    fn next(&mut self, len: usize) -> Result<Value, OpError> {
        let mut v = Vec::with_capacity(len);
        (self.fill)(&mut v, len)?;
        if v.len() != len {
            return Err(format!(
                "a source produced {} elements, {len} were asked for",
                v.len()
            )
            .into());
        }
        Ok(chunk_value(ArrayD::from_shape_vec(IxDyn(&[len]), v)?))
    }
}

impl<T: Element> Filler<T> {
    /// A reader of block `idx`, from its first element.
    pub fn open(&self, idx: &[u32]) -> Box<dyn Reader> {
        Box::new(FillReader {
            fill: (self.open)(&self.grid, idx),
        })
    }
}

/// A whole block from its filler.
pub(crate) fn fill_block<T: Element>(
    open: &(dyn Fn(&Grid, &[u32]) -> Fill<T> + Send + Sync),
    g: &Grid,
    idx: &[u32],
) -> Result<ArrayD<T>, OpError> {
    let shape = g.block_shape(idx);
    let n: usize = shape.iter().product();
    let mut v = Vec::with_capacity(n);
    open(g, idx)(&mut v, n)?;
    Ok(ArrayD::from_shape_vec(IxDyn(&shape), v)?)
}
