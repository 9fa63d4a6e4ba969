//! The scheduler's dashboard feed: turns the cluster's messages into the
//! scheduler crate's [`Event`]s for the dashboard, so a cluster shows on the
//! same pages as a local run.
//!
//! It only watches: the shell hands it each message that arrives and each
//! message about to leave, and it never changes what the scheduler does.
//! What it turns into what:
//!
//! - a client's `Submit` → `Started` and `TaskGroups` (keys read from the
//!   graph bytes without building its ops, dependencies from the message);
//! - a worker's `TaskEvents` batch → `TaskStarted` / `TaskFinished`, each
//!   placed at the batch's arrival minus its age on the worker's clock,
//!   on the task stream row `first_thread + thread` of that worker;
//! - a worker's `Erred` → `TaskFailed`;
//! - `Finished` / `Failed` sent to a client, its `Cancel` or its leaving →
//!   `Finished`;
//! - heartbeats, `Run` and `Done` → the per-worker rows and counters of
//!   [`ClusterStatus`] (memory, tasks in flight, completed, erred, bytes).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use oxidask_dashboard::{ClusterStatus, ClusterWorker, Dashboard};
use oxidask_graph::{Key, TaskGraph};
use oxidask_scheduler::events::{Callback, ComputationId, Event};
use oxidask_store::MemoryStats;

use super::state::{ConnId, global_id};
use crate::messages::{MemoryReport, Msg, Role, TaskEvent};

/// The op label given to events: the scheduler does not decode ops (it
/// need not have them compiled in).
const OP: &str = "cluster";

struct Watched {
    id: ComputationId,
    keys: Vec<Key>,
    started: Instant,
    completed: usize,
    /// Tasks reported failed: their `Started` may come later, in the
    /// worker's next batch, and must not count them processing again.
    erred: HashSet<u32>,
    /// Tasks whose `Started` was shown and whose `Finished` was not yet.
    running: HashSet<u32>,
    /// When it ended: its keys are kept [`KEEP_ENDED`] longer, as the
    /// workers' last batches of its events arrive after its end.
    ended: Option<Instant>,
}

/// How long an ended computation's keys are kept for late events.
const KEEP_ENDED: Duration = Duration::from_secs(5);

struct WorkerRow {
    row: ClusterWorker,
    memory: MemoryReport,
    /// Tasks sent to it and not yet reported.
    inflight: HashSet<(u64, u32)>,
}

/// Feeds one dashboard from the scheduler's traffic.
pub(crate) struct Observer {
    dashboard: Dashboard,
    feed: Arc<dyn Callback>,
    addr: String,
    comps: HashMap<u64, Watched>,
    clients: HashMap<ConnId, Vec<u64>>,
    workers: BTreeMap<ConnId, WorkerRow>,
    /// Task stream rows handed out so far (never reused).
    next_thread: usize,
    status: ClusterStatus,
    dirty: bool,
    last_push: Instant,
}

/// How often the cluster's rows are pushed to the dashboard at most.
pub(crate) const PUSH_EVERY: Duration = Duration::from_millis(100);

impl Observer {
    pub(crate) fn new(dashboard: Dashboard, addr: String) -> Observer {
        let feed = dashboard.feed();
        Observer {
            dashboard,
            feed,
            addr,
            comps: HashMap::new(),
            clients: HashMap::new(),
            workers: BTreeMap::new(),
            next_thread: 0,
            status: ClusterStatus::default(),
            dirty: true,
            last_push: Instant::now(),
        }
    }

    /// The status page's address, for clients.
    pub(crate) fn link(&self) -> String {
        self.dashboard.url()
    }

    /// A connection passed its handshake.
    pub(crate) fn connected(&mut self, conn: ConnId, role: &Role) {
        if let Role::Worker {
            name,
            nthreads,
            memory_limit,
            peer_addr,
        } = role
        {
            let nthreads = (*nthreads).max(1);
            self.workers.insert(
                conn,
                WorkerRow {
                    row: ClusterWorker {
                        name: name.clone(),
                        address: peer_addr.clone(),
                        nthreads,
                        first_thread: self.next_thread,
                        memory_limit: *memory_limit,
                        ..ClusterWorker::default()
                    },
                    memory: MemoryReport::default(),
                    inflight: HashSet::new(),
                },
            );
            self.next_thread += nthreads as usize;
            self.dirty = true;
        }
    }

    /// A connection closed.
    pub(crate) fn closed(&mut self, conn: ConnId) {
        if self.workers.remove(&conn).is_some() {
            self.dirty = true;
        }
        for comp in self.clients.remove(&conn).unwrap_or_default() {
            self.end(comp, false);
        }
    }

