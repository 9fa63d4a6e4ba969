//! Slicing and shape: `slice` (ranges with steps, integer indices,
//! `NewAxis`, as ndarray's `s!`), `take` (index arrays), `compress`
//! (boolean masks), `transpose`/`permute_axes`/`swapaxes`, `reshape`,
//! `concatenate` and `stack`.
//!
//! Each output block reads the input blocks it overlaps and nothing else,
//! so culling keeps only those: `x.slice(s![..1000]).sum()` on a huge array
//! computes one of its chunks. Output chunks follow the input chunks (a
//! slice of one input block is one output block; blocks with nothing
//! selected are dropped).
//!
//! The layers' ops are data (`shape_ops`): one op per layer carries the
//! dtype and the plan; each task gets its block index or its indices as a
//! literal argument, so an encoded slicing graph costs a few dozen bytes a
//! task.

use std::sync::Arc;

use ndarray::SliceInfoElem;
use oxidask_graph::{Arg, Key, Op, Task, Value, name_for};

use crate::array::Array;
use crate::element::Element;
use crate::error::{Error, Result, invalid};
use crate::grid::{Grid, normalize_axis};
use crate::shape_ops::{GetItem, Pick, Take, Transpose};
use oxidask_graph::Pattern;

/// Output block `idx` reads the input block its slice plan names.
struct SlicePattern {
    input: Arc<str>,
    op: Arc<GetItem>,
}

impl Pattern for SlicePattern {
    fn task(&self, idx: &[u32]) -> Task {
        let (in_idx, _) = self.op.plan(idx);
        Task::new(
            self.op.clone(),
            vec![
                Arg::Key(Key::with_index(self.input.clone(), &in_idx)),
                Arg::Value(Value::new(idx.to_vec())),
            ],
        )
    }

    fn inputs(&self) -> Vec<Arc<str>> {
        vec![self.input.clone()]
    }
}

/// Slice elements as integers, for the layer's name: (kind, a, b, step).
fn encode_info(info: &[SliceInfoElem]) -> Vec<i64> {
    let mut v = Vec::with_capacity(info.len() * 4);
    for e in info {
        match *e {
            SliceInfoElem::Slice { start, end, step } => v.extend([
                0,
                start as i64,
                end.map_or(i64::MIN, |x| x as i64),
                step as i64,
            ]),
            SliceInfoElem::Index(i) => v.extend([1, i as i64, 0, 0]),
            SliceInfoElem::NewAxis => v.extend([2, 0, 0, 0]),
        }
    }
    v
}

/// The picks of one axis of length `n` with chunk starts `starts` for the
/// ndarray slice `start..end;step` (a negative step walks the range
/// backwards from its last element, as ndarray's `s!` does).
fn axis_picks(
    starts: &[usize],
    n: usize,
    start: isize,
    end: Option<isize>,
    step: isize,
    axis: usize,
) -> Result<(Vec<Pick>, Vec<usize>)> {
    // Bounds past either end clamp, as in NumPy (`x[100:]` of 10 elements
    // is empty, `x[-100:]` is all of it); only single indices are checked.
    let norm = |i: isize| {
        let i = if i < 0 {
            i.saturating_add(n as isize)
        } else {
            i
        };
        i.clamp(0, n as isize)
    };
    let (s, e) = (norm(start), norm(end.unwrap_or(n as isize)));
    if step == 0 {
        return Err(invalid("info", format!("slice step 0 on axis {axis}")));
    }
    let (s, e) = (s as usize, (e as usize).max(s as usize));
    let k = step.unsigned_abs();
    let count = (e - s).div_ceil(k);
    // Global indices selected: forward s, s+k, …; backward last, last-k, …
    let (first, last) = if count == 0 {
        (0, 0)
    } else if step > 0 {
        (s, s + (count - 1) * k)
    } else {
        (e - 1 - (count - 1) * k, e - 1)
    };
    let mut picks = Vec::new();
    let mut sizes = Vec::new();
    let nblocks = starts.len() - 1;
    for j in 0..nblocks {
        let (a, b) = (starts[j], starts[j + 1]);
        if count == 0 || b <= first || a > last {
            continue;
        }
        // The selected set is {first, first + k, …, last} in either order.
        let lo = first + (a.max(first) - first).div_ceil(k) * k;
        let hi = first + (((b - 1).min(last) - first) / k) * k;
        if lo > hi {
            continue;
        }
        let cnt = (hi - lo) / k + 1;
        picks.push(Pick::Slice {
            block: j as u32,
            start: (lo - a) as isize,
            end: (hi - a + 1) as isize,
            step,
        });
        sizes.push(cnt);
    }
    if step < 0 {
        picks.reverse();
        sizes.reverse();
    }
    if picks.is_empty() {
        // Nothing selected: one empty chunk read from the first block.
        picks.push(Pick::Slice {
            block: 0,
            start: 0,
            end: 0,
            step: 1,
        });
        sizes.push(0);
    }
    Ok((picks, sizes))
}

