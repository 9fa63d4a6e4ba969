//! The client: submits graphs to a scheduler and hands back typed futures.
//!
//! A [`Client`] holds one connection to the scheduler, served by a thread
//! of its own (a small tokio runtime): outgoing messages are queued to it,
//! incoming results are decoded there and put where the futures wait. Every
//! call of the API is a plain blocking function.
//!
//! A computation is one optimized graph ([`TaskGraph::to_bytes`]) with its
//! dependency lists, priorities and requested tasks. A graph holding a
//! closure cannot be written to bytes and is refused before anything is
//! sent, with the graph crate's message saying to register the function
//! with `#[oxidask::remote]`. Requested results are sent to the client as
//! soon as they are computed.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use oxidask_graph::optimize::{OptimizeOptions, Plan, optimize};
use oxidask_graph::{Deps, Key, Task, TaskGraph, Value};
use oxidask_scheduler::Computable;
use parking_lot::{Condvar, Mutex};
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};
use crate::future_ref::{FutureRef, Hold};
use crate::messages::{External, Failure, Msg, Role};
use crate::wire;

/// A connection to a cluster's scheduler. Cheap to clone (one shared
/// connection).
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
    /// Reruns of a failing task for computations submitted through this
    /// handle ([`Client::with_retries`]).
    retries: u32,
}

/// Ids of the clients of this process: a future names the client it
/// belongs to, so one passed to another client is refused.
static CLIENT_IDS: AtomicU64 = AtomicU64::new(1);

pub(crate) struct Inner {
    /// This client's id (see [`CLIENT_IDS`]).
    pub(crate) id: u64,
    addr: String,
    pub(crate) tx: mpsc::UnboundedSender<(Msg, Vec<Bytes>)>,
    pub(crate) state: Mutex<State>,
    changed: Condvar,
    pub(crate) next: AtomicU64,
    stop: Mutex<Option<oneshot::Sender<()>>>,
}

#[derive(Default)]
pub(crate) struct State {
    pub(crate) comps: HashMap<u64, Comp>,
    pub(crate) lost: Option<String>,
    /// The scheduler's dashboard, once it has said (`Some(None)`: none).
    pub(crate) dashboard: Option<Option<String>>,
}

pub(crate) struct Comp {
    /// Key of each task id, for errors naming them.
    pub(crate) keys: Arc<Vec<Key>>,
    /// Positions in `values` of each requested task id.
    pub(crate) positions: HashMap<u32, Vec<usize>>,
    /// The requested task id at each position.
    pub(crate) outputs: Vec<u32>,
    pub(crate) values: Vec<Option<Value>>,
    pub(crate) failed: Option<Failure>,
    pub(crate) finished: bool,
    /// Futures (and waits) still holding the computation.
    pub(crate) handles: usize,
    /// The scheduler keeps the results on the workers until this client
    /// cancels the computation.
    pub(crate) held: bool,
    /// The computations of the futures this one reads, held while it lives.
    pub(crate) _holds: Vec<Arc<Hold>>,
}

/// What a computation is sent with besides its graph.
#[derive(Default)]
pub(crate) struct Extra {
    /// Placeholder tasks standing for futures.
    pub externals: Vec<External>,
    /// The futures' computations, held while this one lives.
    pub holds: Vec<Arc<Hold>>,
    /// Keys to show for placeholder tasks in errors (the futures' keys).
    pub names: Vec<(u32, String)>,
    /// Keep requested results on the workers (for later computations).
    pub hold: bool,
    /// Send requested results to the client.
    pub send: bool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(s) = self.stop.lock().take() {
            let _ = s.send(());
        }
    }
}

impl Client {
    /// Connects to the scheduler at `addr` (`host:port`) with the token in
    /// `OXIDASK_TOKEN`, if set, and TLS if `OXIDASK_TLS_CA_FILE`,
    /// `OXIDASK_TLS_CERT` and `OXIDASK_TLS_KEY` are set.
    pub fn connect(addr: &str) -> Result<Client> {
        Client::connect_with_token(addr, &std::env::var("OXIDASK_TOKEN").unwrap_or_default())
    }

    /// Connects to the scheduler at `addr` with `token` (and TLS from the
    /// environment, as [`connect`](Client::connect)).
    pub fn connect_with_token(addr: &str, token: &str) -> Result<Client> {
        Client::connect_with(addr, token, crate::TlsFiles::from_env()?.as_ref())
    }

