//! A worker process: runs the tasks the scheduler sends on a thread pool,
//! holds their results in a spill buffer (memory limit, spill to disk), and
//! serves them to other workers and fetches its inputs from them directly.
//!
//! Protocol, seen from the worker:
//!
//! 1. connect to the scheduler as [`Role::Worker`], announcing the address
//!    other workers fetch from;
//! 2. `Graph` (once per computation): decode it with the program's op and
//!    codec registries — a worker runs only ops compiled into it;
//! 3. `Run`: inputs held elsewhere are fetched from the worker named for
//!    each (`GetData`), then the task is queued by priority; a pool thread
//!    runs it with [`oxidask_scheduler::execute`] and reports `Done` (an
//!    output's encoded value along) or `Erred`; an input that cannot be
//!    fetched is reported `Missing`;
//! 4. `Release` drops results, `Forget` a whole computation;
//! 5. a heartbeat with the memory held goes out every 500 ms; when the
//!    scheduler's connection ends (or it says `Shutdown`) the worker stops.

use std::collections::{BinaryHeap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use oxidask_graph::{Arg, Key, OpError, TaskError, TaskGraph, Value};
use oxidask_store::{SpillBuffer, StoreOptions};
use parking_lot::{Condvar, Mutex};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::messages::{MemoryReport, Msg, Role, RunTask};
use crate::wire::{self, FrameReader, FrameWriter};
use crate::worker_events::{BATCH_PERIOD, Recorder};
use crate::worker_memory::{CHECK_INTERVAL, MemoryFractions};

/// The exit code of a worker that ended itself over the terminate
/// threshold.
pub const TERMINATED_FOR_MEMORY: i32 = 3;

/// How a worker runs.
#[derive(Clone, Debug)]
pub struct WorkerOptions {
    /// Its name (default: `worker-<pid>`).
    pub name: String,
    /// Threads running tasks (default: all cores).
    pub nthreads: usize,
    /// The process's memory limit in bytes: results spill, the pool
    /// pauses and the process ends at fractions of it (see `memory`).
    pub memory_limit: Option<usize>,
    /// The shared token ("" for none).
    pub token: String,
    /// The host other workers reach this one on (default 127.0.0.1).
    pub host: String,
    /// Where spill files go (the temp dir when `None`).
    pub spill_dir: Option<PathBuf>,
    /// What happens as the process nears `memory_limit`: spill, pause,
    /// terminate (Dask's fractions by default; see [`MemoryFractions`]).
    pub memory: MemoryFractions,
    /// TLS for every connection it makes and accepts (`None`: plain TCP);
    /// see [`crate::tls`]. Loaded when the worker starts.
    pub tls: Option<crate::TlsFiles>,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            name: format!("worker-{}", std::process::id()),
            nthreads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_limit: None,
            token: String::new(),
            host: "127.0.0.1".into(),
            spill_dir: None,
            memory: MemoryFractions::default(),
            tls: None,
        }
    }
}

struct WComp {
    /// The computation's graph (empty for scattered values).
    graph: TaskGraph,
    /// Result slots: the graph's tasks, or the scattered values.
    slots: usize,
    buffer: SpillBuffer,
}

impl WComp {
    fn new(graph: TaskGraph, slots: usize, options: &WorkerOptions) -> WComp {
        let buffer = SpillBuffer::new(
            slots,
            StoreOptions {
                memory_limit: options.memory_limit.map(|l| options.memory.held_limit(l)),
                spill_dir: options.spill_dir.clone(),
            },
        );
        WComp {
            graph,
            slots,
            buffer,
        }
    }

    /// Result `id` if held here (it stays held).
    fn get(&self, id: u32) -> Option<Value> {
        ((id as usize) < self.slots)
            .then(|| self.buffer.fetch(id, || false, String::new))
            .flatten()
    }
}

struct Job {
    comp: u64,
    task: RunTask,
    fetched: Vec<(u32, Value)>,
}

