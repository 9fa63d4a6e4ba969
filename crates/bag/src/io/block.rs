//! Files cut into blocks at line boundaries, and reading one block line by
//! line.
//!
//! An uncompressed file of `size` bytes read with a block size `b` is cut
//! as Dask's `read_bytes` cuts it: into `max(1, size / b)` blocks at evenly
//! spaced offsets `off_k = k * size / n` (so no short block trails the
//! others), and an empty file into none. Block `k` owns the lines that
//! start after the first newline at or past `off_k`, up to and including
//! the line holding the first newline at or past `off_{k+1}` — each line
//! belongs to exactly one block however the cuts fall, and a line longer
//! than a block leaves the blocks it covers empty (as in Dask). A
//! compressed file is one block: gzip streams cannot be entered in the
//! middle.
//!
//! [`for_each_line`] hands a block's lines to the readers one at a time,
//! each with its line ending (`\n`, or `\r\n`; the last line of a file may
//! have none) and the length of that ending, so `read_text` keeps endings
//! as Dask does and the JSON reader ignores them:
//!
//! - uncompressed: one large read of the block's range, then small reads
//!   past `end` until the first newline there; UTF-8 is checked once for
//!   the whole range, line by line only if that fails;
//! - gzip: streamed through [`MultiGzDecoder`] between two buffers of
//!   [`STREAM_BUF`] bytes, one line at a time into one reused line buffer,
//!   so memory holds the buffers and the longest line, never the file —
//!   a partition of a compressed file is as cheap to read as a block of a
//!   plain one, and its records reach the pipeline as they are decoded.
//!
//! Line numbers are not tracked on the fast path of uncompressed blocks;
//! error paths count newlines from the start of the file
//! ([`Position::line_number`]).

use std::cell::Cell;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use flate2::read::MultiGzDecoder;
use oxidask_graph::OpError;

use crate::error::{Error, Result};

/// How a file is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Gzip,
}

impl Compression {
    pub(crate) fn of(path: &std::path::Path) -> Compression {
        match path.extension().and_then(|e| e.to_str()) {
            Some("gz") => Compression::Gzip,
            _ => Compression::None,
        }
    }
}

/// One partition's share of one file.
#[derive(Clone, Debug)]
pub(crate) struct FileBlock {
    pub path: Arc<PathBuf>,
    pub start: u64,
    /// Exclusive; the file length for the last block.
    pub end: u64,
    pub compression: Compression,
}

/// One block per compressed file, and uncompressed files cut into
/// `max(1, len / blocksize)` evenly spaced blocks (one block per file when
/// `None`), as Dask's `read_bytes`. With a block size, an empty file has no
/// blocks (Dask skips it); if no file has any, the bag still has one empty
/// partition (the first file's empty block), as every bag has at least one.
pub(crate) fn plan(paths: &[PathBuf], blocksize: Option<u64>) -> Result<Vec<FileBlock>> {
    let mut blocks = Vec::new();
    let mut first_empty = None;
    for p in paths {
        let len = std::fs::metadata(p).map_err(|e| Error::io(p, e))?.len();
        let path = Arc::new(p.clone());
        let compression = Compression::of(p);
        let block = |start, end| FileBlock {
            path: path.clone(),
            start,
            end,
            compression,
        };
        match (compression, blocksize) {
            (Compression::None, Some(_)) if len == 0 => {
                first_empty.get_or_insert_with(|| block(0, 0));
            }
            (Compression::None, Some(b)) => {
                let offsets = offsets(len, b);
                for (k, &start) in offsets.iter().enumerate() {
                    blocks.push(block(start, offsets.get(k + 1).copied().unwrap_or(len)));
                }
            }
            _ => blocks.push(block(0, len)),
        }
    }
    if blocks.is_empty() {
        blocks.extend(first_empty);
    }
    Ok(blocks)
}

/// The start offsets of the blocks of a file of `len > 0` bytes: `n =
/// max(1, len / blocksize)` of them at `k * len / n` — Dask's evenly spaced
/// offsets (it adds `len / n` as a float; this is the exact integer form).
pub(crate) fn offsets(len: u64, blocksize: u64) -> Vec<u64> {
    let n = (len / blocksize.max(1)).max(1);
    (0..n)
        .map(|k| (u128::from(k) * u128::from(len) / u128::from(n)) as u64)
        .collect()
}

