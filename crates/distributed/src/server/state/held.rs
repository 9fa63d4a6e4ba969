//! Results held across computations: values scattered by a client (a
//! computation of their own with nothing to run, one value per task, a
//! broadcast one on every worker) and the placeholders through which a
//! later computation reads another's results (futures passed as
//! arguments, persisted values).
//!
//! A placeholder task never runs: it counts as finished once the result it
//! stands for is in memory somewhere, and its readers are placed near that
//! result and told where to fetch it from ([`Loc`]).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};

use bytes::Bytes;
use oxidask_graph::Deps;
use oxidask_scheduler::TaskState;

use super::{ClusterState, Comp, ConnId, Status, global_id};
use crate::messages::{Failure, Msg};

/// Where another computation's result is, for a task reading it.
pub(super) struct Loc {
    pub holders: Vec<ConnId>,
    pub nbytes: u64,
    pub from: (u64, u32),
}

impl ClusterState {
    /// Values from a client become a computation of their own, held on
    /// the workers: each goes to the next worker in turn, or to every
    /// worker with `broadcast`.
    pub(super) fn scatter(
        &mut self,
        client: ConnId,
        client_comp: u64,
        codecs: Vec<String>,
        data: Vec<Bytes>,
        broadcast: bool,
    ) {
        let id = global_id(client, client_comp);
        let n = codecs.len();
        if n == 0 {
            return;
        }
        let ws: Vec<ConnId> = self.workers.keys().copied().collect();
        if ws.is_empty() {
            let failure = Failure::BadGraph("no workers to scatter the data to".into());
            return self.send(
                client,
                Msg::Failed {
                    comp: client_comp,
                    failure,
                },
                vec![],
            );
        }
        // Per worker: the (id, codec) of each value it gets, and the bytes.
        type Batch = (Vec<(u32, String)>, Vec<Bytes>);
        let mut per: BTreeMap<ConnId, Batch> = BTreeMap::new();
        let mut status = Vec::with_capacity(n);
        for (i, (codec, bytes)) in codecs.into_iter().zip(data).enumerate() {
            let targets = if broadcast {
                ws.clone()
            } else {
                self.next_scatter = self.next_scatter.wrapping_add(1);
                vec![ws[self.next_scatter % ws.len()]]
            };
            status.push(Status::Processing(targets[0]));
            for w in targets {
                let e = per.entry(w).or_default();
                e.0.push((i as u32, codec.clone()));
                e.1.push(bytes.clone());
            }
        }
        let deps = Deps::from_lists((0..n).map(|_| Vec::new()));
        let outputs: Vec<u32> = (0..n as u32).collect();
        let comp = Comp {
            client,
            client_comp,
            graph: Bytes::new(),
            state: TaskState::owned(deps.clone(), &outputs, false),
            deps,
            topo: outputs.clone(),
            priority: vec![0; n],
            outputs,
            wanted: vec![1; n],
            status,
            nbytes: vec![0; n],
            failures: vec![0; n],
            missing: vec![0; n],
            delivered: vec![true; n],
            ready: BinaryHeap::new(),
            graph_sent: per.keys().copied().collect(),
            hold: true,
            send: false,
            retries: 0,
            tries: vec![0; n],
            scattered: true,
            replicas: HashMap::new(),
            externals: HashMap::new(),
            unresolved: Vec::new(),
        };
        self.comps.insert(id, comp);
        for (w, (items, frames)) in per {
            let msg = Msg::Store {
                comp: id,
                n: n as u32,
                items,
            };
            self.send(w, msg, frames);
        }
    }

    /// Worker `w` holds scattered values.
    pub(super) fn stored(&mut self, w: ConnId, comp_id: u64, items: &[(u32, u64)]) {
        // A computation cancelled meanwhile: the worker was told to forget it.
        let Some(c) = self.comps.get_mut(&comp_id) else {
            return;
        };
        if !c.scattered {
            tracing::warn!(
                comp_id,
                "a worker reported storing values of a computation that scattered none"
            );
            return;
        }
        for &(id, nbytes) in items {
            let i = id as usize;
            match c.status.get(i).copied() {
                None => {}
                Some(Status::Memory(h)) if h == w => {}
                Some(Status::Memory(_)) => {
                    let r = c.replicas.entry(id).or_default();
                    if !r.contains(&w) {
                        r.push(w);
                    }
                }
                Some(_) => {
                    c.status[i] = Status::Memory(w);
                    c.nbytes[i] = nbytes;
                    c.state.finished(id, &mut Vec::new());
                }
            }
        }
    }

    /// Where the results a computation's placeholders stand for are:
    /// placeholders whose result is now in memory count as finished (their
    /// readers become ready). `Ok(None)` while some result is not in
    /// memory (being computed, or again after its worker died); an error
    /// when its computation is gone.
    pub(super) fn externals_of(
        &mut self,
        comp_id: u64,
    ) -> Result<Option<HashMap<u32, Loc>>, Failure> {
        let Some(comp) = self.comps.get(&comp_id) else {
            return Ok(None);
        };
        if comp.externals.is_empty() {
            return Ok(Some(HashMap::new()));
        }
        let mut locs = HashMap::with_capacity(comp.externals.len());
        let mut waiting = false;
        for (&t, &(src, task)) in &comp.externals {
            let Some(sc) = self.comps.get(&src) else {
                return Err(Failure::Lost {
                    task: t,
                    reason: "its computation was released or failed".into(),
                });
            };
            match sc.status[task as usize] {
                Status::Memory(h) => {
                    let mut holders = vec![h];
                    holders.extend(sc.replicas.get(&task).into_iter().flatten().copied());
                    let loc = Loc {
                        holders,
                        nbytes: sc.nbytes[task as usize],
                        from: (src, task),
                    };
                    locs.insert(t, loc);
                }
                _ => waiting = true,
            }
        }
        let comp = self.comps.get_mut(&comp_id).expect("looked up above");
        if !comp.unresolved.is_empty() {
            let (mut ready, mut released) = (Vec::new(), Vec::new());
            let mut still = Vec::new();
            for t in std::mem::take(&mut comp.unresolved) {
                if locs.contains_key(&t) {
                    comp.state.finished(t, &mut ready);
                    comp.state.consumed(t, &mut released);
                } else {
                    still.push(t);
                }
            }
            comp.unresolved = still;
            for r in ready {
                comp.status[r as usize] = Status::Queued;
                comp.ready.push(Reverse((comp.priority[r as usize], r)));
            }
        }
        Ok((!waiting).then_some(locs))
    }
}

/// Worker `w` died: scattered values only it held are lost (there is no
/// lineage to compute them again), and the computation fails naming the
/// first; a value with a copy elsewhere (broadcast) moves to that copy.
pub(super) fn scattered_lost(comp: &mut Comp, w: ConnId, name: &str) -> Option<Failure> {
    for holders in comp.replicas.values_mut() {
        holders.retain(|&h| h != w);
    }
    for (i, s) in comp.status.iter_mut().enumerate() {
        if let Status::Memory(x) | Status::Processing(x) = *s
            && x == w
        {
            match comp.replicas.get_mut(&(i as u32)).and_then(Vec::pop) {
                Some(r) => *s = Status::Memory(r),
                None => {
                    return Some(Failure::Lost {
                        task: i as u32,
                        reason: format!("it was scattered to worker {name}, which died"),
                    });
                }
            }
        }
    }
    None
}
