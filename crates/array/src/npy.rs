//! `.npy` files read and written chunk by chunk.
//!
//! [`from_npy`] reads the header when the array is built (shape, dtype and
//! byte order are checked then, naming the file) and each task reads only
//! its block's bytes with positioned reads, so a file larger than memory is
//! never loaded whole; in a full reduction the blocks are even streamed
//! piece by piece. [`Array::to_npy`] writes the header, sizes the file, and
//! lets every task write its block at its own offsets, in parallel.
//!
//! Only C-order (row-major) little-endian files of the supported dtypes are
//! read; anything else is an error naming the file and what it holds.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ndarray::{ArrayD, IxDyn};

use crate::array::{Array, grid_for};
use crate::creation::source;
use crate::element::{DType, Element};
use crate::error::{Error, Result};
use crate::grid::{Chunks, Grid};
use crate::source::SourceSpec;
use crate::stream::Fill;

pub(crate) fn descr(d: DType) -> &'static str {
    match d {
        DType::Float64 => "<f8",
        DType::Float32 => "<f4",
        DType::Int64 => "<i8",
        DType::Int32 => "<i4",
        DType::UInt8 => "|u1",
        DType::Bool => "|b1",
        DType::Int8 => "|i1",
        DType::Int16 => "<i2",
        DType::UInt16 => "<u2",
        DType::UInt32 => "<u4",
        DType::UInt64 => "<u8",
    }
}

pub(crate) fn io(path: &Path, e: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        error: e,
    }
}

/// A task's error reading `path`: the file and the OS error, and a hint
/// when the file changed after the array was built.
fn file_error(path: &Path, e: &std::io::Error) -> oxidask_graph::OpError {
    let hint = if e.kind() == std::io::ErrorKind::UnexpectedEof {
        " (the file is shorter than its header says: truncated after the array was built?)"
    } else {
        ""
    };
    format!("{}: {e}{hint}", path.display()).into()
}

fn bad(path: &Path, message: String) -> Error {
    Error::Invalid {
        arg: "path",
        message: format!("{}: {message}", path.display()),
    }
}