    /// Connects to the scheduler at `addr` with `token`, over TLS with
    /// these files if given (see [`crate::tls`]); errors name the file or
    /// the address at fault.
    pub fn connect_with(addr: &str, token: &str, tls: Option<&crate::TlsFiles>) -> Result<Client> {
        let tls = tls.map(crate::TlsFiles::load).transpose()?;
        let (ready, connected) = std::sync::mpsc::channel();
        let (tx, rx) = mpsc::unbounded_channel();
        let (stop, stopped) = oneshot::channel();
        let inner = Arc::new(Inner {
            id: CLIENT_IDS.fetch_add(1, Ordering::Relaxed),
            addr: addr.to_string(),
            tx,
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            next: AtomicU64::new(1),
            stop: Mutex::new(Some(stop)),
        });
        let weak = Arc::downgrade(&inner);
        let (addr2, token) = (addr.to_string(), token.to_string());
        std::thread::Builder::new()
            .name("oxidask-client".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = ready.send(Err(Error::io("starting the client's runtime", e)));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let (mut reader, writer) =
                        match wire::connect(&addr2, &token, Role::Client, wire::DEFAULT_FRAME_LIMIT, tls.as_ref()).await {
                            Ok(c) => c,
                            Err(e) => {
                                let _ = ready.send(Err(e));
                                return;
                            }
                        };
                    let _ = ready.send(Ok(()));
                    tokio::spawn(crate::server::writer(writer, rx));
                    let reason = tokio::select! {
                        _ = stopped => return,
                        r = async {
                            loop {
                                match reader.msg().await {
                                    Ok(Some((msg, data))) => {
                                        let Some(inner) = weak.upgrade() else { return String::new() };
                                        if let Err(e) = inner.receive(msg, data) {
                                            return e;
                                        }
                                    }
                                    Ok(None) => return "the scheduler closed the connection".to_string(),
                                    Err(e) => return e.to_string(),
                                }
                            }
                        } => r,
                    };
                    if let Some(inner) = weak.upgrade() {
                        inner.state.lock().lost = Some(reason);
                        inner.changed.notify_all();
                    }
                });
            })
            .map_err(|e| Error::io("starting the client thread", e))?;
        connected
            .recv()
            .map_err(|_| Error::Start("the client thread ended before connecting".into()))??;
        Ok(Client { inner, retries: 0 })
    }

    /// This client, rerunning a task that fails (returns an error or
    /// panics) up to `retries` times, on any worker, before its
    /// computation fails — for every `submit` and `map` through the handle
    /// returned (Dask's `retries=`). A worker dying under a task is not a
    /// failure of the task; that is `allowed_failures` on the scheduler.
    pub fn with_retries(&self, retries: u32) -> Client {
        Client {
            inner: self.inner.clone(),
            retries,
        }
    }

    /// The scheduler's address.
    pub fn address(&self) -> &str {
        &self.inner.addr
    }

    /// The status page of the scheduler's dashboard
    /// (`http://host:port/status`), or `None` if it serves none. The
    /// scheduler says so right after connecting; this waits for that (5 s
    /// at most, then `None`).
    pub fn dashboard_link(&self) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut s = self.inner.state.lock();
        loop {
            if let Some(d) = &s.dashboard {
                return d.clone();
            }
            if s.lost.is_some() || self.inner.changed.wait_until(&mut s, deadline).timed_out() {
                return None;
            }
        }
    }

    /// Computes `what` (a delayed value, an array, a bag, a tuple of them —
    /// anything [`Computable`]) on the cluster; the future gives its result.
    /// A [`Future`] of this client can be an argument
    /// (`delayed!(f(&future))`): the task reading it runs near its result,
    /// which moves worker to worker, never through the client.
    pub fn submit<C>(&self, what: &C) -> Result<Future<C::Output>>
    where
        C: Computable + Clone + Send + Sync + 'static,
    {
        let extra = Extra {
            hold: true,
            send: true,
            ..Extra::default()
        };
        let (comp, n, key) = self.submit_computable(what, extra)?;
        let what = what.clone();
        Ok(Future::new(
            self.clone(),
            comp,
            0..n,
            key,
            Arc::new(move |values| what.finish(values)),
        ))
    }

    /// Collects, optimizes and sends `what`, with the futures in its graph
    /// as externals; returns the computation, its number of outputs and
    /// its first key.
    pub(crate) fn submit_computable<C: Computable + ?Sized>(
        &self,
        what: &C,
        extra: Extra,
    ) -> Result<(u64, usize, String)> {
        let mut graph = TaskGraph::new();
        let mut keys = Vec::new();
        what.collect(&mut graph, &mut keys)?;
        let plan = optimize(graph, &keys, OptimizeOptions::default())?;
        let key = keys.first().map_or_else(String::new, |k| k.to_string());
        let (plan, comp) = self.submit_with_futures(plan, extra)?;
        Ok((comp, plan.outputs.len(), key))
    }

    /// Calls the registered function `f` on each item, as one batch of
    /// tasks (one message); a future per item. An item can be a value or
    /// a `&Future` of this client (its task then runs near that result). `f` must be marked
    /// `#[oxidask::remote]` (workers run only functions compiled into them
    /// and registered by name), and items and results need a codec
    /// (numbers, strings, vectors, or a type given `register_value!`).
    pub fn map<F, A, R, I>(
        &self,
        f: F,
        items: impl IntoIterator<Item = I>,
    ) -> Result<Vec<Future<R>>>
    where
        F: Fn(A) -> R + 'static,
        I: crate::args::MapItem<A>,
        R: std::any::Any + Send + Sync + Clone,
    {
        let _ = f;
        let op = oxidask_graph::remote::CallRemote::for_fn::<F>().ok_or_else(|| {
            Error::Graph(format!(
                "{} is not a registered function: mark it #[oxidask::remote] so workers, which \
                 run only functions compiled into them, can call it by name",
                std::any::type_name::<F>()
            ))
        })?;
        let name: Arc<str> = oxidask_graph::name_for(
            &format!("map-{}", short(std::any::type_name::<F>())),
            &oxidask_graph::unique_token(),
        )
        .into();
        let mut graph = TaskGraph::new();
        let mut refs = crate::args::Refs::new(name.clone());
        for (i, item) in items.into_iter().enumerate() {
            let arg = refs.arg(item.into_item());
            graph.insert(
                Key::with_index(name.clone(), &[i as u32]),
                Task::new(op.clone(), vec![arg]),
            );
        }
        let n = graph.len();
        let keys: Vec<String> = graph.keys().map(|k| k.to_string()).collect();
        let mut extra = Extra {
            hold: true,
            send: true,
            ..Extra::default()
        };
        let placeholders = refs.into_tasks();
        let deps = if placeholders.is_empty() {
            Deps::from_lists((0..n).map(|_| Vec::new()))
        } else {
            for (j, (key, task, r)) in placeholders.into_iter().enumerate() {
                graph.insert(key, task);
                self.add_external(&mut extra, (n + j) as u32, &r)?;
            }
            graph.dependencies()?
        };
        let total = graph.len();
        let plan = Plan {
            graph,
            deps,
            outputs: (0..n as u32).collect(),
            priority: (0..total as u32).collect(),
        };
        let comp = self.submit_plan(&plan, extra)?;
        let take: Finish<R> =
            Arc::new(|values| Ok(oxidask_scheduler::next_value(values)?.take::<R>()?));
        Ok(keys
            .into_iter()
            .enumerate()
            .map(|(i, key)| Future::new(self.clone(), comp, i..i + 1, key, take.clone()))
            .collect())
    }

    /// Waits for every future and returns their results in order; the first
    /// failure is the error.
    pub fn gather<T>(&self, futures: &[Future<T>]) -> Result<Vec<T>> {
        futures.iter().map(|f| f.result()).collect()
    }

    /// Waits until every future is done (finished, failed or cancelled), or
    /// the timeout passes.
    pub fn wait<T>(&self, futures: &[Future<T>], timeout: Option<Duration>) -> Result<()> {
        let deadline = timeout.map(|t| Instant::now() + t);
        for f in futures {
            self.inner.wait_for(f.comp, &f.positions, deadline)?;
        }
        Ok(())
    }

    /// The futures in the order they complete.
    pub fn as_completed<T>(&self, futures: Vec<Future<T>>) -> AsCompleted<T> {
        AsCompleted {
            client: self.clone(),
            pending: futures,
        }
    }

    /// Cancels the futures: their results are no longer wanted; waiting on
    /// them is an error. A computation all of whose futures are cancelled
    /// is dropped by the scheduler and its workers.
    pub fn cancel<T>(&self, futures: &[Future<T>]) {
        for f in futures {
            f.cancel();
        }
    }

    /// This client as a [`oxidask_scheduler::Scheduler`]: with
    /// `with_scheduler(SchedulerChoice::Custom(client.scheduler()), …)`
    /// arrays, bags and delayed values compute on the cluster.
    pub fn scheduler(&self) -> Arc<dyn oxidask_scheduler::Scheduler> {
        Arc::new(ClusterScheduler(self.clone()))
    }

    /// Makes this client the scheduler of every computation in this process
    /// that does not name another (as Dask's default client).
    pub fn set_as_default(&self) -> Result<()> {
        let mut config = oxidask_scheduler::config::current()?;
        config.scheduler = oxidask_scheduler::SchedulerChoice::Custom(self.scheduler());
        oxidask_scheduler::config::set_global(config);
        Ok(())
    }

    /// Sends a computation; returns its id.
    pub(crate) fn submit_plan(&self, plan: &Plan, extra: Extra) -> Result<u64> {
        let bytes = plan
            .graph
            .to_bytes()
            .map_err(|e| Error::Graph(e.to_string()))?;
        let n = plan.graph.len();
        let comp = self.inner.next.fetch_add(1, Ordering::Relaxed);
        let mut positions: HashMap<u32, Vec<usize>> = HashMap::with_capacity(plan.outputs.len());
        for (p, &o) in plan.outputs.iter().enumerate() {
            positions.entry(o).or_default().push(p);
        }
        let Extra {
            externals,
            holds,
            names,
            hold,
            send,
        } = extra;
        let msg = Msg::Submit {
            comp,
            deps: (0..n as u32).map(|i| plan.deps.of(i).to_vec()).collect(),
            priority: plan.priority.clone(),
            outputs: plan.outputs.clone(),
            externals,
            hold,
            send,
            retries: self.retries,
        };
        let mut keys: Vec<Key> = plan.graph.keys().cloned().collect();
        for (id, name) in names {
            keys[id as usize] = Key::new(&*name);
        }
        {
            let mut s = self.inner.state.lock();
            if let Some(reason) = &s.lost {
                return Err(self.inner.lost(reason));
            }
            s.comps.insert(
                comp,
                Comp {
                    keys: Arc::new(keys),
                    positions,
                    outputs: plan.outputs.clone(),
                    values: vec![None; plan.outputs.len()],
                    failed: None,
                    finished: false,
                    handles: 0,
                    held: hold,
                    _holds: holds,
                },
            );
        }
        self.inner
            .tx
            .send((msg, vec![Bytes::from(bytes)]))
            .map_err(|_| self.inner.lost("the client's connection thread ended"))?;
        Ok(comp)
    }
}

