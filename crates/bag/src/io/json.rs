//! `read_json_lines`: one record per line of JSON-lines files, parsed
//! straight from the file's bytes into `T`.
//!
//! Each partition's lines come from the block reader (`block::for_each_line`:
//! one large read of an uncompressed block, checked for UTF-8 once and cut
//! with `memchr`; a compressed file streamed line by line), and each line is
//! parsed with `serde_json::from_str` on a slice of the buffer — no per-line
//! allocation besides the record itself. Blank lines are skipped; with
//! `skip_bad_lines`, so are lines that are not UTF-8 or not JSON for `T`. A typed
//! `T` skips the fields it does not name without building them, which is
//! what makes `read_json_lines::<Person>` several times faster than parsing
//! every line into a `serde_json::Value`.

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::block::{self, FileBlock};
use super::paths::{IntoPaths, expand};
use super::source::{BlockSpec, json_feed_skipping};
use super::text::{TextOptions, read_source, utf8_error};
use crate::bag::{Bag, Origin, Record, Sink, Stop};
use crate::error::{Error, Result};
use crate::pipeline::Source;
use oxidask_graph::{OpError, unique_token};

/// How many messages of skipped lines [`BadLines`] keeps.
pub const MAX_BAD_LINE_EXAMPLES: usize = 10;

/// A tally of the lines [`read_json_lines_with`] skipped, shared by every
/// task of the computation: how many, and the messages of the first few
/// (`file:line:column: invalid JSON: …` or `… record does not match its
/// type: …`).
///
/// It counts every time a partition is read: computing the same bag twice
/// counts its bad lines twice (call [`reset`](BadLines::reset) in between),
/// and partitions that culling leaves out (e.g. by `take`) are not counted.
#[derive(Clone, Default)]
pub struct BadLines {
    inner: Arc<BadLinesInner>,
}

#[derive(Default)]
struct BadLinesInner {
    count: AtomicU64,
    examples: Mutex<Vec<String>>,
}

impl fmt::Debug for BadLines {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BadLines({})", self.count())
    }
}

impl BadLines {
    /// An empty tally.
    pub fn new() -> BadLines {
        BadLines::default()
    }

    /// Lines skipped so far.
    pub fn count(&self) -> u64 {
        self.inner.count.load(Ordering::Relaxed)
    }

    /// The first [`MAX_BAD_LINE_EXAMPLES`] messages, in the order tasks
    /// reported them.
    pub fn examples(&self) -> Vec<String> {
        self.inner
            .examples
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default()
    }

    /// Back to zero.
    pub fn reset(&self) {
        self.inner.count.store(0, Ordering::Relaxed);
        if let Ok(mut e) = self.inner.examples.lock() {
            e.clear();
        }
    }

    #[cold]
    fn record(&self, error: &Error) {
        self.inner.count.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut e) = self.inner.examples.lock()
            && e.len() < MAX_BAD_LINE_EXAMPLES
        {
            e.push(error.to_string());
        }
    }
}

/// How [`read_json_lines_with`] reads files.
#[derive(Clone, Debug, Default)]
pub struct JsonOptions {
    text: TextOptions,
    skip: Option<BadLines>,
}

impl JsonOptions {
    /// Defaults: 32 MiB blocks, strict UTF-8, a bad line fails the computation.
    pub fn new() -> JsonOptions {
        JsonOptions::default()
    }

    /// Splits uncompressed files into partitions of about `bytes` bytes
    /// (at least 1: the reader fails on 0).
    pub fn blocksize(mut self, bytes: u64) -> Self {
        self.text = self.text.blocksize(bytes);
        self
    }

    /// One partition per file, however large.
    pub fn whole_files(mut self) -> Self {
        self.text = self.text.whole_files();
        self
    }

    /// Replaces invalid UTF-8 with U+FFFD instead of failing.
    pub fn lossy(mut self, lossy: bool) -> Self {
        self.text = self.text.lossy(lossy);
        self
    }

    /// Skips lines that are not valid JSON for the record type, or not
    /// valid UTF-8 (unless `lossy`), counting them in `tally` instead of
    /// failing.
    pub fn skip_bad_lines(mut self, tally: &BadLines) -> Self {
        self.skip = Some(tally.clone());
        self
    }
}

/// The records of JSON-lines files: each non-blank line parsed as a `T` —
/// a `serde_json::Value` for untyped records, or any
/// `#[derive(Deserialize)]` type (fields it does not name are skipped
/// cheaply). `paths` is a path, a glob pattern or a list; `.gz` files are
/// decompressed.
///
/// A line that does not parse fails the computation with
/// `file:line:column: invalid JSON: <parser message>`, or, for valid JSON
/// of another shape, `file:line:column: record does not match its type:
/// missing field \`age\` (the line is valid JSON, but not a \`Person\`)`; see
/// [`JsonOptions::skip_bad_lines`] to skip and count such lines instead.
pub fn read_json_lines<T: Record>(paths: impl IntoPaths) -> Result<Bag<T>> {
    read_json_lines_with(paths, &JsonOptions::default())
}

