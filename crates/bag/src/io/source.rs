//! The file sources of partition pipelines as data: a list of blocks (path
//! and byte range; compression follows from the path) and the feeds that
//! read them. Both the local bag and a pipeline rebuilt from bytes read
//! through these same feeds.

use std::path::PathBuf;
use std::sync::Arc;

use oxidask_graph::push::PushFeed;
use serde::{Deserialize, Serialize};

use super::block::{self, Compression, FileBlock};
use super::json::{BadLines, parse_block};
use super::text::utf8_error;
use crate::bag::Record;

/// One block of a file: the bytes `start..end` (of the decompressed file,
/// for a whole compressed file).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct BlockSpec {
    path: PathBuf,
    start: u64,
    end: u64,
}

impl BlockSpec {
    pub(crate) fn of(b: &FileBlock) -> BlockSpec {
        BlockSpec {
            path: (*b.path).clone(),
            start: b.start,
            end: b.end,
        }
    }

    fn to_block(&self) -> FileBlock {
        FileBlock {
            path: Arc::new(self.path.clone()),
            start: self.start,
            end: self.end,
            compression: Compression::of(&self.path),
        }
    }
}

/// The blocks as the readers use them.
pub(crate) fn file_blocks(specs: &[BlockSpec]) -> Arc<Vec<FileBlock>> {
    Arc::new(specs.iter().map(BlockSpec::to_block).collect())
}

/// Block `i`, or an error saying there is none.
fn nth(blocks: &[FileBlock], i: u32) -> Result<&FileBlock, oxidask_graph::OpError> {
    blocks
        .get(i as usize)
        .ok_or_else(|| format!("no block {i} among {} blocks", blocks.len()).into())
}

/// How `read_text` turns a block's lines into records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LineMode {
    /// Invalid UTF-8 becomes U+FFFD instead of an error.
    pub lossy: bool,
    /// Lines lose their `\n` or `\r\n` (Dask keeps them).
    pub strip: bool,
}

/// Partition `i` is the lines of block `i`.
pub(crate) fn text_feed(blocks: Arc<Vec<FileBlock>>, mode: LineMode) -> Arc<PushFeed<String>> {
    Arc::new(move |i, _, sink| {
        let b = nth(&blocks, i)?;
        block::for_each_line(b, |line, at| {
            let (text, bytes) = if mode.strip {
                (line.content_text(), line.content())
            } else {
                (line.text, line.bytes)
            };
            let s = match text {
                Ok(s) => s.to_owned(),
                Err(_) if mode.lossy => String::from_utf8_lossy(bytes).into_owned(),
                Err(bad) => return Err(utf8_error(b, line, at, bad).into()),
            };
            sink(s)
        })
    })
}

/// Partition `i` is the records parsed from the JSON lines of block `i`;
/// bad lines are counted in `skip` when given, else fail.
pub(crate) fn json_feed_skipping<T: Record>(
    blocks: Arc<Vec<FileBlock>>,
    lossy: bool,
    skip: Option<BadLines>,
) -> Arc<PushFeed<T>> {
    Arc::new(move |i, _, sink| parse_block::<T>(nth(&blocks, i)?, lossy, skip.as_ref(), sink))
}

/// [`json_feed_skipping`] without skipping, from block specs (a decoded
/// pipeline's source).
pub(crate) fn json_feed<T: Record>(blocks: Vec<BlockSpec>, lossy: bool) -> Arc<PushFeed<T>> {
    json_feed_skipping(file_blocks(&blocks), lossy, None)
}
