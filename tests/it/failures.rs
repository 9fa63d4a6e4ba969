//! Failures are errors naming their task, on every scheduler; nothing hangs
//! and no worker thread outlives the computation.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use oxidask::delayed::Delayed;
use oxidask::graph::{FnOp, Key, Task, TaskGraph, Value};
use oxidask::prelude::*;
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

#[test]
fn a_failing_delayed_task_errs_within_a_second_leaving_no_thread() {
    for s in [SchedulerChoice::Sync, SchedulerChoice::Threaded] {
        let mut items: Vec<Delayed<u64>> = (0..2_000u64).map(|i| delayed!(work(i))).collect();
        items.insert(0, delayed!(fail_on(13)?));
        let t0 = Instant::now();
        let err = compute_with(&items, &ComputeOptions::new().scheduler(s.clone())).unwrap_err();
        let took = t0.elapsed();
        let msg = err.to_string();
        assert!(took < Duration::from_secs(1), "{s:?}: took {took:?}");
        assert!(
            msg.contains("fail_on") && msg.contains("truncated"),
            "{msg}"
        );
        assert!(msg.contains(&items[0].key().to_string()), "{msg}");
        // Scoped workers: every task has ended when compute returns.
        assert_eq!(
            RUNNING.load(Ordering::SeqCst),
            0,
            "{s:?}: a task is still running"
        );
    }
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