impl Inner {
    fn lost(&self, reason: &str) -> Error {
        Error::Lost {
            addr: self.addr.clone(),
            reason: reason.to_string(),
        }
    }

    /// A message from the scheduler.
    fn receive(&self, msg: Msg, data: Vec<Bytes>) -> Result<(), String> {
        match msg {
            Msg::Results { comp, items } => {
                // Decode outside the lock: values can be large.
                let decoded: Vec<(u32, std::result::Result<Value, oxidask_graph::Error>)> = items
                    .iter()
                    .zip(&data)
                    .map(|((id, codec), bytes)| (*id, Value::decode(codec, bytes)))
                    .collect();
                let mut s = self.state.lock();
                if let Some(c) = s.comps.get_mut(&comp) {
                    for (id, v) in decoded {
                        match v {
                            Ok(v) => {
                                for &p in c.positions.get(&id).map_or(&[][..], |v| v) {
                                    c.values[p] = Some(v.clone());
                                }
                            }
                            Err(e) => {
                                c.failed.get_or_insert(Failure::BadGraph(format!(
                                    "the result of {} cannot be decoded here: {e}",
                                    c.keys
                                        .get(id as usize)
                                        .map_or_else(|| format!("#{id}"), |k| k.to_string())
                                )));
                            }
                        }
                    }
                }
            }
            Msg::Finished { comp } => {
                if let Some(c) = self.state.lock().comps.get_mut(&comp) {
                    c.finished = true;
                }
            }
            Msg::Failed { comp, failure } => {
                if let Some(c) = self.state.lock().comps.get_mut(&comp) {
                    c.failed.get_or_insert(failure);
                }
            }
            Msg::SchedulerInfo { dashboard } => {
                self.state.lock().dashboard = Some(dashboard);
            }
            other => return Err(format!("unexpected {} from the scheduler", other.kind())),
        }
        self.changed.notify_all();
        Ok(())
    }

