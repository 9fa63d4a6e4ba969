//! The scheduler's state machine, without sockets.
//!
//! [`ClusterState`] is fed events (a connection joined, a message arrived,
//! a connection closed, a clock tick) and answers with messages to send
//! ([`Out`]). The tokio shell in [`super`] only moves bytes.
//!
//! Each computation keeps one [`TaskState`] — the same bookkeeping the
//! local schedulers use: waiting counts, reader counts, completion — plus
//! Dask's per-task status: waiting, queued (ready, not sent), processing on
//! a worker, memory on a worker, released, erred. When a worker dies:
//!
//! 1. each task that was processing on it counts one failure; past
//!    `allowed_failures` the computation fails with `KilledWorker`;
//! 2. results it held are lost; a fresh `TaskState` is built and fed the
//!    tasks whose results still stand (held on a live worker, or released
//!    with every reader done), so the lost results and whatever of their
//!    lineage was released are computed again.
//!
//! Placement: a ready task goes to the worker, among those with room, that
//! holds the most bytes of its inputs; ties go to the least loaded.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use oxidask_graph::Deps;
use oxidask_scheduler::TaskState;

use crate::messages::{DepAt, External, Failure, MemoryReport, Msg, Role, RunTask};

/// Misses of one task's inputs (see [`ClusterState::message`]'s
/// `Missing`) before its computation fails.
const MISSING_LIMIT: u32 = 100;

/// A connection's id.
pub type ConnId = u64;

/// A message to send on a connection.
#[derive(Debug)]
pub struct Out {
    /// The connection.
    pub to: ConnId,
    /// The message.
    pub msg: Msg,
    /// Its data frames.
    pub data: Vec<Bytes>,
}

/// Settings of the scheduler.
#[derive(Clone, Debug)]
pub struct SchedulerOptions {
    /// Workers a task may be running on when they die before it fails with
    /// `KilledWorker` (Dask's default: 3).
    pub allowed_failures: u32,
    /// A worker silent this long is taken for dead.
    pub worker_timeout: Duration,
    /// Tasks sent to a worker and not yet reported, per thread of it.
    pub tasks_per_thread: usize,
    /// Root-task queuing, as Dask's `worker-saturation`: a task without
    /// inputs goes to a worker only while fewer than ⌈threads × this⌉ of
    /// its tasks are in flight; the other roots wait, queued on the
    /// scheduler, so workers do not race ahead making data (reads,
    /// generators) that the tasks consuming it cannot keep up with. `None`
    /// (the default): roots go out like other tasks, up to
    /// `tasks_per_thread` per thread — many tiny independent tasks then
    /// keep every thread busy without a round trip per task.
    pub worker_saturation: Option<f64>,
    /// TLS the listener requires of every connection (`None`: plain TCP);
    /// see [`crate::tls`]. Loaded when the scheduler starts.
    pub tls: Option<crate::TlsFiles>,
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        SchedulerOptions {
            allowed_failures: 3,
            worker_timeout: Duration::from_secs(10),
            tasks_per_thread: 128,
            worker_saturation: None,
            tls: None,
        }
    }
}

struct Worker {
    name: String,
    peer_addr: String,
    nthreads: u32,
    inflight: HashSet<(u64, u32)>,
    last_seen: Instant,
    memory: MemoryReport,
    /// A `Steal` sent to it is not answered yet.
    stealing_from: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Waiting,
    Queued,
    Processing(ConnId),
    Memory(ConnId),
    Released,
    /// A placeholder for another computation's result (see
    /// [`Comp::externals`]); never runs.
    External,
}