impl PartialEq for Job {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}
impl Eq for Job {}
impl PartialOrd for Job {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Job {
    // The heap pops the greatest: the lowest priority number, then the
    // oldest computation, then the lowest id.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.task.priority, other.comp, other.task.id).cmp(&(
            self.task.priority,
            self.comp,
            self.task.id,
        ))
    }
}

struct Queue {
    jobs: BinaryHeap<Job>,
    closed: bool,
}

struct Shared {
    comps: Mutex<HashMap<u64, Arc<WComp>>>,
    queue: Mutex<Queue>,
    ready: Condvar,
    out: mpsc::UnboundedSender<(Msg, Vec<Bytes>)>,
    options: WorkerOptions,
    /// Task events for the scheduler's dashboard (off unless asked).
    recorder: Recorder,
    /// Set while the process is over the pause threshold: no task starts.
    paused: AtomicBool,
    /// The loaded TLS material of `options.tls`.
    tls: Option<crate::Tls>,
}

impl Shared {
    fn report(&self, msg: Msg, data: Vec<Bytes>) {
        let _ = self.out.send((msg, data));
    }

    /// Reports that task `id` of computation `comp` failed.
    fn erred(&self, comp: u64, id: u32, error: TaskError) {
        self.report(Msg::Erred { comp, id, error }, vec![]);
    }

    fn push(&self, job: Job) {
        self.queue.lock().jobs.push(job);
        self.ready.notify_one();
    }

    fn close(&self) {
        self.queue.lock().closed = true;
        self.ready.notify_all();
    }

    /// Compares the process memory with the thresholds (module
    /// [`worker_memory`](crate::worker_memory)) and acts: spills held
    /// results, pauses or resumes the pool, or ends the process.
    fn check_memory(&self) {
        let Some(limit) = self.options.memory_limit else {
            return;
        };
        let rss = oxidask_store::monitor::resident_bytes().unwrap_or(0) as u64;
        let act = self.options.memory.action(rss, limit);
        let mib = |b: u64| b >> 20;
        if act.terminate {
            let message = format!(
                "oxidask worker {}: process memory {} MiB is over {:.0}% of its memory limit \
                 ({} MiB); ending the worker (its results are recomputed elsewhere)",
                self.options.name,
                mib(rss),
                self.options.memory.terminate.unwrap_or(1.0) * 100.0,
                mib(limit as u64)
            );
            tracing::error!("{message}");
            eprintln!("{message}");
            std::process::exit(TERMINATED_FOR_MEMORY);
        }
        if act.spill_bytes > 0 {
            let mut left = act.spill_bytes as usize;
            let comps: Vec<Arc<WComp>> = self.comps.lock().values().cloned().collect();
            for c in comps {
                if left == 0 {
                    break;
                }
                let held = c.buffer.stats().held_bytes;
                left = left.saturating_sub(c.buffer.spill_down_to(held.saturating_sub(left)));
            }
        }
        if act.pause != self.paused.swap(act.pause, Ordering::AcqRel) {
            // The scheduler hears of it now, not at the next heartbeat.
            self.report(
                Msg::Heartbeat {
                    memory: self.memory(),
                },
                vec![],
            );
            if act.pause {
                tracing::warn!(
                    worker = %self.options.name,
                    rss_mib = mib(rss),
                    limit_mib = mib(limit as u64),
                    "worker paused: process memory over the pause threshold; no task starts until it falls"
                );
            } else {
                tracing::info!(worker = %self.options.name, "worker resumed");
                let _q = self.queue.lock();
                self.ready.notify_all();
            }
        }
    }

    fn memory(&self) -> MemoryReport {
        let mut m = MemoryReport {
            process_bytes: oxidask_store::monitor::resident_bytes().unwrap_or(0) as u64,
            paused: self.paused.load(Ordering::Acquire),
            ..MemoryReport::default()
        };
        for c in self.comps.lock().values() {
            let s = c.buffer.stats();
            m.held_bytes += s.held_bytes as u64;
            m.on_disk_bytes += s.on_disk_bytes as u64;
            m.held += s.held as u64;
        }
        m
    }
}

