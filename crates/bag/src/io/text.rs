//! `read_text`: a bag of lines, and the read layer it shares with
//! `read_json_lines`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use oxidask_graph::push::PushFeed;
use oxidask_graph::{Tokenize, Tokenizer};

use super::block::{self, FileBlock, Line, Position};
use super::paths::{IntoPaths, expand};
use super::source::{BlockSpec, LineMode, text_feed};
use crate::bag::{Bag, Origin, Record};
use crate::error::{Error, Result};
use crate::pipeline::Source;

/// Uncompressed files larger than this are split into several partitions.
pub const DEFAULT_BLOCKSIZE: u64 = 32 * 1024 * 1024;

/// How [`read_text_with`] reads files.
#[derive(Clone, Debug)]
pub struct TextOptions {
    pub(crate) blocksize: Option<u64>,
    /// Whether the block size was asked for (not the default): then a
    /// compressed file, which cannot be split, is an error.
    pub(crate) blocksize_given: bool,
    pub(crate) lossy: bool,
    pub(crate) strip: bool,
}

impl Default for TextOptions {
    fn default() -> Self {
        TextOptions {
            blocksize: Some(DEFAULT_BLOCKSIZE),
            blocksize_given: false,
            lossy: false,
            strip: false,
        }
    }
}

impl TextOptions {
    /// Defaults: 32 MiB blocks, invalid UTF-8 is an error, lines keep
    /// their endings.
    pub fn new() -> TextOptions {
        TextOptions::default()
    }

    /// Splits uncompressed files into partitions of about `bytes` bytes, at
    /// line boundaries, as Dask does: a file of `size` bytes into
    /// `max(1, size / bytes)` blocks at evenly spaced offsets, each starting
    /// after the first newline at or past its offset (an empty file gives
    /// none; a line longer than a block leaves the blocks it covers empty).
    /// Must be at least 1: the reader given these options
    /// fails on 0 (use [`whole_files`](TextOptions::whole_files) for one
    /// partition per file). A compressed file cannot be split: reading one
    /// with a block size given is an error naming the file (as in Dask);
    /// without one, compressed files are whole partitions.
    pub fn blocksize(mut self, bytes: u64) -> Self {
        self.blocksize = Some(bytes);
        self.blocksize_given = true;
        self
    }

    /// The block size for `paths`, checked: at least 1, and not given for a
    /// compressed file.
    pub(crate) fn blocksize_for(&self, paths: &[std::path::PathBuf]) -> Result<Option<u64>> {
        let blocksize = self.checked_blocksize()?;
        if let (true, Some(b)) = (self.blocksize_given, blocksize)
            && let Some(p) = paths
                .iter()
                .find(|p| block::Compression::of(p) != block::Compression::None)
        {
            return Err(Error::InvalidArgument(format!(
                "blocksize {b} was given, but {} is compressed and cannot be split: a \
                 compressed file is read whole, one partition per file (drop the \
                 blocksize, or decompress the file to split it)",
                p.display()
            )));
        }
        Ok(blocksize)
    }

    /// The block size, checked.
    pub(crate) fn checked_blocksize(&self) -> Result<Option<u64>> {
        match self.blocksize {
            Some(0) => Err(Error::InvalidArgument(
                "blocksize must be at least 1 byte, got 0 (whole_files() reads one \
                 partition per file)"
                    .into(),
            )),
            b => Ok(b),
        }
    }

    /// One partition per file, however large.
    pub fn whole_files(mut self) -> Self {
        self.blocksize = None;
        self.blocksize_given = false;
        self
    }

    /// Replaces invalid UTF-8 with U+FFFD instead of failing.
    pub fn lossy(mut self, lossy: bool) -> Self {
        self.lossy = lossy;
        self
    }

    /// Removes each line's `\n` or `\r\n` (as Rust's `str::lines`). By
    /// default lines keep them, as in Dask.
    pub fn strip_line_endings(mut self, strip: bool) -> Self {
        self.strip = strip;
        self
    }
}

/// The lines of text files, one record per line with its line ending
/// (`"\n"`, or `"\r\n"`; the last line of a file may have none), like
/// `dask.bag.read_text`. `paths` is a path, a glob pattern or a list of
/// them; `.gz` files are decompressed. See [`read_text_with`] for options
/// (block size, [`strip_line_endings`](TextOptions::strip_line_endings)).
///
/// Fails now if a pattern matches nothing or a file is missing; invalid
/// UTF-8 fails the computation with the file, line and byte offset.
pub fn read_text(paths: impl IntoPaths) -> Result<Bag<String>> {
    read_text_with(paths, &TextOptions::default())
}

/// [`read_text`] with options (block size, lossy UTF-8, stripped endings).
pub fn read_text_with(paths: impl IntoPaths, options: &TextOptions) -> Result<Bag<String>> {
    let paths = expand(paths.into_patterns())?;
    let blocksize = options.blocksize_for(&paths)?;
    let blocks = Arc::new(block::plan(&paths, blocksize)?);
    let mode = LineMode {
        lossy: options.lossy,
        strip: options.strip,
    };
    let origin_blocks = blocks.clone();
    let origin: Origin = Arc::new(move |i, j| {
        let b = origin_blocks.get(i as usize)?;
        let first = block::first_line(b)?;
        Some(format!("{}:{}", b.path.display(), first + j as u64))
    });
    let source = Source::Text {
        blocks: blocks.iter().map(BlockSpec::of).collect(),
        mode,
    };
    let feed = text_feed(blocks.clone(), mode);
    read_source(
        "read-text",
        &paths,
        &blocks,
        (mode.lossy, mode.strip),
        Some(origin),
        feed,
        Some(source),
    )
}

/// Invalid UTF-8 at byte `bad` of `line`: the file, line and byte offset.
#[cold]
pub(crate) fn utf8_error(b: &FileBlock, line: &Line<'_>, at: &Position<'_>, bad: usize) -> Error {
    Error::Utf8 {
        path: (*b.path).clone(),
        line: at.line_number(line.index),
        offset: line.offset + bad as u64,
    }
}

/// A source bag whose partition `i` is what `feed` pushes for block `i`,
/// named from the files (path, size, mtime), the blocks and `params`;
/// `source` describes it as data when it can leave the process.
pub(crate) fn read_source<T: Record>(
    prefix: &'static str,
    paths: &[PathBuf],
    blocks: &[FileBlock],
    params: impl Tokenize,
    origin: Option<Origin>,
    feed: Arc<PushFeed<T>>,
    source: Option<Source>,
) -> Result<Bag<T>> {
    let mut t = Tokenizer::new();
    t.add(prefix).add(&params);
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| Error::io(p, e))?;
        let mtime = meta
            .modified()
            .ok()
            .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        t.add(&*p.to_string_lossy()).add(&meta.len()).add(&mtime);
    }
    for b in blocks.iter() {
        t.add(&b.start).add(&b.end);
    }
    let name: Arc<str> = Arc::from(format!("{prefix}-{}", t.finish_hex()));
    let n = blocks.len() as u32;
    Ok(Bag::source(name, prefix, n, origin, feed, source))
}