struct Comp {
    client: ConnId,
    client_comp: u64,
    graph: Bytes,
    deps: Deps,
    topo: Vec<u32>,
    priority: Vec<u32>,
    outputs: Vec<u32>,
    /// Times each task is requested.
    wanted: Vec<u32>,
    state: TaskState<'static, ()>,
    status: Vec<Status>,
    nbytes: Vec<u64>,
    failures: Vec<u32>,
    /// Times each task could not fetch an input.
    missing: Vec<u32>,
    delivered: Vec<bool>,
    ready: BinaryHeap<Reverse<(u32, u32)>>,
    graph_sent: HashSet<ConnId>,
    /// Requested results stay on the workers until the client cancels the
    /// computation (its futures may be read by later computations).
    hold: bool,
    /// Requested results go to the client.
    send: bool,
    /// Reruns of a failing task before the computation fails.
    retries: u32,
    /// Reruns so far, per task.
    tries: Vec<u32>,
    /// Values scattered by the client: no lineage, nothing to run.
    scattered: bool,
    /// Other workers holding a copy of a result (broadcast values).
    replicas: HashMap<u32, Vec<ConnId>>,
    /// Placeholder task → (computation, task) whose result it stands for.
    externals: HashMap<u32, (u64, u32)>,
    /// Placeholders whose source result is not in memory yet.
    unresolved: Vec<u32>,
}

/// A submitted computation's description (the fields of `Msg::Submit`).
struct Spec {
    deps: Vec<Vec<u32>>,
    priority: Vec<u32>,
    outputs: Vec<u32>,
    externals: Vec<External>,
    hold: bool,
    send: bool,
    retries: u32,
}

/// The scheduler's whole state: workers, clients and computations.
pub struct ClusterState {
    options: SchedulerOptions,
    workers: BTreeMap<ConnId, Worker>,
    clients: HashSet<ConnId>,
    comps: BTreeMap<u64, Comp>,
    /// Where the next scattered value goes (round robin over workers).
    next_scatter: usize,
    out: Vec<Out>,
    /// Connections the shell must close (timed-out workers).
    pub to_close: Vec<ConnId>,
}

impl ClusterState {
    /// An empty cluster.
    pub fn new(options: SchedulerOptions) -> ClusterState {
        ClusterState {
            options,
            workers: BTreeMap::new(),
            clients: HashSet::new(),
            comps: BTreeMap::new(),
            next_scatter: 0,
            out: Vec::new(),
            to_close: Vec::new(),
        }
    }

    /// Names and memory of the workers.
    pub fn workers(&self) -> Vec<(String, MemoryReport)> {
        self.workers
            .values()
            .map(|w| (w.name.clone(), w.memory))
            .collect()
    }

    /// The messages to send, taken out.
    pub fn take_out(&mut self) -> Vec<Out> {
        std::mem::take(&mut self.out)
    }

    fn send(&mut self, to: ConnId, msg: Msg, data: Vec<Bytes>) {
        self.out.push(Out { to, msg, data });
    }

    /// A connection passed the handshake.
    pub fn connected(&mut self, conn: ConnId, role: Role) {
        match role {
            Role::Client => {
                self.clients.insert(conn);
            }
            Role::Worker {
                name,
                nthreads,
                peer_addr,
                ..
            } => {
                tracing::info!(worker = %name, %peer_addr, nthreads, "worker joined");
                self.workers.insert(
                    conn,
                    Worker {
                        name,
                        peer_addr,
                        nthreads: nthreads.max(1),
                        inflight: HashSet::new(),
                        last_seen: Instant::now(),
                        memory: MemoryReport::default(),
                        stealing_from: false,
                    },
                );
                self.dispatch();
            }
            Role::Peer => {}
        }
    }

    /// A connection closed (or was dropped for a protocol error).
    pub fn closed(&mut self, conn: ConnId) {
        if self.clients.remove(&conn) {
            let mine: Vec<u64> = self
                .comps
                .iter()
                .filter(|(_, c)| c.client == conn)
                .map(|(&id, _)| id)
                .collect();
            for id in mine {
                self.forget(id);
            }
        } else if let Some(w) = self.workers.remove(&conn) {
            tracing::warn!(worker = %w.name, "worker left or died");
            self.worker_lost(conn, &w.name);
            self.dispatch();
        }
    }

    /// A clock tick: workers silent for too long are dropped.
    pub fn tick(&mut self, now: Instant) {
        let timeout = self.options.worker_timeout;
        let dead: Vec<ConnId> = self
            .workers
            .iter()
            .filter(|(_, w)| now.duration_since(w.last_seen) > timeout)
            .map(|(&c, _)| c)
            .collect();
        for c in dead {
            tracing::warn!(conn = c, "worker missed its heartbeats; dropping it");
            self.to_close.push(c);
            self.closed(c);
        }
    }