/// Runs a worker of the scheduler at `scheduler` until the scheduler goes
/// away or tells it to stop. Blocks the calling thread.
pub fn run_worker(scheduler: &str, options: WorkerOptions) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("starting the worker's runtime", e))?;
    runtime.block_on(worker(scheduler, options))
}

async fn worker(scheduler: &str, options: WorkerOptions) -> Result<()> {
    let tls = options
        .tls
        .as_ref()
        .map(crate::TlsFiles::load)
        .transpose()?;
    let listen = format!("{}:0", options.host);
    let listener = TcpListener::bind(&listen)
        .await
        .map_err(|e| Error::Listen {
            addr: listen.clone(),
            message: e.to_string(),
        })?;
    let peer_addr = listener
        .local_addr()
        .map_err(|e| Error::io("reading the worker's address", e))?
        .to_string();
    let role = Role::Worker {
        name: options.name.clone(),
        nthreads: options.nthreads as u32,
        memory_limit: options.memory_limit.map(|m| m as u64),
        peer_addr: peer_addr.clone(),
    };
    let (mut reader, writer) = wire::connect(
        scheduler,
        &options.token,
        role,
        wire::DEFAULT_FRAME_LIMIT,
        tls.as_ref(),
    )
    .await?;
    let (out, rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        comps: Mutex::new(HashMap::new()),
        queue: Mutex::new(Queue {
            jobs: BinaryHeap::new(),
            closed: false,
        }),
        ready: Condvar::new(),
        out,
        options,
        recorder: Recorder::default(),
        paused: AtomicBool::new(false),
        tls,
    });
    tokio::spawn(crate::server::writer(writer, rx));
    let threads: Vec<_> = (0..shared.options.nthreads.max(1))
        .map(|i| {
            let s = shared.clone();
            std::thread::Builder::new()
                .name(format!("oxidask-worker-{i}"))
                .spawn(move || pool_thread(&s, i as u32))
                .map_err(|e| Error::io("starting a worker thread", e))
        })
        .collect::<Result<_>>()?;
    let peers = tokio::spawn(serve_peers(listener, shared.clone()));
    let beat = periodically(&shared, Duration::from_millis(500), |s| {
        s.report(Msg::Heartbeat { memory: s.memory() }, vec![]);
    });
    let memory = periodically(&shared, CHECK_INTERVAL, Shared::check_memory);
    let batches = periodically(&shared, BATCH_PERIOD, |s| {
        if let Some(batch) = s.recorder.take_batch() {
            s.report(batch, vec![]);
        }
    });
    let pool = Arc::new(PeerPool::new(shared.tls.clone()));
    let outcome = loop {
        match reader.msg().await {
            Ok(Some((Msg::Shutdown, _))) | Ok(None) => break Ok(()),
            Ok(Some((msg, data))) => {
                if let Err(e) = handle(&shared, &pool, msg, data) {
                    break Err(e);
                }
            }
            Err(e) => break Err(e),
        }
    };
    beat.abort();
    memory.abort();
    batches.abort();
    peers.abort();
    shared.close();
    shared.comps.lock().clear();
    drop(threads);
    outcome
}

/// Runs `f` every `period` on the worker's runtime until aborted.
fn periodically(
    shared: &Arc<Shared>,
    period: Duration,
    f: impl Fn(&Shared) + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    let s = shared.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(period);
        loop {
            every.tick().await;
            f(&s);
        }
    })
}

