//! Chunk specifications and the block grid of an array.
//!
//! An array of shape `(n0, n1, …)` is cut along each axis into chunks, like
//! Dask's `chunks` tuples: axis `k` has chunk lengths `c_k = (c_k0, c_k1, …)`
//! summing to `n_k`. Blocks are the cartesian product; block `(i, j, …)` is
//! the task key `(name, i, j, …)`. Chunks may be ragged and may be empty
//! (length 0), as slicing produces.

use std::fmt;

use crate::error::{Error, Result};

/// How one axis is cut.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AxisChunks {
    /// Chunks of this length, the last one shorter if the length does not
    /// divide the axis.
    Size(usize),
    /// One chunk over the whole axis (Dask's `-1`).
    Full,
    /// Explicit chunk lengths, summing to the axis length.
    Sizes(Vec<usize>),
}

/// How an array is cut into chunks: one [`AxisChunks`] for every axis, or
/// one for all axes. Converts from `usize` (that length along every axis),
/// `[usize; N]`/`&[usize]`/`Vec<usize>` (a length per axis) and
/// `Vec<Vec<usize>>`/`&[&[usize]]` (explicit lengths per axis).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunks(ChunksSpec);

#[derive(Clone, Debug, PartialEq, Eq)]
enum ChunksSpec {
    All(AxisChunks),
    PerAxis(Vec<AxisChunks>),
}

impl Chunks {
    /// One spec for every axis.
    pub fn all(spec: AxisChunks) -> Chunks {
        Chunks(ChunksSpec::All(spec))
    }

    /// One spec per axis.
    pub fn per_axis(specs: Vec<AxisChunks>) -> Chunks {
        Chunks(ChunksSpec::PerAxis(specs))
    }

    /// A single chunk holding the whole array.
    pub fn full() -> Chunks {
        Chunks::all(AxisChunks::Full)
    }

    /// The chunk lengths for `shape`, or an error naming `arg`.
    pub(crate) fn resolve(&self, shape: &[usize], arg: &'static str) -> Result<Vec<Vec<usize>>> {
        let specs: Vec<&AxisChunks> = match &self.0 {
            ChunksSpec::All(s) => vec![s; shape.len()],
            ChunksSpec::PerAxis(v) => {
                if v.len() != shape.len() {
                    return Err(Error::Chunks {
                        arg,
                        message: format!(
                            "{} axes of chunks given for an array of shape {shape:?} ({} axes)",
                            v.len(),
                            shape.len()
                        ),
                    });
                }
                v.iter().collect()
            }
        };
        check_size(shape, "shape")?;
        let chunks: Vec<Vec<usize>> = specs
            .iter()
            .zip(shape)
            .enumerate()
            .map(|(axis, (spec, &n))| resolve_axis(spec, n, axis, arg))
            .collect::<Result<_>>()?;
        check_blocks(&chunks, arg)?;
        Ok(chunks)
    }
}

/// Most elements an array may have: 2^60, so that its size in bytes fits
/// an `isize` for every dtype (at most 8 bytes an element).
pub const MAX_ELEMENTS: usize = 1 << 60;

/// Most blocks an array may have: the grid keeps a few words per block
/// and axis, and a graph of more tasks than this could not be scheduled.
pub const MAX_BLOCKS: usize = 1 << 26;

/// The number of elements of `shape`, or an error naming `arg` when it
/// exceeds [`MAX_ELEMENTS`] (checked: never wraps).
pub(crate) fn checked_size(shape: &[usize], arg: &'static str) -> Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |acc, &n| acc.checked_mul(n))
        .filter(|&n| n <= MAX_ELEMENTS)
        .ok_or_else(|| Error::Invalid {
            arg,
            message: format!(
                "shape {shape:?} has more than 2^60 elements, the most an array can hold"
            ),
        })
}

/// [`checked_size`], ignoring the count.
pub(crate) fn check_size(shape: &[usize], arg: &'static str) -> Result<()> {
    checked_size(shape, arg).map(|_| ())
}

/// An error naming `arg` when `chunks` make more than [`MAX_BLOCKS`] blocks.
pub(crate) fn check_blocks(chunks: &[Vec<usize>], arg: &'static str) -> Result<()> {
    let n = chunks
        .iter()
        .try_fold(1usize, |acc, c| acc.checked_mul(c.len()));
    match n {
        Some(n) if n <= MAX_BLOCKS => Ok(()),
        _ => Err(too_many_blocks(
            chunks.iter().map(|c| c.len()).collect(),
            arg,
        )),
    }
}