    /// A message from connection `conn`. An `Err` is a protocol violation:
    /// the shell logs it and drops the connection.
    pub fn message(&mut self, conn: ConnId, msg: Msg, mut data: Vec<Bytes>) -> Result<(), String> {
        if let Some(w) = self.workers.get_mut(&conn) {
            w.last_seen = Instant::now();
        }
        let is_client = self.clients.contains(&conn);
        let is_worker = self.workers.contains_key(&conn);
        match msg {
            Msg::Submit {
                comp,
                deps,
                priority,
                outputs,
                externals,
                hold,
                send,
                retries,
            } if is_client => {
                let graph = data.pop().ok_or("Submit without its graph frame")?;
                let spec = Spec {
                    deps,
                    priority,
                    outputs,
                    externals,
                    hold,
                    send,
                    retries,
                };
                self.submit(conn, comp, spec, graph);
            }
            Msg::Scatter {
                comp,
                codecs,
                broadcast,
            } if is_client => {
                if data.len() != codecs.len() {
                    return Err("Scatter without its data frames".into());
                }
                self.scatter(conn, comp, codecs, data, broadcast);
            }
            Msg::Stored { comp, items } if is_worker => self.stored(conn, comp, &items),
            Msg::Cancel { comp } if is_client => {
                self.forget(global_id(conn, comp));
            }
            Msg::Heartbeat { memory } if is_worker => {
                if let Some(w) = self.workers.get_mut(&conn) {
                    w.memory = memory;
                }
            }
            Msg::Stolen { comp, ids } if is_worker => self.stolen(conn, comp, &ids),
            Msg::Done {
                comp,
                id,
                nbytes,
                codec,
            } if is_worker => {
                let value = match codec {
                    Some(c) => Some((c, data.pop().ok_or("Done without its data frame")?)),
                    None => None,
                };
                self.done(conn, comp, id, nbytes, value);
            }
            Msg::Erred { comp, id, error } if is_worker => {
                if self.reported(conn, comp, id) && !self.retry(comp, id, &error) {
                    self.fail(comp, Failure::Task(error));
                }
            }
            Msg::Missing { comp, id, dep } if is_worker => {
                if self.reported(conn, comp, id) {
                    self.missing(comp, id, dep);
                }
            }
            Msg::GraphErred { comp, message } if is_worker => {
                self.fail(comp, Failure::BadGraph(message));
            }
            other => {
                return Err(format!(
                    "unexpected {} from a {}",
                    other.kind(),
                    if is_client {
                        "client"
                    } else if is_worker {
                        "worker"
                    } else {
                        "peer"
                    }
                ));
            }
        }
        self.dispatch();
        self.balance();
        Ok(())
    }

    /// Work stealing: when workers have idle threads and nothing is left to
    /// send them, asks the worker with the most tasks queued beyond its
    /// threads to give back the half it would run last (at most one per
    /// idle thread); a paused worker is asked for all of its tasks whenever
    /// another is not paused. They go out again from `stolen`. One request
    /// per worker at a time.
    fn balance(&mut self) {
        let idle: usize = self
            .workers
            .values()
            .filter(|w| !w.memory.paused)
            .map(|w| (w.nthreads as usize).saturating_sub(w.inflight.len()))
            .sum();
        if self.workers.values().all(|w| w.memory.paused) {
            return;
        }
        // A paused worker's tasks are better queued anywhere else; a busy
        // one's only go to idle threads.
        let queued = |w: &Worker| {
            if w.memory.paused {
                w.inflight.len()
            } else if idle > 0 {
                w.inflight.len().saturating_sub(w.nthreads as usize)
            } else {
                0
            }
        };
        let Some((&victim, w)) = self
            .workers
            .iter()
            .filter(|(_, w)| !w.stealing_from && queued(w) > 0)
            .max_by_key(|(_, w)| queued(w))
        else {
            return;
        };
        let n = if w.memory.paused {
            queued(w)
        } else {
            idle.min(queued(w).div_ceil(2))
        };
        // The tasks it would run last: the greatest priority numbers.
        let mut candidates: Vec<(u32, u64, u32)> = w
            .inflight
            .iter()
            .filter_map(|&(c, t)| {
                let comp = self.comps.get(&c)?;
                Some((comp.priority[t as usize], c, t))
            })
            .collect();
        candidates.sort_unstable_by(|a, b| b.cmp(a));
        let mut asks: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
        for &(_, c, t) in candidates.iter().take(n) {
            asks.entry(c).or_default().push(t);
        }
        if asks.is_empty() {
            return;
        }
        if let Some(w) = self.workers.get_mut(&victim) {
            w.stealing_from = true;
        }
        for (comp, ids) in asks {
            self.send(victim, Msg::Steal { comp, ids }, vec![]);
        }
    }

