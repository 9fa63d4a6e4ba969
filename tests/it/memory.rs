//! The memory limit: spilling keeps results right, leaves no files behind,
//! and bad situations are clear errors.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use oxidask::graph::{FnOp, Key, Task, TaskGraph, Value};
use oxidask::prelude::*;
use oxidask::scheduler::{Callback, Event, compute_with as compute_graph};
use oxidask_testing::random_dag;
use proptest::prelude::*;

/// A fresh, empty directory for one test's spill files.
fn spill_parent(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("oxidask-it-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn is_empty(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().next().is_none()
}

#[derive(Default)]
struct Spills(AtomicUsize, AtomicUsize);
impl Callback for Spills {
    fn on_event(&self, e: &Event<'_>) {
        if let Event::Finished {
            memory,
            peak_held_bytes,
            ..
        } = e
        {
            self.0.store(memory.spilled, Ordering::SeqCst);
            self.1.store(*peak_held_bytes, Ordering::SeqCst);
        }
    }
}

/// `n` chunks of `len` f64s, all read by one final sum.
fn wide(n: u32, len: usize) -> (TaskGraph, Key) {
    let make = FnOp::arc("make", move |a| {
        let i = *a[0].downcast_ref::<u32>()?;
        Ok(Value::new(vec![i as f64; len]))
    });
    // Iterates its inputs by value, so spilled inputs are loaded one at a time.
    let total = FnOp::arc("total", |args| {
        let mut s = 0.0;
        for a in args {
            s += a.downcast_ref::<Vec<f64>>()?.iter().sum::<f64>();
        }
        Ok(Value::new(s))
    });
    let mut g = TaskGraph::new();
    let keys: Vec<Key> = (0..n)
        .map(|i| {
            let k = Key::with_index("make", &[i]);
            g.insert(
                k.clone(),
                Task::new(make.clone(), vec![Value::new(i).into()]),
            );
            k
        })
        .collect();
    g.insert(
        Key::new("total"),
        Task::new(total, keys.into_iter().map(Into::into).collect()),
    );
    (g, Key::new("total"))
}

#[test]
fn spilling_gives_the_same_result_and_cleans_up() {
    let dir = spill_parent("wide");
    for s in [SchedulerChoice::Sync, SchedulerChoice::Threaded] {
        let (g, out) = wide(40, 10_000); // 40 × 80 kB, limit 200 kB
        let spills = Arc::new(Spills::default());
        let opts = ComputeOptions::new()
            .scheduler(s.clone())
            .memory_limit(Some(200_000))
            .spill_dir(&dir)
            .callback(spills.clone());
        let v = compute_graph(g, &[out], &opts).unwrap();
        let expect: f64 = (0..40).map(|i| i as f64 * 10_000.0).sum();
        assert_eq!(v[0].downcast_ref::<f64>().unwrap(), &expect);
        assert!(
            spills.0.load(Ordering::SeqCst) >= 30,
            "{s:?}: too few spills"
        );
        // A new result is counted before older ones make room for it, and up
        // to a quarter of the limit may wait for the spill writer.
        let peak = spills.1.load(Ordering::SeqCst);
        let workers = oxidask::config::default_num_workers();
        let bound = 200_000 + 50_000 + workers * 80_024;
        assert!(peak <= bound, "{s:?}: {peak} bytes held, bound {bound}");
        assert!(is_empty(&dir), "{s:?}: spill files left behind");
    }
}

#[test]
fn spill_dir_is_empty_after_a_failing_task() {
    let dir = spill_parent("failing");
    let (mut g, _) = wide(40, 10_000);
    let bad = FnOp::arc("bad", |_| Err("no good".into()));
    let keys: Vec<_> = (0..40)
        .map(|i| Key::with_index("make", &[i]).into())
        .collect();
    g.insert(Key::new("bad"), Task::new(bad, keys));
    let opts = ComputeOptions::new()
        .memory_limit(Some(200_000))
        .spill_dir(&dir);
    let err = compute_graph(g, &[Key::new("total"), Key::new("bad")], &opts).unwrap_err();
    assert!(err.to_string().contains("no good"), "{err}");
    assert!(is_empty(&dir), "spill files left behind after an error");
}

#[test]
fn a_chunk_larger_than_the_limit_is_named() {
    let (g, out) = wide(4, 100_000);
    let opts = ComputeOptions::new().memory_limit(Some(100_000));
    let msg = compute_graph(g, &[out], &opts).unwrap_err().to_string();
    assert!(
        msg.contains("('make', ") && msg.contains("800024") && msg.contains("100000"),
        "{msg}"
    );
}

#[test]
fn an_unspillable_value_is_an_error_naming_it() {
    #[derive(Clone)]
    struct Opaque(#[allow(dead_code)] Vec<u8>);
    let make = FnOp::arc("opaque", |_| Ok(Value::sized(Opaque(vec![0; 1000]), 1000)));
    let mut g = TaskGraph::new();
    for i in 0..10 {
        g.insert(Key::with_index("o", &[i]), Task::new(make.clone(), vec![]));
    }
    let count = FnOp::arc("count", |a| Ok(Value::new(a.len())));
    let args = (0..10).map(|i| Key::with_index("o", &[i]).into()).collect();
    g.insert(Key::new("n"), Task::new(count, args));
    let dir = spill_parent("opaque");
    let opts = ComputeOptions::new()
        .memory_limit(Some(3_000))
        .spill_dir(&dir);
    let msg = compute_graph(g, &[Key::new("n")], &opts)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("Opaque") && msg.contains("no byte encoding") && msg.contains("('o', "),
        "{msg}"
    );
    assert!(is_empty(&dir));
}

#[test]
fn an_unwritable_spill_dir_is_named() {
    let (g, out) = wide(40, 10_000);
    let opts = ComputeOptions::new()
        .memory_limit(Some(200_000))
        .spill_dir("/proc/oxidask-nope");
    let msg = compute_graph(g, &[out], &opts).unwrap_err().to_string();
    assert!(msg.contains("/proc/oxidask-nope"), "{msg}");
}

fn mix_of(v: &Value) -> u64 {
    *v.downcast_ref::<u64>().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn results_do_not_depend_on_the_limit(
        dag in random_dag(40),
        limit in prop_oneof![Just(None), (40usize..400).prop_map(Some)],
        threaded in any::<bool>(),
    ) {
        let expected = dag.oracle();
        let dir = spill_parent("prop");
        let s = if threaded { SchedulerChoice::Threaded } else { SchedulerChoice::Sync };
        let (g, outs) = dag.to_graph("m", &[]);
        let opts = ComputeOptions::new().scheduler(s).memory_limit(limit).spill_dir(&dir);
        let got: Vec<u64> = compute_graph(g, &outs, &opts).unwrap().iter().map(mix_of).collect();
        prop_assert_eq!(got, expected);
        prop_assert!(is_empty(&dir));
    }
}
