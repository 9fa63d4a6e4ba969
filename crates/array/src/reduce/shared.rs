//! Full reductions of one source in one compute share its streaming.
//!
//! `compute(&(x.mean(), x.std(0.0)))` over a streamed source (random
//! numbers, a `.npy` file, an in-memory array, or an elementwise expression
//! of them) would generate `x` twice: each reduction's partial tasks stream
//! the source themselves, and the tasks have different keys (different
//! kernels), so the graph cannot share them. [`share_scans`] runs when
//! arrays are collected into one graph (`Computable::collect`) and rewrites
//! it: the partial tasks of every reduction streaming the same *scan* (same
//! expression of the same sources, same grid and grouping — its token) are
//! replaced by
//!
//! 1. one task per block, `(scan-…, i, …)`, whose op ([`MultiScanOp`])
//!    streams the block once and feeds each piece to every reduction's
//!    accumulator, returning their values together ([`MultiOut`]);
//! 2. at each reduction's old partial key, a [`PickScan`] of its value, so
//!    the combine tree above is unchanged.
//!
//! A reduction computed alone keeps its single-member task: nothing is
//! rewritten and nothing costs more. A later collect of a third reduction
//! extends the existing scan op (its members keep their positions, so the
//! picks already in the graph stay right). Every op here is data: the
//! scan op writes its members' ops, each read back by the reduction op's
//! decoder.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use oxidask_graph::{
    Arg, Codec, DataOp, Key, Op, OpError, TaskGraph, Value, register_data_op, register_value,
};
use serde::{Deserialize, Serialize};

use super::scan::{Member, Running, Scan};
use super::tree::{Plan, decode_reduce_op};
use crate::element::Element;

/// What a streamed partial op shows a pass (through [`Op::as_any`]): the
/// scan it reads, how its task index maps to a block, and its member.
pub(crate) struct ScanHandle {
    /// Equal for ops that stream the same blocks the same way.
    pub token: Arc<str>,
    /// Maps a task's index argument to the full block index.
    pub plan: Arc<Plan>,
    pub final_level: bool,
    /// A `MemberRef<T>` of the op's element type.
    pub member: Box<dyn Any + Send + Sync>,
    /// Builds the scan op of several such ops (monomorphized for `T`).
    pub combine: Combine,
    /// For a scan op: the ops of its members, in order.
    pub members: Option<Vec<Arc<dyn Op>>>,
}

/// Builds the scan op of a token's member ops.
pub(crate) type Combine = fn(&Arc<str>, Vec<Arc<dyn Op>>) -> Result<Arc<dyn Op>, String>;

/// A reduction's tasks in a graph: their op and each task's key and
/// full block index.
type Tasks = (Arc<dyn Op>, Vec<(Key, Vec<u32>)>);

/// A streamed partial op's scan and member, typed.
pub(crate) struct MemberRef<T: Element> {
    pub scan: Arc<Scan<T>>,
    pub member: Arc<dyn Member<T>>,
}

/// The registry name of the shared scan op.
const SCAN_OP: &str = "oxidask.array.scan";

/// Streams a block once for several reductions.
struct MultiScanOp<T: Element> {
    label: String,
    scan: Arc<Scan<T>>,
    members: Vec<Arc<dyn Member<T>>>,
    needs_loc: bool,
    handle: ScanHandle,
}

/// The wire of a [`MultiScanOp`]: its scan's token and its members' ops.
#[derive(Serialize, Deserialize)]
struct MultiWire {
    token: String,
    ops: Vec<Vec<u8>>,
}

/// The scan op of streamed partial ops of element type `T` with one token.
pub(crate) fn combine<T: Element>(
    token: &Arc<str>,
    ops: Vec<Arc<dyn Op>>,
) -> Result<Arc<dyn Op>, String> {
    let mut members = Vec::with_capacity(ops.len());
    let mut scan = None;
    for op in &ops {
        let m = op
            .as_any()
            .and_then(|a| a.downcast_ref::<ScanHandle>())
            .filter(|h| h.token == *token && h.members.is_none())
            .and_then(|h| h.member.downcast_ref::<MemberRef<T>>())
            .ok_or_else(|| {
                format!(
                    "{SCAN_OP}: op {} is not a streamed reduction of scan {token}",
                    op.label()
                )
            })?;
        members.push(m.member.clone());
        scan.get_or_insert_with(|| m.scan.clone());
    }
    let scan = scan.ok_or_else(|| format!("{SCAN_OP}: a scan op needs members"))?;
    let labels: Vec<&str> = ops.iter().map(|o| o.label()).collect();
    Ok(Arc::new(MultiScanOp {
        label: labels.join("+"),
        needs_loc: members.iter().any(|m| m.needs_loc()),
        members,
        handle: ScanHandle {
            token: token.clone(),
            plan: Arc::new(Plan::new(scan.red.clone(), true, scan.grid.clone())),
            final_level: false,
            member: Box::new(()),
            combine: combine::<T>,
            members: Some(ops),
        },
        scan,
    }))
}