    /// A worker gave back tasks it had not started: they are ready again.
    fn stolen(&mut self, w: ConnId, comp_id: u64, ids: &[u32]) {
        if let Some(worker) = self.workers.get_mut(&w) {
            worker.stealing_from = false;
            for &id in ids {
                worker.inflight.remove(&(comp_id, id));
            }
        }
        let Some(c) = self.comps.get_mut(&comp_id) else {
            return;
        };
        for &id in ids {
            if c.status.get(id as usize) == Some(&Status::Processing(w)) {
                c.status[id as usize] = Status::Queued;
                c.ready.push(Reverse((c.priority[id as usize], id)));
            }
        }
    }

    fn submit(&mut self, client: ConnId, client_comp: u64, spec: Spec, graph: Bytes) {
        let Spec {
            deps,
            priority,
            outputs,
            externals,
            hold,
            send,
            retries,
        } = spec;
        let id = global_id(client, client_comp);
        let n = deps.len();
        let bad = |m: String| Msg::Failed {
            comp: client_comp,
            failure: Failure::BadGraph(m),
        };
        if priority.len() != n {
            return self.send(
                client,
                bad(format!("{} priorities for {n} tasks", priority.len())),
                vec![],
            );
        }
        if let Some(&o) = outputs.iter().find(|&&o| o as usize >= n) {
            return self.send(client, bad(format!("output #{o} of {n} tasks")), vec![]);
        }
        if let Some(d) = deps.iter().flatten().find(|&&d| d as usize >= n) {
            return self.send(client, bad(format!("dependency #{d} of {n} tasks")), vec![]);
        }
        let mut ext = HashMap::with_capacity(externals.len());
        for External { id: t, comp, task } in externals {
            if t as usize >= n || !deps[t as usize].is_empty() {
                return self.send(
                    client,
                    bad(format!("placeholder #{t} of {n} tasks")),
                    vec![],
                );
            }
            let source = global_id(client, comp);
            let known = self
                .comps
                .get(&source)
                .is_some_and(|c| (task as usize) < c.status.len());
            if !known {
                let lost = Msg::Failed {
                    comp: client_comp,
                    failure: Failure::Lost {
                        task: t,
                        reason: "its computation was released or failed before this one was \
                                 submitted"
                            .into(),
                    },
                };
                return self.send(client, lost, vec![]);
            }
            ext.insert(t, (source, task));
        }
        let deps = Deps::from_lists(deps);
        let topo = match oxidask_graph::topological_order(&deps) {
            Ok(t) => t,
            Err(t) => return self.send(client, bad(format!("task #{t} is on a cycle")), vec![]),
        };
        let mut wanted = vec![0u32; n];
        for &o in &outputs {
            wanted[o as usize] += 1;
        }
        let state = TaskState::owned(deps.clone(), &outputs, false);
        let mut comp = Comp {
            client,
            client_comp,
            graph,
            deps,
            topo,
            priority,
            outputs,
            wanted,
            state,
            status: vec![Status::Waiting; n],
            nbytes: vec![0; n],
            failures: vec![0; n],
            missing: vec![0; n],
            delivered: vec![false; n],
            ready: BinaryHeap::new(),
            graph_sent: HashSet::new(),
            hold,
            send,
            retries,
            tries: vec![0; n],
            scattered: false,
            replicas: HashMap::new(),
            unresolved: ext.keys().copied().collect(),
            externals: ext,
        };
        for &t in &comp.unresolved {
            comp.status[t as usize] = Status::External;
        }
        for r in comp.state.roots(&comp.priority) {
            if comp.externals.contains_key(&r) {
                continue;
            }
            comp.status[r as usize] = Status::Queued;
            comp.ready.push(Reverse((comp.priority[r as usize], r)));
        }
        if n == 0 {
            return self.send(client, Msg::Finished { comp: client_comp }, vec![]);
        }
        self.comps.insert(id, comp);
    }

