//! Level 0 of a streamed full reduction, split in two: the [`Scan`] reads
//! (or generates) the source blocks piece by piece through the fused
//! expression, and [`Member`]s — one per reduction — accumulate the pieces.
//!
//! One reduction is one scan feeding one member (`StreamPartialOp`); the
//! `shared` module lets one scan feed the members of several reductions of
//! the same source, so `compute(&(x.mean(), x.std(0.0)))` generates `x`
//! once.

use std::sync::Arc;

use ndarray::ArrayView1;
use oxidask_graph::{OpError, Value};

use super::Kernel;
use super::Loc;
use super::tree::{ExprParts, Part, Plan, finish_block, part_value};
use crate::element::Element;
use crate::expr::{Env, ExprFn};
use crate::grid::{Grid, unravel};
use crate::stream::{PIECE, Stream, Visit};

/// The source side of a streamed partial task: which block(s) a task
/// streams and how a piece of them is computed.
pub(crate) struct Scan<T: Element> {
    /// The grid of the reduced array (every axis is reduced).
    pub grid: Arc<Grid>,
    /// All axes, for [`Loc`].
    pub red: Vec<usize>,
    pub expr: ExprParts,
    pub f: ExprFn<T>,
    pub streams: Vec<Arc<dyn Stream>>,
    /// When set (factor, numblocks), a task reduces a group of small blocks.
    pub group: Option<(Vec<u32>, Vec<u32>)>,
    /// When the expression is a bare in-memory source: its pieces, uncopied.
    pub visit: Option<Visit<T>>,
}

impl<T: Element> Scan<T> {
    /// Streams the block(s) of the task at `full` (the task's block index
    /// with every axis) to `sink`, in row-major order.
    pub fn run(
        &self,
        full: &[u32],
        needs_loc: bool,
        sink: &mut dyn FnMut(ArrayView1<T>, &Loc),
    ) -> Result<(), OpError> {
        let Some((factor, nb)) = &self.group else {
            self.grid
                .check_index(full)
                .map_err(|e| OpError::from(format!("a streamed reduction task: {e}")))?;
            return self.block(full, needs_loc, sink);
        };
        // Blocks smaller than a piece: this task reduces the whole group a
        // first-level combine would merge, in index order.
        if full.len() != nb.len()
            || full
                .iter()
                .zip(factor)
                .zip(nb)
                .any(|((&i, &f), &n)| i * f >= n.max(1))
        {
            return Err(format!(
                "a streamed reduction task got block group {full:?}, outside a grid of {nb:?} \
                 blocks grouped by {factor:?}"
            )
            .into());
        }
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
            self.block(&b, needs_loc, sink)?;
        }
        Ok(())
    }

    /// Streams block `full` through the expression to `sink`.
    fn block(
        &self,
        full: &[u32],
        needs_loc: bool,
        sink: &mut dyn FnMut(ArrayView1<T>, &Loc),
    ) -> Result<(), OpError> {
        let bshape = self.grid.block_shape(full);
        let n: usize = bshape.iter().product();
        let mut loc = Loc {
            offset: 0,
            start: if needs_loc {
                self.grid.block_start(full)
            } else {
                Vec::new()
            },
            bshape,
            gshape: &self.grid.shape,
            red: &self.red,
        };
        if let Some(visit) = &self.visit {
            visit(&self.grid, full, &mut |piece, offset| {
                loc.offset = offset;
                sink(piece, &loc);
            });
            return Ok(());
        }
        let e = &self.expr;
        let mut readers: Vec<_> = self.streams.iter().map(|s| s.open(full)).collect();
        // At least one (possibly empty) piece: an empty block still gives
        // its kernel's identity (a sum of nothing is 0).
        loop {
            let len = PIECE.min(n - loc.offset);
            let vals = readers
                .iter_mut()
                .map(|r| r.next(len))
                .collect::<Result<Vec<_>, _>>()?;
            let mut env = Env::new(e.ids.clone(), vals, e.uses.to_vec(), 1);
            let blk = (self.f)(&mut env)?;
            let view = blk.view().into_shape_with_order(len)?;
            sink(view, &loc);
            loc.offset += len;
            if loc.offset >= n {
                return Ok(());
            }
        }
    }
}

/// The accumulating side of a streamed partial task: one reduction.
pub(crate) trait Member<T: Element>: Send + Sync {
    /// Whether its kernel reads where a piece sits (arg-reductions).
    fn needs_loc(&self) -> bool;
    /// A fresh accumulation for one task.
    fn start(&self) -> Box<dyn Running<T> + '_>;
}

/// One task's accumulation of one [`Member`].
pub(crate) trait Running<T: Element> {
    /// Adds a piece.
    fn piece(&mut self, v: ArrayView1<T>, loc: &Loc);
    /// The task's value: a partial result, or the finished block at the
    /// tree's last level.
    fn finish(self: Box<Self>, full: &[u32]) -> Result<Value, OpError>;
}

/// A reduction kernel as a [`Member`].
pub(crate) struct KernelMember<T: Element, K: Kernel<T>> {
    pub kernel: Arc<K>,
    pub plan: Arc<Plan>,
    pub final_level: bool,
    pub _t: std::marker::PhantomData<fn(T)>,
}

struct KernelRun<'a, T: Element, K: Kernel<T>> {
    m: &'a KernelMember<T, K>,
    acc: Option<K::Acc>,
}

impl<T: Element, K: Kernel<T>> Member<T> for KernelMember<T, K> {
    fn needs_loc(&self) -> bool {
        K::NEEDS_LOC
    }

    fn start(&self) -> Box<dyn Running<T> + '_> {
        Box::new(KernelRun { m: self, acc: None })
    }
}

impl<T: Element, K: Kernel<T>> Running<T> for KernelRun<'_, T, K> {
    fn piece(&mut self, v: ArrayView1<T>, loc: &Loc) {
        let a = self.m.kernel.row(v, loc);
        match &mut self.acc {
            None => self.acc = Some(a),
            Some(x) => self.m.kernel.merge(x, a),
        }
    }

    fn finish(self: Box<Self>, full: &[u32]) -> Result<Value, OpError> {
        let part = Part {
            data: self.acc.into_iter().collect(),
        };
        if self.m.final_level {
            finish_block(&*self.m.kernel, &self.m.plan, full, part)
        } else {
            Ok(part_value(part))
        }
    }
}
