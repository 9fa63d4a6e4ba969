//! A cluster on this machine: a scheduler on a thread of this process and
//! worker processes that are copies of this program.
//!
//! A worker process is the user's own binary started with [`WORKER_ENV`]
//! set to the scheduler's address: [`worker_main`] (called by
//! `oxidask::init()` at the top of `main`) sees it and runs a worker
//! instead of the program, so the program's `#[oxidask::remote]` functions
//! and registered types are the worker's. A worker stops when its
//! scheduler's connection closes — so when the cluster is dropped, and
//! when this process dies in any way (its sockets close with it). While
//! the cluster lives, a worker process that dies is started again (as
//! Dask's nanny does), so a lost worker is replaced.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::server::{Scheduler, SchedulerOptions};
use crate::worker::{WorkerOptions, run_worker};

/// Set to a scheduler's address, this makes a process a worker of it
/// (see [`worker_main`]). `OXIDASK_NTHREADS`, `OXIDASK_MEMORY_LIMIT`
/// (bytes), `OXIDASK_WORKER_NAME`, `OXIDASK_TOKEN`, `OXIDASK_WORKER_HOST`
/// (the host other workers reach it on; default 127.0.0.1) and
/// `OXIDASK_TLS_CA_FILE`/`OXIDASK_TLS_CERT`/`OXIDASK_TLS_KEY` set its
/// options.
pub const WORKER_ENV: &str = "OXIDASK_WORKER_OF";

/// If this process was started as a worker ([`WORKER_ENV`] is set), runs
/// the worker and exits the process when it stops (status 0, or 1 with the
/// reason on standard error); otherwise returns at once.
pub fn worker_main() {
    let Ok(addr) = std::env::var(WORKER_ENV) else {
        return;
    };
    let code = match options_from_env().and_then(|o| run_worker(&addr, o)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("oxidask worker: {e}");
            1
        }
    };
    std::process::exit(code);
}

fn options_from_env() -> Result<WorkerOptions> {
    let mut o = WorkerOptions::default();
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let number = |name: &str, v: String| {
        v.trim()
            .parse::<usize>()
            .map_err(|e| Error::Start(format!("{name}={v:?} is not a whole number: {e}")))
    };
    if let Some(v) = var("OXIDASK_NTHREADS") {
        o.nthreads = number("OXIDASK_NTHREADS", v)?.max(1);
    }
    if let Some(v) = var("OXIDASK_MEMORY_LIMIT") {
        o.memory_limit = Some(number("OXIDASK_MEMORY_LIMIT", v)?);
    }
    if let Some(v) = var("OXIDASK_WORKER_NAME") {
        o.name = v;
    }
    if let Some(v) = var(crate::worker_memory::FRACTIONS_ENV) {
        o.memory = crate::MemoryFractions::parse(&v)
            .map_err(|e| Error::Start(format!("{}: {e}", crate::worker_memory::FRACTIONS_ENV)))?;
    }
    if let Some(v) = var("OXIDASK_TOKEN") {
        o.token = v;
    }
    if let Some(v) = var("OXIDASK_WORKER_HOST") {
        o.host = v;
    }
    o.tls = crate::TlsFiles::from_env()?;
    Ok(o)
}

/// A scheduler in this process and `n_workers` worker processes running
/// this program (or [`LocalCluster::builder`]'s `program`). Dropping it
/// stops them all.
pub struct LocalCluster {
    scheduler: Option<Scheduler>,
    tls: Option<crate::TlsFiles>,
    workers: Arc<Mutex<Vec<Child>>>,
    closing: Arc<AtomicBool>,
    restarts: Arc<AtomicUsize>,
    nanny: Option<std::thread::JoinHandle<()>>,
}

/// Settings of a [`LocalCluster`].
#[derive(Clone, Debug)]
pub struct LocalClusterBuilder {
    n_workers: usize,
    threads_per_worker: usize,
    memory_limit: Option<usize>,
    memory: crate::MemoryFractions,
    program: Option<PathBuf>,
    token: String,
    options: SchedulerOptions,
    dashboard: Option<String>,
}

impl LocalCluster {
    /// `n_workers` processes of this program with `threads_per_worker`
    /// threads each and a `memory_limit` (bytes) per worker; waits until
    /// they have joined. The program must call `oxidask::init()` (or
    /// [`worker_main`]) first thing in `main`.
    pub fn new(
        n_workers: usize,
        threads_per_worker: usize,
        memory_limit: Option<usize>,
    ) -> Result<LocalCluster> {
        LocalCluster::builder()
            .n_workers(n_workers)
            .threads_per_worker(threads_per_worker)
            .memory_limit(memory_limit)
            .start()
    }