    /// Whether worker `w` reporting on task `id` is the one running it; the
    /// task is no longer in flight there either way.
    fn reported(&mut self, w: ConnId, comp: u64, id: u32) -> bool {
        if let Some(worker) = self.workers.get_mut(&w) {
            worker.inflight.remove(&(comp, id));
        }
        self.comps
            .get(&comp)
            .and_then(|c| c.status.get(id as usize))
            .is_some_and(|&s| s == Status::Processing(w))
    }

    fn done(
        &mut self,
        w: ConnId,
        comp_id: u64,
        id: u32,
        nbytes: u64,
        value: Option<(String, Bytes)>,
    ) {
        if !self.reported(w, comp_id, id) {
            // A stale report (the task was re-queued meanwhile): drop its
            // result if the worker kept it.
            self.send(
                w,
                Msg::Release {
                    comp: comp_id,
                    ids: vec![id],
                },
                vec![],
            );
            return;
        }
        let comp = self.comps.get_mut(&comp_id).expect("reported checked it");
        let i = id as usize;
        comp.nbytes[i] = nbytes;
        let held = comp.hold && comp.wanted[i] > 0;
        comp.status[i] = if comp.state.dependents(id).is_empty() && !held {
            Status::Released
        } else {
            Status::Memory(w)
        };
        let mut ready = Vec::new();
        comp.state.finished(id, &mut ready);
        for r in ready {
            comp.status[r as usize] = Status::Queued;
            comp.ready.push(Reverse((comp.priority[r as usize], r)));
        }
        let mut released = Vec::new();
        comp.state.consumed(id, &mut released);
        let mut sends = Vec::new();
        if comp.wanted[i] > 0 && !comp.delivered[i] {
            comp.delivered[i] = true;
            for _ in 0..comp.wanted[i] {
                comp.state.delivered(id, &mut released);
            }
            if comp.send {
                let (codec, bytes) = value.unwrap_or_default();
                sends.push(Out {
                    to: comp.client,
                    msg: Msg::Results {
                        comp: comp.client_comp,
                        items: vec![(id, codec)],
                    },
                    data: vec![bytes],
                });
            }
        }
        let mut by_worker: HashMap<ConnId, Vec<u32>> = HashMap::new();
        for r in released {
            let ri = r as usize;
            // A placeholder's result belongs to its own computation, and a
            // held output stays until the client cancels.
            if comp.status[ri] == Status::External || (comp.hold && comp.wanted[ri] > 0) {
                continue;
            }
            if let Status::Memory(h) = comp.status[r as usize] {
                by_worker.entry(h).or_default().push(r);
            }
            comp.status[r as usize] = Status::Released;
        }
        for (h, ids) in by_worker {
            sends.push(Out {
                to: h,
                msg: Msg::Release { comp: comp_id, ids },
                data: vec![],
            });
        }
        let over = comp.state.remaining() == 0;
        let (client, client_comp) = (comp.client, comp.client_comp);
        self.out.extend(sends);
        if over {
            self.send(client, Msg::Finished { comp: client_comp }, vec![]);
            if !self.comps[&comp_id].hold {
                self.forget(comp_id);
            }
        }
    }

