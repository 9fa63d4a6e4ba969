//! The tree of tasks of one reduction: partial, combine and finish layers
//! (see the parent module), and the streamed partial tasks.

use std::sync::Arc;

use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn, Order};
use oxidask_graph::{
    Arg, BlockArg, BlockLayer, Blockwise, Key, Op, OpError, Pattern, SerdeCodec, Task, Tokenize,
    TreeLayer, Value, name_for, split_factors,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::kernels::{KernelUser, Kernels};
use super::{DEFAULT_SPLIT_EVERY, Kernel, KernelSpec, Loc, Reduce};
use crate::array::{Array, Scalar};
use crate::element::{DType, Element, with_dtype};
use crate::error::{Result, invalid};
use crate::expr::{Env, ExprFn, chunk_value};
use crate::grid::{Grid, normalize_axes};
use crate::source::decode_stream;
use crate::steps::{Node, compile};
use crate::stream::{PIECE, Stream, Visit};

use super::scan::{KernelMember, Member, Scan};
use super::shared::{MemberRef, ScanHandle, combine};

/// Accumulators of one block, row-major over its kept axes; encoded with
/// `SerdeCodec`, so the store can spill it under a memory limit.
#[derive(Clone, Serialize, Deserialize)]
#[serde(bound = "A: Serialize + DeserializeOwned")]
pub(super) struct Part<A> {
    pub data: Vec<A>,
}

pub(super) struct Plan {
    red: Vec<usize>,
    keepdims: bool,
    in_grid: Arc<Grid>,
    out_grid: Grid,
}

impl Plan {
    /// The plan of reducing `in_grid` over `red`.
    pub fn new(red: Vec<usize>, keepdims: bool, in_grid: Arc<Grid>) -> Plan {
        let out_chunks: Vec<Vec<usize>> = (0..in_grid.ndim())
            .filter(|a| keepdims || !red.contains(a))
            .map(|a| {
                if red.contains(&a) {
                    vec![1]
                } else {
                    in_grid.chunks[a].clone()
                }
            })
            .collect();
        Plan {
            red,
            keepdims,
            in_grid,
            out_grid: Grid::new(out_chunks),
        }
    }

    /// The block index with reduced axes inserted (as 0) when they were dropped.
    pub fn full_index(&self, idx: &[u32], final_level: bool) -> Vec<u32> {
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

pub(super) fn finish_block<T: Element, K: Kernel<T>>(
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

pub(super) fn part_value<A: Send + Sync + Serialize + DeserializeOwned + 'static>(
    p: Part<A>,
) -> Value {
    let n = std::mem::size_of::<Part<A>>() + p.data.len() * std::mem::size_of::<A>();
    Value::with_codec::<_, SerdeCodec>(p, n)
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

/// What every op of a reduction tree writes to bytes: kernel, plan and
/// level, and for level 0 the fused expression (see the module docs).
#[derive(Clone, Serialize, Deserialize)]
struct Wire {
    label: String,
    dtype: DType,
    kernel: KernelSpec,
    red: Vec<usize>,
    keepdims: bool,
    #[serde(with = "crate::wire::runs")]
    in_chunks: Vec<Vec<usize>>,
    final_level: bool,
    level: Level,
}

#[derive(Clone, Serialize, Deserialize)]
enum Level {
    /// Level 0 reading materialized leaf blocks.
    Partial { expr: ExprParts },
    /// Level 0 streaming sources; `streams` holds their specs' bytes (only
    /// filled in when encoding: an in-memory source's bytes are its data).
    Stream {
        expr: ExprParts,
        streams: Vec<Vec<u8>>,
        group: Option<(Vec<u32>, Vec<u32>)>,
        bare: bool,
        /// The scan's token (see `shared`).
        token: String,
    },
    /// Levels ≥ 1.
    Combine,
}

impl Level {
    fn expr(&self) -> Option<&ExprParts> {
        match self {
            Level::Partial { expr } | Level::Stream { expr, .. } => Some(expr),
            Level::Combine => None,
        }
    }
}

/// A fused expression as data: its node and leaf order and read counts.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct ExprParts {
    node: Arc<Node>,
    pub ids: Arc<[u64]>,
    pub uses: Arc<[u32]>,
}

/// The registry name of every reduction-tree op.
const REDUCE_OP: &str = "oxidask.array.reduce";

impl Wire {
    fn plan(&self) -> Plan {
        Plan::new(
            self.red.clone(),
            self.keepdims,
            Arc::new(Grid::new(self.in_chunks.clone())),
        )
    }

    /// The bytes, or `None` when the expression holds a closure.
    fn encode(&self) -> Option<Vec<u8>> {
        if self
            .level
            .expr()
            .is_some_and(|e| e.node.closure().is_some())
        {
            return None;
        }
        postcard::to_stdvec(self).ok()
    }
}

pub(super) fn decode_reduce_op(bytes: &[u8]) -> Result<Arc<dyn Op>, String> {
    let wire: Wire =
        postcard::from_bytes(bytes).map_err(|e| format!("parameters of {REDUCE_OP}: {e}"))?;
    with_dtype!(wire.dtype, T => <T as Kernels>::with_kernel(wire.kernel, Rebuild(wire)))
}

oxidask_graph::register_op!(REDUCE_OP, decode_reduce_op);

/// Rebuilds a reduction op of a kernel type from its wire.
struct Rebuild(Wire);

impl<T: Element> KernelUser<T, Arc<dyn Op>> for Rebuild {
    fn call<K: Kernel<T>>(self, kernel: K) -> Result<Arc<dyn Op>, String> {
        let mut wire = self.0;
        let plan = Arc::new(wire.plan());
        let kernel = Arc::new(kernel);
        let final_level = wire.final_level;
        let f = match wire.level.expr() {
            Some(e) => Some(compile(&e.node)?.get::<T>()?),
            None => None,
        };
        Ok(match (&mut wire.level, f) {
            (Level::Partial { .. }, Some(f)) => Arc::new(PartialOp {
                wire,
                kernel,
                plan,
                f,
                final_level,
            }),
            (
                Level::Stream {
                    expr,
                    streams,
                    group,
                    bare,
                    token,
                },
                Some(f),
            ) => {
                let specs = std::mem::take(streams);
                let (group, bare, token) = (group.clone(), *bare, token.clone());
                let streams = specs
                    .iter()
                    .map(|b| decode_stream(b))
                    .collect::<Result<Vec<_>, _>>()?;
                let visit = streams
                    .first()
                    .filter(|_| bare)
                    .and_then(|s| s.visit())
                    .and_then(|v| v.downcast::<Visit<T>>().ok())
                    .map(|v| *v);
                let scan = Arc::new(Scan {
                    grid: plan.in_grid.clone(),
                    red: plan.red.clone(),
                    expr: expr.clone(),
                    f,
                    streams,
                    group,
                    visit,
                });
                Arc::new(StreamPartialOp::new(
                    wire,
                    kernel,
                    plan,
                    scan,
                    token.into(),
                    final_level,
                ))
            }
            _ => Arc::new(CombineOp {
                wire,
                kernel,
                plan,
                final_level,
                _t: std::marker::PhantomData::<fn(T)>,
            }),
        })
    }
}

/// Level 0: the fused expression of a block, reduced.
struct PartialOp<T: Element, K: Kernel<T>> {
    wire: Wire,
    kernel: Arc<K>,
    plan: Arc<Plan>,
    f: ExprFn<T>,
    final_level: bool,
}

impl<T: Element, K: Kernel<T>> Op for PartialOp<T, K> {
    fn name(&self) -> &str {
        REDUCE_OP
    }

    fn label(&self) -> &str {
        &self.wire.label
    }

    fn encode(&self) -> Option<Vec<u8>> {
        self.wire.encode()
    }

    fn call(&self, mut args: Vec<Value>) -> Result<Value, OpError> {
        let leaves = args.split_off(1);
        let idx = args[0].downcast_ref::<Vec<u32>>()?;
        let full = self.plan.full_index(idx, self.final_level);
        let e = self
            .wire
            .level
            .expr()
            .ok_or("internal: a partial op without its expression")?;
        let mut env = Env::new(
            e.ids.clone(),
            leaves,
            e.uses.to_vec(),
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
/// (see the `stream` module); one scan feeding one member (see `scan`).
struct StreamPartialOp<T: Element, K: Kernel<T>> {
    wire: Wire,
    member: Arc<KernelMember<T, K>>,
    plan: Arc<Plan>,
    scan: Arc<Scan<T>>,
    final_level: bool,
    /// What `shared::share_scans` reads to merge this with reductions of
    /// the same scan.
    handle: ScanHandle,
}

impl<T: Element, K: Kernel<T>> StreamPartialOp<T, K> {
    fn new(
        wire: Wire,
        kernel: Arc<K>,
        plan: Arc<Plan>,
        scan: Arc<Scan<T>>,
        token: Arc<str>,
        final_level: bool,
    ) -> Self {
        let member = Arc::new(KernelMember {
            kernel,
            plan: plan.clone(),
            final_level,
            _t: std::marker::PhantomData,
        });
        let handle = ScanHandle {
            token,
            plan: plan.clone(),
            final_level,
            member: Box::new(MemberRef {
                scan: scan.clone(),
                member: member.clone() as Arc<dyn Member<T>>,
            }),
            combine: combine::<T>,
            members: None,
        };
        StreamPartialOp {
            wire,
            member,
            plan,
            scan,
            final_level,
            handle,
        }
    }
}

impl<T: Element, K: Kernel<T>> Op for StreamPartialOp<T, K> {
    fn name(&self) -> &str {
        REDUCE_OP
    }

    fn label(&self) -> &str {
        &self.wire.label
    }

    fn encode(&self) -> Option<Vec<u8>> {
        let mut wire = self.wire.clone();
        if let Level::Stream { streams, .. } = &mut wire.level {
            *streams = self
                .scan
                .streams
                .iter()
                .map(|s| s.encode())
                .collect::<Option<Vec<_>>>()?;
        }
        wire.encode()
    }

    fn call(&self, args: Vec<Value>) -> Result<Value, OpError> {
        let idx = args
            .first()
            .ok_or("a partial task needs its block index")?
            .downcast_ref::<Vec<u32>>()?;
        let full = self.plan.full_index(idx, self.final_level);
        let mut run = self.member.start();
        self.scan
            .run(&full, K::NEEDS_LOC, &mut |v, loc| run.piece(v, loc))?;
        run.finish(&full)
    }

    fn as_any(&self) -> Option<&(dyn std::any::Any + Send + Sync)> {
        Some(&self.handle)
    }
}

/// Levels ≥ 1: partials merged in index order.
struct CombineOp<T: Element, K: Kernel<T>> {
    wire: Wire,
    kernel: Arc<K>,
    plan: Arc<Plan>,
    final_level: bool,
    _t: std::marker::PhantomData<fn(T)>,
}

impl<T: Element, K: Kernel<T>> Op for CombineOp<T, K> {
    fn name(&self) -> &str {
        REDUCE_OP
    }

    fn label(&self) -> &str {
        &self.wire.label
    }

    fn encode(&self) -> Option<Vec<u8>> {
        self.wire.encode()
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
        let plan = Arc::new(Plan::new(red.clone(), opts.keepdims, self.grid.clone()));
        let kernel = Arc::new(kernel);
        let expr = self.expr(&self.grid)?;
        let base = name_for(op, &(params, &expr.token, &red, opts.keepdims, split_every));

        let mut nb = self.grid.numblocks();
        // Per reduced axis, how many blocks one combine task merges.
        let factor = split_factors(&nb, &red, split_every);
        let done = |nb: &[u32]| red.iter().all(|&a| nb[a] <= 1);
        let key_nb = |nb: &[u32], final_level: bool| -> Vec<u32> {
            (0..ndim)
                .filter(|a| !final_level || opts.keepdims || !red.contains(a))
                .map(|a| nb[a])
                .collect()
        };

        let coarser = |nb: &[u32]| -> Vec<u32> {
            nb.iter()
                .zip(&factor)
                .map(|(&n, &f)| n.div_ceil(f))
                .collect()
        };
        // Only an elementwise expression may run on pieces of blocks: a
        // user's block function must see exactly its block.
        let streams: Option<Vec<Arc<dyn Stream>>> = (red.len() == ndim && expr.pointwise)
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
            format!("{base}-chunk")
        }
        .into();
        let parts = ExprParts {
            node: expr.node.clone(),
            ids: expr.leaves.iter().map(|l| l.id).collect(),
            uses: expr.leaves.iter().map(|l| l.uses).collect(),
        };
        let wire = |label: String, final_level: bool, level: Level| Wire {
            label,
            dtype: T::DTYPE,
            kernel: kernel.spec(),
            red: red.clone(),
            keepdims: opts.keepdims,
            in_chunks: self.grid.chunks.clone(),
            final_level,
            level,
        };
        let pattern: Arc<dyn Pattern> = match streams {
            // Level 0 of a streamed reduction: tasks read no keys, only
            // their index.
            Some(streams) => {
                let token = name_for(
                    "scan",
                    &(&expr.token, &self.grid.chunks, &group, T::DTYPE.to_string()),
                );
                let scan = Arc::new(Scan {
                    grid: self.grid.clone(),
                    red: red.clone(),
                    expr: parts.clone(),
                    f: expr.f.clone(),
                    streams,
                    group: group.clone(),
                    visit: if expr.bare { self.visit.clone() } else { None },
                });
                let w = wire(
                    op.to_string(),
                    final0,
                    Level::Stream {
                        expr: parts,
                        streams: Vec::new(),
                        group,
                        bare: expr.bare,
                        token: token.clone(),
                    },
                );
                Arc::new(Blockwise::new(
                    Arc::new(StreamPartialOp::new(
                        w,
                        kernel.clone(),
                        plan.clone(),
                        scan,
                        token.into(),
                        final0,
                    )),
                    vec![BlockArg::Index],
                ))
            }
            None => Arc::new(PartialPattern {
                op: Arc::new(PartialOp {
                    wire: wire(op.to_string(), final0, Level::Partial { expr: parts }),
                    kernel: kernel.clone(),
                    plan: plan.clone(),
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
        if !final0 {
            // Levels ≥ 1: partials merged in index order, the last level
            // finishing; each task sees its block index for the finish's
            // block shape.
            let level = |final_level: bool| -> Arc<dyn Op> {
                Arc::new(CombineOp {
                    wire: wire(format!("{op}-combine"), final_level, Level::Combine),
                    kernel: kernel.clone(),
                    plan: plan.clone(),
                    final_level,
                    _t: std::marker::PhantomData::<fn(T)>,
                })
            };
            let tree = TreeLayer::new(
                base.clone(),
                name0,
                nb,
                factor,
                opts.keepdims,
                true,
                level(false),
                level(true),
            )?;
            graph = graph.with_layer(Arc::new(tree));
        }
        Ok(Array {
            grid: Arc::new(plan.out_grid.clone()),
            name: base.into(),
            graph,
            fused: None,
            poison: None,
            stream: None,
            visit: None,
            _t: std::marker::PhantomData,
        })
    }

    pub(super) fn full_reduction<K: Kernel<T>>(
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

// The partials of every kernel for every dtype, decodable by codec id in
// another process of the program (a cluster moves them between workers):
// sums and products accumulate in `T::Sum`, min/max in `T`, the nan-aware
// ones in `Option<T>`, arg-reductions in `Option<(T, i64)>`, any/all in
// `bool`, moments in `Moments`.
macro_rules! register_parts {
    ($($t:ty),*) => {$(
        oxidask_graph::register_value!(Part<$t>, SerdeCodec);
        oxidask_graph::register_value!(Part<<$t as crate::element::Number>::Sum>, SerdeCodec);
        oxidask_graph::register_value!(Part<Option<$t>>, SerdeCodec);
        oxidask_graph::register_value!(Part<Option<($t, i64)>>, SerdeCodec);
    )*};
}
register_parts!(f64, f32, i64, i32, i16, i8, u64, u32, u16, u8);
oxidask_graph::register_value!(Part<bool>, SerdeCodec);
oxidask_graph::register_value!(Part<Option<bool>>, SerdeCodec);
oxidask_graph::register_value!(Part<Option<(bool, i64)>>, SerdeCodec);
oxidask_graph::register_value!(Part<super::kernels::Moments>, SerdeCodec);
