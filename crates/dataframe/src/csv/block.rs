//! Reading one block of a CSV file, Dask's way: block `k` of a file is the
//! bytes from the first line start at or after offset `k·blocksize` to the
//! first line start at or after offset `(k+1)·blocksize`, so every line
//! belongs to exactly one block however the offsets fall, and each task
//! finds its own boundaries by reading a little past its range.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

/// How far past its range a task reads at a time looking for the line end.
const STEP: usize = 64 << 10;

/// Reads the lines of `[off, end)` of the file at `path` (of `len` bytes)
/// into `buf` (cleared first; the caller may reuse it from block to block,
/// sparing the page faults of a fresh allocation of a whole block), and
/// returns the index in `buf` where they start (the header line skipped
/// when `skip_header` and `off == 0`; the partial line before them skipped
/// otherwise) and the file offset where they start. The buffer is not
/// shifted to drop the skipped bytes: that would move the whole block once
/// more.
pub(crate) fn read_lines(
    buf: &mut Vec<u8>,
    path: &Path,
    off: u64,
    end: u64,
    len: u64,
    skip_header: bool,
) -> io::Result<(usize, u64)> {
    let mut f = File::open(path)?;
    f.seek(SeekFrom::Start(off))?;
    buf.clear();
    buf.reserve((end - off) as usize + STEP);
    (&mut f).take(end - off).read_to_end(buf)?;
    if end < len {
        // The line that holds byte `end - 1`... is completed by reading on
        // to the first newline at or past `end`.
        let mut chunk = vec![0u8; STEP];
        loop {
            let n = f.read(&mut chunk)?;
            if n == 0 {
                break;
            }
            match memchr::memchr(b'\n', &chunk[..n]) {
                Some(p) => {
                    buf.extend_from_slice(&chunk[..=p]);
                    break;
                }
                None => buf.extend_from_slice(&chunk[..n]),
            }
        }
    }
    let start = if off > 0 || skip_header {
        memchr::memchr(b'\n', buf).map_or(buf.len(), |p| p + 1)
    } else {
        0
    };
    Ok((start, off + start as u64))
}

/// The 1-based number of the line starting at byte `offset` of the file:
/// one more than the newlines before it. Reads the file up to `offset`, so
/// it is called on error paths only.
pub(crate) fn line_number_at(path: &Path, offset: u64) -> io::Result<u64> {
    let f = File::open(path)?;
    let mut r = f.take(offset);
    let mut chunk = vec![0u8; 1 << 20];
    let mut lines = 1u64;
    loop {
        let n = r.read(&mut chunk)?;
        if n == 0 {
            return Ok(lines);
        }
        lines += memchr::memchr_iter(b'\n', &chunk[..n]).count() as u64;
    }
}

/// The whole decompressed content of a gzip file.
pub(crate) fn read_gz(path: &Path) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(io::BufReader::new(File::open(path)?))
        .read_to_end(&mut out)?;
    Ok(out)
}

/// The first line of a file (decompressed for `.gz`), without its line
/// end; empty for an empty file.
pub(crate) fn first_line(path: &Path, gz: bool) -> io::Result<Vec<u8>> {
    let mut r: Box<dyn io::BufRead> = if gz {
        Box::new(io::BufReader::new(flate2::read::MultiGzDecoder::new(
            File::open(path)?,
        )))
    } else {
        Box::new(io::BufReader::new(File::open(path)?))
    };
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)?;
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    Ok(line)
}

/// Up to about `n` bytes from the start of a file (decompressed for
/// `.gz`), cut after the last complete line.
pub(crate) fn sample(path: &Path, gz: bool, n: usize) -> io::Result<Vec<u8>> {
    let r: Box<dyn Read> = if gz {
        Box::new(flate2::read::MultiGzDecoder::new(File::open(path)?))
    } else {
        Box::new(File::open(path)?)
    };
    let mut buf = Vec::with_capacity(n);
    r.take(n as u64).read_to_end(&mut buf)?;
    if buf.len() == n
        && let Some(p) = memchr::memrchr(b'\n', &buf)
    {
        buf.truncate(p + 1);
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every line lands in exactly one block, for every block size: the
    /// blocks concatenated are the file without its header.
    #[test]
    fn blocks_partition_the_lines() {
        let dir = oxidask_testing::TempDir::new("df-blocks");
        let path = dir.path().join("a.csv");
        let text = "h1,h2\n1,a\n22,bb\n\n333,ccc\n4,d";
        std::fs::write(&path, text).unwrap();
        let len = text.len() as u64;
        for bs in 1..=len + 1 {
            let mut all = Vec::new();
            let mut off = 0;
            while off < len {
                let end = (off + bs).min(len);
                let mut buf = Vec::new();
                let (skip, start) = read_lines(&mut buf, &path, off, end, len, true).unwrap();
                let b = buf[skip..].to_vec();
                assert_eq!(
                    &text.as_bytes()[start as usize..start as usize + b.len()],
                    &b[..]
                );
                all.extend(b);
                off = end;
            }
            assert_eq!(
                String::from_utf8(all).unwrap(),
                &text[6..],
                "blocksize {bs}"
            );
        }
        assert_eq!(line_number_at(&path, 6).unwrap(), 2);
    }
}