    /// Whether the values at `positions` of `comp` are all there: `Ok(true)`,
    /// not yet: `Ok(false)`, never: the error.
    fn check(&self, s: &State, comp: u64, positions: &std::ops::Range<usize>) -> Result<bool> {
        let Some(c) = s.comps.get(&comp) else {
            return Err(Error::Cancelled {
                key: format!("computation #{comp}"),
            });
        };
        if let Some(f) = &c.failed {
            return Err(failure_error(f, &c.keys));
        }
        if c.values[positions.clone()].iter().all(Option::is_some) {
            return Ok(true);
        }
        if let Some(reason) = &s.lost {
            return Err(self.lost(reason));
        }
        if c.finished {
            return Err(Error::Protocol(
                "the scheduler finished a computation without sending every result".into(),
            ));
        }
        Ok(false)
    }

    fn wait_for(
        &self,
        comp: u64,
        positions: &std::ops::Range<usize>,
        deadline: Option<Instant>,
    ) -> Result<()> {
        let mut s = self.state.lock();
        loop {
            if self.check(&s, comp, positions)? {
                return Ok(());
            }
            match deadline {
                Some(d) => {
                    if self.changed.wait_until(&mut s, d).timed_out()
                        && !self.check(&s, comp, positions)?
                    {
                        return Err(Error::Timeout(d.saturating_duration_since(Instant::now())));
                    }
                }
                None => self.changed.wait(&mut s),
            }
        }
    }

