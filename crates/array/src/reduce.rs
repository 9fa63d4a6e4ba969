//! Tree reductions: `sum`, `prod`, `mean`, `var`, `std`, `min`, `max`,
//! `argmin`, `argmax`, `any`, `all`, their NaN-skipping variants, and the
//! moments behind [`stats`](crate::stats).
//!
//! A reduction over some axes runs in three kinds of tasks, as in Dask:
//!
//! 1. **partial**, one per block: the block's elementwise expression (fused,
//!    so `(x * x).sum()` never materializes `x * x`) reduced over the
//!    reduced axes into an accumulator per output element;
//! 2. **combine**, in levels: up to `split_every` neighbouring partials
//!    (spread over the reduced axes) merged into one, until one block is
//!    left along every reduced axis;
//! 3. **finish**, folded into the last task of each output block: the
//!    accumulators turned into values (a mean from a sum and a count, a
//!    skewness from moments), with the reduced axes kept as length 1
//!    (`keepdims`) or dropped.
//!
//! Accumulators merge associatively; means, variances and higher moments
//! use the pairwise update formulas of Chan et al. and Pébay, which stay
//! accurate when partial means differ, unlike summing raw powers.

use std::sync::Arc;

use ndarray::{ArrayD, ArrayView1, ArrayViewD, Axis, IxDyn, Order};
use oxidask_graph::{Arg, Key, Op, OpError, Task, Tokenize, Value, name_for};

use crate::array::{Array, Scalar};
use crate::element::{Element, Number, Real};
use crate::error::{Result, invalid};
use crate::expr::{Env, ExprFn, chunk_value};
use crate::grid::{Grid, normalize_axes, unravel};
use crate::layer::{BlockLayer, Pattern};
use crate::stream::{PIECE, Stream, Visit};

/// Which axes a reduction runs over, whether to keep them, and how many
/// partial results one task combines.
///
/// ```
/// use oxidask_array::{self as da, Reduce};
/// let x = da::ones::<f64>(&[4, 6], [2, 3])?;
/// let s = x.sum_with(&Reduce::axis(1).keepdims(true))?;
/// assert_eq!(s.shape(), &[4, 1]);
/// assert_eq!(s.compute()?[[3, 0]], 6.0);
/// # Ok::<(), da::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reduce {
    axes: Option<Vec<isize>>,
    keepdims: bool,
    split_every: Option<usize>,
}

/// Partials merged per combine task when not set (Dask's default).
pub const DEFAULT_SPLIT_EVERY: usize = 16;

impl Reduce {
    /// Over all axes.
    pub fn all() -> Reduce {
        Reduce::default()
    }

    /// Over one axis (negative counts from the end).
    pub fn axis(axis: isize) -> Reduce {
        Reduce::axes(&[axis])
    }

    /// Over several axes.
    pub fn axes(axes: &[isize]) -> Reduce {
        Reduce {
            axes: Some(axes.to_vec()),
            ..Reduce::default()
        }
    }

    /// Keep the reduced axes with length 1.
    pub fn keepdims(mut self, keep: bool) -> Reduce {
        self.keepdims = keep;
        self
    }

    pub(crate) fn split_every_value(&self) -> Option<usize> {
        self.split_every
    }

    /// Merge up to `n` (≥ 2) partial results per task.
    pub fn split_every(mut self, n: usize) -> Reduce {
        self.split_every = Some(n);
        self
    }
}

/// Where a block sits, for reductions that return indices.
pub(crate) struct Loc<'a> {
    /// Position of the row's first element within the block's row (pieces
    /// of a streamed block).
    offset: usize,
    start: Vec<usize>,
    bshape: Vec<usize>,
    gshape: &'a [usize],
    red: &'a [usize],
}

impl Loc<'_> {
    /// The index, over the reduced axes of the whole array (row-major), of
    /// position `p` of a row of this block.
    pub fn global(&self, p: usize) -> i64 {
        let mut p = p + self.offset;
        let mut local = vec![0usize; self.red.len()];
        for (k, &a) in self.red.iter().enumerate().rev() {
            let n = self.bshape[a].max(1);
            local[k] = p % n;
            p /= n;
        }
        let mut g = 0usize;
        for (k, &a) in self.red.iter().enumerate() {
            g = g * self.gshape[a] + self.start[a] + local[k];
        }
        g as i64
    }
}

/// One kind of reduction: an accumulator per output element.
pub(crate) trait Kernel<T: Element>: Send + Sync + 'static {
    type Acc: Clone + Send + Sync + 'static;
    type Out: Element;
    /// Whether reducing zero elements is an error (no identity: min, max…).
    const NEEDS_ELEMENTS: bool = false;
    /// Whether `row` uses its location (arg-reductions).
    const NEEDS_LOC: bool = false;
    /// The accumulator of one row of a block (the reduced elements of one
    /// output element).
    fn row(&self, row: ArrayView1<T>, loc: &Loc) -> Self::Acc;
    /// Merges `b` (later in index order) into `a`.
    fn merge(&self, a: &mut Self::Acc, b: Self::Acc);
    /// The value of an accumulator.
    fn finish(&self, a: Self::Acc) -> Result<Self::Out, OpError>;
}

/// Accumulators of one block, row-major over its kept axes.
#[derive(Clone)]
struct Part<A> {
    data: Vec<A>,
}

struct Plan {
    red: Vec<usize>,
    keepdims: bool,
    in_grid: Arc<Grid>,
    out_grid: Grid,
}