    /// Settings with defaults: 2 workers of 1 thread, no memory limit.
    pub fn builder() -> LocalClusterBuilder {
        LocalClusterBuilder {
            n_workers: 2,
            threads_per_worker: 1,
            memory_limit: None,
            memory: crate::MemoryFractions::default(),
            program: None,
            token: String::new(),
            options: SchedulerOptions::default(),
            dashboard: None,
        }
    }

    /// The scheduler's address.
    pub fn address(&self) -> String {
        self.scheduler.as_ref().expect("running").addr().to_string()
    }

    /// The dashboard's status page, if the cluster was started with one
    /// ([`LocalClusterBuilder::dashboard`]).
    pub fn dashboard_link(&self) -> Option<String> {
        self.scheduler
            .as_ref()
            .and_then(|s| s.dashboard_link().map(str::to_string))
    }

    /// A client of this cluster (over TLS if the cluster uses it).
    pub fn client(&self) -> Result<Client> {
        Client::connect_with(&self.address(), &self.token(), self.tls.as_ref())
    }

    fn token(&self) -> String {
        std::env::var("OXIDASK_TOKEN").unwrap_or_default()
    }

    /// Process ids of the worker processes now.
    pub fn worker_pids(&self) -> Vec<u32> {
        self.workers.lock().iter().map(Child::id).collect()
    }

    /// How many worker processes were started again after they died.
    pub fn restarts(&self) -> usize {
        self.restarts.load(Ordering::Relaxed)
    }

    /// Name and last reported memory of each connected worker.
    pub fn workers(&self) -> Vec<(String, crate::messages::MemoryReport)> {
        self.scheduler
            .as_ref()
            .map_or_else(Vec::new, |s| s.info().workers)
    }

    /// Workers connected to the scheduler now.
    pub fn n_connected(&self) -> usize {
        self.scheduler
            .as_ref()
            .map_or(0, |s| s.info().workers.len())
    }