    fn take(&self, comp: u64, positions: &std::ops::Range<usize>) -> Result<Vec<Value>> {
        self.wait_for(comp, positions, None)?;
        let s = self.state.lock();
        let c = s.comps.get(&comp).expect("checked by wait_for");
        Ok(c.values[positions.clone()]
            .iter()
            .map(|v| v.clone().expect("checked"))
            .collect())
    }

    pub(crate) fn retain(&self, comp: u64) {
        if let Some(c) = self.state.lock().comps.get_mut(&comp) {
            c.handles += 1;
        }
    }

    pub(crate) fn release(&self, comp: u64) {
        let mut s = self.state.lock();
        let Some(c) = s.comps.get_mut(&comp) else {
            return;
        };
        c.handles -= 1;
        if c.handles == 0 {
            let cancel = c.held || (!c.finished && c.failed.is_none());
            let gone = s.comps.remove(&comp);
            drop(s);
            if cancel {
                let _ = self.tx.send((Msg::Cancel { comp }, vec![]));
            }
            // Dropped outside the lock: its holds release other
            // computations.
            drop(gone);
        }
    }
}

pub(crate) fn failure_error(f: &Failure, keys: &[Key]) -> Error {
    match f {
        Failure::Task(t) => Error::Task(t.clone()),
        Failure::KilledWorker {
            task,
            worker,
            failures,
        } => Error::KilledWorker {
            key: keys
                .get(*task as usize)
                .map_or_else(|| format!("#{task}"), |k| k.to_string()),
            worker: worker.clone(),
            failures: *failures,
        },
        Failure::BadGraph(m) => Error::Graph(m.clone()),
        Failure::Lost { task, reason } => Error::FutureLost {
            key: keys
                .get(*task as usize)
                .map_or_else(|| format!("#{task}"), |k| k.to_string()),
            reason: reason.clone(),
        },
    }
}

fn short(type_name: &str) -> &str {
    type_name.rsplit("::").next().unwrap_or(type_name)
}

pub(crate) type Finish<T> =
    Arc<dyn Fn(&mut std::vec::IntoIter<Value>) -> oxidask_scheduler::Result<T> + Send + Sync>;