impl<T: Element> Op for MultiScanOp<T> {
    fn name(&self) -> &str {
        SCAN_OP
    }

    fn label(&self) -> &str {
        &self.label
    }

    fn call(&self, args: Vec<Value>) -> Result<Value, OpError> {
        let full = args
            .first()
            .ok_or_else(|| format!("{SCAN_OP} needs its block index"))?
            .downcast_ref::<Vec<u32>>()?;
        let mut runs: Vec<Box<dyn Running<T> + '_>> =
            self.members.iter().map(|m| m.start()).collect();
        self.scan.run(full, self.needs_loc, &mut |v, loc| {
            for r in runs.iter_mut() {
                r.piece(v.view(), loc);
            }
        })?;
        let outs = runs
            .into_iter()
            .map(|r| r.finish(full))
            .collect::<Result<Vec<_>, _>>()?;
        let n = outs.iter().map(|v| v.nbytes()).sum::<usize>()
            + std::mem::size_of::<Value>() * outs.len();
        Ok(Value::with_codec::<_, MultiCodec>(MultiOut(outs), n))
    }

    fn encode(&self) -> Option<Vec<u8>> {
        let ops = self
            .handle
            .members
            .as_ref()?
            .iter()
            .map(|o| o.encode())
            .collect::<Option<Vec<_>>>()?;
        postcard::to_stdvec(&MultiWire {
            token: self.handle.token.to_string(),
            ops,
        })
        .ok()
    }

    fn as_any(&self) -> Option<&(dyn Any + Send + Sync)> {
        Some(&self.handle)
    }
}

fn decode_scan_op(bytes: &[u8]) -> Result<Arc<dyn Op>, String> {
    let wire: MultiWire =
        postcard::from_bytes(bytes).map_err(|e| format!("parameters of {SCAN_OP}: {e}"))?;
    let ops = wire
        .ops
        .iter()
        .map(|b| decode_reduce_op(b))
        .collect::<Result<Vec<_>, _>>()?;
    let first = ops
        .first()
        .and_then(|o| o.as_any())
        .and_then(|a| a.downcast_ref::<ScanHandle>())
        .ok_or_else(|| format!("{SCAN_OP}: no streamed reduction among its members"))?;
    let combine = first.combine;
    combine(&Arc::from(wire.token), ops)
}

oxidask_graph::register_op!(SCAN_OP, decode_scan_op);

/// The values of a scan task, one per member in order.
#[derive(Clone)]
pub(crate) struct MultiOut(Vec<Value>);

/// Writes each member's value with its own codec (their codec ids first).
struct MultiCodec;

impl Codec<MultiOut> for MultiCodec {
    fn encode(value: &MultiOut, out: &mut dyn std::io::Write) -> Result<(), String> {
        let parts = value
            .0
            .iter()
            .map(|v| {
                let id = v
                    .codec()
                    .ok_or_else(|| format!("a {} has no byte encoding", v.type_name()))?
                    .id();
                let mut bytes = Vec::new();
                v.encode(&mut bytes)?;
                Ok((id, bytes))
            })
            .collect::<Result<Vec<(String, Vec<u8>)>, String>>()?;
        postcard::to_io(&parts, out).map_err(|e| e.to_string())?;
        Ok(())
    }

    fn decode(bytes: &[u8]) -> Result<MultiOut, String> {
        let parts: Vec<(String, Vec<u8>)> =
            postcard::from_bytes(bytes).map_err(|e| e.to_string())?;
        parts
            .into_iter()
            .map(|(id, b)| Value::decode(&id, &b).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()
            .map(MultiOut)
    }
}

register_value!(MultiOut, MultiCodec);

/// One member's value out of a scan task's [`MultiOut`].
#[derive(Serialize, Deserialize)]
pub(crate) struct PickScan {
    i: u32,
}

impl DataOp for PickScan {
    const NAME: &'static str = "oxidask.array.scan_pick";

