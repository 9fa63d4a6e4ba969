//! Files cut into blocks at line boundaries, and reading one block.
//!
//! An uncompressed file of more than `blocksize` bytes is cut into byte
//! ranges `[start, end)`; a block owns every line whose first byte lies in
//! its range, so each line belongs to exactly one block however the cuts
//! fall (Dask's `read_text`/`read_csv` rule). A compressed file is one block:
//! gzip streams cannot be entered in the middle.
//!
//! Reading a block is one large read of its range (plus the byte before it,
//! to see whether a line starts at `start`), then small reads past `end`
//! until the last owned line's newline. Line numbers are not tracked on the
//! fast path; error paths count newlines from the start of the file
//! ([`Loaded::first_line`]).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

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

/// Reads a block; errors name the file.
pub(crate) fn load(block: &FileBlock) -> Result<Loaded> {
    let path = &*block.path;
    let io = |e| Error::io(path, e);
    let mut file = File::open(path).map_err(io)?;
    if block.compression == Compression::Gzip {
        let mut data = Vec::new();
        let hint = file.metadata().map(|m| m.len() as usize * 4).unwrap_or(0);
        data.reserve(hint.min(1 << 30));
        flate2::read::MultiGzDecoder::new(std::io::BufReader::with_capacity(1 << 20, file))
            .read_to_end(&mut data)
            .map_err(io)?;
        let n = data.len();
        return Ok(Loaded {
            data,
            base: 0,
            lines: 0..n,
        });
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
}