/// [`read_json_lines`] with options (block size, lossy UTF-8, skipping bad lines).
pub fn read_json_lines_with<T: Record>(
    paths: impl IntoPaths,
    options: &JsonOptions,
) -> Result<Bag<T>> {
    let paths = expand(paths.into_patterns())?;
    let blocksize = options.text.blocksize_for(&paths)?;
    let blocks = Arc::new(block::plan(&paths, blocksize)?);
    let lossy = options.text.lossy;
    let skip = options.skip.clone();
    // A tally makes reads impure (they report into it): give each such bag
    // its own name so two of them are never merged as one computation.
    let salt = skip.as_ref().map(|_| unique_token());
    let origin_blocks = blocks.clone();
    let skipping = skip.is_some();
    let origin: Origin = Arc::new(move |i, j| {
        let b = origin_blocks.get(i as usize)?;
        let k = nth_record_line::<T>(b, lossy, skipping, j)?;
        Some(format!("{}:{k}", b.path.display()))
    });
    // A tally is a counter in this process: such a read cannot leave it.
    let source = (!skipping).then(|| Source::Json {
        record: std::any::type_name::<T>().to_string(),
        blocks: blocks.iter().map(BlockSpec::of).collect(),
        lossy,
    });
    let feed = json_feed_skipping::<T>(blocks.clone(), lossy, skip);
    read_source(
        "read-json-lines",
        &paths,
        &blocks,
        (std::any::type_name::<T>(), lossy, salt),
        Some(origin),
        feed,
        source,
    )
}

#[inline]
fn is_blank(line: &[u8]) -> bool {
    match line.first() {
        None => true,
        Some(c) if !c.is_ascii_whitespace() => false,
        Some(_) => line.iter().all(u8::is_ascii_whitespace),
    }
}

/// The line as text: borrowed when valid UTF-8, replaced when `lossy`,
/// else the error naming the file, line and byte offset.
fn line_text<'a>(
    b: &FileBlock,
    line: &block::Line<'a>,
    at: &block::Position<'_>,
    lossy: bool,
) -> Result<Cow<'a, str>> {
    match line.content_text() {
        Ok(s) => Ok(Cow::Borrowed(s)),
        Err(_) if lossy => Ok(String::from_utf8_lossy(line.content())),
        Err(bad) => Err(utf8_error(b, line, at, bad)),
    }
}

pub(crate) fn parse_block<T: Record>(
    b: &FileBlock,
    lossy: bool,
    skip: Option<&BadLines>,
    sink: Sink<'_, T>,
) -> Result<(), OpError> {
    block::for_each_line(b, |line, at| {
        if is_blank(line.content()) {
            return Ok(());
        }
        let parsed = line_text(b, line, at, lossy).and_then(|text| {
            serde_json::from_str::<T>(&text)
                .map_err(|e| json_error::<T>(b, at.line_number(line.index), &e))
        });
        match (parsed, skip) {
            (Ok(v), _) => sink(v),
            (Err(err), Some(tally)) => {
                tally.record(&err);
                Ok(())
            }
            (Err(err), None) => Err(err.into()),
        }
    })
}

#[cold]
fn json_error<T>(b: &FileBlock, line: u64, e: &serde_json::Error) -> Error {
    let full = e.to_string();
    // serde_json appends " at line L column C" (of the one-line input).
    let mut message = match full.rfind(" at line ") {
        Some(i) => full[..i].to_string(),
        None => full,
    };
    let what = if e.classify() == serde_json::error::Category::Data {
        // Valid JSON of another shape: a missing field, a wrong type.
        message = format!(
            "{message} (the line is valid JSON, but not a `{}`)",
            short_type_name(std::any::type_name::<T>())
        );
        "record does not match its type"
    } else {
        "invalid JSON"
    };
    Error::Json {
        path: (*b.path).clone(),
        line,
        column: e.column(),
        what,
        message,
    }
}

/// `Person` for `my_crate::model::Person`, `Vec<u32>` for `alloc::vec::Vec<u32>`.
fn short_type_name(full: &str) -> String {
    let mut out = String::with_capacity(full.len());
    for part in full.split_inclusive(['<', '>', ',', ' ', '(', ')', '[', ']', ';']) {
        let (path, sep) = match part.char_indices().last() {
            Some((i, c)) if "<>, ()[];".contains(c) => (&part[..i], &part[i..]),
            _ => (part, ""),
        };
        out.push_str(path.rsplit("::").next().unwrap_or(path));
        out.push_str(sep);
    }
    out
}

/// The line number of the `j`-th record of a block (cold: reads it again).
#[cold]
fn nth_record_line<T: Record>(b: &FileBlock, lossy: bool, skipping: bool, j: usize) -> Option<u64> {
    let (mut seen, mut found) = (0usize, None);
    let _ = block::for_each_line(b, |line, at| {
        let is_record = !is_blank(line.content())
            && (!skipping
                || line_text(b, line, at, lossy)
                    .is_ok_and(|text| serde_json::from_str::<T>(&text).is_ok()));
        if !is_record {
            return Ok(());
        }
        if seen == j {
            found = Some(at.line_number(line.index));
            return Err(Stop.into());
        }
        seen += 1;
        Ok(())
    });
    found
}