impl<T: Element> Array<T> {
    /// A view selected as by ndarray's `s!` macro: ranges with steps
    /// (a negative step reverses the range), integer indices (the axis
    /// disappears) and `NewAxis`. Equal to `a.slice(s![…]).to_owned()` on
    /// the whole array.
    ///
    /// ```
    /// use oxidask_array::{self as da, ndarray::s};
    /// let x = da::arange(0i64, 100, 1, 30)?;
    /// let y = x.slice(s![10..50;-3])?;
    /// assert_eq!(y.compute()?.iter().copied().collect::<Vec<_>>(), vec![49, 46, 43, 40, 37, 34, 31, 28, 25, 22, 19, 16, 13, 10]);
    /// # Ok::<(), da::Error>(())
    /// ```
    pub fn slice(&self, info: impl AsRef<[SliceInfoElem]>) -> Result<Array<T>> {
        self.check()?;
        let info = info.as_ref();
        let n_in = info
            .iter()
            .filter(|e| !matches!(e, SliceInfoElem::NewAxis))
            .count();
        if n_in > self.ndim() {
            return Err(Error::Index {
                arg: "info",
                message: format!(
                    "{n_in} indices for an array of {} dimensions (shape {:?})",
                    self.ndim(),
                    self.shape()
                ),
            });
        }
        let mut axes = Vec::new();
        let mut fixed = Vec::new();
        let mut chunks = Vec::new();
        let mut a = 0;
        let full = SliceInfoElem::Slice {
            start: 0,
            end: None,
            step: 1,
        };
        let rest = std::iter::repeat_n(&full, self.ndim() - n_in);
        for e in info.iter().chain(rest) {
            match *e {
                SliceInfoElem::NewAxis => {
                    axes.push((vec![Pick::New], None));
                    chunks.push(vec![1]);
                }
                SliceInfoElem::Index(i) => {
                    let n = self.shape()[a];
                    let g = if i < 0 { i + n as isize } else { i };
                    if g < 0 || g >= n as isize {
                        return Err(Error::Index {
                            arg: "info",
                            message: format!("index {i} on axis {a} of length {n}"),
                        });
                    }
                    let starts = &self.grid.starts[a];
                    let j = starts[1..].partition_point(|&s| s <= g as usize);
                    fixed.push((a, j as u32, (g as usize - starts[j]) as isize));
                    a += 1;
                }
                SliceInfoElem::Slice { start, end, step } => {
                    let (picks, sizes) =
                        axis_picks(&self.grid.starts[a], self.shape()[a], start, end, step, a)?;
                    axes.push((picks, Some(a)));
                    chunks.push(sizes);
                    a += 1;
                }
            }
        }
        let name: Arc<str> = name_for("getitem", &(&*self.name, encode_info(info))).into();
        let pattern = SlicePattern {
            input: self.name.clone(),
            op: Arc::new(GetItem {
                dtype: T::DTYPE,
                axes,
                fixed,
                in_ndim: self.ndim(),
            }),
        };
        Ok(Array::from_layer(
            name,
            "getitem",
            Grid::new(chunks),
            Arc::new(pattern),
            &[&self.graph],
        ))
    }