impl Plan {
    /// The block index with reduced axes inserted (as 0) when they were dropped.
    fn full_index(&self, idx: &[u32], final_level: bool) -> Vec<u32> {
        if !final_level || self.keepdims {
            return idx.to_vec();
        }
        let mut it = idx.iter();
        (0..self.in_grid.ndim())
            .map(|a| {
                if self.red.contains(&a) {
                    0
                } else {
                    *it.next().unwrap_or(&0)
                }
            })
            .collect()
    }

    /// The output block's shape as the finish step produces it.
    fn out_block_shape(&self, full_idx: &[u32]) -> Vec<usize> {
        (0..self.in_grid.ndim())
            .filter(|a| self.keepdims || !self.red.contains(a))
            .map(|a| {
                if self.red.contains(&a) {
                    1
                } else {
                    self.in_grid.chunks[a][full_idx[a] as usize]
                }
            })
            .collect()
    }
}

fn finish_block<T: Element, K: Kernel<T>>(
    k: &K,
    plan: &Plan,
    full_idx: &[u32],
    part: Part<K::Acc>,
) -> Result<Value, OpError> {
    let shape = plan.out_block_shape(full_idx);
    let data = part
        .data
        .into_iter()
        .map(|a| k.finish(a))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(chunk_value(ArrayD::from_shape_vec(IxDyn(&shape), data)?))
}

fn part_value<A: Send + Sync + 'static>(p: Part<A>) -> Value {
    let n = std::mem::size_of::<Part<A>>() + p.data.len() * std::mem::size_of::<A>();
    Value::sized(p, n)
}

/// Reduces one block: its rows are the kept positions, each over the
/// reduced axes (row-major).
fn block_part<T: Element, K: Kernel<T>>(
    k: &K,
    block: ArrayViewD<T>,
    plan: &Plan,
    full_idx: &[u32],
) -> Result<Part<K::Acc>, OpError> {
    let nd = block.ndim();
    let keep: Vec<usize> = (0..nd).filter(|a| !plan.red.contains(a)).collect();
    let nout: usize = keep.iter().map(|&a| block.shape()[a]).product();
    let nred: usize = plan.red.iter().map(|&a| block.shape()[a]).product();
    let perm: Vec<usize> = keep.iter().chain(&plan.red).copied().collect();
    let loc = Loc {
        offset: 0,
        start: if K::NEEDS_LOC {
            plan.in_grid.block_start(full_idx)
        } else {
            Vec::new()
        },
        bshape: block.shape().to_vec(),
        gshape: &plan.in_grid.shape,
        red: &plan.red,
    };
    let permuted = block.permuted_axes(IxDyn(&perm));
    let rows = permuted.to_shape(((nout, nred), Order::RowMajor))?;
    let data = rows.axis_iter(Axis(0)).map(|r| k.row(r, &loc)).collect();
    Ok(Part { data })
}

/// Level 0: the fused expression of a block, reduced.
struct PartialOp<T: Element, K: Kernel<T>> {
    name: String,
    kernel: Arc<K>,
    plan: Arc<Plan>,
    ids: Arc<[u64]>,
    uses: Arc<[u32]>,
    f: ExprFn<T>,
    final_level: bool,
}

impl<T: Element, K: Kernel<T>> Op for PartialOp<T, K> {
    fn name(&self) -> &str {
        &self.name
    }

    fn call(&self, mut args: Vec<Value>) -> Result<Value, OpError> {
        let leaves = args.split_off(1);
        let idx = args[0].downcast_ref::<Vec<u32>>()?;
        let full = self.plan.full_index(idx, self.final_level);
        let mut env = Env::new(
            self.ids.clone(),
            leaves,
            self.uses.to_vec(),
            self.plan.in_grid.ndim(),
        );
        let blk = (self.f)(&mut env)?;
        drop(env);
        let part = block_part(&*self.kernel, blk.view(), &self.plan, &full)?;
        drop(blk);
        if self.final_level {
            finish_block(&*self.kernel, &self.plan, &full, part)
        } else {
            Ok(part_value(part))
        }
    }
}

/// Level 0 of a full reduction over streaming sources: the fused
/// expression runs on pieces of the leaves' blocks, never on whole blocks
/// (see the `stream` module).
struct StreamPartialOp<T: Element, K: Kernel<T>> {
    name: String,
    kernel: Arc<K>,
    plan: Arc<Plan>,
    ids: Arc<[u64]>,
    uses: Arc<[u32]>,
    f: ExprFn<T>,
    streams: Vec<Arc<dyn Stream>>,
    /// When set (factor, numblocks), a task reduces a group of small blocks.
    group: Option<(Vec<u32>, Vec<u32>)>,
    /// When the expression is a bare in-memory source: its pieces, uncopied.
    visit: Option<Visit<T>>,
    final_level: bool,
}

impl<T: Element, K: Kernel<T>> StreamPartialOp<T, K> {
    /// Streams block `full` through the expression into `acc`.
    fn stream_block(&self, full: &[u32], acc: &mut Option<K::Acc>) -> Result<(), OpError> {
        let bshape = self.plan.in_grid.block_shape(full);
        let n: usize = bshape.iter().product();
        let mut loc = Loc {
            offset: 0,
            start: if K::NEEDS_LOC {
                self.plan.in_grid.block_start(full)
            } else {
                Vec::new()
            },
            bshape,
            gshape: &self.plan.in_grid.shape,
            red: &self.plan.red,
        };
        if let Some(visit) = &self.visit {
            visit(full, &mut |piece, offset| {
                loc.offset = offset;
                let a = self.kernel.row(piece, &loc);
                match acc {
                    None => *acc = Some(a),
                    Some(x) => self.kernel.merge(x, a),
                }
            });
            return Ok(());
        }
        let mut readers: Vec<_> = self.streams.iter().map(|s| s.open(full)).collect();
        loop {
            let len = PIECE.min(n - loc.offset);
            let vals = readers
                .iter_mut()
                .map(|r| r.next(len))
                .collect::<Result<Vec<_>, _>>()?;
            let mut env = Env::new(self.ids.clone(), vals, self.uses.to_vec(), 1);
            let blk = (self.f)(&mut env)?;
            let view = blk.view().into_shape_with_order(len)?;
            let a = self.kernel.row(view, &loc);
            match acc {
                None => *acc = Some(a),
                Some(x) => self.kernel.merge(x, a),
            }
            loc.offset += len;
            if loc.offset >= n {
                return Ok(());
            }
        }
    }
}