/// A result being computed on the cluster, typed: [`Future::result`] waits
/// for it and gives a `T`.
pub struct Future<T> {
    pub(crate) client: Client,
    pub(crate) comp: u64,
    pub(crate) positions: std::ops::Range<usize>,
    pub(crate) key: String,
    finish: Finish<T>,
    cancelled: std::sync::atomic::AtomicBool,
}

impl<T> Future<T> {
    pub(crate) fn new(
        client: Client,
        comp: u64,
        positions: std::ops::Range<usize>,
        key: String,
        finish: Finish<T>,
    ) -> Future<T> {
        client.inner.retain(comp);
        Future {
            client,
            comp,
            positions,
            key,
            finish,
            cancelled: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The key of the task (the first output's, for a collection).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Waits for the result.
    pub fn result(&self) -> Result<T> {
        self.check_cancelled()?;
        let values = self.client.inner.take(self.comp, &self.positions)?;
        Ok((self.finish)(&mut values.into_iter())?)
    }

    /// Waits at most `timeout` for the result.
    pub fn result_timeout(&self, timeout: Duration) -> Result<T> {
        self.check_cancelled()?;
        self.client
            .inner
            .wait_for(self.comp, &self.positions, Some(Instant::now() + timeout))?;
        self.result()
    }

    /// Whether the result (or the failure) is here.
    pub fn done(&self) -> bool {
        let s = self.client.inner.state.lock();
        !matches!(
            self.client.inner.check(&s, self.comp, &self.positions),
            Ok(false)
        )
    }

    /// Cancels this future (see [`Client::cancel`]).
    pub fn cancel(&self) {
        if !self.cancelled.swap(true, Ordering::AcqRel) {
            self.client.inner.release(self.comp);
            self.client.inner.changed.notify_all();
        }
    }

    fn check_cancelled(&self) -> Result<()> {
        if self.cancelled.load(Ordering::Acquire) {
            return Err(Error::Cancelled {
                key: self.key.clone(),
            });
        }
        Ok(())
    }
}

impl<T> Drop for Future<T> {
    fn drop(&mut self) {
        if !self.cancelled.load(Ordering::Acquire) {
            self.client.inner.release(self.comp);
        }
    }
}

impl<T> std::fmt::Debug for Future<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Future({})", self.key)
    }
}

/// Futures in the order they complete; see [`Client::as_completed`].
pub struct AsCompleted<T> {
    client: Client,
    pending: Vec<Future<T>>,
}

impl<T> Iterator for AsCompleted<T> {
    type Item = Future<T>;
    fn next(&mut self) -> Option<Future<T>> {
        if self.pending.is_empty() {
            return None;
        }
        let inner = &self.client.inner;
        let mut s = inner.state.lock();
        loop {
            let hit = self
                .pending
                .iter()
                .position(|f| !matches!(inner.check(&s, f.comp, &f.positions), Ok(false)));
            if let Some(i) = hit {
                drop(s);
                return Some(self.pending.swap_remove(i));
            }
            inner.changed.wait(&mut s);
        }
    }
}

impl Client {
    /// The plan with its placeholders of this client's futures (persisted
    /// collections, futures as arguments) made externals of the
    /// computation: each task reading one fetches it from the worker
    /// holding it. A placeholder that is itself an output is read through
    /// an identity task, since a placeholder never runs. Then sends it;
    /// returns the plan as sent and the computation's id.
    pub(crate) fn submit_with_futures(
        &self,
        mut plan: Plan,
        mut extra: Extra,
    ) -> Result<(Plan, u64)> {
        let local = plan
            .graph
            .iter()
            .find_map(|(k, t)| Some((k, t.op.in_process_only()?)));
        if let Some((key, why)) = local {
            return Err(Error::Graph(format!(
                "task {key} cannot leave this process: {why}"
            )));
        }
        let refs = crate::args::futures_in(&plan.graph);
        let mut placeholders = Vec::with_capacity(refs.len());
        for (key, r) in refs {
            let id = plan
                .graph
                .id_of(&key)
                .ok_or_else(|| Error::Graph(format!("the future {key} left the plan")))?;
            placeholders.push((id, r));
        }
        let mut reads: HashMap<u32, u32> = HashMap::new();
        let mut lists: Option<Vec<Vec<u32>>> = None;
        for pos in 0..plan.outputs.len() {
            let o = plan.outputs[pos];
            if !placeholders.iter().any(|(id, _)| *id == o) {
                continue;
            }
            let read = match reads.get(&o) {
                Some(&read) => read,
                None => {
                    let key = plan.graph.key(o).clone();
                    let read = plan.graph.len() as u32;
                    plan.graph.insert(
                        Key::new(&*format!("{key}-read")),
                        Task::new(
                            Arc::new(oxidask_graph::Identity),
                            vec![oxidask_graph::Arg::Key(key)],
                        ),
                    );
                    lists
                        .get_or_insert_with(|| {
                            (0..read).map(|i| plan.deps.of(i).to_vec()).collect()
                        })
                        .push(vec![o]);
                    plan.priority.push(plan.priority[o as usize]);
                    reads.insert(o, read);
                    read
                }
            };
            plan.outputs[pos] = read;
        }
        if let Some(lists) = lists {
            plan.deps = Deps::from_lists(lists);
        }
        for (id, r) in &placeholders {
            self.add_external(&mut extra, *id, r)?;
        }
        let comp = self.submit_plan(&plan, extra)?;
        Ok((plan, comp))
    }
}

/// The client as a scheduler of the local API (see [`Client::scheduler`]).
struct ClusterScheduler(Client);

fn to_scheduler(e: Error) -> oxidask_scheduler::Error {
    match e {
        Error::Task(t) => oxidask_scheduler::Error::Task(t),
        Error::Collection(e) => e,
        other => oxidask_scheduler::Error::Cluster(Box::new(other)),
    }
}

impl oxidask_scheduler::Scheduler for ClusterScheduler {
    fn name(&self) -> &str {
        "distributed"
    }