fn handle(
    shared: &Arc<Shared>,
    pool: &Arc<PeerPool>,
    msg: Msg,
    mut data: Vec<Bytes>,
) -> Result<()> {
    match msg {
        Msg::Graph { comp } => {
            let bytes = data
                .pop()
                .ok_or_else(|| Error::Protocol("Graph without its frame".into()))?;
            match TaskGraph::from_bytes(&bytes) {
                Ok(graph) => {
                    let slots = graph.len();
                    let c = WComp::new(graph, slots, &shared.options);
                    shared.comps.lock().insert(comp, Arc::new(c));
                }
                Err(e) => shared.report(
                    Msg::GraphErred {
                        comp,
                        message: format!("worker {}: {e}", shared.options.name),
                    },
                    vec![],
                ),
            }
        }
        Msg::Store { comp, n, items } => store(shared, comp, n as usize, &items, &data),
        Msg::Run { comp, tasks } => {
            'tasks: for task in tasks {
                // Inputs that are other computations' results held here
                // are taken now; the task's own computation has no slot
                // for them.
                let mut fetched = Vec::new();
                for d in task.deps.iter().filter(|d| d.at.is_none()) {
                    let Some((sc, st)) = d.from else { continue };
                    let held = shared.comps.lock().get(&sc).cloned();
                    match held.and_then(|c| c.get(st)) {
                        Some(v) => fetched.push((d.id, v)),
                        None => {
                            let missing = Msg::Missing {
                                comp,
                                id: task.id,
                                dep: d.id,
                            };
                            shared.report(missing, vec![]);
                            continue 'tasks;
                        }
                    }
                }
                let remote: Vec<(u32, String, u64, u32)> = task
                    .deps
                    .iter()
                    .filter_map(|d| {
                        let (sc, st) = d.from.unwrap_or((comp, d.id));
                        d.at.clone().map(|a| (d.id, a, sc, st))
                    })
                    .collect();
                if remote.is_empty() {
                    shared.push(Job {
                        comp,
                        task,
                        fetched,
                    });
                    continue;
                }
                let (shared, pool) = (shared.clone(), pool.clone());
                tokio::spawn(async move {
                    fetched.reserve(remote.len());
                    for (dep, addr, sc, st) in remote {
                        match pool.fetch(&addr, &shared.options.token, sc, st).await {
                            Ok(v) => {
                                shared.recorder.fetched(v.nbytes() as u64);
                                fetched.push((dep, v));
                            }
                            Err(e @ (Error::Value(_) | Error::NotSendable { .. })) => {
                                // The bytes arrived but do not decode here,
                                // or cannot be sent at all: trying again
                                // cannot help.
                                let e: OpError = format!("its input #{dep}: {e}").into();
                                let key = shared
                                    .comps
                                    .lock()
                                    .get(&comp)
                                    .map(|c| c.graph.key(task.id).clone());
                                let key = key.unwrap_or_else(|| Key::new("?"));
                                let error = TaskError::failed(key, "fetch", &*e);
                                shared.erred(comp, task.id, error);
                                return;
                            }
                            Err(e) => {
                                tracing::info!(comp, task = task.id, dep, %addr, reason = %e, "could not fetch an input");
                                shared.report(
                                    Msg::Missing {
                                        comp,
                                        id: task.id,
                                        dep,
                                    },
                                    vec![],
                                );
                                return;
                            }
                        }
                    }
                    shared.push(Job {
                        comp,
                        task,
                        fetched,
                    });
                });
            }
        }
        Msg::Release { comp, ids } => {
            if let Some(c) = shared.comps.lock().get(&comp).cloned() {
                for id in ids {
                    if (id as usize) < c.slots {
                        drop(c.buffer.fetch(id, || true, String::new));
                    }
                }
            }
        }
        Msg::Steal { comp, ids } => {
            let wanted: std::collections::HashSet<u32> = ids.into_iter().collect();
            let mut stolen = Vec::new();
            shared.queue.lock().jobs.retain(|j| {
                let take = j.comp == comp && wanted.contains(&j.task.id);
                if take {
                    stolen.push(j.task.id);
                }
                !take
            });
            shared.report(Msg::Stolen { comp, ids: stolen }, vec![]);
        }
        Msg::Forget { comp } => {
            shared.comps.lock().remove(&comp);
            shared.queue.lock().jobs.retain(|j| j.comp != comp);
        }
        Msg::Observe { on } => shared.recorder.set(on),
        other => {
            return Err(Error::Protocol(format!(
                "unexpected {} from the scheduler",
                other.kind()
            )));
        }
    }
    Ok(())
}