impl<T: Element, K: Kernel<T>> Op for StreamPartialOp<T, K> {
    fn name(&self) -> &str {
        &self.name
    }

    fn call(&self, args: Vec<Value>) -> Result<Value, OpError> {
        let idx = args
            .first()
            .ok_or("a partial task needs its block index")?
            .downcast_ref::<Vec<u32>>()?;
        let full = self.plan.full_index(idx, self.final_level);
        let mut acc: Option<K::Acc> = None;
        match &self.group {
            None => self.stream_block(&full, &mut acc)?,
            Some((factor, nb)) => {
                // Blocks smaller than a piece: this task reduces the whole
                // group a first-level combine would merge, in index order.
                let ranges: Vec<Vec<u32>> = (0..full.len())
                    .map(|a| {
                        let lo = full[a] * factor[a];
                        (lo..(lo + factor[a]).min(nb[a])).collect()
                    })
                    .collect();
                let counts: Vec<u32> = ranges.iter().map(|r| r.len() as u32).collect();
                let total: u64 = counts.iter().map(|&c| c as u64).product();
                for f in 0..total {
                    let local = unravel(f, &counts);
                    let b: Vec<u32> = local
                        .iter()
                        .zip(&ranges)
                        .map(|(&l, r)| r[l as usize])
                        .collect();
                    self.stream_block(&b, &mut acc)?;
                }
            }
        }
        let part = Part {
            data: acc.into_iter().collect(),
        };
        if self.final_level {
            finish_block(&*self.kernel, &self.plan, &full, part)
        } else {
            Ok(part_value(part))
        }
    }
}

/// Level 0 of a streamed reduction: tasks read no keys, only their index.
struct StreamPattern {
    op: Arc<dyn Op>,
}

impl Pattern for StreamPattern {
    fn task(&self, idx: &[u32]) -> Task {
        Task::new(self.op.clone(), vec![Arg::Value(Value::new(idx.to_vec()))])
    }

    fn inputs(&self) -> Vec<Arc<str>> {
        Vec::new()
    }
}

/// Levels ≥ 1: partials merged in index order.
struct CombineOp<T: Element, K: Kernel<T>> {
    name: String,
    kernel: Arc<K>,
    plan: Arc<Plan>,
    final_level: bool,
    _t: std::marker::PhantomData<fn(T)>,
}

impl<T: Element, K: Kernel<T>> Op for CombineOp<T, K> {
    fn name(&self) -> &str {
        &self.name
    }

    fn call(&self, args: Vec<Value>) -> Result<Value, OpError> {
        let mut it = args.into_iter();
        let idx = it.next().ok_or("combine needs its block index")?;
        let idx = idx.downcast_ref::<Vec<u32>>()?;
        let mut acc: Option<Part<K::Acc>> = None;
        for v in it {
            let p = v.take::<Part<K::Acc>>()?;
            acc = Some(match acc {
                None => p,
                Some(mut a) => {
                    for (x, y) in a.data.iter_mut().zip(p.data) {
                        self.kernel.merge(x, y);
                    }
                    a
                }
            });
        }
        let part = acc.ok_or("combine got no partial results")?;
        if self.final_level {
            let full = self.plan.full_index(idx, true);
            finish_block(&*self.kernel, &self.plan, &full, part)
        } else {
            Ok(part_value(part))
        }
    }
}

struct PartialPattern {
    op: Arc<dyn Op>,
    leaves: Vec<(Arc<str>, Vec<u32>, usize)>,
    plan: Arc<Plan>,
    final_level: bool,
}

impl Pattern for PartialPattern {
    fn task(&self, idx: &[u32]) -> Task {
        let full = self.plan.full_index(idx, self.final_level);
        let mut args = vec![Arg::Value(Value::new(idx.to_vec()))];
        for (name, nb, pad) in &self.leaves {
            let i: Vec<u32> = nb
                .iter()
                .enumerate()
                .map(|(j, &n)| if n == 1 { 0 } else { full[j + pad] })
                .collect();
            args.push(Arg::Key(Key::with_index(name.clone(), &i)));
        }
        Task::new(self.op.clone(), args)
    }

    fn inputs(&self) -> Vec<Arc<str>> {
        self.leaves.iter().map(|l| l.0.clone()).collect()
    }
}

struct CombinePattern {
    op: Arc<dyn Op>,
    prev: Arc<str>,
    prev_nb: Vec<u32>,
    factor: Vec<u32>,
    plan: Arc<Plan>,
    final_level: bool,
}

