//! Files cut into blocks at line boundaries, and reading one block line by
//! line.
//!
//! An uncompressed file of more than `blocksize` bytes is cut into byte
//! ranges `[start, end)`; a block owns every line whose first byte lies in
//! its range, so each line belongs to exactly one block however the cuts
//! fall (Dask's `read_text`/`read_csv` rule). A compressed file is one block:
//! gzip streams cannot be entered in the middle.
//!
//! [`for_each_line`] hands a block's lines to the readers one at a time:
//!
//! - uncompressed: one large read of the block's range (plus the byte before
//!   it, to see whether a line starts at `start`), then small reads past
//!   `end` until the last owned line's newline; UTF-8 is checked once for
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

/// One block per compressed file, and uncompressed files cut every
/// `blocksize` bytes (one block per file when `None`). An empty file is one
/// empty block, so every file is a partition.
pub(crate) fn plan(paths: &[PathBuf], blocksize: Option<u64>) -> Result<Vec<FileBlock>> {
    let mut blocks = Vec::new();
    for p in paths {
        let len = std::fs::metadata(p).map_err(|e| Error::io(p, e))?.len();
        let path = Arc::new(p.clone());
        let compression = Compression::of(p);
        let size = match (compression, blocksize) {
            (Compression::None, Some(b)) => b.max(1),
            _ => len.max(1),
        };
        let mut start = 0;
        loop {
            let end = (start + size).min(len);
            blocks.push(FileBlock {
                path: path.clone(),
                start,
                end,
                compression,
            });
            start = end;
            if start >= len {
                break;
            }
        }
    }
    Ok(blocks)
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
    let read_start = block.start.saturating_sub(1);
    file.seek(SeekFrom::Start(read_start)).map_err(io)?;
    let want = (block.end - read_start) as usize;
    let mut data = Vec::with_capacity(want + EXTEND);
    (&mut file)
        .take(want as u64)
        .read_to_end(&mut data)
        .map_err(io)?;
    // Extend to the newline ending the last line that starts before `end`.
    if !data.is_empty() && data.last() != Some(&b'\n') {
        loop {
            let from = data.len();
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
        }
    }
    let first = if block.start == 0 {
        0
    } else {
        // data[0] is the byte before `start`: the first owned line starts
        // after the first newline at or after it.
        memchr::memchr(b'\n', &data).map_or(data.len(), |i| i + 1)
    };
    let owned_end = if first < want { data.len() } else { first };
    Ok(Loaded {
        base: read_start,
        lines: first.min(owned_end)..owned_end,
        data,
    })
}

/// Splits bytes into lines without their `\n` (and a `\r` before it); a
/// final newline does not start an empty line. Yields each line's offset.
pub(crate) fn lines(data: &[u8]) -> Lines<'_> {
    Lines { data, pos: 0 }
}

pub(crate) struct Lines<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Lines<'a> {
    type Item = (usize, &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<(usize, &'a [u8])> {
        let rest = self.data.get(self.pos..).filter(|r| !r.is_empty())?;
        let start = self.pos;
        let (mut line, next) = match memchr::memchr(b'\n', rest) {
            Some(i) => (&rest[..i], start + i + 1),
            None => (rest, self.data.len()),
        };
        if let [head @ .., b'\r'] = line {
            line = head;
        }
        self.pos = next;
        Some((start, line))
    }
}

/// Bytes of each buffer of a compressed stream: the compressed bytes read
/// from the file, and the decompressed bytes lines are cut from.
pub(crate) const STREAM_BUF: usize = 64 * 1024;

/// One owned line of a block, as [`for_each_line`] hands it on.
pub(crate) struct Line<'a> {
    /// The bytes, without the `\n` (and a `\r` before it).
    pub bytes: &'a [u8],
    /// The line as text, or the index in `bytes` of its first byte that is
    /// not valid UTF-8.
    pub text: Result<&'a str, usize>,
    /// 0-based index of the line in its block.
    pub index: u64,
    /// Offset of the line's first byte in the (decompressed) file.
    pub offset: u64,
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
    for (index, (off, bytes)) in lines(region).enumerate() {
        let text = match whole {
            Some(s) => Ok(&s[off..off + bytes.len()]),
            None => std::str::from_utf8(bytes).map_err(|e| e.valid_up_to()),
        };
        let line = Line {
            bytes,
            text,
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
        // As `lines`: strip the `\n`, then a `\r`.
        let mut bytes = buf.strip_suffix(b"\n").unwrap_or(&buf);
        if let [head @ .., b'\r'] = bytes {
            bytes = head;
        }
        let line = Line {
            bytes,
            text: std::str::from_utf8(bytes).map_err(|e| e.valid_up_to()),
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
    fn lines_strip_newlines_and_carriage_returns() {
        let got: Vec<_> = lines(b"a\r\nbb\n\nccc")
            .map(|(o, l)| (o, l.to_vec()))
            .collect();
        assert_eq!(
            got,
            vec![
                (0, b"a".to_vec()),
                (3, b"bb".to_vec()),
                (6, b"".to_vec()),
                (7, b"ccc".to_vec())
            ]
        );
        assert_eq!(lines(b"x\n").count(), 1);
        assert_eq!(lines(b"").count(), 0);
    }

    #[test]
    fn every_line_belongs_to_exactly_one_block() {
        let dir = crate::testutil::TempDir::new("blocks");
        let text: String = (0..200)
            .map(|i| format!("{}\n", "x".repeat(i % 17)))
            .collect::<String>()
            + "last-without-newline";
        let path = dir.write("f.txt", text.as_bytes());
        let expected: Vec<&str> = text.lines().collect();
        for blocksize in [1, 2, 3, 7, 16, 17, 18, 100, 5000] {
            let blocks = plan(std::slice::from_ref(&path), Some(blocksize)).unwrap();
            let mut got = Vec::new();
            for b in &blocks {
                let l = load(b).unwrap();
                let first = l.first_line(b) as usize;
                for (k, (_, line)) in lines(l.region()).enumerate() {
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
        // The oracle: `str::lines`, and offsets by summing line lengths.
        let mut expected = Vec::new();
        let mut offset = 0u64;
        for l in text.split_inclusive('\n') {
            expected.push((offset, l.trim_end_matches('\n').trim_end_matches('\r')));
            offset += l.len() as u64;
        }
        assert_eq!(
            expected.iter().map(|e| e.1).collect::<Vec<_>>(),
            text.lines().collect::<Vec<_>>()
        );
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