    /// The elements at `indices` along `axis`, in that order (NumPy's
    /// `take`, `x[[i, j, …]]`); negative indices count from the end.
    pub fn take(&self, indices: &[isize], axis: isize) -> Result<Array<T>> {
        self.check()?;
        let axis = normalize_axis(axis, self.ndim(), "axis")?;
        let n = self.shape()[axis];
        let starts = &self.grid.starts[axis];
        // Runs of consecutive indices in one input block become one output chunk.
        let mut runs: Vec<(u32, Vec<usize>)> = Vec::new();
        for &i in indices {
            let g = if i < 0 { i + n as isize } else { i };
            if g < 0 || g >= n as isize {
                return Err(Error::Index {
                    arg: "indices",
                    message: format!("index {i} on axis {axis} of length {n}"),
                });
            }
            let g = g as usize;
            let j = starts[1..].partition_point(|&s| s <= g) as u32;
            match runs.last_mut() {
                Some((b, v)) if *b == j => v.push(g - starts[j as usize]),
                _ => runs.push((j, vec![g - starts[j as usize]])),
            }
        }
        if runs.is_empty() {
            runs.push((0, Vec::new()));
        }
        let mut chunks = self.grid.chunks.clone();
        chunks[axis] = runs.iter().map(|r| r.1.len()).collect();
        let name: Arc<str> = name_for(
            "take",
            &(
                &*self.name,
                indices.iter().map(|&i| i as i64).collect::<Vec<_>>(),
                axis,
            ),
        )
        .into();
        let runs = Arc::new(runs);
        let pattern = MapPattern {
            input: self.name.clone(),
            f: Box::new(move |idx: &[u32]| {
                let (b, local) = &runs[idx[axis] as usize];
                let mut i = idx.to_vec();
                i[axis] = *b;
                (
                    i,
                    Some(Value::new(
                        local.iter().map(|&x| x as u64).collect::<Vec<u64>>(),
                    )),
                )
            }),
            op: Arc::new(Take {
                dtype: T::DTYPE,
                axis,
            }),
        };
        Ok(Array::from_layer(
            name,
            "take",
            Grid::new(chunks),
            Arc::new(pattern),
            &[&self.graph],
        ))
    }

    /// The elements along `axis` where `mask` is true (NumPy's `compress`,
    /// `x[mask]` for a 1-d boolean mask); the mask's length must equal the axis.
    pub fn compress(&self, mask: &[bool], axis: isize) -> Result<Array<T>> {
        self.check()?;
        let ax = normalize_axis(axis, self.ndim(), "axis")?;
        if mask.len() != self.shape()[ax] {
            return Err(Error::Index {
                arg: "mask",
                message: format!(
                    "boolean mask of length {} for axis {ax} of length {} (shape {:?})",
                    mask.len(),
                    self.shape()[ax],
                    self.shape()
                ),
            });
        }
        let idx: Vec<isize> = mask
            .iter()
            .enumerate()
            .filter(|(_, m)| **m)
            .map(|(i, _)| i as isize)
            .collect();
        self.take(&idx, axis)
    }

    /// The axes in the order `perm` (NumPy's `transpose(axes)`).
    pub fn permute_axes(&self, perm: &[usize]) -> Result<Array<T>> {
        self.check()?;
        let mut seen = vec![false; self.ndim()];
        if perm.len() != self.ndim()
            || perm
                .iter()
                .any(|&p| p >= self.ndim() || std::mem::replace(&mut seen[p], true))
        {
            return Err(invalid(
                "axes",
                format!(
                    "{perm:?} is not a permutation of the {} axes of an array of shape {:?}",
                    self.ndim(),
                    self.shape()
                ),
            ));
        }
        let chunks = perm.iter().map(|&p| self.grid.chunks[p].clone()).collect();
        let name: Arc<str> = name_for(
            "transpose",
            &(
                &*self.name,
                perm.iter().map(|&p| p as u64).collect::<Vec<_>>(),
            ),
        )
        .into();
        let op = Arc::new(Transpose {
            dtype: T::DTYPE,
            perm: perm.to_vec(),
        });
        let p3 = perm.to_vec();
        let pattern = MapPattern {
            input: self.name.clone(),
            f: Box::new(move |idx: &[u32]| {
                let mut i = vec![0u32; idx.len()];
                for (k, &p) in p3.iter().enumerate() {
                    i[p] = idx[k];
                }
                (i, None)
            }),
            op,
        };
        Ok(Array::from_layer(
            name,
            "transpose",
            Grid::new(chunks),
            Arc::new(pattern),
            &[&self.graph],
        ))
    }

    /// The axes reversed (`x.T`).
    pub fn t(&self) -> Result<Array<T>> {
        let perm: Vec<usize> = (0..self.ndim()).rev().collect();
        self.permute_axes(&perm)
    }

    /// Axes `a` and `b` exchanged.
    pub fn swapaxes(&self, a: isize, b: isize) -> Result<Array<T>> {
        let (a, b) = (
            normalize_axis(a, self.ndim(), "a")?,
            normalize_axis(b, self.ndim(), "b")?,
        );
        let mut perm: Vec<usize> = (0..self.ndim()).collect();
        perm.swap(a, b);
        self.permute_axes(&perm)
    }
}

/// Output block `idx` reads one input block, with a literal parameter
/// when the op takes one.
pub(crate) struct MapPattern {
    pub(crate) input: Arc<str>,
    #[allow(clippy::type_complexity)]
    pub(crate) f: Box<dyn Fn(&[u32]) -> (Vec<u32>, Option<Value>) + Send + Sync>,
    pub(crate) op: Arc<dyn Op>,
}