impl Pattern for CombinePattern {
    fn task(&self, idx: &[u32]) -> Task {
        let full = self.plan.full_index(idx, self.final_level);
        let mut args = vec![Arg::Value(Value::new(idx.to_vec()))];
        let ranges: Vec<Vec<u32>> = (0..full.len())
            .map(|a| {
                if self.plan.red.contains(&a) {
                    let lo = full[a] * self.factor[a];
                    let hi = (lo + self.factor[a]).min(self.prev_nb[a]);
                    (lo..hi).collect()
                } else {
                    vec![full[a]]
                }
            })
            .collect();
        let n: usize = ranges.iter().map(|r| r.len()).product();
        let nb: Vec<u32> = ranges.iter().map(|r| r.len() as u32).collect();
        for f in 0..n as u64 {
            let local = unravel(f, &nb);
            let i: Vec<u32> = local
                .iter()
                .zip(&ranges)
                .map(|(&l, r)| r[l as usize])
                .collect();
            args.push(Arg::Key(Key::with_index(self.prev.clone(), &i)));
        }
        Task::new(self.op.clone(), args)
    }

    fn inputs(&self) -> Vec<Arc<str>> {
        vec![self.prev.clone()]
    }
}

impl<T: Element> Array<T> {
    /// Builds the reduction of this array by `kernel` as in the module docs.
    pub(crate) fn reduction<K: Kernel<T>>(
        &self,
        op: &str,
        params: &impl Tokenize,
        kernel: K,
        opts: &Reduce,
    ) -> Result<Array<K::Out>> {
        self.check()?;
        let ndim = self.ndim();
        let red = match &opts.axes {
            None => (0..ndim).collect(),
            Some(a) => normalize_axes(a, ndim, "axis")?,
        };
        let split_every = opts.split_every.unwrap_or(DEFAULT_SPLIT_EVERY);
        if split_every < 2 {
            return Err(invalid(
                "split_every",
                format!("must be at least 2, got {split_every}"),
            ));
        }
        let nred: usize = red.iter().map(|&a| self.shape()[a]).product();
        let nout: usize = (0..ndim)
            .filter(|a| !red.contains(a))
            .map(|a| self.shape()[a])
            .product();
        if K::NEEDS_ELEMENTS && nred == 0 && nout > 0 {
            return Err(invalid(
                "self",
                format!(
                    "zero-size array (shape {:?}) to reduction operation {op} over axes {red:?}, \
                     which has no identity",
                    self.shape()
                ),
            ));
        }
        let out_chunks: Vec<Vec<usize>> = (0..ndim)
            .filter(|a| opts.keepdims || !red.contains(a))
            .map(|a| {
                if red.contains(&a) {
                    vec![1]
                } else {
                    self.grid.chunks[a].clone()
                }
            })
            .collect();
        let plan = Arc::new(Plan {
            red: red.clone(),
            keepdims: opts.keepdims,
            in_grid: self.grid.clone(),
            out_grid: Grid::new(out_chunks),
        });
        let kernel = Arc::new(kernel);
        let expr = self.expr(&self.grid)?;
        let base = name_for(op, &(params, &expr.token, &red, opts.keepdims, split_every));

        // Per reduced axis, how many blocks one combine task merges.
        let multi = red
            .iter()
            .filter(|&&a| self.grid.chunks[a].len() > 1)
            .count()
            .max(1);
        let per_axis = ((split_every as f64).powf(1.0 / multi as f64).floor() as u32).max(2);
        let mut nb = self.grid.numblocks();
        let done = |nb: &[u32]| red.iter().all(|&a| nb[a] <= 1);
        let key_nb = |nb: &[u32], final_level: bool| -> Vec<u32> {
            (0..ndim)
                .filter(|a| !final_level || opts.keepdims || !red.contains(a))
                .map(|a| nb[a])
                .collect()
        };

        let factor: Vec<u32> = (0..ndim)
            .map(|a| if red.contains(&a) { per_axis } else { 1 })
            .collect();
        let coarser = |nb: &[u32]| -> Vec<u32> {
            nb.iter()
                .zip(&factor)
                .map(|(&n, &f)| n.div_ceil(f))
                .collect()
        };
        let streams: Option<Vec<Arc<dyn Stream>>> = (red.len() == ndim)
            .then(|| {
                expr.leaves
                    .iter()
                    .map(|l| l.stream.clone().filter(|_| *l.grid == *self.grid))
                    .collect()
            })
            .flatten();
        // Streamed blocks smaller than one piece cost more in task overhead
        // than in work: reduce a first-level group of them per task.
        let largest: usize = self
            .grid
            .chunks
            .iter()
            .map(|c| c.iter().copied().max().unwrap_or(0))
            .product();
        let group = (streams.is_some() && !done(&nb) && largest < PIECE).then(|| {
            let g = (factor.clone(), nb.clone());
            nb = coarser(&nb);
            g
        });
        let final0 = done(&nb);
        let name0: Arc<str> = if final0 {
            base.clone()
        } else {
            format!("{base}-partial")
        }
        .into();
        let ids: Arc<[u64]> = expr.leaves.iter().map(|l| l.id).collect();
        let uses: Arc<[u32]> = expr.leaves.iter().map(|l| l.uses).collect();
        let pattern: Arc<dyn Pattern> = match streams {
            Some(streams) => Arc::new(StreamPattern {
                op: Arc::new(StreamPartialOp {
                    name: op.to_string(),
                    kernel: kernel.clone(),
                    plan: plan.clone(),
                    ids,
                    uses,
                    f: expr.f.clone(),
                    streams,
                    group,
                    visit: if expr.bare { self.visit.clone() } else { None },
                    final_level: final0,
                }),
            }),
            None => Arc::new(PartialPattern {
                op: Arc::new(PartialOp {
                    name: op.to_string(),
                    kernel: kernel.clone(),
                    plan: plan.clone(),
                    ids,
                    uses,
                    f: expr.f.clone(),
                    final_level: final0,
                }),
                leaves: expr
                    .leaves
                    .iter()
                    .map(|l| (l.name.clone(), l.grid.numblocks(), ndim - l.grid.ndim()))
                    .collect(),
                plan: plan.clone(),
                final_level: final0,
            }),
        };
        let mut graph = expr.graph.clone().with_layer(Arc::new(BlockLayer::new(
            name0.clone(),
            "reduction",
            key_nb(&nb, final0),
            pattern,
        )));
        let mut prev = name0;
        let mut level = 1;
        while !done(&nb) {
            let next = coarser(&nb);
            let final_level = done(&next);
            let name: Arc<str> = if final_level {
                base.clone()
            } else {
                format!("{base}-combine{level}")
            }
            .into();
            let pattern = CombinePattern {
                op: Arc::new(CombineOp {
                    name: format!("{op}-combine"),
                    kernel: kernel.clone(),
                    plan: plan.clone(),
                    final_level,
                    _t: std::marker::PhantomData::<fn(T)>,
                }),
                prev: prev.clone(),
                prev_nb: nb.clone(),
                factor: factor.clone(),
                plan: plan.clone(),
                final_level,
            };
            graph = graph.with_layer(Arc::new(BlockLayer::new(
                name.clone(),
                "reduction",
                key_nb(&next, final_level),
                Arc::new(pattern),
            )));
            prev = name;
            nb = next;
            level += 1;
        }
        Ok(Array {
            grid: Arc::new(plan.out_grid.clone()),
            name: prev,
            graph,
            fused: None,
            poison: None,
            stream: None,
            visit: None,
            _t: std::marker::PhantomData,
        })
    }