/// A block's bytes in memory.
pub(crate) struct Loaded {
    pub data: Vec<u8>,
    /// Offset in the (decompressed) file of `data[0]`.
    pub base: u64,
    /// The owned lines: whole lines, the last one with or without its newline.
    pub lines: Range<usize>,
}

const EXTEND: usize = 64 * 1024;

/// Reads an uncompressed block; errors name the file.
fn load(block: &FileBlock) -> Result<Loaded> {
    let path = &*block.path;
    let io = |e| Error::io(path, e);
    let mut file = File::open(path).map_err(io)?;
    if block.compression != Compression::None {
        return Err(Error::InvalidArgument(format!(
            "{}: a compressed file is read as a stream, not loaded",
            path.display()
        )));
    }
    file.seek(SeekFrom::Start(block.start)).map_err(io)?;
    let want = (block.end - block.start) as usize;
    let mut data = Vec::with_capacity(want + EXTEND);
    (&mut file)
        .take(want as u64)
        .read_to_end(&mut data)
        .map_err(io)?;
    // The block ends after the first newline at or past `end` (the next
    // block starts there): read on to it, or to the end of the file.
    let mut from = data.len();
    loop {
        let got = (&mut file)
            .take(EXTEND as u64)
            .read_to_end(&mut data)
            .map_err(io)?;
        if got == 0 {
            break;
        }
        if let Some(nl) = memchr::memchr(b'\n', &data[from..]) {
            data.truncate(from + nl + 1);
            break;
        }
        from = data.len();
    }
    // A block past the file's start starts after the first newline at or
    // past its offset (`data[0]` is the byte at `start`); none: it is empty.
    let first = if block.start == 0 {
        0
    } else {
        memchr::memchr(b'\n', &data).map_or(data.len(), |i| i + 1)
    };
    Ok(Loaded {
        base: block.start,
        lines: first..data.len(),
        data,
    })
}

/// Splits bytes into lines, each with its `\n` (a final line may have
/// none); a final newline does not start an empty line. Yields each line's
/// offset, its bytes and the length of its ending (`\n`: 1, `\r\n`: 2).
pub(crate) fn lines(data: &[u8]) -> Lines<'_> {
    Lines { data, pos: 0 }
}

pub(crate) struct Lines<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Lines<'a> {
    type Item = (usize, &'a [u8], usize);

    #[inline]
    fn next(&mut self) -> Option<(usize, &'a [u8], usize)> {
        let rest = self.data.get(self.pos..).filter(|r| !r.is_empty())?;
        let start = self.pos;
        let len = memchr::memchr(b'\n', rest).map_or(rest.len(), |i| i + 1);
        let line = &rest[..len];
        self.pos = start + len;
        Some((start, line, ending(line)))
    }
}

/// The length of a line's ending: `\r\n` 2, `\n` 1, none 0.
#[inline]
fn ending(line: &[u8]) -> usize {
    match line {
        [.., b'\r', b'\n'] => 2,
        [.., b'\n'] => 1,
        _ => 0,
    }
}

/// Bytes of each buffer of a compressed stream: the compressed bytes read
/// from the file, and the decompressed bytes lines are cut from.
pub(crate) const STREAM_BUF: usize = 64 * 1024;

/// One owned line of a block, as [`for_each_line`] hands it on.
pub(crate) struct Line<'a> {
    /// The bytes, with the line's ending (`\n` or `\r\n`) when it has one.
    pub bytes: &'a [u8],
    /// The line (with its ending) as text, or the index in `bytes` of its
    /// first byte that is not valid UTF-8.
    pub text: Result<&'a str, usize>,
    /// The length of the ending at the end of `bytes`: 0, 1 or 2.
    pub ending: usize,
    /// 0-based index of the line in its block.
    pub index: u64,
    /// Offset of the line's first byte in the (decompressed) file.
    pub offset: u64,
}

impl<'a> Line<'a> {
    /// The bytes without the line ending.
    #[inline]
    pub(crate) fn content(&self) -> &'a [u8] {
        &self.bytes[..self.bytes.len() - self.ending]
    }

    /// The text without the line ending (the ending is ASCII, so an
    /// invalid byte is never in it).
    #[inline]
    pub(crate) fn content_text(&self) -> Result<&'a str, usize> {
        self.text.map(|s| &s[..s.len() - self.ending])
    }
}