    /// Task `id` could not fetch input `dep` from the worker said to hold
    /// it. As Dask's `missing-data`: that copy is no longer counted on. A
    /// holder that was killed is only known dead once its closed
    /// connection is read, and the reader's worker can miss it many times
    /// before that (a refused connection takes microseconds); waiting for
    /// the close would spin, so the input is computed again from its
    /// lineage now (the holder, if alive, is told to drop it). An input
    /// of another computation (a future) cannot be recomputed here: the
    /// reader is queued again and the source's own recovery brings it
    /// back. Each miss counts; after [`MISSING_LIMIT`] the computation
    /// fails saying which input and holder.
    fn missing(&mut self, comp_id: u64, id: u32, dep: u32) {
        let Some(c) = self.comps.get_mut(&comp_id) else {
            return;
        };
        c.missing[id as usize] += 1;
        let held_by = match c.status.get(dep as usize) {
            Some(Status::Memory(h)) => Some(*h),
            _ => None,
        };
        if c.missing[id as usize] > MISSING_LIMIT {
            let holder = held_by
                .and_then(|h| self.workers.get(&h))
                .map_or("no worker".into(), |w| w.name.clone());
            return self.fail(
                comp_id,
                Failure::BadGraph(format!(
                    "task #{id} could not fetch its input #{dep} from {holder} {MISSING_LIMIT} times"
                )),
            );
        }
        let Some(h) = held_by.filter(|_| !c.scattered) else {
            tracing::info!(
                comp_id,
                id,
                dep,
                "a task's input was not where it was said to be; queued again"
            );
            c.status[id as usize] = Status::Queued;
            c.ready.push(Reverse((c.priority[id as usize], id)));
            return;
        };
        tracing::info!(
            comp_id,
            id,
            dep,
            holder = h,
            "a task's input could not be fetched from its holder; computing it again"
        );
        if let Some(holders) = c.replicas.get_mut(&dep) {
            holders.retain(|&x| x != h);
        }
        c.status[dep as usize] = Status::Waiting;
        let live: HashSet<ConnId> = self.workers.keys().copied().collect();
        let mut releases = rebuild(c, &live);
        releases.entry(h).or_default().push(dep);
        for (w, ids) in releases {
            self.out.push(Out {
                to: w,
                msg: Msg::Release { comp: comp_id, ids },
                data: vec![],
            });
        }
    }

    fn fail(&mut self, comp_id: u64, failure: Failure) {
        if let Some(c) = self.comps.get(&comp_id) {
            let (client, client_comp) = (c.client, c.client_comp);
            self.send(
                client,
                Msg::Failed {
                    comp: client_comp,
                    failure,
                },
                vec![],
            );
            self.forget(comp_id);
        }
    }

    /// Drops a computation: workers that have its graph forget it.
    fn forget(&mut self, comp_id: u64) {
        if let Some(c) = self.comps.remove(&comp_id) {
            for w in c.graph_sent {
                if let Some(worker) = self.workers.get_mut(&w) {
                    worker.inflight.retain(|&(comp, _)| comp != comp_id);
                    self.out.push(Out {
                        to: w,
                        msg: Msg::Forget { comp: comp_id },
                        data: vec![],
                    });
                }
            }
        }
    }

    fn worker_lost(&mut self, w: ConnId, name: &str) {
        let ids: Vec<u64> = self.comps.keys().copied().collect();
        for comp_id in ids {
            let comp = self.comps.get_mut(&comp_id).expect("listed");
            comp.graph_sent.remove(&w);
            if comp.scattered {
                if let Some(f) = scattered_lost(comp, w, name) {
                    self.fail(comp_id, f);
                }
                continue;
            }
            for holders in comp.replicas.values_mut() {
                holders.retain(|&h| h != w);
            }
            let mut touched = false;
            let mut killed = None;
            for (t, s) in comp.status.iter().enumerate() {
                match *s {
                    Status::Processing(x) if x == w => {
                        touched = true;
                        comp.failures[t] += 1;
                        if comp.failures[t] > self.options.allowed_failures && killed.is_none() {
                            killed = Some(Failure::KilledWorker {
                                task: t as u32,
                                worker: name.to_string(),
                                failures: comp.failures[t],
                            });
                        }
                    }
                    Status::Memory(x) if x == w => touched = true,
                    _ => {}
                }
            }
            if let Some(f) = killed {
                self.fail(comp_id, f);
            } else if touched {
                let live: HashSet<ConnId> = self.workers.keys().copied().collect();
                let releases = rebuild(comp, &live);
                for (h, ids) in releases {
                    self.out.push(Out {
                        to: h,
                        msg: Msg::Release { comp: comp_id, ids },
                        data: vec![],
                    });
                }
            }
        }
    }