    fn runs_in_process(&self) -> bool {
        false
    }

    fn run(
        &self,
        plan: Plan,
        ctx: &oxidask_scheduler::RunContext,
    ) -> oxidask_scheduler::Result<Vec<Value>> {
        let (plan, local) = crate::local_steps::split(plan).map_err(to_scheduler)?;
        local.finish(self.run_plan(plan, ctx)?)
    }

    /// Keeps the outputs on the workers: the tasks returned read them
    /// there (placeholders of this client's futures, holding the
    /// computation while any of them lives). Like [`Client::persist`] it
    /// waits for nothing.
    fn persist(
        &self,
        plan: Plan,
        ctx: &oxidask_scheduler::RunContext,
    ) -> oxidask_scheduler::Result<Vec<Task>> {
        let (plan, local) = crate::local_steps::split(plan).map_err(to_scheduler)?;
        if !local.is_empty() {
            // A step of the caller's (an array's assembly) is not a
            // result the workers hold: computed here, as persisted locally.
            let values = local.finish(self.run_plan(plan, ctx)?)?;
            return Ok(values.into_iter().map(Task::literal).collect());
        }
        let extra = Extra {
            hold: true,
            send: false,
            ..Extra::default()
        };
        let (plan, comp) = self
            .0
            .submit_with_futures(plan, extra)
            .map_err(to_scheduler)?;
        self.0.inner.retain(comp);
        let hold = Arc::new(Hold::adopt(&self.0, comp));
        Ok(plan
            .outputs
            .iter()
            .enumerate()
            .map(|(position, &o)| {
                let r = FutureRef::held(&hold, position, plan.graph.key(o).to_string());
                Task::new(Arc::new(r), Vec::new())
            })
            .collect())
    }
}

impl ClusterScheduler {
    /// [`run`](oxidask_scheduler::Scheduler::run) of a plan whose in-caller
    /// steps are already cut off.
    fn run_plan(
        &self,
        plan: Plan,
        _ctx: &oxidask_scheduler::RunContext,
    ) -> oxidask_scheduler::Result<Vec<Value>> {
        let inner = &self.0.inner;
        let extra = Extra {
            send: true,
            ..Extra::default()
        };
        let (plan, comp) = self
            .0
            .submit_with_futures(plan, extra)
            .map_err(to_scheduler)?;
        inner.retain(comp);
        let values = inner.take(comp, &(0..plan.outputs.len()));
        inner.release(comp);
        values.map_err(to_scheduler)
    }
}