/// Where a block's lines are in their file, for error messages.
pub(crate) struct Position<'a> {
    first: Cell<Option<u64>>,
    plain: Option<(&'a FileBlock, &'a Loaded)>,
}

impl Position<'_> {
    /// The 1-based line number in the file of the block's line `index`.
    /// Cold for an uncompressed block that does not start the file: counts
    /// newlines from the start of the file (once per block).
    #[cold]
    pub(crate) fn line_number(&self, index: u64) -> u64 {
        let first = match (self.first.get(), self.plain) {
            (Some(f), _) => f,
            (None, None) => 1,
            (None, Some((block, loaded))) => loaded.first_line(block),
        };
        self.first.set(Some(first));
        first + index
    }
}

/// Calls `f` with each owned line of `block`, in order, and where they are;
/// stops at `f`'s first error. Errors reading the file name it.
pub(crate) fn for_each_line(
    block: &FileBlock,
    mut f: impl FnMut(&Line<'_>, &Position<'_>) -> Result<(), OpError>,
) -> Result<(), OpError> {
    if block.compression == Compression::Gzip {
        let path = &*block.path;
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        return stream_lines(gz_lines(file), path, f);
    }
    let loaded = load(block)?;
    let region = loaded.region();
    let position = Position {
        first: Cell::new(None),
        plain: Some((block, &loaded)),
    };
    // One check for the whole block; line by line only when it fails.
    let whole = std::str::from_utf8(region).ok();
    for (index, (off, bytes, ending)) in lines(region).enumerate() {
        let text = match whole {
            Some(s) => Ok(&s[off..off + bytes.len()]),
            None => std::str::from_utf8(bytes).map_err(|e| e.valid_up_to()),
        };
        let line = Line {
            bytes,
            text,
            ending,
            index: index as u64,
            offset: loaded.file_offset(off),
        };
        f(&line, &position)?;
    }
    Ok(())
}

/// The lines of a gzip stream (several members are read as one).
pub(crate) fn gz_lines<R: Read>(compressed: R) -> impl BufRead {
    BufReader::with_capacity(
        STREAM_BUF,
        MultiGzDecoder::new(BufReader::with_capacity(STREAM_BUF, compressed)),
    )
}

/// [`for_each_line`] over a stream: one line at a time into one buffer.
pub(crate) fn stream_lines(
    mut reader: impl BufRead,
    path: &Path,
    mut f: impl FnMut(&Line<'_>, &Position<'_>) -> Result<(), OpError>,
) -> Result<(), OpError> {
    let position = Position {
        first: Cell::new(Some(1)),
        plain: None,
    };
    let mut buf = Vec::with_capacity(1024);
    let (mut offset, mut index) = (0u64, 0u64);
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| Error::io(path, e))?;
        if n == 0 {
            return Ok(());
        }
        let bytes = &buf[..];
        let line = Line {
            bytes,
            text: std::str::from_utf8(bytes).map_err(|e| e.valid_up_to()),
            ending: ending(bytes),
            index,
            offset,
        };
        f(&line, &position)?;
        offset += n as u64;
        index += 1;
    }
}

/// The 1-based line number of a block's first line (cold: an uncompressed
/// block is read again to count).
#[cold]
pub(crate) fn first_line(block: &FileBlock) -> Option<u64> {
    if block.compression != Compression::None {
        return Some(1);
    }
    load(block).ok().map(|l| l.first_line(block))
}

impl Loaded {
    /// The owned region.
    pub(crate) fn region(&self) -> &[u8] {
        &self.data[self.lines.clone()]
    }

    /// The 1-based line number of the first owned line (line `k` of the
    /// region is `first_line + k`). Cold: counts newlines from the start of
    /// the file.
    #[cold]
    pub(crate) fn first_line(&self, block: &FileBlock) -> u64 {
        let here = memchr::memchr_iter(b'\n', &self.data[..self.lines.start]).count() as u64;
        1 + here + newlines_before(block, self.base).unwrap_or(0)
    }

    /// The file offset of byte `offset` of the owned region.
    pub(crate) fn file_offset(&self, offset: usize) -> u64 {
        self.base + (self.lines.start + offset) as u64
    }
}