    fn full_reduction<K: Kernel<T>>(
        &self,
        op: &str,
        params: &impl Tokenize,
        k: K,
    ) -> Scalar<K::Out> {
        Scalar::new(
            self.reduction(op, params, k, &Reduce::all())
                .unwrap_or_else(Array::poisoned),
        )
    }
}

// ---------------------------------------------------------------- kernels

/// Sums of floats in independent lanes: vectorizes, and is more accurate
/// than one running sum.
fn lane_sum<T: Number>(row: ArrayView1<T>, skipna: bool) -> T::Sum {
    let one = |acc: T::Sum, x: T| {
        if skipna && x.is_nan() {
            acc
        } else {
            acc.add(x.to_sum())
        }
    };
    match row.as_slice() {
        Some(s) if !skipna => {
            let mut lanes = [T::Sum::zero(); 8];
            let mut it = s.chunks_exact(8);
            for c in &mut it {
                for k in 0..8 {
                    lanes[k] = lanes[k].add(c[k].to_sum());
                }
            }
            let mut acc = it
                .remainder()
                .iter()
                .fold(T::Sum::zero(), |a, &x| one(a, x));
            for l in lanes {
                acc = acc.add(l);
            }
            acc
        }
        _ => row.iter().fold(T::Sum::zero(), |a, &x| one(a, x)),
    }
}

struct SumK {
    skipna: bool,
}

impl<T: Number> Kernel<T> for SumK {
    type Acc = T::Sum;
    type Out = T::Sum;
    fn row(&self, row: ArrayView1<T>, _: &Loc) -> T::Sum {
        lane_sum(row, self.skipna)
    }
    fn merge(&self, a: &mut T::Sum, b: T::Sum) {
        *a = a.add(b);
    }
    fn finish(&self, a: T::Sum) -> Result<T::Sum, OpError> {
        Ok(a)
    }
}

struct ProdK {
    skipna: bool,
}

impl<T: Number> Kernel<T> for ProdK {
    type Acc = T::Sum;
    type Out = T::Sum;
    fn row(&self, row: ArrayView1<T>, _: &Loc) -> T::Sum {
        row.iter().fold(T::Sum::one(), |a, &x| {
            if self.skipna && x.is_nan() {
                a
            } else {
                a.mul(x.to_sum())
            }
        })
    }
    fn merge(&self, a: &mut T::Sum, b: T::Sum) {
        *a = a.mul(b);
    }
    fn finish(&self, a: T::Sum) -> Result<T::Sum, OpError> {
        Ok(a)
    }
}

/// min (`MAX == false`) or max; NaN propagates unless `skipna`.
struct ExtremeK<const MAX: bool> {
    skipna: bool,
}

impl<const MAX: bool> ExtremeK<MAX> {
    fn pick<T: Number>(&self, a: Option<T>, x: T) -> Option<T> {
        if self.skipna && x.is_nan() {
            return a;
        }
        Some(match a {
            None => x,
            Some(a) if MAX => crate::ops::max_nan(a, x),
            Some(a) => crate::ops::min_nan(a, x),
        })
    }
}

impl<T: Number, const MAX: bool> Kernel<T> for ExtremeK<MAX> {
    type Acc = Option<T>;
    type Out = T;
    const NEEDS_ELEMENTS: bool = true;
    fn row(&self, row: ArrayView1<T>, _: &Loc) -> Option<T> {
        row.iter().fold(None, |a, &x| self.pick(a, x))
    }
    fn merge(&self, a: &mut Option<T>, b: Option<T>) {
        if let Some(b) = b {
            *a = self.pick(*a, b);
        }
    }
    fn finish(&self, a: Option<T>) -> Result<T, OpError> {
        // Only all-NaN rows with skipna get here empty: NumPy gives NaN.
        Ok(a.unwrap_or_else(|| T::from_wide(crate::element::Wide::F(f64::NAN))))
    }
}