fn too_many_blocks(numblocks: Vec<usize>, arg: &'static str) -> Error {
    Error::Chunks {
        arg,
        message: format!(
            "{numblocks:?} blocks per axis is more than {MAX_BLOCKS} blocks in all; \
             use larger chunks"
        ),
    }
}

fn resolve_axis(spec: &AxisChunks, n: usize, axis: usize, arg: &'static str) -> Result<Vec<usize>> {
    match spec {
        AxisChunks::Full => Ok(vec![n]),
        AxisChunks::Size(0) => Err(Error::Chunks {
            arg,
            message: format!("chunk length 0 on axis {axis}: lengths must be positive"),
        }),
        AxisChunks::Size(s) => {
            // Count before allocating: a tiny chunk length over a huge axis
            // must be an error, not an allocation failure.
            let nb = n.div_ceil(*s);
            if nb > MAX_BLOCKS {
                let mut per_axis = vec![1; axis + 1];
                per_axis[axis] = nb;
                return Err(too_many_blocks(per_axis, arg));
            }
            Ok(regular(n, *s))
        }
        AxisChunks::Sizes(v) => {
            let sum: usize = v.iter().sum();
            if sum != n || v.is_empty() {
                return Err(Error::Chunks {
                    arg,
                    message: format!(
                        "chunks {v:?} on axis {axis} sum to {sum}, but the axis has length {n}"
                    ),
                });
            }
            Ok(v.clone())
        }
    }
}

/// Chunks of `size` over `n` (one empty chunk for `n == 0`).
pub(crate) fn regular(n: usize, size: usize) -> Vec<usize> {
    if n == 0 {
        return vec![0];
    }
    let mut v = vec![size; n / size];
    if n % size != 0 {
        v.push(n % size);
    }
    v
}

impl From<usize> for Chunks {
    fn from(s: usize) -> Chunks {
        Chunks::all(AxisChunks::Size(s))
    }
}

impl From<&[usize]> for Chunks {
    fn from(s: &[usize]) -> Chunks {
        Chunks::per_axis(s.iter().map(|&s| AxisChunks::Size(s)).collect())
    }
}

impl<const N: usize> From<[usize; N]> for Chunks {
    fn from(s: [usize; N]) -> Chunks {
        Chunks::from(&s[..])
    }
}

impl<const N: usize> From<&[usize; N]> for Chunks {
    fn from(s: &[usize; N]) -> Chunks {
        Chunks::from(&s[..])
    }
}

impl From<Vec<usize>> for Chunks {
    fn from(s: Vec<usize>) -> Chunks {
        Chunks::from(&s[..])
    }
}

impl From<Vec<Vec<usize>>> for Chunks {
    fn from(s: Vec<Vec<usize>>) -> Chunks {
        Chunks::per_axis(s.into_iter().map(AxisChunks::Sizes).collect())
    }
}

impl From<&[&[usize]]> for Chunks {
    fn from(s: &[&[usize]]) -> Chunks {
        Chunks::per_axis(s.iter().map(|v| AxisChunks::Sizes(v.to_vec())).collect())
    }
}

impl From<Vec<AxisChunks>> for Chunks {
    fn from(s: Vec<AxisChunks>) -> Chunks {
        Chunks::per_axis(s)
    }
}

/// Shape, chunk lengths and chunk starts of an array.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Grid {
    pub shape: Vec<usize>,
    pub chunks: Vec<Vec<usize>>,
    /// Per axis, the start of each chunk plus the axis length at the end.
    pub starts: Vec<Vec<usize>>,
}

/// A grid is written as its chunk lengths (shape and starts follow from
/// them), so ops that carry one stay small and rebuild it when decoded.
impl serde::Serialize for Grid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.chunks.serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for Grid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Grid, D::Error> {
        let chunks = Vec::<Vec<usize>>::deserialize(d)?;
        // Lengths that overflow when summed are not a grid any array has.
        for c in &chunks {
            c.iter()
                .try_fold(0usize, |a, &x| a.checked_add(x))
                .ok_or_else(|| serde::de::Error::custom("chunk lengths overflow"))?;
        }
        Ok(Grid::new(chunks))
    }
}

impl fmt::Debug for Grid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Grid{:?}", self.chunks)
    }
}

impl Grid {
    pub fn new(chunks: Vec<Vec<usize>>) -> Grid {
        let shape = chunks.iter().map(|c| c.iter().sum()).collect();
        let starts = chunks
            .iter()
            .map(|c| {
                let mut s = Vec::with_capacity(c.len() + 1);
                let mut acc = 0;
                s.push(0);
                for &x in c {
                    acc += x;
                    s.push(acc);
                }
                s
            })
            .collect();
        Grid {
            shape,
            chunks,
            starts,
        }
    }