    /// Sends ready tasks to workers with room.
    fn dispatch(&mut self) {
        if self.workers.is_empty() {
            return;
        }
        let limits = Limits {
            per_thread: self.options.tasks_per_thread,
            saturation: self.options.worker_saturation,
        };
        let mut batches: HashMap<(ConnId, u64), Vec<RunTask>> = HashMap::new();
        let comp_ids: Vec<u64> = self.comps.keys().copied().collect();
        for comp_id in comp_ids {
            let ext = match self.externals_of(comp_id) {
                Ok(Some(ext)) => ext,
                // A source result is being computed again: wait for it.
                Ok(None) => continue,
                Err(f) => {
                    self.fail(comp_id, f);
                    continue;
                }
            };
            let Some(comp) = self.comps.get_mut(&comp_id) else {
                continue;
            };
            while let Some(&Reverse((_, t))) = comp.ready.peek() {
                if comp.status[t as usize] != Status::Queued {
                    comp.ready.pop();
                    continue;
                }
                // A task that finds no room (a root held back by the
                // saturation, or every worker full) holds back the tasks
                // after it in priority order until a worker has room.
                let Some(w) = place(comp, t, &ext, &self.workers, limits) else {
                    break;
                };
                comp.ready.pop();
                comp.status[t as usize] = Status::Processing(w);
                let deps = comp
                    .deps
                    .of(t)
                    .iter()
                    .map(|&d| match (comp.status[d as usize], ext.get(&d)) {
                        (Status::External, Some(loc)) => DepAt {
                            id: d,
                            at: (!loc.holders.contains(&w))
                                .then(|| self.workers[&loc.holders[0]].peer_addr.clone()),
                            from: Some(loc.from),
                        },
                        (Status::Memory(h), _) if h != w => DepAt {
                            id: d,
                            at: Some(self.workers[&h].peer_addr.clone()),
                            from: None,
                        },
                        _ => DepAt {
                            id: d,
                            at: None,
                            from: None,
                        },
                    })
                    .collect();
                let worker = self.workers.get_mut(&w).expect("placed on a live worker");
                worker.inflight.insert((comp_id, t));
                batches.entry((w, comp_id)).or_default().push(RunTask {
                    id: t,
                    priority: comp.priority[t as usize],
                    deps,
                    keep: !comp.state.dependents(t).is_empty()
                        || (comp.hold && comp.wanted[t as usize] > 0),
                    output: comp.send && comp.wanted[t as usize] > 0,
                });
            }
        }
        for ((w, comp_id), tasks) in batches {
            let comp = self.comps.get_mut(&comp_id).expect("listed");
            if comp.graph_sent.insert(w) {
                let graph = comp.graph.clone();
                self.out.push(Out {
                    to: w,
                    msg: Msg::Graph { comp: comp_id },
                    data: vec![graph],
                });
            }
            self.out.push(Out {
                to: w,
                msg: Msg::Run {
                    comp: comp_id,
                    tasks,
                },
                data: vec![],
            });
        }
    }

    /// A failed task is run again if its computation allows more reruns;
    /// returns whether it will be.
    fn retry(&mut self, comp_id: u64, id: u32, error: &oxidask_graph::TaskError) -> bool {
        let Some(c) = self.comps.get_mut(&comp_id) else {
            return false;
        };
        let i = id as usize;
        if c.tries[i] >= c.retries {
            return false;
        }
        c.tries[i] += 1;
        tracing::info!(comp_id, id, try_ = c.tries[i], %error, "a task failed; running it again");
        c.status[i] = Status::Queued;
        c.ready.push(Reverse((c.priority[i], id)));
        true
    }

    /// Shutdown: tells every worker to stop.
    pub fn shutdown(&mut self) {
        let ws: Vec<ConnId> = self.workers.keys().copied().collect();
        for w in ws {
            self.send(w, Msg::Shutdown, vec![]);
        }
    }
}

/// The computation id the scheduler and workers use: unique across
/// clients.
pub(crate) fn global_id(client: ConnId, comp: u64) -> u64 {
    (client << 40) | (comp & ((1 << 40) - 1))
}

/// How many tasks a worker may have in flight.
#[derive(Clone, Copy)]
struct Limits {
    per_thread: usize,
    /// For tasks without inputs: see [`SchedulerOptions::worker_saturation`].
    saturation: Option<f64>,
}

impl Limits {
    /// The most tasks in flight on a worker of `nthreads` before one more
    /// (a root task if `root`) is sent to it.
    fn of(self, nthreads: u32, root: bool) -> usize {
        match self.saturation {
            Some(s) if root => ((f64::from(nthreads) * s).ceil() as usize).max(1),
            _ => nthreads as usize * self.per_thread,
        }
    }
}