/// Holds scattered values: `n` slots for the computation (made on its
/// first values), each frame decoded into its slot; reports `Stored`, or
/// `GraphErred` naming the value that does not decode.
fn store(shared: &Shared, comp: u64, n: usize, items: &[(u32, String)], data: &[Bytes]) {
    let c = shared
        .comps
        .lock()
        .entry(comp)
        .or_insert_with(|| Arc::new(WComp::new(TaskGraph::new(), n, &shared.options)))
        .clone();
    let mut stored = Vec::with_capacity(items.len());
    for ((id, codec), bytes) in items.iter().zip(data) {
        let inserted = if (*id as usize) < c.slots {
            Value::decode(codec, bytes)
                .map_err(|e| e.to_string())
                .and_then(|v| {
                    let nbytes = v.nbytes() as u64;
                    drop(c.buffer.fetch(*id, || true, String::new));
                    c.buffer.insert(*id, v).map_err(|e| e.to_string())?;
                    Ok(nbytes)
                })
        } else {
            Err(format!("slot #{id} of {}", c.slots))
        };
        match inserted {
            Ok(nbytes) => stored.push((*id, nbytes)),
            Err(e) => {
                let message = format!("worker {}: scattered value #{id}: {e}", shared.options.name);
                shared.report(Msg::GraphErred { comp, message }, vec![]);
                return;
            }
        }
    }
    shared.report(
        Msg::Stored {
            comp,
            items: stored,
        },
        vec![],
    );
}

fn pool_thread(shared: &Shared, thread: u32) {
    loop {
        let job = {
            let mut q = shared.queue.lock();
            loop {
                if q.closed {
                    return;
                }
                if shared.paused.load(Ordering::Acquire) {
                    // Woken when the memory check resumes the pool.
                    shared.ready.wait_for(&mut q, CHECK_INTERVAL);
                    continue;
                }
                if let Some(j) = q.jobs.pop() {
                    break j;
                }
                shared.ready.wait(&mut q);
            }
        };
        run_job(shared, job, thread);
    }
}