    pub fn ndim(&self) -> usize {
        self.shape.len()
    }

    pub fn numblocks(&self) -> Vec<u32> {
        self.chunks.iter().map(|c| c.len() as u32).collect()
    }

    pub fn nblocks(&self) -> usize {
        self.chunks.iter().map(|c| c.len()).product()
    }

    /// `idx` when it is a block index of this grid, else an error saying
    /// why: for ops that get a block index as a task argument (a decoded
    /// graph must not make them index out of bounds).
    pub fn check_index(&self, idx: &[u32]) -> std::result::Result<(), oxidask_graph::OpError> {
        if idx.len() != self.ndim()
            || idx
                .iter()
                .zip(&self.chunks)
                .any(|(&i, c)| i as usize >= c.len())
        {
            return Err(format!(
                "block index {idx:?} is not in a grid of {:?} blocks",
                self.numblocks()
            )
            .into());
        }
        Ok(())
    }

    pub fn block_shape(&self, idx: &[u32]) -> Vec<usize> {
        idx.iter()
            .zip(&self.chunks)
            .map(|(&i, c)| c[i as usize])
            .collect()
    }

    pub fn block_start(&self, idx: &[u32]) -> Vec<usize> {
        idx.iter()
            .zip(&self.starts)
            .map(|(&i, s)| s[i as usize])
            .collect()
    }

    /// Elements in all; saturates instead of wrapping (grids built from
    /// user input are checked against [`MAX_ELEMENTS`]).
    pub fn size(&self) -> usize {
        self.shape
            .iter()
            .try_fold(1usize, |acc, &n| acc.checked_mul(n))
            .unwrap_or(usize::MAX)
    }
}

/// Block grids are the graph crate's: one ravel order for every layer.
pub(crate) use oxidask_graph::hlg::{ravel, unravel};

/// Normalizes an axis given as in NumPy (negative counts from the end).
pub(crate) fn normalize_axis(axis: isize, ndim: usize, arg: &'static str) -> Result<usize> {
    let n = ndim as isize;
    let a = if axis < 0 { axis + n } else { axis };
    if a < 0 || a >= n {
        return Err(Error::Axis { arg, axis, ndim });
    }
    Ok(a as usize)
}

/// Normalizes a list of distinct axes, sorted.
pub(crate) fn normalize_axes(axes: &[isize], ndim: usize, arg: &'static str) -> Result<Vec<usize>> {
    let mut out = Vec::with_capacity(axes.len());
    for &a in axes {
        let n = normalize_axis(a, ndim, arg)?;
        if out.contains(&n) {
            return Err(Error::Invalid {
                arg,
                message: format!("axis {a} is repeated in {axes:?}"),
            });
        }
        out.push(n);
    }
    out.sort_unstable();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_specs_resolve_and_errors_name_the_argument() {
        let c = Chunks::from(4).resolve(&[10, 4], "chunks").unwrap();
        assert_eq!(c, vec![vec![4, 4, 2], vec![4]]);
        let e = Chunks::from(vec![vec![3, 3], vec![4]])
            .resolve(&[7, 4], "chunks")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`chunks`") && e.contains("sum to 6") && e.contains("7"),
            "{e}"
        );
        let e = Chunks::from([2])
            .resolve(&[7, 4], "chunks")
            .unwrap_err()
            .to_string();
        assert!(e.contains("1 axes"), "{e}");
        assert!(Chunks::from(0).resolve(&[3], "chunks").is_err());
        assert_eq!(Chunks::from(3).resolve(&[0], "c").unwrap(), vec![vec![0]]);
    }

    #[test]
    fn grid_indexing() {
        let g = Grid::new(vec![vec![2, 2, 1], vec![3, 0]]);
        assert_eq!(g.shape, vec![5, 3]);
        assert_eq!(g.block_start(&[2, 1]), vec![4, 3]);
        let nb = g.numblocks();
        for f in 0..g.nblocks() as u64 {
            assert_eq!(ravel(&unravel(f, &nb), &nb), f);
        }
        assert!(normalize_axis(-3, 2, "axis").is_err());
        assert_eq!(normalize_axes(&[-1, 0], 2, "axis").unwrap(), vec![0, 1]);
        assert!(normalize_axes(&[1, -1], 2, "axis").is_err());
    }
}
