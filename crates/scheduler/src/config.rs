//! Configuration: which scheduler runs a computation, with how many workers.
//!
//! Three levels, the most specific winning:
//!
//! 1. per call: [`ComputeOptions`](crate::ComputeOptions) passed to
//!    `compute_with`;
//! 2. per scope, on the current thread: [`with_scheduler`] / [`with_config`]
//!    (like `with dask.config.set(scheduler=...)`);
//! 3. process-wide: [`set_global`], which starts from the environment:
//!    - `OXIDASK_SCHEDULER`: `threaded` (default; also `threads`) or `sync`
//!      (also `synchronous`, `single-threaded`);
//!    - `OXIDASK_NUM_WORKERS`: worker threads for `threaded` (default: all cores);
//!    - `OXIDASK_MEMORY_LIMIT`: bytes of results held in memory before spilling
//!      to disk, e.g. `2GiB`, `512MB`, or `none` (default: half of physical memory);
//!    - `OXIDASK_SPILL_DIR`: where spill files go (default: the system temp
//!      dir; an empty value is an error, not the current directory);
//!    - `OXIDASK_CLEANUP_ON_SIGNAL`: `1`/`true` (default) or `0`/`false` —
//!      whether the first spill or shuffle directory installs a SIGINT/SIGTERM
//!      handler that removes such directories and then ends the process as
//!      the signal would (see [`oxidask_store::cleanup`]); switch it off if
//!      the program handles these signals itself;
//!    - `OXIDASK_ROOT_TASK_QUEUING`: `1`/`true` (default) or `0`/`false` —
//!      whether the threaded scheduler holds back new root tasks while memory
//!      is tight.
//!
//! An invalid environment value is an error naming the variable, raised by
//! the first computation (not a silent fallback).

use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;

use oxidask_graph::optimize::OptimizeOptions;
use parking_lot::RwLock;

use crate::error::{Error, Result};
use crate::{Scheduler, SyncScheduler, ThreadedScheduler};
use oxidask_store::shuffle::TransportSpec;

/// Which scheduler runs computations.
#[derive(Clone)]
pub enum SchedulerChoice {
    /// [`SyncScheduler`]: one thread, deterministic.
    Sync,
    /// [`ThreadedScheduler`] with the configured number of workers.
    Threaded,
    /// Any other implementation, e.g. a cluster client.
    Custom(Arc<dyn Scheduler>),
}

impl fmt::Debug for SchedulerChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchedulerChoice::Sync => write!(f, "Sync"),
            SchedulerChoice::Threaded => write!(f, "Threaded"),
            SchedulerChoice::Custom(s) => write!(f, "Custom({})", s.name()),
        }
    }
}

/// How shuffles (joins, sorts, `split_out` group_bys, bag groupbys) move
/// their pieces between their split and combine tasks; Dask's
/// `dataframe.shuffle.method`. Chosen when the shuffle is *built*, from the
/// configuration in force then, as in Dask.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ShuffleMethod {
    /// [`Disk`](ShuffleMethod::Disk) when the scheduler in force runs tasks
    /// in this process, else [`Tasks`](ShuffleMethod::Tasks) (a cluster
    /// client).
    #[default]
    Auto,
    /// Each split writes its pieces to one local file, read back one piece
    /// at a time: the least memory, few files, and the fastest on one
    /// machine; its files are local, so it cannot run on a cluster.
    Disk,
    /// Each piece is a task's result, kept and moved by the scheduler like
    /// any value (spilled under a memory limit, fetched worker to worker on
    /// a cluster): N × M small tasks, and each combine holds its N pieces.
    Tasks,
}