    /// A message arrived from `conn` (before the scheduler handles it).
    pub(crate) fn incoming(&mut self, conn: ConnId, msg: &Msg, data: &[Bytes]) {
        match msg {
            Msg::Submit { comp, deps, .. } => {
                if let Some(graph) = data.first() {
                    self.submitted(conn, *comp, deps, graph);
                }
            }
            Msg::Cancel { comp } => self.end(global_id(conn, *comp), false),
            Msg::Heartbeat { memory } => {
                if let Some(w) = self.workers.get_mut(&conn) {
                    w.memory = *memory;
                    self.dirty = true;
                }
            }
            Msg::Done { comp, id, .. } | Msg::Missing { comp, id, .. } => {
                if let Some(w) = self.workers.get_mut(&conn) {
                    w.inflight.remove(&(*comp, *id));
                }
                if matches!(msg, Msg::Done { .. }) {
                    self.status.tasks_completed += 1;
                    if let Some(c) = self.comps.get_mut(comp) {
                        c.completed += 1;
                    }
                }
                self.dirty = true;
            }
            Msg::Stolen { comp, ids } => {
                if let Some(w) = self.workers.get_mut(&conn) {
                    for id in ids {
                        w.inflight.remove(&(*comp, *id));
                    }
                    self.dirty = true;
                }
            }
            Msg::Erred { comp, id, error } => {
                let worker = self.workers.get_mut(&conn).map_or(0, |w| {
                    w.inflight.remove(&(*comp, *id));
                    w.row.first_thread
                });
                self.status.tasks_erred += 1;
                self.dirty = true;
                if let Some(c) = self.comps.get_mut(comp) {
                    c.erred.insert(*id);
                    self.feed.on_event(&Event::TaskFailed {
                        computation: c.id,
                        error,
                        worker,
                    });
                }
            }
            Msg::TaskEvents {
                events,
                sent_us,
                fetched_bytes,
            } => self.task_events(conn, events, *sent_us, *fetched_bytes),
            _ => {}
        }
    }

    /// A message is about to be sent to `to`.
    pub(crate) fn outgoing(&mut self, to: ConnId, msg: &Msg, data: &[Bytes]) {
        match msg {
            Msg::Run { comp, tasks } => {
                if let Some(w) = self.workers.get_mut(&to) {
                    w.inflight.extend(tasks.iter().map(|t| (*comp, t.id)));
                    self.dirty = true;
                }
            }
            Msg::Forget { comp } => {
                if let Some(w) = self.workers.get_mut(&to) {
                    w.inflight.retain(|(c, _)| c != comp);
                }
            }
            Msg::Results { .. } => {
                self.status.client_bytes += data.iter().map(|d| d.len() as u64).sum::<u64>();
                self.dirty = true;
            }
            Msg::Finished { comp } => self.end(global_id(to, *comp), true),
            Msg::Failed { comp, .. } => self.end(global_id(to, *comp), false),
            _ => {}
        }
    }

    fn submitted(&mut self, client: ConnId, comp: u64, deps: &[Vec<u32>], graph: &Bytes) {
        let global = global_id(client, comp);
        let keys = match TaskGraph::keys_from_bytes(graph) {
            Ok(k) if k.len() == deps.len() => k,
            // The scheduler refuses such a graph itself; the dashboard
            // shows its tasks by number.
            _ => (0..deps.len())
                .map(|i| Key::with_index("task", &[i as u32]))
                .collect(),
        };
        let id = ComputationId::fresh();
        self.feed.on_event(&Event::Started {
            computation: id,
            ntasks: keys.len(),
            workers: self.next_thread,
            scheduler: "distributed",
        });
        let (groups, edges) = task_groups(&keys, deps);
        // A limit only when every worker has one: their sum.
        let limits: Option<u64> = if self.workers.is_empty() {
            None
        } else {
            self.workers.values().map(|w| w.row.memory_limit).sum()
        };
        self.feed.on_event(&Event::TaskGroups {
            computation: id,
            groups: &groups,
            edges: &edges,
            memory_limit: limits.map(|l| l as usize),
        });
        self.comps.insert(
            global,
            Watched {
                id,
                keys,
                started: Instant::now(),
                completed: 0,
                erred: HashSet::new(),
                running: HashSet::new(),
                ended: None,
            },
        );
        self.clients.entry(client).or_default().push(global);
        self.status.computations += 1;
        self.dirty = true;
    }