/// Shape and data offset of a `.npy` file holding `T`s.
fn read_header<T: Element>(path: &Path) -> Result<(Vec<usize>, u64)> {
    let f = File::open(path).map_err(|e| io(path, e))?;
    let mut pre = [0u8; 12];
    f.read_exact_at(&mut pre, 0).map_err(|e| io(path, e))?;
    if &pre[..6] != b"\x93NUMPY" {
        return Err(bad(path, "not a .npy file (no \\x93NUMPY magic)".into()));
    }
    let (len, start) = match pre[6] {
        1 => (u16::from_le_bytes([pre[8], pre[9]]) as usize, 10u64),
        2 | 3 => (
            u32::from_le_bytes([pre[8], pre[9], pre[10], pre[11]]) as usize,
            12u64,
        ),
        v => return Err(bad(path, format!("unsupported .npy version {v}"))),
    };
    let mut h = vec![0u8; len];
    f.read_exact_at(&mut h, start).map_err(|e| io(path, e))?;
    let h = String::from_utf8_lossy(&h);
    let field = |key: &str| -> Option<String> {
        let i = h.find(&format!("'{key}'"))? + key.len() + 2;
        let rest = h[i..].trim_start().strip_prefix(':')?.trim_start();
        let end = if rest.starts_with('(') {
            rest.find(')')? + 1
        } else {
            rest.find([',', '}'])?
        };
        Some(rest[..end].trim().trim_matches('\'').to_string())
    };
    let d = field("descr").ok_or_else(|| bad(path, "header without 'descr'".into()))?;
    let want = descr(T::DTYPE);
    let same = d == want
        || (d.len() == 3
            && want.len() == 3
            && d[1..] == want[1..]
            && matches!(&d[..1], "=" | "<" | "|"));
    if !same {
        return Err(bad(
            path,
            format!(
                "holds dtype {d}, but an array of {} ({want}) was asked for",
                T::DTYPE
            ),
        ));
    }
    if field("fortran_order").as_deref() != Some("False") {
        return Err(bad(
            path,
            "Fortran-order files are not supported; save with order='C'".into(),
        ));
    }
    let shape_s = field("shape").ok_or_else(|| bad(path, "header without 'shape'".into()))?;
    let shape = shape_s
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|e| bad(path, format!("bad shape {shape_s}: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let data = start + len as u64;
    // Checked: a crafted shape such as (2^61, 8) must not wrap around and
    // pass the length check below.
    let need = shape
        .iter()
        .try_fold(1usize, |acc, &n| acc.checked_mul(n))
        .filter(|&n| n <= crate::grid::MAX_ELEMENTS)
        .and_then(|n| n.checked_mul(T::WIDTH))
        .and_then(|b| (b as u64).checked_add(data))
        .ok_or_else(|| {
            bad(
                path,
                format!("shape {shape:?} in the header is too large (more than 2^60 elements)"),
            )
        })?;
    let have = f.metadata().map_err(|e| io(path, e))?.len();
    if have < need {
        return Err(bad(
            path,
            format!("truncated: {have} bytes, the header announces {need}"),
        ));
    }
    Ok((shape, data))
}

/// The contiguous byte segments (element offset, length) of a block, in
/// row-major order.
pub(crate) fn segments(shape: &[usize], grid: &Grid, idx: &[u32]) -> Vec<(usize, usize)> {
    let start = grid.block_start(idx);
    let bshape = grid.block_shape(idx);
    let nd = shape.len();
    if nd == 0 {
        return vec![(0, 1)];
    }
    // Axes after `k` are whole, so each prefix over 0..k is one run.
    let mut k = nd - 1;
    while k > 0 && bshape[k] == shape[k] {
        k -= 1;
    }
    let inner: usize = shape[k + 1..].iter().product();
    let run = bshape[k] * inner;
    let prefixes: usize = bshape[..k].iter().product();
    let mut out = Vec::with_capacity(prefixes);
    let mut pos = vec![0usize; k];
    for _ in 0..prefixes {
        let mut off = 0usize;
        for a in 0..nd {
            let i = if a < k {
                start[a] + pos[a]
            } else if a == k {
                start[a]
            } else {
                0
            };
            off = off * shape[a] + i;
        }
        if run > 0 {
            out.push((off, run));
        }
        for a in (0..k).rev() {
            pos[a] += 1;
            if pos[a] < bshape[a] {
                break;
            }
            pos[a] = 0;
        }
    }
    out
}

fn read_elems<T: Element>(
    f: &File,
    data: u64,
    off: usize,
    n: usize,
    out: &mut Vec<T>,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; n * T::WIDTH];
    f.read_exact_at(&mut buf, data + (off * T::WIDTH) as u64)?;
    out.extend(buf.chunks_exact(T::WIDTH).map(T::get));
    Ok(())
}

/// An array reading a `.npy` file block by block.
pub fn from_npy<T: Element>(path: impl AsRef<Path>, chunks: impl Into<Chunks>) -> Result<Array<T>> {
    let path: PathBuf = path.as_ref().to_path_buf();
    let (shape, data) = read_header::<T>(&path)?;
    let grid = grid_for(&shape, &chunks.into(), "chunks")?;
    let mtime = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as u64);
    let token = (path.display().to_string(), mtime);
    source(
        "from_npy",
        &token,
        grid,
        SourceSpec::Npy { path, data, shape },
    )
}