/// Newlines in the first `upto` bytes of an uncompressed file.
#[cold]
fn newlines_before(block: &FileBlock, upto: u64) -> std::io::Result<u64> {
    if upto == 0 || block.compression != Compression::None {
        return Ok(0);
    }
    let mut f = File::open(&*block.path)?.take(upto);
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let got = f.read(&mut buf)?;
        if got == 0 {
            return Ok(n);
        }
        n += memchr::memchr_iter(b'\n', &buf[..got]).count() as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_keep_their_endings() {
        let got: Vec<_> = lines(b"a\r\nbb\n\nccc")
            .map(|(o, l, e)| (o, l.to_vec(), e))
            .collect();
        assert_eq!(
            got,
            vec![
                (0, b"a\r\n".to_vec(), 2),
                (3, b"bb\n".to_vec(), 1),
                (6, b"\n".to_vec(), 1),
                (7, b"ccc".to_vec(), 0)
            ]
        );
        assert_eq!(lines(b"x\n").count(), 1);
        assert_eq!(lines(b"").count(), 0);
        // A lone `\r` is not a line ending (as with Dask's linedelimiter="\n").
        assert_eq!(lines(b"a\rb\n").count(), 1);
    }

    #[test]
    fn offsets_are_evenly_spaced_as_dask_cuts_them() {
        // Dask's read_bytes (dask/bytes/core.py, "shrink blocksize to give
        // same number of parts"), run in Python 3 for these sizes:
        // (1000, 300) -> [0, 333, 666]; (25, 10) -> [0, 12];
        // (100, 10) -> [0, 10, …, 90]; (7, 3) -> [0, 3]; (10, 100) -> [0];
        // (97, 16) -> [0, 16, 32, 48, 64, 80].
        assert_eq!(offsets(1000, 300), vec![0, 333, 666]);
        assert_eq!(offsets(25, 10), vec![0, 12]);
        assert_eq!(
            offsets(100, 10),
            (0..10).map(|k| k * 10).collect::<Vec<_>>()
        );
        assert_eq!(offsets(7, 3), vec![0, 3]);
        assert_eq!(offsets(10, 100), vec![0]);
        assert_eq!(offsets(1, 1), vec![0]);
        assert_eq!(offsets(97, 16), vec![0, 16, 32, 48, 64, 80]);
        // Dask adds a float step, so an offset can land one byte lower
        // there: for (39, 4) Python gives [0, 4, 8, 13, 17, 21, 25, 30, 34],
        // the exact k * 39 / 9 is 26 at k = 6. The count is the same
        // (checked in Python for every size < 3000 and block size < 200).
        assert_eq!(offsets(39, 4), vec![0, 4, 8, 13, 17, 21, 26, 30, 34]);
        assert_eq!(offsets(u64::MAX, 1 << 62).len(), 3);
    }

    #[test]
    fn every_line_belongs_to_exactly_one_block() {
        let dir = crate::testutil::TempDir::new("blocks");
        let text: String = (0..200)
            .map(|i| {
                format!(
                    "{}{}",
                    "x".repeat(i % 17),
                    if i % 3 == 0 { "\r\n" } else { "\n" }
                )
            })
            .collect::<String>()
            + "last-without-newline";
        let path = dir.write("f.txt", text.as_bytes());
        let expected: Vec<&str> = text.split_inclusive('\n').collect();
        for blocksize in [1, 2, 3, 7, 16, 17, 18, 100, 5000] {
            let blocks = plan(std::slice::from_ref(&path), Some(blocksize)).unwrap();
            assert_eq!(
                blocks.len() as u64,
                (text.len() as u64 / blocksize).max(1),
                "blocksize {blocksize}"
            );
            let mut got = Vec::new();
            for b in &blocks {
                let l = load(b).unwrap();
                let first = l.first_line(b) as usize;
                for (k, (_, line, _)) in lines(l.region()).enumerate() {
                    got.push(std::str::from_utf8(line).unwrap().to_string());
                    let n = first + k;
                    assert_eq!(
                        expected[n - 1],
                        got.last().unwrap(),
                        "blocksize {blocksize}"
                    );
                }
            }
            assert_eq!(got, expected, "blocksize {blocksize}");
        }
    }

    #[test]
    fn empty_files_have_no_blocks_unless_all_are_empty() {
        let dir = crate::testutil::TempDir::new("empty-blocks");
        let empty = dir.write("e.txt", b"");
        let full = dir.write("f.txt", b"a\nb\n");
        let both = [empty.clone(), full.clone(), empty.clone()];
        let blocks = plan(&both, Some(1)).unwrap();
        assert!(blocks.iter().all(|b| *b.path == full), "{blocks:?}");
        assert_eq!(blocks.len(), 4);
        let only_empty = plan(std::slice::from_ref(&empty), Some(1)).unwrap();
        assert_eq!((only_empty.len(), only_empty[0].end), (1, 0));
        // Whole files: one block each, empty or not (Dask's blocksize=None).
        assert_eq!(plan(&both, None).unwrap().len(), 3);
    }

    /// A reader that counts the bytes taken from it.
    struct Counting<R> {
        inner: R,
        taken: Arc<std::sync::atomic::AtomicUsize>,
    }

    impl<R: Read> Read for Counting<R> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.inner.read(buf)?;
            self.taken.fetch_add(n, std::sync::atomic::Ordering::SeqCst);
            Ok(n)
        }
    }

    /// Text that compresses poorly (about 2:1): lines of pseudo-random
    /// words, `\r\n` on some, one line longer than the stream buffers.
    fn noisy_text(lines: usize) -> String {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut text = String::new();
        for i in 0..lines {
            let words = if i == lines / 2 {
                3 * STREAM_BUF / 8
            } else {
                (i * 7) % 23
            };
            for _ in 0..words {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                text.push_str(&format!("{:x} ", state % 0xfffff));
            }
            text.push_str(if i % 5 == 0 { "\r\n" } else { "\n" });
        }
        text.push_str("last line, no newline");
        text
    }

    fn gzip(members: &[&[u8]]) -> Vec<u8> {
        use std::io::Write;
        let mut out = Vec::new();
        for m in members {
            let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            w.write_all(m).unwrap();
            out.extend(w.finish().unwrap());
        }
        out
    }

    #[test]
    fn gzip_is_streamed_line_by_line() {
        let text = noisy_text(40_000);
        let (a, b) = text.as_bytes().split_at(text.len() / 3);
        // Two gzip members, split mid-line: read as one stream.
        let compressed = gzip(&[a, b]);
        assert!(
            text.len() > 16 * STREAM_BUF && compressed.len() > 8 * STREAM_BUF,
            "the test must cross the buffers many times: {} / {} bytes",
            text.len(),
            compressed.len()
        );
        let taken = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let reader = gz_lines(Counting {
            inner: std::io::Cursor::new(compressed.clone()),
            taken: taken.clone(),
        });
        // The oracle: `split_inclusive('\n')`, offsets by summing lengths.
        let mut expected = Vec::new();
        let mut offset = 0u64;
        for l in text.split_inclusive('\n') {
            expected.push((offset, l));
            offset += l.len() as u64;
        }
        let mut taken_at_first = None;
        let mut got = Vec::new();
        stream_lines(reader, Path::new("t.gz"), |line, at| {
            taken_at_first.get_or_insert(taken.load(std::sync::atomic::Ordering::SeqCst));
            assert_eq!(at.line_number(line.index), line.index + 1);
            got.push((line.offset, line.text.unwrap().to_string()));
            Ok(())
        })
        .unwrap();
        assert_eq!(got.len(), expected.len());
        for (g, e) in got.iter().zip(&expected) {
            assert_eq!((g.0, g.1.as_str()), *e);
        }
        // The first line came out after about one buffer of the file, not all of it.
        let first = taken_at_first.unwrap();
        assert!(
            first <= 2 * STREAM_BUF && first < compressed.len() / 4,
            "{first} of {} compressed bytes read before the first line",
            compressed.len()
        );
        assert_eq!(
            taken.load(std::sync::atomic::Ordering::SeqCst),
            compressed.len()
        );
    }

    #[test]
    fn a_corrupt_gzip_stream_is_an_error_naming_the_file() {
        let mut compressed = gzip(&[noisy_text(2000).as_bytes()]);
        compressed.truncate(compressed.len() / 2);
        let err = stream_lines(
            gz_lines(std::io::Cursor::new(compressed)),
            Path::new("cut.txt.gz"),
            |_, _| Ok(()),
        )
        .unwrap_err();
        assert!(err.to_string().contains("cut.txt.gz"), "{err}");
    }
}
