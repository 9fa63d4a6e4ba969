//! A per-task profiler, like `dask.diagnostics.Profiler`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use oxidask_graph::Key;
use parking_lot::Mutex;

use crate::events::{self, Callback, Event, Registration};

/// One task's run: which task, on which worker, when.
#[derive(Clone, Debug)]
pub struct TaskRecord {
    /// The task's key.
    pub key: Key,
    /// Its op's name.
    pub op: String,
    /// Worker index (0-based; always 0 on the sync scheduler).
    pub worker: usize,
    /// Start, relative to the start of the computation.
    pub start: Duration,
    /// End, relative to the start of the computation.
    pub end: Duration,
    /// Bytes of the result.
    pub nbytes: usize,
}

/// Records every task of the computations it observes. Switch it on with
/// `let prof = Profiler::new(); let _on = prof.register();` and read
/// [`Profiler::records`] afterwards.
#[derive(Clone, Default)]
pub struct Profiler {
    inner: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    origin: Option<Instant>,
    records: Vec<TaskRecord>,
}

impl Profiler {
    /// An empty profiler.
    pub fn new() -> Profiler {
        Profiler::default()
    }

    /// Observes every computation until the guard is dropped.
    #[must_use = "the profiler stops recording when the guard is dropped"]
    pub fn register(&self) -> Registration {
        events::register(Arc::new(self.clone()))
    }

    /// The tasks recorded so far, in the order they finished.
    pub fn records(&self) -> Vec<TaskRecord> {
        self.inner.lock().records.clone()
    }

    /// Forgets what was recorded.
    pub fn clear(&self) {
        *self.inner.lock() = State::default();
    }

    /// Busy time per worker: the sum of task durations on each.
    pub fn busy_per_worker(&self) -> Vec<Duration> {
        let state = self.inner.lock();
        let n = state
            .records
            .iter()
            .map(|r| r.worker + 1)
            .max()
            .unwrap_or(0);
        let mut busy = vec![Duration::ZERO; n];
        for r in &state.records {
            busy[r.worker] += r.end.saturating_sub(r.start);
        }
        busy
    }
}

impl Callback for Profiler {
    fn on_event(&self, event: &Event<'_>) {
        match event {
            Event::Started { .. } => {
                let mut s = self.inner.lock();
                if s.origin.is_none() {
                    s.origin = Some(Instant::now());
                }
            }
            Event::TaskFinished {
                key,
                op,
                worker,
                start,
                end,
                nbytes,
                ..
            } => {
                let mut s = self.inner.lock();
                let origin = *s.origin.get_or_insert(*start);
                s.records.push(TaskRecord {
                    key: (*key).clone(),
                    op: op.to_string(),
                    worker: *worker,
                    start: start.saturating_duration_since(origin),
                    end: end.saturating_duration_since(origin),
                    nbytes: *nbytes,
                });
            }
            _ => {}
        }
    }
}