/// Settings of the local computation.
#[derive(Clone, Debug)]
pub struct Config {
    /// The scheduler.
    pub scheduler: SchedulerChoice,
    /// Worker threads for the threaded scheduler.
    pub num_workers: usize,
    /// Optimizer passes.
    pub optimize: OptimizeOptions,
    /// Bytes of results held in memory before spilling (`None`: no limit).
    pub memory_limit: Option<usize>,
    /// Where spill directories are created (`None`: the temp dir).
    pub spill_dir: Option<std::path::PathBuf>,
    /// Whether spill and shuffle directories are removed on SIGINT/SIGTERM
    /// by a handler installed when the first one is created (default: on).
    /// The handler then ends the process as the signal would; switch this
    /// off (before the first computation that spills) if the program
    /// handles these signals itself.
    pub cleanup_on_signal: bool,
    /// Whether the threaded scheduler stops starting new root tasks (reads,
    /// generators) while the store is over three quarters of its memory
    /// limit and tasks that consume results are ready (default: on).
    pub root_task_queuing: bool,
    /// Whether every optimized graph is written to bytes and read back
    /// through the op and value registries before it runs (default: off;
    /// `OXIDASK_ROUND_TRIP=1`). Results are the same; a graph holding a
    /// closure fails naming the task. Tests use it to prove a graph could
    /// run in another process, as on a cluster.
    pub round_trip: bool,
    /// How shuffles built under this configuration move their pieces
    /// (`OXIDASK_SHUFFLE=disk|tasks|auto`; default: auto).
    pub shuffle: ShuffleMethod,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            scheduler: SchedulerChoice::Threaded,
            num_workers: default_num_workers(),
            optimize: OptimizeOptions::default(),
            memory_limit: Some(oxidask_store::default_limit()),
            spill_dir: None,
            cleanup_on_signal: true,
            root_task_queuing: true,
            round_trip: false,
            shuffle: ShuffleMethod::Auto,
        }
    }
}

/// All cores the process may use.
pub fn default_num_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

impl Config {
    /// The defaults, overridden by `OXIDASK_SCHEDULER` and `OXIDASK_NUM_WORKERS`.
    pub fn from_env() -> Result<Config> {
        Config::from_vars(|name| std::env::var(name).ok())
    }

    fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Config> {
        let mut config = Config::default();
        if let Some(s) = var("OXIDASK_SCHEDULER") {
            config.scheduler = parse_scheduler(&s).ok_or_else(|| {
                Error::Config(format!(
                    "OXIDASK_SCHEDULER={s:?} is not a scheduler; use \"threaded\" or \"sync\""
                ))
            })?;
        }
        if let Some(s) = var("OXIDASK_NUM_WORKERS") {
            config.num_workers = s.trim().parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                Error::Config(format!(
                    "OXIDASK_NUM_WORKERS={s:?} is not a positive number of worker threads"
                ))
            })?;
        }
        if let Some(s) = var("OXIDASK_MEMORY_LIMIT") {
            config.memory_limit = oxidask_store::parse_bytes(&s)
                .map_err(|e| Error::Config(format!("OXIDASK_MEMORY_LIMIT: {e}")))?;
        }
        if let Some(s) = var("OXIDASK_SPILL_DIR") {
            if s.trim().is_empty() {
                return Err(Error::Config(
                    "OXIDASK_SPILL_DIR is set but empty; unset it for the system temp dir or name a directory".into(),
                ));
            }
            config.spill_dir = Some(s.into());
        }
        if let Some(s) = var("OXIDASK_CLEANUP_ON_SIGNAL") {
            config.cleanup_on_signal = parse_switch("OXIDASK_CLEANUP_ON_SIGNAL", &s)?;
        }
        if let Some(s) = var("OXIDASK_ROOT_TASK_QUEUING") {
            config.root_task_queuing = parse_switch("OXIDASK_ROOT_TASK_QUEUING", &s)?;
        }
        if let Some(s) = var("OXIDASK_ROUND_TRIP") {
            config.round_trip = parse_switch("OXIDASK_ROUND_TRIP", &s)?;
        }
        if let Some(s) = var("OXIDASK_SHUFFLE") {
            config.shuffle = match s.trim().to_ascii_lowercase().as_str() {
                "auto" => ShuffleMethod::Auto,
                "disk" => ShuffleMethod::Disk,
                "tasks" => ShuffleMethod::Tasks,
                _ => {
                    return Err(Error::Config(format!(
                        "OXIDASK_SHUFFLE={s:?} is not a shuffle method; use \"disk\", \"tasks\" or \"auto\""
                    )));
                }
            };
        }
        Ok(config)
    }

    /// The scheduler this configuration selects.
    pub fn scheduler(&self) -> Arc<dyn Scheduler> {
        match &self.scheduler {
            SchedulerChoice::Sync => Arc::new(SyncScheduler),
            SchedulerChoice::Threaded => Arc::new(ThreadedScheduler::new(self.num_workers)),
            SchedulerChoice::Custom(s) => s.clone(),
        }
    }
}