    /// Waits until `n` workers are connected.
    pub fn wait_for_workers(&self, n: usize, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        while self.n_connected() < n {
            if Instant::now() > deadline {
                return Err(Error::Start(format!(
                    "only {} of {n} workers joined the scheduler at {} within {timeout:?}; does the \
                     program call oxidask::init() first thing in main?",
                    self.n_connected(),
                    self.address()
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }
}

impl LocalClusterBuilder {
    /// Worker processes.
    pub fn n_workers(mut self, n: usize) -> Self {
        self.n_workers = n;
        self
    }
    /// Threads of each worker.
    pub fn threads_per_worker(mut self, n: usize) -> Self {
        self.threads_per_worker = n.max(1);
        self
    }
    /// Each worker process's memory limit in bytes (Dask's
    /// `memory_limit`): results spill above 60 % of it, a worker pauses
    /// above 80 % and ends above 95 % (and is started again); see
    /// [`MemoryFractions`](crate::MemoryFractions).
    pub fn memory_limit(mut self, bytes: Option<usize>) -> Self {
        self.memory_limit = bytes;
        self
    }
    /// The fractions of `memory_limit` at which each worker spills, pauses
    /// and ends (default: Dask's 0.6/0.7/0.8/0.95).
    pub fn memory_fractions(mut self, fractions: crate::MemoryFractions) -> Self {
        self.memory = fractions;
        self
    }
    /// The program the workers run (default: this one). It must call
    /// `oxidask::init()` first thing in `main`.
    pub fn program(mut self, path: impl Into<PathBuf>) -> Self {
        self.program = Some(path.into());
        self
    }
    /// The scheduler's settings (allowed failures, heartbeat timeout).
    pub fn scheduler_options(mut self, options: SchedulerOptions) -> Self {
        self.options = options;
        self
    }

    /// Encrypts every connection of the cluster with mutual TLS (see
    /// [`crate::tls`]): the scheduler, the workers and [`LocalCluster::client`]
    /// all use these files, so the certificate must name 127.0.0.1. By
    /// default the `OXIDASK_TLS_*` variables' files, if set.
    pub fn tls(mut self, files: crate::TlsFiles) -> Self {
        self.options.tls = Some(files);
        self
    }

    /// Serves the dashboard on `addr` (`"127.0.0.1:8787"`, a bare port for
    /// 127.0.0.1, port 0 for any free one), fed by the cluster; see
    /// [`LocalCluster::dashboard_link`].
    pub fn dashboard(mut self, addr: impl Into<String>) -> Self {
        self.dashboard = Some(addr.into());
        self
    }

    /// Starts the scheduler and the workers; waits (30 s at most) until
    /// every worker has joined.
    pub fn start(mut self) -> Result<LocalCluster> {
        let token = std::env::var("OXIDASK_TOKEN").unwrap_or(self.token.clone());
        if self.options.tls.is_none() {
            self.options.tls = crate::TlsFiles::from_env()?;
        }
        let scheduler = match &self.dashboard {
            Some(d) => {
                Scheduler::start_with_dashboard("127.0.0.1:0", &token, self.options.clone(), d)?
            }
            None => Scheduler::start("127.0.0.1:0", &token, self.options.clone())?,
        };
        let program = match self.program.clone() {
            Some(p) => p,
            None => std::env::current_exe().map_err(|e| Error::io("finding this program", e))?,
        };
        let addr = scheduler.addr().to_string();
        let spawn = {
            let (program, addr, b) = (program.clone(), addr.clone(), self.clone());
            move |i: usize| -> Result<Child> {
                let mut command = Command::new(&program);
                for (name, path) in b.options.tls.iter().flat_map(crate::TlsFiles::env) {
                    command.env(name, path);
                }
                command
                    .env(WORKER_ENV, &addr)
                    .env("OXIDASK_NTHREADS", b.threads_per_worker.to_string())
                    .env(
                        "OXIDASK_MEMORY_LIMIT",
                        b.memory_limit.map_or_else(String::new, |m| m.to_string()),
                    )
                    .env("OXIDASK_WORKER_NAME", format!("local-{i}"))
                    .env(crate::worker_memory::FRACTIONS_ENV, b.memory.to_text())
                    .env("GLIBC_TUNABLES", crate::worker::malloc_tunables())
                    .stdin(Stdio::null())
                    .spawn()
                    .map_err(|e| {
                        Error::Start(format!("starting worker {} failed: {e}", program.display()))
                    })
            }
        };
        let workers = Arc::new(Mutex::new(
            (0..self.n_workers)
                .map(&spawn)
                .collect::<Result<Vec<_>>>()?,
        ));
        let closing = Arc::new(AtomicBool::new(false));
        let restarts = Arc::new(AtomicUsize::new(0));
        let nanny = {
            let (workers, closing, restarts) = (workers.clone(), closing.clone(), restarts.clone());
            std::thread::Builder::new()
                .name("oxidask-nanny".into())
                .spawn(move || nanny(&workers, &closing, &restarts, spawn))
                .map_err(|e| Error::io("starting the nanny thread", e))?
        };
        let cluster = LocalCluster {
            scheduler: Some(scheduler),
            tls: self.options.tls.clone(),
            workers,
            closing,
            restarts,
            nanny: Some(nanny),
        };
        cluster.wait_for_workers(self.n_workers, Duration::from_secs(30))?;
        Ok(cluster)
    }
}

/// Starts a worker process again when one dies, while the cluster lives.
fn nanny(
    workers: &Mutex<Vec<Child>>,
    closing: &AtomicBool,
    restarts: &AtomicUsize,
    spawn: impl Fn(usize) -> Result<Child>,
) {
    while !closing.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(20));
        let mut ws = workers.lock();
        for (i, w) in ws.iter_mut().enumerate() {
            if closing.load(Ordering::Acquire) {
                return;
            }
            if let Ok(Some(status)) = w.try_wait() {
                if status.code() == Some(crate::TERMINATED_FOR_MEMORY) {
                    tracing::warn!(
                        pid = w.id(),
                        "worker ended itself over its memory limit; starting another"
                    );
                } else {
                    tracing::warn!(pid = w.id(), %status, "worker process ended; starting another");
                }
                match spawn(i) {
                    Ok(c) => {
                        *w = c;
                        restarts.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => tracing::error!(reason = %e, "could not start a worker again"),
                }
            }
        }
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        self.closing.store(true, Ordering::Release);
        if let Some(n) = self.nanny.take() {
            let _ = n.join();
        }
        // The scheduler tells its workers to stop and closes their sockets.
        drop(self.scheduler.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        for w in self.workers.lock().iter_mut() {
            loop {
                match w.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() > deadline => {
                        let _ = w.kill();
                        let _ = w.wait();
                        break;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        }
    }
}