    fn task_events(&mut self, conn: ConnId, events: &[TaskEvent], sent_us: u64, fetched: u64) {
        self.status.transfer_bytes += fetched;
        self.dirty = true;
        let Some(w) = self.workers.get(&conn) else {
            return;
        };
        let now = Instant::now();
        // An event `t` µs on the worker's clock happened `sent_us - t`
        // before the batch arrived (network time neglected).
        let at = |t: u64| {
            now.checked_sub(Duration::from_micros(sent_us.saturating_sub(t)))
                .unwrap_or(now)
        };
        let memory = self.memory();
        let first = w.row.first_thread;
        for e in events {
            match *e {
                TaskEvent::Started {
                    comp,
                    id,
                    thread,
                    at_us,
                } => {
                    let Some(c) = self.comps.get_mut(&comp) else {
                        continue;
                    };
                    if c.erred.contains(&id) || !c.running.insert(id) {
                        continue;
                    }
                    if let Some((computation, key)) = key_of(&self.comps, comp, id) {
                        self.feed.on_event(&Event::TaskStarted {
                            computation,
                            key,
                            op: OP,
                            worker: first + thread as usize,
                            at: at(at_us),
                        });
                    }
                }
                TaskEvent::Finished {
                    comp,
                    id,
                    thread,
                    start_us,
                    end_us,
                    nbytes,
                } => {
                    // The dashboard counts a task processing from its start:
                    // a task that started and ended within one batch gets
                    // both events here.
                    let shown = self
                        .comps
                        .get_mut(&comp)
                        .is_some_and(|c| c.running.remove(&id));
                    if let Some((computation, key)) = key_of(&self.comps, comp, id) {
                        let (worker, start) = (first + thread as usize, at(start_us));
                        if !shown {
                            self.feed.on_event(&Event::TaskStarted {
                                computation,
                                key,
                                op: OP,
                                worker,
                                at: start,
                            });
                        }
                        self.feed.on_event(&Event::TaskFinished {
                            computation,
                            key,
                            op: OP,
                            worker,
                            start,
                            end: at(end_us),
                            nbytes: nbytes as usize,
                            memory,
                        });
                    }
                }
            }
        }
    }

    /// The computation `comp` ended (or was dropped).
    fn end(&mut self, comp: u64, ok: bool) {
        let memory = self.memory();
        let Some(c) = self.comps.get_mut(&comp).filter(|c| c.ended.is_none()) else {
            return;
        };
        c.ended = Some(Instant::now());
        self.feed.on_event(&Event::Finished {
            computation: c.id,
            ok,
            elapsed: c.started.elapsed(),
            completed: c.completed,
            peak_held: memory.held,
            peak_held_bytes: memory.held_bytes,
            memory,
        });
        self.dirty = true;
    }

    /// Memory summed over the workers' last heartbeats.
    fn memory(&self) -> MemoryStats {
        let mut m = MemoryStats::default();
        for w in self.workers.values() {
            m.held += w.memory.held as usize;
            m.held_bytes += w.memory.held_bytes as usize;
            m.on_disk_bytes += w.memory.on_disk_bytes as usize;
        }
        m
    }

    /// Pushes the cluster's rows to the dashboard if they changed (at most
    /// every [`PUSH_EVERY`] unless `force`).
    pub(crate) fn push(&mut self, force: bool) {
        if !self.dirty || (!force && self.last_push.elapsed() < PUSH_EVERY) {
            return;
        }
        self.dirty = false;
        self.last_push = Instant::now();
        self.comps
            .retain(|_, c| c.ended.is_none_or(|t| t.elapsed() < KEEP_ENDED));
        self.status.scheduler = self.addr.clone();
        self.status.computations_running =
            self.comps.values().filter(|c| c.ended.is_none()).count() as u64;
        self.status.workers = self
            .workers
            .values()
            .map(|w| ClusterWorker {
                process_bytes: w.memory.process_bytes,
                held_bytes: w.memory.held_bytes,
                on_disk_bytes: w.memory.on_disk_bytes,
                held: w.memory.held,
                processing: w.inflight.len() as u64,
                paused: w.memory.paused,
                ..w.row.clone()
            })
            .collect();
        self.dashboard.set_cluster(self.status.clone());
    }
}

/// The computation and key of task `id` of `comp`, if watched.
fn key_of(comps: &HashMap<u64, Watched>, comp: u64, id: u32) -> Option<(ComputationId, &Key)> {
    let c = comps.get(&comp)?;
    Some((c.id, c.keys.get(id as usize)?))
}

/// `(group, tasks)` in order of first appearance.
type Groups<'k> = Vec<(&'k str, usize)>;

/// Task groups (key prefixes) with their sizes, and which feed which, as
/// [`Event::TaskGroups`] wants them.
fn task_groups<'k>(keys: &'k [Key], deps: &[Vec<u32>]) -> (Groups<'k>, Vec<(u32, u32)>) {
    let mut index: HashMap<&str, u32> = HashMap::new();
    let mut groups: Vec<(&str, usize)> = Vec::new();
    let group_of: Vec<u32> = keys
        .iter()
        .map(|k| {
            let g = *index.entry(k.prefix()).or_insert_with(|| {
                groups.push((k.prefix(), 0));
                groups.len() as u32 - 1
            });
            groups[g as usize].1 += 1;
            g
        })
        .collect();
    let mut edges = Vec::new();
    let mut seen = HashSet::new();
    for (task, ds) in deps.iter().enumerate() {
        let to = group_of[task];
        for &d in ds {
            if let Some(&from) = group_of.get(d as usize) {
                if from != to && seen.insert((from, to)) {
                    edges.push((from, to));
                }
            }
        }
    }
    (groups, edges)
}