/// argmin (`MAX == false`) or argmax: the first position of the extreme;
/// NaN counts as the extreme unless `skipna`.
struct ArgK<const MAX: bool> {
    skipna: bool,
}

impl<const MAX: bool> ArgK<MAX> {
    /// Whether `(x, i)` beats `(a, j)`.
    fn better<T: Number>(&self, x: T, i: i64, a: T, j: i64) -> bool {
        match (x.is_nan(), a.is_nan()) {
            (true, false) => return true,
            (false, true) => return false,
            (true, true) => return i < j,
            _ => {}
        }
        if x == a {
            i < j
        } else if MAX {
            x > a
        } else {
            x < a
        }
    }
}

impl<T: Number, const MAX: bool> Kernel<T> for ArgK<MAX> {
    type Acc = Option<(T, i64)>;
    type Out = i64;
    const NEEDS_ELEMENTS: bool = true;
    const NEEDS_LOC: bool = true;
    fn row(&self, row: ArrayView1<T>, loc: &Loc) -> Option<(T, i64)> {
        let mut best: Option<(T, usize)> = None;
        for (p, &x) in row.iter().enumerate() {
            if self.skipna && x.is_nan() {
                continue;
            }
            match best {
                // Ties keep the earlier position.
                Some((a, _)) if !self.better(x, 1, a, 0) => {}
                _ => best = Some((x, p)),
            }
            if !self.skipna && x.is_nan() {
                break;
            }
        }
        best.map(|(x, p)| (x, loc.global(p)))
    }
    fn merge(&self, a: &mut Option<(T, i64)>, b: Option<(T, i64)>) {
        if let Some((x, i)) = b {
            match *a {
                Some((y, j)) if !self.better(x, i, y, j) => {}
                _ => *a = Some((x, i)),
            }
        }
    }
    fn finish(&self, a: Option<(T, i64)>) -> Result<i64, OpError> {
        a.map(|(_, i)| i)
            .ok_or_else(|| "All-NaN slice encountered in nanargmin/nanargmax".into())
    }
}

struct LogicK {
    all: bool,
}

impl<T: Element> Kernel<T> for LogicK {
    type Acc = bool;
    type Out = bool;
    fn row(&self, row: ArrayView1<T>, _: &Loc) -> bool {
        if self.all {
            row.iter().all(|x| x.is_true())
        } else {
            row.iter().any(|x| x.is_true())
        }
    }
    fn merge(&self, a: &mut bool, b: bool) {
        *a = if self.all { *a && b } else { *a || b };
    }
    fn finish(&self, a: bool) -> Result<bool, OpError> {
        Ok(a)
    }
}

/// Count, mean and central moment sums `M_k = Σ (x - mean)^k` up to order 4.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Moments {
    pub n: f64,
    pub mean: f64,
    pub m2: f64,
    pub m3: f64,
    pub m4: f64,
}

impl Moments {
    /// Two passes over `xs` (NaN skipped when `skipna`), in lanes.
    pub fn of<T: Number>(row: ArrayView1<T>, order: u32, skipna: bool) -> Moments {
        let f = |x: T| x.to_real().to_f64();
        let (n, sum) = match row.as_slice() {
            Some(s) if !skipna => {
                let mut lanes = [0.0f64; 4];
                let mut it = s.chunks_exact(4);
                for c in &mut it {
                    for k in 0..4 {
                        lanes[k] += f(c[k]);
                    }
                }
                let rest: f64 = it.remainder().iter().map(|&x| f(x)).sum();
                (s.len() as f64, lanes.iter().sum::<f64>() + rest)
            }
            _ => row
                .iter()
                .filter(|x| !(skipna && x.is_nan()))
                .fold((0.0, 0.0), |(n, s), &x| (n + 1.0, s + f(x))),
        };
        if n == 0.0 {
            return Moments::default();
        }
        let mean = sum / n;
        // Second pass: sums of d, d², d³, d⁴ with d = x − mean, in four
        // independent lanes per power (no branch in the hot loop).
        let mut acc = [[0.0f64; 4]; 4]; // [power-1][lane]
        match row.as_slice() {
            Some(xs) if !skipna => {
                let mut it = xs.chunks_exact(4);
                if order >= 3 {
                    for c in &mut it {
                        for k in 0..4 {
                            let d = f(c[k]) - mean;
                            let d2 = d * d;
                            acc[0][k] += d;
                            acc[1][k] += d2;
                            acc[2][k] += d2 * d;
                            acc[3][k] += d2 * d2;
                        }
                    }
                } else {
                    for c in &mut it {
                        for k in 0..4 {
                            let d = f(c[k]) - mean;
                            acc[0][k] += d;
                            acc[1][k] += d * d;
                        }
                    }
                }
                for &x in it.remainder() {
                    let d = f(x) - mean;
                    let d2 = d * d;
                    acc[0][0] += d;
                    acc[1][0] += d2;
                    acc[2][0] += d2 * d;
                    acc[3][0] += d2 * d2;
                }
            }
            _ => {
                for &x in row.iter().filter(|x| !(skipna && x.is_nan())) {
                    let d = f(x) - mean;
                    let d2 = d * d;
                    acc[0][0] += d;
                    acc[1][0] += d2;
                    acc[2][0] += d2 * d;
                    acc[3][0] += d2 * d2;
                }
            }
        }
        let s: Vec<f64> = acc.iter().map(|l| l.iter().sum()).collect();
        // Correct for the rounding of the first pass's mean: with
        // δ = Σd/n, the moments about the true mean follow from those
        // about `mean` by the binomial shift.
        let delta = s[0] / n;
        let m2 = s[1] - n * delta * delta;
        let (m3, m4) = if order >= 3 {
            (
                s[2] - 3.0 * delta * s[1] + 2.0 * n * delta.powi(3),
                s[3] - 4.0 * delta * s[2] + 6.0 * delta * delta * s[1] - 3.0 * n * delta.powi(4),
            )
        } else {
            (0.0, 0.0)
        };
        Moments {
            n,
            mean: mean + delta,
            m2,
            m3,
            m4,
        }
    }