/// The worker for task `t`: among workers with room and not paused, the
/// one holding the most bytes of its inputs, then the least loaded.
fn place(
    comp: &Comp,
    t: u32,
    ext: &HashMap<u32, Loc>,
    workers: &BTreeMap<ConnId, Worker>,
    limits: Limits,
) -> Option<ConnId> {
    let root = comp.deps.of(t).is_empty();
    let mut held: Vec<(ConnId, u64)> = Vec::new();
    let mut add = |h: ConnId, n: u64| match held.iter_mut().find(|(w, _)| *w == h) {
        Some(e) => e.1 += n,
        None => held.push((h, n)),
    };
    for &d in comp.deps.of(t) {
        match comp.status[d as usize] {
            Status::Memory(h) => add(h, comp.nbytes[d as usize]),
            Status::External => {
                for &h in ext.get(&d).map_or(&[][..], |l| &l.holders) {
                    add(h, ext[&d].nbytes);
                }
            }
            _ => {}
        }
    }
    workers
        .iter()
        .filter(|(_, w)| !w.memory.paused && w.inflight.len() < limits.of(w.nthreads, root))
        .max_by(|(a, wa), (b, wb)| {
            let ha = held.iter().find(|(w, _)| w == *a).map_or(0, |e| e.1);
            let hb = held.iter().find(|(w, _)| w == *b).map_or(0, |e| e.1);
            // More bytes held first; then fewer tasks in flight per thread.
            ha.cmp(&hb).then_with(|| {
                (wb.inflight.len() * wa.nthreads as usize)
                    .cmp(&(wa.inflight.len() * wb.nthreads as usize))
            })
        })
        .map(|(&c, _)| c)
}

/// Rebuilds a computation's state after results were lost: replays the
/// tasks whose results still stand into a fresh [`TaskState`]; the others
/// are queued or waiting again. Returns results to release (held, but no
/// longer read by anything that still runs).
fn rebuild(comp: &mut Comp, live: &HashSet<ConnId>) -> HashMap<ConnId, Vec<u32>> {
    let n = comp.status.len();
    let mut ok = vec![false; n];
    // Dependents come after their dependencies in `topo`: walk it backwards
    // so a task's dependents are decided before it.
    for &t in comp.topo.iter().rev() {
        let i = t as usize;
        ok[i] = match comp.status[i] {
            Status::External => !comp.unresolved.contains(&t),
            Status::Memory(h) => live.contains(&h),
            Status::Released => comp.state.dependents(t).iter().all(|&d| ok[d as usize]),
            _ => false,
        };
    }
    let mut state = TaskState::owned(comp.deps.clone(), &comp.outputs, false);
    let mut scratch = Vec::new();
    for &t in &comp.topo {
        if ok[t as usize] {
            state.finished(t, &mut scratch);
        }
    }
    let mut released = Vec::new();
    for &t in &comp.topo {
        let i = t as usize;
        if ok[i] {
            state.consumed(t, &mut released);
            if comp.delivered[i] {
                for _ in 0..comp.wanted[i] {
                    state.delivered(t, &mut released);
                }
            }
        } else {
            comp.delivered[i] = false;
        }
    }
    let mut releases: HashMap<ConnId, Vec<u32>> = HashMap::new();
    for r in released {
        if comp.hold && comp.wanted[r as usize] > 0 {
            continue;
        }
        if let Status::Memory(h) = comp.status[r as usize] {
            releases.entry(h).or_default().push(r);
            comp.status[r as usize] = Status::Released;
        }
    }
    comp.ready.clear();
    for t in 0..n as u32 {
        let i = t as usize;
        if ok[i] || comp.status[i] == Status::External {
            continue;
        }
        let inputs_ok = comp.deps.of(t).iter().all(|&d| ok[d as usize]);
        comp.status[i] = match comp.status[i] {
            Status::Processing(w) if live.contains(&w) && inputs_ok => Status::Processing(w),
            _ if inputs_ok => {
                comp.ready.push(Reverse((comp.priority[i], t)));
                Status::Queued
            }
            _ => Status::Waiting,
        };
    }
    std::mem::swap(&mut comp.state, &mut state);
    releases
}

mod held;
#[cfg(test)]
mod tests;

use held::{Loc, scattered_lost};
