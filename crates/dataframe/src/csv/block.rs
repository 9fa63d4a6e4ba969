//! Reading one block of a CSV file, Dask's way: block `k` of a file is the
//! bytes from the first line start at or after offset `k·blocksize` to the
//! first line start at or after offset `(k+1)·blocksize`, so every line
//! belongs to exactly one block however the offsets fall, and each task
//! finds its own boundaries by reading a little past its range.

use std::fs::File;
use std::io::{self, Read};
use std::ops::Range;
use std::path::Path;

use memmap2::{Advice, Mmap};

/// The bytes of one block: mapped from its file, or (for `.gz`) the
/// decompressed file.
pub(crate) enum BlockBytes {
    /// The lines are `map[range]`.
    Mapped { map: Mmap, range: Range<usize> },
    /// The lines are `bytes[skip..]`.
    Owned { bytes: Vec<u8>, skip: usize },
}

impl BlockBytes {
    /// The block's lines.
    pub(crate) fn lines(&self) -> &[u8] {
        match self {
            BlockBytes::Mapped { map, range } => &map[range.clone()],
            BlockBytes::Owned { bytes, skip } => &bytes[*skip..],
        }
    }
}

/// Maps the lines of `[off, end)` of the file at `path`, which had `len`
/// bytes when the frame was built, and returns them with the file offset
/// where they start (the header line skipped when `skip_header` and
/// `off == 0`; the partial line before them skipped otherwise; the line
/// holding byte `end - 1` completed up to its newline).
///
/// Mapped, not read: the parser reads the page cache in place, sparing a
/// copy of every byte (an eighth of the taxi job's time when read), and
/// only the block's pages are touched. A file of another length than at
/// build time is an error naming both lengths — blocks were cut for the
/// old one.
pub(crate) fn map_lines(
    path: &Path,
    off: u64,
    end: u64,
    len: u64,
    skip_header: bool,
) -> io::Result<(BlockBytes, u64)> {
    let file = File::open(path)?;
    let now = file.metadata()?.len();
    if now != len {
        return Err(io::Error::other(format!(
            "the file has {now} bytes, {len} when the frame was built: it changed while being read"
        )));
    }
    if len == 0 {
        // An empty map is an error on some systems; there is nothing to map.
        let empty = BlockBytes::Owned {
            bytes: Vec::new(),
            skip: 0,
        };
        return Ok((empty, 0));
    }
    // SAFETY: the map is read only while the block is parsed. As for every
    // reader that maps its input (polars' own CSV and Parquet readers do),
    // a file truncated by another process during those milliseconds would
    // fault; the length check above catches the common case, a file
    // rewritten between building the frame and computing it.
    #[allow(unsafe_code)]
    let map = unsafe { Mmap::map(&file) }?;
    let (off, end) = (off as usize, (end as usize).min(map.len()));
    // Read ahead: the parser walks the block once, front to back. (Mapping
    // the pages up front with `PopulateRead` measured slower: more system
    // time than the faults it saves.)
    let _ = map.advise_range(Advice::Sequential, off, end - off);
    let stop = if end < map.len() {
        memchr::memchr(b'\n', &map[end..]).map_or(map.len(), |p| end + p + 1)
    } else {
        map.len()
    };
    let start = if off > 0 || skip_header {
        memchr::memchr(b'\n', &map[off..stop]).map_or(stop, |p| off + p + 1)
    } else {
        off
    };
    let at = start as u64;
    Ok((
        BlockBytes::Mapped {
            map,
            range: start..stop,
        },
        at,
    ))
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
                let (lines, start) = map_lines(&path, off, end, len, true).unwrap();
                let b = lines.lines().to_vec();
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
        // A file whose length changed since the blocks were cut is refused.
        let e = map_lines(&path, 0, 4, len + 1, true).err().unwrap();
        assert!(e.to_string().contains("changed while being read"), "{e}");
    }
}