fn run_job(shared: &Shared, job: Job, thread: u32) {
    let Job {
        comp: comp_id,
        task: run,
        mut fetched,
    } = job;
    let Some(comp) = shared.comps.lock().get(&comp_id).cloned() else {
        return; // forgotten meanwhile
    };
    let id = run.id;
    if id as usize >= comp.graph.len() {
        let e: OpError = format!("task #{id} is not in the graph").into();
        let error = TaskError::failed(Key::new("?"), "worker", &*e);
        return shared.erred(comp_id, id, error);
    }
    let (key, task) = comp.graph.by_id(id);
    let mut args = Vec::with_capacity(task.args.len());
    for (at, arg) in task.args.iter().enumerate() {
        match arg {
            Arg::Value(v) => args.push(v.clone()),
            Arg::Key(k) => {
                let Some(dep) = comp.graph.id_of(k) else {
                    let e: OpError = format!("its input {k} is not in the graph").into();
                    let error = TaskError::failed(key.clone(), task.op.label(), &*e);
                    return shared.erred(comp_id, id, error);
                };
                let v = match fetched.iter().position(|(d, _)| *d == dep) {
                    // The last use of a fetched input takes it: a second
                    // handle would make a task that owns its input (a
                    // `Vec` argument) copy the whole value.
                    Some(i)
                        if !task.args[at + 1..]
                            .iter()
                            .any(|a| matches!(a, Arg::Key(o) if o == k)) =>
                    {
                        fetched.swap_remove(i).1
                    }
                    Some(i) => fetched[i].1.clone(),
                    None => match comp.buffer.fetch(dep, || false, || k.to_string()) {
                        Some(v) => v,
                        None => {
                            return shared.report(
                                Msg::Missing {
                                    comp: comp_id,
                                    id,
                                    dep,
                                },
                                vec![],
                            );
                        }
                    },
                };
                args.push(v);
            }
        }
    }
    let started = shared.recorder.started(comp_id, id, thread);
    let value = match oxidask_scheduler::execute(key, task, args) {
        Ok(v) => v,
        Err(error) => {
            return shared.erred(comp_id, id, error);
        }
    };
    if let Some(start_us) = started {
        let nbytes = value.nbytes() as u64;
        shared
            .recorder
            .finished(comp_id, id, thread, start_us, nbytes);
    }
    let fail = |message: String| {
        let e: OpError = message.into();
        TaskError::failed(key.clone(), task.op.label(), &*e)
    };
    let nbytes = value.nbytes() as u64;
    let mut data = Vec::new();
    let mut codec = None;
    if run.output {
        let Some(c) = value.codec() else {
            return shared.erred(
                comp_id,
                id,
                fail(format!(
                    "its result, a {}, has no byte encoding and cannot be sent to the client; \
                     register the type with oxidask::graph::register_value!",
                    value.type_name()
                )),
            );
        };
        let mut buf = Vec::with_capacity(value.nbytes().min(1 << 30));
        if let Err(e) = value.encode(&mut buf) {
            return shared.erred(comp_id, id, fail(format!("encoding its result: {e}")));
        }
        codec = Some(c.id());
        data.push(Bytes::from(buf));
    }
    if run.keep {
        // A result of an earlier run of this task (re-queued after a
        // worker died) goes first: a slot holds one value.
        drop(comp.buffer.fetch(id, || true, String::new));
        if let Err(e) = comp.buffer.insert(id, value) {
            return shared.erred(comp_id, id, fail(e.to_string()));
        }
    }
    shared.report(
        Msg::Done {
            comp: comp_id,
            id,
            nbytes,
            codec,
        },
        data,
    );
}

/// Serves this worker's results to other workers and clients.
async fn serve_peers(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let accepted = match wire::accept(
                stream,
                &shared.options.token,
                wire::DEFAULT_FRAME_LIMIT,
                shared.tls.as_ref(),
            )
            .await
            {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(%peer, reason = %e, "refused a peer");
                    return;
                }
            };
            let (mut r, mut w) = (accepted.reader, accepted.writer);
            // One encoding buffer per connection, reused: a fresh buffer
            // of a large value's size costs a page fault per 4 KiB on
            // every send.
            let mut scratch = Vec::new();
            while let Ok(Some((msg, _))) = r.msg().await {
                let Msg::GetData { comp, id } = msg else {
                    tracing::warn!(%peer, kind = msg.kind(), "dropping a peer that sent something else than GetData");
                    return;
                };
                let value = shared
                    .comps
                    .lock()
                    .get(&comp)
                    .cloned()
                    .and_then(|c| c.get(id));
                let sent = match value {
                    Some(v) if v.codec().is_none() => {
                        let type_name = v.type_name().to_string();
                        w.msg(&Msg::NotSendable { type_name }, &[]).await
                    }
                    Some(v) => match encode_into(&v, &mut scratch) {
                        Ok(codec) => w.msg_slices(&Msg::Data { codec }, &[&scratch[..]]).await,
                        Err(_) => w.msg(&Msg::NoData, &[]).await,
                    },
                    None => w.msg(&Msg::NoData, &[]).await,
                };
                if sent.is_err() || w.flush().await.is_err() {
                    return;
                }
                // A connection idle after one huge value does not keep
                // that much memory.
                if scratch.capacity() > SCRATCH_KEPT {
                    scratch = Vec::new();
                }
            }
        });
    }
}