    /// Pébay's pairwise update (Chan et al. for order 2).
    pub fn merge(&mut self, b: Moments, order: u32) {
        if b.n == 0.0 {
            return;
        }
        if self.n == 0.0 {
            *self = b;
            return;
        }
        let a = *self;
        let n = a.n + b.n;
        let d = b.mean - a.mean;
        let d_n = d / n;
        let mean = a.mean + d_n * b.n;
        let m2 = a.m2 + b.m2 + d * d_n * a.n * b.n;
        let (mut m3, mut m4) = (0.0, 0.0);
        if order >= 3 {
            m3 = a.m3
                + b.m3
                + d * d_n * d_n * a.n * b.n * (a.n - b.n)
                + 3.0 * d_n * (a.n * b.m2 - b.n * a.m2);
            m4 = a.m4
                + b.m4
                + d * d_n * d_n * d_n * a.n * b.n * (a.n * a.n - a.n * b.n + b.n * b.n)
                + 6.0 * d_n * d_n * (a.n * a.n * b.m2 + b.n * b.n * a.m2)
                + 4.0 * d_n * (a.n * b.m3 - b.n * a.m3);
        }
        *self = Moments {
            n,
            mean,
            m2,
            m3,
            m4,
        };
    }
}

/// What a moments reduction returns.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Stat {
    Mean,
    Var { ddof: f64, sqrt: bool },
    Moment(u32),
    Skew { bias: bool },
    Kurtosis { fisher: bool, bias: bool },
}

impl Stat {
    fn order(self) -> u32 {
        match self {
            Stat::Mean | Stat::Var { .. } => 2,
            Stat::Moment(k) => k.max(2),
            Stat::Skew { .. } | Stat::Kurtosis { .. } => 4,
        }
    }

    pub fn value(self, m: &Moments) -> f64 {
        let n = m.n;
        // scipy.stats: a variance this small relative to the mean is zero.
        let zero = || m.m2 / n <= (1e-15 * m.mean).powi(2);
        match self {
            Stat::Mean => m.mean + if n == 0.0 { f64::NAN } else { 0.0 },
            Stat::Var { ddof, sqrt } => {
                let v = m.m2 / (n - ddof).max(0.0);
                if sqrt { v.sqrt() } else { v }
            }
            Stat::Moment(0) => 1.0,
            Stat::Moment(1) => 0.0,
            Stat::Moment(2) => m.m2 / n,
            Stat::Moment(3) => m.m3 / n,
            Stat::Moment(_) => m.m4 / n,
            Stat::Skew { bias } => {
                if n == 0.0 || zero() {
                    return f64::NAN;
                }
                let (m2, m3) = (m.m2 / n, m.m3 / n);
                let g1 = m3 / m2.powf(1.5);
                if !bias && n > 2.0 {
                    g1 * (n * (n - 1.0)).sqrt() / (n - 2.0)
                } else {
                    g1
                }
            }
            Stat::Kurtosis { fisher, bias } => {
                if n == 0.0 || zero() {
                    return f64::NAN;
                }
                let (m2, m4) = (m.m2 / n, m.m4 / n);
                let mut g2 = m4 / (m2 * m2);
                if !bias && n > 3.0 {
                    g2 = 1.0 / (n - 2.0) / (n - 3.0)
                        * ((n * n - 1.0) * g2 - 3.0 * (n - 1.0) * (n - 1.0))
                        + 3.0;
                }
                if fisher { g2 - 3.0 } else { g2 }
            }
        }
    }
}

pub(crate) struct MomentsK<R> {
    pub stat: Stat,
    pub skipna: bool,
    pub _r: std::marker::PhantomData<fn() -> R>,
}

impl<T: Number> Kernel<T> for MomentsK<T::Real> {
    type Acc = Moments;
    type Out = T::Real;
    fn row(&self, row: ArrayView1<T>, _: &Loc) -> Moments {
        Moments::of(row, self.stat.order(), self.skipna)
    }
    fn merge(&self, a: &mut Moments, b: Moments) {
        a.merge(b, self.stat.order());
    }
    fn finish(&self, a: Moments) -> Result<T::Real, OpError> {
        Ok(T::Real::from_f64(self.stat.value(&a)))
    }
}

pub(crate) fn moments_k<T: Number>(stat: Stat, skipna: bool) -> MomentsK<T::Real> {
    MomentsK {
        stat,
        skipna,
        _r: std::marker::PhantomData,
    }
}

// ------------------------------------------------------------- public API