    fn run(&self, args: Vec<Value>) -> Result<Value, OpError> {
        let all = crate::dataop::arg(&args, 0, Self::NAME)?.downcast_ref::<MultiOut>()?;
        all.0.get(self.i as usize).cloned().ok_or_else(|| {
            format!(
                "{}: member {} of a scan of {} members",
                Self::NAME,
                self.i,
                all.0.len()
            )
            .into()
        })
    }
}

register_data_op!(PickScan);

/// The streamed partial tasks of one scan found in a graph.
#[derive(Default)]
struct Found {
    /// The existing scan op, if an earlier collect made one.
    multi: Option<Arc<dyn Op>>,
    /// Unmerged reductions by layer name: their op and (key, full index)s.
    members: BTreeMap<Arc<str>, Tasks>,
}

/// Rewrites `graph` so reductions streaming the same scan share one task
/// per block (see the module docs). Touches nothing else.
pub(crate) fn share_scans(graph: &mut TaskGraph) -> Result<(), String> {
    let mut found: HashMap<Arc<str>, Found> = HashMap::new();
    for (key, task) in graph.iter() {
        let Some(h) = task
            .op
            .as_any()
            .and_then(|a| a.downcast_ref::<ScanHandle>())
        else {
            continue;
        };
        let f = found.entry(h.token.clone()).or_default();
        if h.members.is_some() {
            f.multi = Some(task.op.clone());
            continue;
        }
        let idx = match task.args.first() {
            Some(Arg::Value(v)) => v.downcast_ref::<Vec<u32>>().map_err(|e| e.to_string())?,
            _ => {
                return Err(format!(
                    "task {key}: a streamed reduction without its index"
                ));
            }
        };
        let full = h.plan.full_index(idx, h.final_level);
        let m = f
            .members
            .entry(key.name_arc().clone())
            .or_insert_with(|| (task.op.clone(), Vec::new()));
        m.1.push((key.clone(), full));
    }
    for (token, f) in found {
        let have = f.members.len() + usize::from(f.multi.is_some());
        if have < 2 || f.members.is_empty() {
            continue;
        }
        let (mut ops, combine) = match &f.multi {
            Some(op) => {
                let h = op
                    .as_any()
                    .and_then(|a| a.downcast_ref::<ScanHandle>())
                    .ok_or("internal: a scan op without its handle")?;
                (h.members.clone().unwrap_or_default(), h.combine)
            }
            None => {
                let first = f.members.values().next().ok_or("internal: no members")?;
                let h = first
                    .0
                    .as_any()
                    .and_then(|a| a.downcast_ref::<ScanHandle>())
                    .ok_or("internal: a streamed op without its handle")?;
                (Vec::new(), h.combine)
            }
        };
        let base = ops.len();
        ops.extend(f.members.values().map(|m| m.0.clone()));
        let op = combine(&token, ops)?;
        let scan_key = |full: &[u32]| Key::with_index(token.clone(), full);
        if f.multi.is_none() {
            // Every member of a scan has a task per block of it.
            let blocks = f.members.values().next().map(|m| &m.1);
            for (_, full) in blocks.into_iter().flatten() {
                let task = oxidask_graph::Task::new(
                    op.clone(),
                    vec![Arg::Value(Value::new(full.clone()))],
                );
                graph.insert(scan_key(full), task);
            }
        } else {
            // The scan's tasks exist: give them the extended op.
            let keys: Vec<Key> = graph
                .keys()
                .filter(|k| *k.name_arc() == token)
                .cloned()
                .collect();
            for k in keys {
                let task = oxidask_graph::Task::new(
                    op.clone(),
                    vec![Arg::Value(Value::new(k.index().to_vec()))],
                );
                graph.insert(k, task);
            }
        }
        for (j, (_, (_, tasks))) in f.members.into_iter().enumerate() {
            let pick: Arc<dyn Op> = Arc::new(PickScan {
                i: (base + j) as u32,
            });
            for (key, full) in tasks {
                let task = oxidask_graph::Task::new(pick.clone(), vec![Arg::Key(scan_key(&full))]);
                graph.insert(key, task);
            }
        }
    }
    Ok(())
}