/// The largest encoding buffer a peer connection keeps between sends.
const SCRATCH_KEPT: usize = 256 << 20;

/// Encodes `v` into `buf` (cleared first, sized once from the value's
/// size) and returns its codec id.
fn encode_into(v: &Value, buf: &mut Vec<u8>) -> Result<String, String> {
    let codec = v.codec().ok_or("no codec")?.id();
    buf.clear();
    buf.reserve(v.nbytes().min(1 << 30));
    v.encode(buf)?;
    Ok(codec)
}

/// An open connection to another worker and its receive buffer, both
/// reused between fetches.
type PeerConn = (FrameReader, FrameWriter, Vec<u8>);

/// Open connections to other workers, reused between fetches.
pub(crate) struct PeerPool {
    idle: Mutex<HashMap<String, Vec<PeerConn>>>,
    tls: Option<crate::Tls>,
}

impl PeerPool {
    /// No connection yet; new ones with `tls`.
    pub(crate) fn new(tls: Option<crate::Tls>) -> PeerPool {
        PeerPool {
            idle: Mutex::new(HashMap::new()),
            tls,
        }
    }

    /// Fetches result `id` of computation `comp` from the worker at `addr`.
    pub(crate) async fn fetch(&self, addr: &str, token: &str, comp: u64, id: u32) -> Result<Value> {
        let idle = self.idle.lock().get_mut(addr).and_then(|v| v.pop());
        let (mut r, mut w, mut buf) = match idle {
            Some(c) => c,
            None => {
                let (r, w) = wire::connect(
                    addr,
                    token,
                    Role::Peer,
                    wire::DEFAULT_FRAME_LIMIT,
                    self.tls.as_ref(),
                )
                .await?;
                (r, w, Vec::new())
            }
        };
        let io = |e| Error::io(format!("asking {addr} for a result"), e);
        w.msg(&Msg::GetData { comp, id }, &[]).await.map_err(io)?;
        w.flush().await.map_err(io)?;
        let value = match r.head().await? {
            Some(Msg::Data { codec }) => {
                // Into the connection's buffer, reused: a fresh buffer of
                // a large value's size costs a page fault per 4 KiB.
                r.frame_into(&mut buf).await?;
                Value::decode(&codec, &buf)?
            }
            Some(Msg::NoData) => {
                return Err(Error::Protocol(format!("{addr} does not hold task #{id}")));
            }
            Some(Msg::NotSendable { type_name }) => {
                return Err(Error::NotSendable {
                    addr: addr.to_string(),
                    type_name,
                });
            }
            Some(other) => {
                return Err(Error::Protocol(format!("{addr} answered {}", other.kind())));
            }
            None => return Err(Error::Protocol(format!("{addr} closed the connection"))),
        };
        if buf.capacity() > SCRATCH_KEPT {
            buf = Vec::new();
        }
        self.idle
            .lock()
            .entry(addr.to_string())
            .or_default()
            .push((r, w, buf));
        Ok(value)
    }
}

/// The glibc allocator settings a worker process is started with: the
/// caller's `GLIBC_TUNABLES` plus `glibc.malloc.hugetlb=1` (unless it
/// sets `hugetlb` itself), so large allocations are backed by huge pages.
/// A worker receives and decodes large values into fresh allocations; with
/// 4 KiB pages, first touching 64 MiB costs 16,384 page faults, which
/// measured as most of a 64 MiB transfer's time (0.5 GB/s, ≈ 1 GB/s with
/// huge pages, `examples/cluster.rs`). Other allocators and older glibc
/// ignore the setting.
pub(crate) fn malloc_tunables() -> String {
    let mut t = std::env::var("GLIBC_TUNABLES").unwrap_or_default();
    if !t.contains("glibc.malloc.hugetlb") {
        if !t.is_empty() {
            t.push(':');
        }
        t.push_str("glibc.malloc.hugetlb=1");
    }
    t
}