macro_rules! reductions {
    ($bound:ident; $($(#[$doc:meta])* $name:ident, $name_with:ident -> $out:ty = $k:expr;)*) => {
        impl<T: $bound> Array<T> {$(
            $(#[$doc])*
            /// Over all axes; see the `_with` form for axes, `keepdims` and
            /// `split_every`.
            pub fn $name(&self) -> Scalar<$out> {
                self.full_reduction(stringify!($name), &0u8, $k)
            }
            $(#[$doc])*
            pub fn $name_with(&self, opts: &Reduce) -> Result<Array<$out>> {
                self.reduction(stringify!($name), &0u8, $k, opts)
            }
        )*}
    };
}

reductions! { Number;
    /// Sum (integers accumulate in `i64`).
    sum, sum_with -> T::Sum = SumK { skipna: false };
    /// Sum, NaN counted as zero.
    nansum, nansum_with -> T::Sum = SumK { skipna: true };
    /// Product.
    prod, prod_with -> T::Sum = ProdK { skipna: false };
    /// Product, NaN counted as one.
    nanprod, nanprod_with -> T::Sum = ProdK { skipna: true };
    /// Minimum (NaN if any is NaN).
    min, min_with -> T = ExtremeK::<false> { skipna: false };
    /// Maximum (NaN if any is NaN).
    max, max_with -> T = ExtremeK::<true> { skipna: false };
    /// Minimum ignoring NaN.
    nanmin, nanmin_with -> T = ExtremeK::<false> { skipna: true };
    /// Maximum ignoring NaN.
    nanmax, nanmax_with -> T = ExtremeK::<true> { skipna: true };
    /// Arithmetic mean.
    mean, mean_with -> T::Real = moments_k::<T>(Stat::Mean, false);
    /// Mean ignoring NaN.
    nanmean, nanmean_with -> T::Real = moments_k::<T>(Stat::Mean, true);
}

reductions! { Element;
    /// Whether any element is true (non-zero).
    any, any_with -> bool = LogicK { all: false };
    /// Whether all elements are true (non-zero).
    all, all_with -> bool = LogicK { all: true };
}

macro_rules! arg_reductions {
    ($($(#[$doc:meta])* $name:ident, $name_with:ident = $k:expr;)*) => {
        impl<T: Number> Array<T> {$(
            $(#[$doc])*
            /// Over the flattened array; see the `_with` form for one axis.
            pub fn $name(&self) -> Scalar<i64> {
                self.full_reduction(stringify!($name), &0u8, $k)
            }
            $(#[$doc])*
            /// `opts` must name one axis (or none, for the flattened array).
            pub fn $name_with(&self, opts: &Reduce) -> Result<Array<i64>> {
                if opts.axes.as_ref().is_some_and(|a| a.len() > 1) {
                    return Err(invalid("axis", format!(
                        "{} takes one axis or none, got {:?}", stringify!($name), opts.axes.as_ref().unwrap_or(&vec![]))));
                }
                self.reduction(stringify!($name), &0u8, $k, opts)
            }
        )*}
    };
}

arg_reductions! {
    /// Index of the first minimum (of the first NaN, if any).
    argmin, argmin_with = ArgK::<false> { skipna: false };
    /// Index of the first maximum (of the first NaN, if any).
    argmax, argmax_with = ArgK::<true> { skipna: false };
    /// Index of the first minimum ignoring NaN (an error for all-NaN).
    nanargmin, nanargmin_with = ArgK::<false> { skipna: true };
    /// Index of the first maximum ignoring NaN (an error for all-NaN).
    nanargmax, nanargmax_with = ArgK::<true> { skipna: true };
}

impl<T: Number> Array<T> {
    /// Variance with `ddof` delta degrees of freedom (NumPy's `var`).
    pub fn var(&self, ddof: f64) -> Scalar<T::Real> {
        self.full_reduction(
            "var",
            &ddof,
            moments_k::<T>(Stat::Var { ddof, sqrt: false }, false),
        )
    }

    /// Variance over `opts`' axes.
    pub fn var_with(&self, ddof: f64, opts: &Reduce) -> Result<Array<T::Real>> {
        self.reduction(
            "var",
            &ddof,
            moments_k::<T>(Stat::Var { ddof, sqrt: false }, false),
            opts,
        )
    }

    /// Standard deviation with `ddof`.
    pub fn std(&self, ddof: f64) -> Scalar<T::Real> {
        self.full_reduction(
            "std",
            &ddof,
            moments_k::<T>(Stat::Var { ddof, sqrt: true }, false),
        )
    }

    /// Standard deviation over `opts`' axes.
    pub fn std_with(&self, ddof: f64, opts: &Reduce) -> Result<Array<T::Real>> {
        self.reduction(
            "std",
            &ddof,
            moments_k::<T>(Stat::Var { ddof, sqrt: true }, false),
            opts,
        )
    }

    /// Variance ignoring NaN.
    pub fn nanvar(&self, ddof: f64) -> Scalar<T::Real> {
        self.full_reduction(
            "nanvar",
            &ddof,
            moments_k::<T>(Stat::Var { ddof, sqrt: false }, true),
        )
    }

    /// Variance ignoring NaN over `opts`' axes.
    pub fn nanvar_with(&self, ddof: f64, opts: &Reduce) -> Result<Array<T::Real>> {
        self.reduction(
            "nanvar",
            &ddof,
            moments_k::<T>(Stat::Var { ddof, sqrt: false }, true),
            opts,
        )
    }

    /// Standard deviation ignoring NaN.
    pub fn nanstd(&self, ddof: f64) -> Scalar<T::Real> {
        self.full_reduction(
            "nanstd",
            &ddof,
            moments_k::<T>(Stat::Var { ddof, sqrt: true }, true),
        )
    }

    /// Standard deviation ignoring NaN over `opts`' axes.
    pub fn nanstd_with(&self, ddof: f64, opts: &Reduce) -> Result<Array<T::Real>> {
        self.reduction(
            "nanstd",
            &ddof,
            moments_k::<T>(Stat::Var { ddof, sqrt: true }, true),
            opts,
        )
    }
}
