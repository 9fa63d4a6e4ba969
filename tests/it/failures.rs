//! Failures are errors naming their task, on every scheduler; nothing hangs
//! and no worker thread outlives the computation.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use oxidask::delayed::Delayed;
use oxidask::graph::{FnOp, Key, Task, TaskGraph, Value};
use oxidask::prelude::*;
use oxidask::scheduler::{Callback, Event};
use oxidask_testing::SchedulerTester;

/// Tasks of this test still running (other tests' tasks are not counted).
static RUNNING: AtomicUsize = AtomicUsize::new(0);

fn work(i: u64) -> u64 {
    RUNNING.fetch_add(1, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(1));
    RUNNING.fetch_sub(1, Ordering::SeqCst);
    i
}

fn fail_on(i: u64) -> Result<u64, String> {
    if i == 13 {
        Err(format!("star {i}: file is truncated"))
    } else {
        Ok(i)
    }
}

/// Counts `work` tasks started, and those started after the first failure.
#[derive(Default)]
struct Starts {
    failed: AtomicBool,
    all: AtomicUsize,
    late: AtomicUsize,
}
impl Callback for Starts {
    fn on_event(&self, e: &Event<'_>) {
        match e {
            Event::TaskFailed { .. } => self.failed.store(true, Ordering::SeqCst),
            Event::TaskStarted { op, .. } if op.contains("work") => {
                self.all.fetch_add(1, Ordering::SeqCst);
                if self.failed.load(Ordering::SeqCst) {
                    self.late.fetch_add(1, Ordering::SeqCst);
                }
            }
            _ => {}
        }
    }
}

#[test]
fn a_failing_delayed_task_stops_the_rest_leaving_no_thread() {
    for s in [SchedulerChoice::Sync, SchedulerChoice::Threaded] {
        let mut items: Vec<Delayed<u64>> = (0..2_000u64).map(|i| delayed!(work(i))).collect();
        items.insert(0, delayed!(fail_on(13)?));
        // Counted in events, not seconds (a loaded machine makes time lie).
        let starts = Arc::new(Starts::default());
        let opts = ComputeOptions::new()
            .scheduler(s.clone())
            .callback(starts.clone());
        let err = compute_with(&items, &opts).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("fail_on") && msg.contains("truncated"),
            "{msg}"
        );
        assert!(msg.contains(&items[0].key().to_string()), "{msg}");
        let (all, late) = (
            starts.all.load(Ordering::SeqCst),
            starts.late.load(Ordering::SeqCst),
        );
        assert!(all < 2_000, "{s:?}: the other tasks were not cancelled");
        assert!(late < 100, "{s:?}: {late} tasks started after the failure");
        // Scoped workers: every task has ended when compute returns.
        assert_eq!(
            RUNNING.load(Ordering::SeqCst),
            0,
            "{s:?}: a task is still running"
        );
    }
}

/// An error that prints its cause and also chains it, as many do.
#[derive(Debug)]
struct OpenFailed(std::io::Error);
impl std::fmt::Display for OpenFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "opening stars.csv: {}", self.0)
    }
}
impl std::error::Error for OpenFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[test]
fn an_os_error_is_printed_once() {
    let open = FnOp::arc("open", |_| {
        let e = std::fs::File::open("/nonexistent/stars.csv").unwrap_err();
        Err(Box::new(OpenFailed(e)))
    });
    let mut g = TaskGraph::new();
    g.insert(Key::new("open"), Task::new(open, vec![]));
    let msg = oxidask::scheduler::compute(g, &[Key::new("open")])
        .unwrap_err()
        .to_string();
    assert_eq!(msg.matches("os error 2").count(), 1, "{msg}");
    assert!(msg.contains("stars.csv"), "{msg}");
}

#[test]
fn errors_name_the_culprit_on_every_scheduler_and_optimization() {
    let build = || {
        let mut g = TaskGraph::new();
        g.insert(Key::new("a"), Task::literal(Value::new(1u64)));
        let bad = FnOp::arc("explode", |_| Err("boom at row 9".into()));
        g.insert(
            Key::with_index("mid", &[3]),
            Task::new(bad, vec![Key::new("a").into()]),
        );
        g.insert(Key::new("out"), Task::alias(Key::with_index("mid", &[3])));
        (g, vec![Key::new("out")])
    };
    SchedulerTester::new().assert_fails(build, |msg| {
        assert!(
            msg.contains("explode") && msg.contains("boom at row 9"),
            "{msg}"
        );
    });
}