impl Config {
    /// The shuffle method [`Auto`](ShuffleMethod::Auto) stands for under
    /// this configuration's scheduler; never `Auto`.
    pub fn shuffle_method(&self) -> ShuffleMethod {
        match (self.shuffle, &self.scheduler) {
            (ShuffleMethod::Auto, SchedulerChoice::Custom(s)) if !s.runs_in_process() => {
                ShuffleMethod::Tasks
            }
            (ShuffleMethod::Auto, _) => ShuffleMethod::Disk,
            (method, _) => method,
        }
    }
}

/// How a shuffle named `name`, built now, moves its pieces: by the
/// [method](Config::shuffle_method) of the configuration in force; for the
/// disk method, in a fresh directory under `dir`, else the configured spill
/// directory, else the system temp dir.
pub fn shuffle_transport(name: &str, dir: Option<std::path::PathBuf>) -> TransportSpec {
    let config = current().unwrap_or_default();
    match config.shuffle_method() {
        ShuffleMethod::Tasks => TransportSpec::Tasks,
        _ => TransportSpec::LocalFiles {
            parent: dir.or(config.spill_dir).unwrap_or_else(std::env::temp_dir),
            name: name.to_string(),
        },
    }
}

fn parse_switch(name: &str, s: &str) -> Result<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(Error::Config(format!(
            "{name}={s:?} is not a switch; use 1 or 0"
        ))),
    }
}

fn parse_scheduler(s: &str) -> Option<SchedulerChoice> {
    match s.trim().to_ascii_lowercase().as_str() {
        "threaded" | "threads" | "threading" => Some(SchedulerChoice::Threaded),
        "sync" | "synchronous" | "single-threaded" => Some(SchedulerChoice::Sync),
        _ => None,
    }
}

static GLOBAL: RwLock<Option<Config>> = RwLock::new(None);

thread_local! {
    static SCOPED: RefCell<Vec<Config>> = const { RefCell::new(Vec::new()) };
}

/// Sets the process-wide configuration (replacing the environment's).
pub fn set_global(config: Config) {
    *GLOBAL.write() = Some(config);
}

/// The configuration in force on this thread: the innermost
/// [`with_config`] scope, else the global one, else the environment's.
pub fn current() -> Result<Config> {
    if let Some(c) = SCOPED.with(|s| s.borrow().last().cloned()) {
        return Ok(c);
    }
    if let Some(c) = GLOBAL.read().clone() {
        return Ok(c);
    }
    let c = Config::from_env()?;
    GLOBAL.write().get_or_insert(c.clone());
    Ok(c)
}

/// Runs `f` with `config` in force on this thread; restored afterwards, also
/// if `f` panics.
pub fn with_config<R>(config: Config, f: impl FnOnce() -> R) -> R {
    struct Pop;
    impl Drop for Pop {
        fn drop(&mut self) {
            SCOPED.with(|s| s.borrow_mut().pop());
        }
    }
    SCOPED.with(|s| s.borrow_mut().push(config));
    let _pop = Pop;
    f()
}