/// Block `idx` of a `.npy` file of `shape` whose data starts at byte `data`.
pub(crate) fn npy_block<T: Element>(
    path: &Path,
    data: u64,
    shape: &[usize],
    g: &Grid,
    idx: &[u32],
) -> std::result::Result<ArrayD<T>, oxidask_graph::OpError> {
    let f = File::open(path).map_err(|e| file_error(path, &e))?;
    let bshape = g.block_shape(idx);
    let mut v = Vec::with_capacity(bshape.iter().product());
    for (off, n) in segments(shape, g, idx) {
        read_elems(&f, data, off, n, &mut v).map_err(|e| file_error(path, &e))?;
    }
    Ok(ArrayD::from_shape_vec(IxDyn(&bshape), v)?)
}

/// The pieces of block `idx` of a `.npy` file, in row-major order.
pub(crate) fn npy_open<T: Element>(
    path: &Arc<PathBuf>,
    data: u64,
    shape: &[usize],
    g: &Grid,
    idx: &[u32],
) -> Fill<T> {
    let segs = segments(shape, g, idx);
    let file = File::open(&**path);
    let path = path.clone();
    let (mut seg, mut at) = (0usize, 0usize);
    Box::new(move |out: &mut Vec<T>, mut len: usize| {
        let f = file.as_ref().map_err(|e| file_error(&path, e))?;
        while len > 0 && seg < segs.len() {
            let (off, n) = segs[seg];
            let take = len.min(n - at);
            read_elems(f, data, off + at, take, out).map_err(|e| file_error(&path, &e))?;
            at += take;
            len -= take;
            if at == n {
                seg += 1;
                at = 0;
            }
        }
        Ok(())
    })
}

/// A format-1.0 header for a C-order array of `shape`, padded to 64 bytes.
pub(crate) fn npy_header<T: Element>(shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let tuple = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {tuple}, }}",
        descr(T::DTYPE)
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut head = b"\x93NUMPY\x01\x00".to_vec();
    head.extend_from_slice(&(header.len() as u16).to_le_bytes());
    head.extend_from_slice(header.as_bytes());
    head
}

/// An array from a directory written by [`Array::to_npy_stack`]: one
/// `.npy` file per chunk along the stacking axis, read block by block.
/// Every file's header is checked when the array is built.
pub fn from_npy_stack<T: Element>(dir: impl AsRef<Path>) -> Result<Array<T>> {
    let dir = dir.as_ref().to_path_buf();
    let info_path = dir.join("info");
    let info = std::fs::read_to_string(&info_path).map_err(|e| io(&info_path, e))?;
    let field = |k: &str| -> Result<Vec<usize>> {
        let line = info
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k} ")))
            .ok_or_else(|| bad(&info_path, format!("no `{k}` line")))?;
        line.split(',')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(|v| {
                v.parse()
                    .map_err(|e| bad(&info_path, format!("bad `{k}` value {v:?}: {e}")))
            })
            .collect()
    };
    let (axis, shape, lens) = (field("axis")?, field("shape")?, field("chunks")?);
    let axis = *axis
        .first()
        .ok_or_else(|| bad(&info_path, "empty `axis`".into()))?;
    let dtype = info
        .lines()
        .find_map(|l| l.strip_prefix("dtype "))
        .unwrap_or("");
    if dtype != descr(T::DTYPE) {
        return Err(bad(
            &info_path,
            format!(
                "holds dtype {dtype}, but an array of {} ({}) was asked for",
                T::DTYPE,
                descr(T::DTYPE)
            ),
        ));
    }
    if axis >= shape.len() {
        return Err(bad(&info_path, format!("axis {axis} for shape {shape:?}")));
    }
    let chunks: Vec<Vec<usize>> = (0..shape.len())
        .map(|a| {
            if a == axis {
                lens.clone()
            } else {
                vec![shape[a]]
            }
        })
        .collect();
    let grid = grid_for(&shape, &Chunks::from(chunks), "info")?;
    let mut files = Vec::with_capacity(lens.len());
    for i in 0..lens.len() {
        let path = dir.join(format!("{i}.npy"));
        let (fshape, data) = read_header::<T>(&path)?;
        let mut idx = vec![0u32; shape.len()];
        idx[axis] = i as u32;
        if fshape != grid.block_shape(&idx) {
            return Err(bad(
                &path,
                format!(
                    "has shape {fshape:?}, the stack's info says {:?}",
                    grid.block_shape(&idx)
                ),
            ));
        }
        files.push((path, data));
    }
    let token = (dir.display().to_string(), info.clone());
    source(
        "from_npy_stack",
        &token,
        grid,
        SourceSpec::NpyStack { axis, files },
    )
}