impl Pattern for MapPattern {
    fn task(&self, idx: &[u32]) -> Task {
        let (i, param) = (self.f)(idx);
        let mut args = vec![Arg::Key(Key::with_index(self.input.clone(), &i))];
        args.extend(param.map(Arg::Value));
        Task::new(self.op.clone(), args)
    }

    fn inputs(&self) -> Vec<Arc<str>> {
        vec![self.input.clone()]
    }
}

/// Arrays joined along an existing axis; other axes must have equal
/// lengths. Along them the result is chunked at every input's chunk
/// boundaries (the common refinement, as Dask's `unify_chunks`), so no
/// input is merged into bigger blocks.
pub fn concatenate<T: Element>(arrays: &[&Array<T>], axis: isize) -> Result<Array<T>> {
    let first = arrays
        .first()
        .ok_or_else(|| invalid("arrays", "concatenate needs at least one array"))?;
    for a in arrays {
        a.check()?;
    }
    let ndim = first.ndim();
    let axis = normalize_axis(axis, ndim, "axis")?;
    // The other axes cut at every input's boundaries (Dask's `unify_chunks`).
    let mut common = first.grid.chunks.clone();
    for a in arrays {
        if a.ndim() != ndim || (0..ndim).any(|k| k != axis && a.shape()[k] != first.shape()[k]) {
            return Err(Error::Broadcast {
                op: format!("concatenate along axis {axis}"),
                left: first.shape().to_vec(),
                right: a.shape().to_vec(),
            });
        }
        for (k, c) in common.iter_mut().enumerate() {
            if k != axis {
                *c = crate::elementwise::refine(c, &a.grid.chunks[k]);
            }
        }
    }
    let mut parts = Vec::new();
    for a in arrays {
        let mut target = common.clone();
        target[axis] = a.grid.chunks[axis].clone();
        parts.push(a.rechunk(target)?);
    }
    let mut chunks = common;
    chunks[axis] = parts
        .iter()
        .flat_map(|p| p.grid.chunks[axis].clone())
        .collect();
    let mut sources = Vec::new();
    for (pi, p) in parts.iter().enumerate() {
        for j in 0..p.grid.chunks[axis].len() {
            sources.push((pi, j as u32));
        }
    }
    let names: Vec<Arc<str>> = parts.iter().map(|p| p.name.clone()).collect();
    let name: Arc<str> = name_for(
        "concatenate",
        &(
            names.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
            axis,
        ),
    )
    .into();
    let pattern = ConcatPattern {
        names,
        sources,
        axis,
    };
    let graphs: Vec<&oxidask_graph::HighLevelGraph> = parts.iter().map(|p| &p.graph).collect();
    let grid = Grid::new(chunks);
    crate::grid::check_size(&grid.shape, "arrays")?;
    crate::grid::check_blocks(&grid.chunks, "arrays")?;
    Ok(Array::from_layer(
        name,
        "concatenate",
        grid,
        Arc::new(pattern),
        &graphs,
    ))
}

/// Arrays of one shape joined along a new axis; chunks are unified as by
/// [`concatenate`].
pub fn stack<T: Element>(arrays: &[&Array<T>], axis: isize) -> Result<Array<T>> {
    let first = arrays
        .first()
        .ok_or_else(|| invalid("arrays", "stack needs at least one array"))?;
    let ndim = first.ndim() + 1;
    let axis = normalize_axis(axis, ndim, "axis")?;
    let mut expanded = Vec::new();
    for a in arrays {
        if a.shape() != first.shape() {
            return Err(Error::Broadcast {
                op: "stack".into(),
                left: first.shape().to_vec(),
                right: a.shape().to_vec(),
            });
        }
        let mut info: Vec<SliceInfoElem> = vec![
            SliceInfoElem::Slice {
                start: 0,
                end: None,
                step: 1
            };
            ndim - 1
        ];
        info.insert(axis, SliceInfoElem::NewAxis);
        expanded.push(a.slice(info)?);
    }
    let refs: Vec<&Array<T>> = expanded.iter().collect();
    concatenate(&refs, axis as isize)
}

struct ConcatPattern {
    names: Vec<Arc<str>>,
    sources: Vec<(usize, u32)>,
    axis: usize,
}

impl Pattern for ConcatPattern {
    fn task(&self, idx: &[u32]) -> Task {
        let (p, j) = self.sources[idx[self.axis] as usize];
        let mut i = idx.to_vec();
        i[self.axis] = j;
        Task::alias(Key::with_index(self.names[p].clone(), &i))
    }

    fn inputs(&self) -> Vec<Arc<str>> {
        self.names.clone()
    }
}