/// Runs `f` with another scheduler in force on this thread, like `with
/// dask.config.set(scheduler=...)`: `with_scheduler(SchedulerChoice::Sync,
/// || x.compute())?`. One `Result`: `f`'s own, or the configuration's error
/// (an invalid environment variable) converted into `f`'s error type.
pub fn with_scheduler<R, E: From<Error>>(
    scheduler: SchedulerChoice,
    f: impl FnOnce() -> std::result::Result<R, E>,
) -> std::result::Result<R, E> {
    let config = Config {
        scheduler,
        ..current()?
    };
    with_config(config, f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shuffle_method_follows_the_scheduler_unless_set() {
        struct Remote;
        impl crate::Scheduler for Remote {
            fn name(&self) -> &str {
                "remote"
            }
            fn run(
                &self,
                _: oxidask_graph::optimize::Plan,
                _: &crate::RunContext,
            ) -> Result<Vec<oxidask_graph::Value>> {
                unreachable!("never run")
            }
            fn runs_in_process(&self) -> bool {
                false
            }
        }
        let remote = SchedulerChoice::Custom(Arc::new(Remote));
        let with = |scheduler, shuffle| Config {
            scheduler,
            shuffle,
            ..Config::default()
        };
        use ShuffleMethod::*;
        assert_eq!(with(SchedulerChoice::Threaded, Auto).shuffle_method(), Disk);
        assert_eq!(with(SchedulerChoice::Sync, Auto).shuffle_method(), Disk);
        assert_eq!(with(remote.clone(), Auto).shuffle_method(), Tasks);
        assert_eq!(with(remote, Disk).shuffle_method(), Disk);
        assert_eq!(
            with(SchedulerChoice::Threaded, Tasks).shuffle_method(),
            Tasks
        );
        let c = with_config(with(SchedulerChoice::Threaded, Tasks), || {
            shuffle_transport("s", None)
        });
        assert_eq!(c, TransportSpec::Tasks);
        let dir = std::path::PathBuf::from("/somewhere");
        let c = with_config(with(SchedulerChoice::Threaded, Auto), || {
            shuffle_transport("s", Some(dir.clone()))
        });
        assert_eq!(
            c,
            TransportSpec::LocalFiles {
                parent: dir,
                name: "s".into()
            }
        );
        for (text, method) in [("tasks", Tasks), (" Disk", Disk), ("auto", Auto)] {
            let c = Config::from_vars(|v| (v == "OXIDASK_SHUFFLE").then(|| text.into())).unwrap();
            assert_eq!(c.shuffle, method);
        }
        let e = Config::from_vars(|v| (v == "OXIDASK_SHUFFLE").then(|| "p2p".into()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("OXIDASK_SHUFFLE") && e.contains("p2p"), "{e}");
    }

    #[test]
    fn env_values_parse_or_name_the_variable() {
        let c = Config::from_vars(|v| match v {
            "OXIDASK_SCHEDULER" => Some("sync".into()),
            "OXIDASK_NUM_WORKERS" => Some("3".into()),
            _ => None,
        })
        .unwrap();
        assert!(matches!(c.scheduler, SchedulerChoice::Sync));
        assert_eq!(c.num_workers, 3);
        let e = Config::from_vars(|v| (v == "OXIDASK_SCHEDULER").then(|| "gpu".into()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("OXIDASK_SCHEDULER") && e.contains("gpu"), "{e}");
        let e = Config::from_vars(|v| (v == "OXIDASK_NUM_WORKERS").then(|| "0".into()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("OXIDASK_NUM_WORKERS"), "{e}");
        // An empty spill dir would spill into the current directory.
        let e = Config::from_vars(|v| (v == "OXIDASK_SPILL_DIR").then(String::new))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("OXIDASK_SPILL_DIR") && e.contains("empty"),
            "{e}"
        );
        let c =
            Config::from_vars(|v| (v == "OXIDASK_CLEANUP_ON_SIGNAL").then(|| "0".into())).unwrap();
        assert!(!c.cleanup_on_signal && c.root_task_queuing);
        let e = Config::from_vars(|v| (v == "OXIDASK_ROOT_TASK_QUEUING").then(|| "maybe".into()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("OXIDASK_ROOT_TASK_QUEUING"), "{e}");
    }

    #[test]
    fn scopes_nest_and_restore() {
        let outer = with_scheduler(SchedulerChoice::Sync, || {
            let inner =
                with_scheduler(SchedulerChoice::Threaded, || current().map(|c| c.scheduler))?;
            assert!(matches!(inner, SchedulerChoice::Threaded));
            current().map(|c| c.scheduler)
        })
        .unwrap();
        assert!(matches!(outer, SchedulerChoice::Sync));
    }
}