/// Block `idx` of a stack: all of the file `path` (data at byte `data`).
pub(crate) fn npy_stack_block<T: Element>(
    path: &Path,
    data: u64,
    g: &Grid,
    idx: &[u32],
) -> std::result::Result<ArrayD<T>, oxidask_graph::OpError> {
    let f = File::open(path).map_err(|e| file_error(path, &e))?;
    let shape = g.block_shape(idx);
    let mut v = Vec::with_capacity(shape.iter().product());
    read_elems(&f, data, 0, shape.iter().product(), &mut v).map_err(|e| file_error(path, &e))?;
    Ok(ArrayD::from_shape_vec(IxDyn(&shape), v)?)
}

/// The pieces of a stack's block: its file from the start.
pub(crate) fn npy_stack_open<T: Element>(path: PathBuf, data: u64) -> Fill<T> {
    let file = File::open(&path);
    let mut at = 0usize;
    Box::new(move |out: &mut Vec<T>, len: usize| {
        let f = file.as_ref().map_err(|e| file_error(&path, e))?;
        read_elems(f, data, at, len, out).map_err(|e| file_error(&path, &e))?;
        at += len;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_round_trip_block_by_block() {
        let dir = std::env::temp_dir().join(format!("oxidask-npy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.npy");
        let a = ArrayD::from_shape_fn(IxDyn(&[7, 5, 3]), |i| {
            (i[0] * 100 + i[1] * 10 + i[2]) as f64
        });
        let x = crate::from_array(a.clone(), vec![vec![3, 4], vec![2, 3], vec![3]]).unwrap();
        x.to_npy(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..6], b"\x93NUMPY");
        assert_eq!(
            (bytes.len() - 7 * 5 * 3 * 8) % 64,
            0,
            "header padded to 64 bytes"
        );
        for chunks in [
            vec![vec![7], vec![5], vec![3]],
            vec![vec![2, 5], vec![1, 4], vec![2, 1]],
        ] {
            let y = from_npy::<f64>(&path, chunks).unwrap();
            assert_eq!(y.shape(), &[7, 5, 3]);
            assert_eq!(y.compute().unwrap(), a);
            // A full reduction streams the file's blocks.
            assert_eq!(y.sum().compute().unwrap(), a.sum());
        }
        let e = from_npy::<i32>(&path, 2).unwrap_err().to_string();
        assert!(
            e.contains("x.npy") && e.contains("<f8") && e.contains("int32"),
            "{e}"
        );
        let e = from_npy::<f64>(dir.join("missing.npy"), 2)
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.npy"), "{e}");
        let b = crate::arange(0i32, 10, 1, 4).unwrap();
        b.to_npy(dir.join("b.npy")).unwrap();
        assert_eq!(
            from_npy::<i32>(dir.join("b.npy"), 3)
                .unwrap()
                .compute()
                .unwrap(),
            b.compute().unwrap()
        );
        // A stack of files along axis 1.
        let stack = dir.join("stack");
        x.to_npy_stack(&stack, 1).unwrap();
        assert!(stack.join("1.npy").exists() && !stack.join("2.npy").exists());
        let z = from_npy_stack::<f64>(&stack).unwrap();
        assert_eq!(z.chunks(), &[vec![7], vec![2, 3], vec![3]]);
        assert_eq!(z.compute().unwrap(), a);
        assert_eq!(z.sum().compute().unwrap(), a.sum());
        assert!(
            from_npy_stack::<i64>(&stack)
                .unwrap_err()
                .to_string()
                .contains("<f8")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
