//! The memory limit: spilling keeps results right, leaves no files behind,
//! and bad situations are clear errors.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use oxidask::graph::{FnOp, Key, Task, TaskGraph, Value};
use oxidask::prelude::*;
use oxidask::scheduler::compute_with as compute_graph;
use oxidask_testing::{LastRun, random_dag, read_padded};
use proptest::prelude::*;

/// A fresh, empty directory for one test's spill files.
fn spill_parent(name: &str) -> oxidask_testing::TempDir {
    oxidask_testing::TempDir::new(name)
}

fn is_empty(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().next().is_none()
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
        let spills = Arc::new(LastRun::default());
        let opts = ComputeOptions::new()
            .scheduler(s.clone())
            .memory_limit(Some(200_000))
            .spill_dir(&dir)
            .callback(spills.clone());
        let v = compute_graph(g, &[out], &opts).unwrap();
        let expect: f64 = (0..40).map(|i| i as f64 * 10_000.0).sum();
        assert_eq!(v[0].downcast_ref::<f64>().unwrap(), &expect);
        assert!(spills.spilled() >= 30, "{s:?}: too few spills");
        // Held and not queued ≤ the limit, queued for the writer ≤ a quarter
        // of it: 1.25 × the limit, whatever the number of workers.
        let peak = spills.peak_held_bytes();
        assert!(peak <= 250_000, "{s:?}: {peak} bytes held, bound 250000");
        assert!(is_empty(&dir), "{s:?}: spill files left behind");
    }
}

#[test]
fn the_peak_bound_does_not_grow_with_the_number_of_workers() {
    let dir = spill_parent("workers");
    for workers in [1, 2, 8, 32] {
        let (g, out) = wide(64, 10_000);
        let spills = Arc::new(LastRun::default());
        let opts = ComputeOptions::new()
            .scheduler(SchedulerChoice::Threaded)
            .num_workers(workers)
            .memory_limit(Some(200_000))
            .spill_dir(&dir)
            .callback(spills.clone());
        compute_graph(g, &[out], &opts).unwrap();
        let peak = spills.peak_held_bytes();
        assert!(spills.spilled() > 0, "{workers}: nothing spilled");
        assert!(peak <= 250_000, "{workers} workers: {peak} bytes held");
    }
    assert!(is_empty(&dir));
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
    // 100,000 f64 as the store counts them: the vector and its allocation.
    let bytes = Value::new(vec![0.0f64; 100_000]).nbytes().to_string();
    assert!(
        msg.contains("('make', ") && msg.contains(&bytes) && msg.contains("100000"),
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
    let err = compute_graph(g, &[out], &opts).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("/proc/oxidask-nope"), "{msg}");
    // The OS error is said once, also by code that prints the whole chain.
    let mut chain = msg.clone();
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        chain.push_str(&format!(": {s}"));
        source = s.source();
    }
    assert_eq!(chain.matches("os error").count(), 1, "{chain}");
}

/// Spill files (`*.bin`) under `dir`, at any depth.
fn spill_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(spill_files(&p));
        } else if p.extension().is_some_and(|x| x == "bin") {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// `n` chunks of 80 kB, each read twice: by a `size` task, all of which a
/// `gate` reads (so every chunk exists at once, and most are spilled when
/// the gate runs), and after the gate by a `reduce` task — the chunk's last
/// reader. A `probe` reads every reduce. `gate` and `probe` run the given
/// functions, which may look at the spill directory mid-run.
fn gated(
    n: u32,
    gate: impl Fn() -> Result<(), String> + Send + Sync + 'static,
    probe: impl Fn() -> Result<u64, String> + Send + Sync + 'static,
) -> (TaskGraph, Key) {
    let make = FnOp::arc("make", |a| {
        let i = *a[0].downcast_ref::<u32>()?;
        Ok(Value::new(vec![i as f64; 10_000]))
    });
    let size = FnOp::arc("size", |a| {
        Ok(Value::new(a[0].downcast_ref::<Vec<f64>>()?.len()))
    });
    let gate = FnOp::arc("gate", move |_| {
        gate()?;
        Ok(Value::new(0u8))
    });
    let reduce = FnOp::arc("reduce", |a| {
        let s: f64 = a[0].downcast_ref::<Vec<f64>>()?.iter().sum();
        Ok(Value::new(s))
    });
    let probe = FnOp::arc("probe", move |_| Ok(Value::new(probe()?)));
    let mut g = TaskGraph::new();
    for i in 0..n {
        let m = Key::with_index("make", &[i]);
        g.insert(
            m.clone(),
            Task::new(make.clone(), vec![Value::new(i).into()]),
        );
        g.insert(
            Key::with_index("size", &[i]),
            Task::new(size.clone(), vec![m.clone().into()]),
        );
        g.insert(
            Key::with_index("reduce", &[i]),
            Task::new(reduce.clone(), vec![m.into(), Key::new("gate").into()]),
        );
    }
    let sizes = (0..n)
        .map(|i| Key::with_index("size", &[i]).into())
        .collect();
    g.insert(Key::new("gate"), Task::new(gate, sizes));
    let reduces = (0..n)
        .map(|i| Key::with_index("reduce", &[i]).into())
        .collect();
    g.insert(Key::new("probe"), Task::new(probe, reduces));
    (g, Key::new("probe"))
}

#[test]
fn a_spill_file_is_deleted_when_its_last_reader_drops_the_value() {
    for s in [SchedulerChoice::Sync, SchedulerChoice::Threaded] {
        let dir = spill_parent("last-reader");
        let at_gate = Arc::new(AtomicUsize::new(0));
        let (seen, d1, d2) = (at_gate.clone(), dir.to_path_buf(), dir.to_path_buf());
        let (g, out) = gated(
            30,
            move || {
                seen.store(spill_files(&d1).len(), Ordering::SeqCst);
                Ok(())
            },
            move || {
                // Every chunk's last reader has run and dropped it. A write
                // the writer had begun before a chunk was taken may still be
                // in the directory for an instant: give it a moment.
                for _ in 0..200 {
                    let left = spill_files(&d2).len();
                    if left == 0 {
                        return Ok(0);
                    }
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Ok(spill_files(&d2).len() as u64)
            },
        );
        let spills = Arc::new(LastRun::default());
        let opts = ComputeOptions::new()
            .scheduler(s.clone())
            .memory_limit(Some(400_000))
            .spill_dir(&dir)
            .callback(spills.clone());
        let v = compute_graph(g, &[out], &opts).unwrap();
        let seen = at_gate.load(Ordering::SeqCst);
        assert!(
            seen >= 10,
            "{s:?}: only {seen} spill files when the gate ran"
        );
        assert!(spills.spilled() >= 10, "{s:?}: too few spills");
        let left = *v[0].downcast_ref::<u64>().unwrap();
        assert_eq!(
            left, 0,
            "{s:?}: spill files still on disk after their last reader"
        );
        assert!(is_empty(&dir), "{s:?}");
    }
}

#[test]
fn spill_files_are_removed_after_a_panic_while_spilled_data_exists() {
    for s in [SchedulerChoice::Sync, SchedulerChoice::Threaded] {
        let dir = spill_parent("panic-spilled");
        let at_gate = Arc::new(AtomicUsize::new(0));
        let (seen, d1) = (at_gate.clone(), dir.to_path_buf());
        let (g, out) = gated(
            30,
            move || {
                seen.store(spill_files(&d1).len(), Ordering::SeqCst);
                panic!("the gate gave way");
            },
            || Ok(0),
        );
        let opts = ComputeOptions::new()
            .scheduler(s.clone())
            .memory_limit(Some(400_000))
            .spill_dir(&dir);
        let msg = compute_graph(g, &[out], &opts).unwrap_err().to_string();
        assert!(
            msg.contains("gave way") && msg.contains("panicked"),
            "{msg}"
        );
        let seen = at_gate.load(Ordering::SeqCst);
        assert!(
            seen >= 10,
            "{s:?}: only {seen} spill files when the gate panicked"
        );
        assert!(is_empty(&dir), "{s:?}: spill files left after the panic");
    }
}

#[test]
fn damaged_spill_files_mid_run_are_io_errors_naming_file_and_task() {
    // Each damage reports whether it found the file: the store's writer may
    // remove one between the listing and the damage (a spill whose last
    // reader came first), which is not what this test is about.
    type Damage = fn(&Path) -> bool;
    let damages: [(&str, Damage, &str); 3] = [
        (
            "truncated",
            |p| {
                let Ok(f) = std::fs::OpenOptions::new().write(true).open(p) else {
                    return false;
                };
                let len = f.metadata().map(|m| m.len()).unwrap_or(0);
                f.set_len(len * 13 / 20).is_ok() && len > 0
            },
            "truncated",
        ),
        (
            "corrupt",
            |p| {
                let Ok(mut b) = std::fs::read(p) else {
                    return false;
                };
                if b.is_empty() {
                    return false;
                }
                let mid = b.len() / 2;
                b[mid] ^= 0x40;
                std::fs::write(p, b).is_ok()
            },
            "checksum",
        ),
        (
            "deleted",
            |p| std::fs::remove_file(p).is_ok(),
            "No such file",
        ),
    ];
    for (name, damage, says) in damages {
        let dir = spill_parent(&format!("damaged-{name}"));
        let d1 = dir.to_path_buf();
        // Another process damages every spill file while the run goes on.
        let (g, out) = gated(
            30,
            move || {
                let files = spill_files(&d1);
                let damaged = files.iter().filter(|f| damage(f)).count();
                assert!(damaged > 0, "nothing was spilled (or left to damage)");
                Ok(())
            },
            || Ok(0),
        );
        let opts = ComputeOptions::new()
            .scheduler(SchedulerChoice::Sync)
            .memory_limit(Some(400_000))
            .spill_dir(&dir);
        let msg = compute_graph(g, &[out], &opts).unwrap_err().to_string();
        assert!(
            msg.contains("I/O error")
                && msg.contains("oxidask-spill-")
                && msg.contains(".bin")
                && msg.contains("('make', ")
                && msg.contains(says),
            "{name}: {msg}"
        );
        assert!(!msg.contains("type mismatch"), "{name}: {msg}");
        assert!(is_empty(&dir), "{name}: files left behind");
    }
}

fn chunk(i: u32) -> Vec<f64> {
    vec![f64::from(i); 10_000]
}
fn len_of(c: Vec<f64>) -> usize {
    c.len()
}
/// Deletes every spill file under `dir` once all chunks exist.
fn wreck(dir: String, _lens: Vec<usize>) -> usize {
    // A file the store's writer removed between the listing and here (its
    // value's last reader came first) is not this test's concern.
    let files = spill_files(Path::new(&dir));
    files
        .iter()
        .filter(|f| std::fs::remove_file(f).is_ok())
        .count()
}
fn first_after(c: Vec<f64>, _wrecked: usize) -> f64 {
    c[0]
}

#[test]
fn a_deleted_spill_file_is_named_for_delayed_arguments_too() {
    // The case: a delayed argument whose spill file was deleted was
    // reported as "type mismatch: expected Vec<f64>, found Vec<f64>".
    let dir = spill_parent("damaged-delayed");
    let chunks: Vec<Delayed<Vec<f64>>> = (0..30).map(|i| delayed!(chunk(i))).collect();
    let lens: Vec<Delayed<usize>> = chunks.iter().map(|c| delayed!(len_of(c.clone()))).collect();
    let gate = delayed!(wreck(dir.display().to_string(), lens));
    let firsts: Vec<Delayed<f64>> = chunks
        .iter()
        .map(|c| delayed!(first_after(c.clone(), gate.clone())))
        .collect();
    let opts = ComputeOptions::new()
        .scheduler(SchedulerChoice::Sync)
        .memory_limit(Some(400_000))
        .spill_dir(&dir);
    let msg = compute_with(&firsts, &opts).unwrap_err().to_string();
    assert!(!msg.contains("type mismatch"), "{msg}");
    assert!(
        msg.contains("I/O error") && msg.contains("No such file") && msg.contains("chunk"),
        "{msg}"
    );
    assert!(is_empty(&dir));
}

const CHILD: &str = "OXIDASK_IT_CHILD";

/// Not a test of its own: the body of a child process that the kill tests
/// start (this binary, this test alone, with `OXIDASK_IT_CHILD` set). It
/// spills or shuffles into the given directory until it is killed.
#[test]
fn child_process_spills_or_shuffles_until_killed() {
    let Ok(mode) = std::env::var(CHILD) else {
        return;
    };
    let (what, parent) = mode.split_once(':').expect("mode:dir");
    let parent = PathBuf::from(parent);
    let slow = FnOp::arc("slow", |a| {
        let i = *a[0].downcast_ref::<u32>()?;
        std::thread::sleep(std::time::Duration::from_millis(20));
        Ok(Value::new(vec![i as f64; 10_000]))
    });
    match what {
        "spill" => {
            let mut g = TaskGraph::new();
            let keys: Vec<_> = (0..5_000u32)
                .map(|i| {
                    let k = Key::with_index("slow", &[i]);
                    g.insert(
                        k.clone(),
                        Task::new(slow.clone(), vec![Value::new(i).into()]),
                    );
                    k.into()
                })
                .collect();
            let count = FnOp::arc("count", |a| Ok(Value::new(a.len())));
            g.insert(Key::new("all"), Task::new(count, keys));
            let opts = ComputeOptions::new()
                .memory_limit(Some(200_000))
                .spill_dir(&parent);
            let _ = compute_graph(g, &[Key::new("all")], &opts);
        }
        "shuffle" => {
            let mut g = TaskGraph::new();
            let inputs: Vec<Key> = (0..8u32)
                .map(|i| {
                    let k = Key::with_index("in", &[i]);
                    g.insert(
                        k.clone(),
                        Task::new(slow.clone(), vec![Value::new(i).into()]),
                    );
                    k
                })
                .collect();
            let spec = oxidask::bag::shuffle::ShuffleSpec {
                name: "killed".into(),
                inputs,
                npartitions: 4,
                split: Arc::new(|_: usize, v: Value, m: u32| {
                    let mut pieces = vec![Vec::new(); m as usize];
                    for (k, &x) in v.downcast_ref::<Vec<f64>>()?.iter().enumerate() {
                        pieces[k % m as usize].push(x);
                    }
                    Ok(pieces.into_iter().map(Value::new).collect())
                }),
                combine: Arc::new(|_pieces: Vec<Value>| {
                    // Hold the shuffle files until killed.
                    std::thread::sleep(std::time::Duration::from_secs(600));
                    Ok(Value::new(0u8))
                }),
                dir: Some(parent.clone()),
            };
            let (tasks, outs) = oxidask::bag::shuffle::hash_shuffle(spec);
            g.merge(tasks);
            let _ = compute_graph(g, &outs, &ComputeOptions::new());
        }
        "lazy" => {
            // No directory, no handler: a computation that never spills
            // leaves the process's signal handling alone.
            let installed = oxidask::store::cleanup::signal_handler_installed;
            let (g, out) = wide(4, 1_000);
            compute_graph(g, &[out], &ComputeOptions::new().memory_limit(None)).unwrap();
            assert!(!installed(), "a handler without any spill directory");
            // Switched off: spilling installs nothing either.
            let off = oxidask::config::Config {
                cleanup_on_signal: false,
                ..oxidask::config::Config::default()
            };
            oxidask::config::with_config(off, || {
                let (g, out) = wide(40, 10_000);
                let opts = ComputeOptions::new()
                    .memory_limit(Some(200_000))
                    .spill_dir(&parent);
                compute_graph(g, &[out], &opts).unwrap();
            });
            assert!(!installed(), "a handler although switched off");
            // On (the default): the first spill directory installs it.
            let (g, out) = wide(40, 10_000);
            let opts = ComputeOptions::new()
                .memory_limit(Some(200_000))
                .spill_dir(&parent);
            compute_graph(g, &[out], &opts).unwrap();
            assert!(installed(), "no handler after spilling");
        }
        other => panic!("unknown child mode {other}"),
    }
}

/// Starts this test binary as a child that spills (or shuffles) under
/// `parent`, and waits until its directory holds files.
fn start_child(what: &str, parent: &Path) -> (std::process::Child, PathBuf) {
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "memory::child_process_spills_or_shuffles_until_killed",
            "--exact",
            "--test-threads=1",
        ])
        .env(CHILD, format!("{what}:{}", parent.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("starting the child");
    let prefix = format!("oxidask-{what}-{}-", child.id());
    for _ in 0..3_000 {
        let found = std::fs::read_dir(parent)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(&prefix)
            });
        if let Some(d) = found {
            if std::fs::read_dir(&d).is_ok_and(|mut r| r.next().is_some()) {
                return (child, d);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!(
        "the {what} child made no directory under {}",
        parent.display()
    );
}

#[test]
fn directories_of_killed_runs_are_removed_by_a_later_run() {
    let parent = spill_parent("killed");
    let mut left = Vec::new();
    for what in ["spill", "shuffle"] {
        let (mut child, d) = start_child(what, &parent);
        child.kill().unwrap(); // SIGKILL: nothing can clean up
        child.wait().unwrap();
        assert!(
            d.exists(),
            "{what}: the killed child's directory is gone already"
        );
        left.push(d);
    }
    // A later run in the same place removes what the dead processes left.
    let (g, out) = wide(40, 10_000);
    let opts = ComputeOptions::new()
        .memory_limit(Some(200_000))
        .spill_dir(&parent);
    compute_graph(g, &[out], &opts).unwrap();
    for d in &left {
        assert!(!d.exists(), "stale directory {} still there", d.display());
    }
    assert!(
        is_empty(&parent),
        "{:?}",
        std::fs::read_dir(&parent).unwrap().collect::<Vec<_>>()
    );
}

#[test]
fn sigint_and_sigterm_remove_the_directory_and_end_the_process() {
    use std::os::unix::process::ExitStatusExt;
    for (what, sig, num) in [
        ("spill", "-INT", 2),
        ("shuffle", "-TERM", 15),
        ("spill", "-TERM", 15),
    ] {
        let parent = spill_parent(&format!("signal-{what}{sig}"));
        let (mut child, d) = start_child(what, &parent);
        // The shell's own `kill` (no dependency on a kill binary).
        let sent = std::process::Command::new("sh")
            .args(["-c", &format!("kill {sig} {}", child.id())])
            .status()
            .unwrap();
        assert!(sent.success());
        let status = child.wait().unwrap();
        // Ended as the signal would: killed by it (or exit 128 + signal).
        assert!(
            status.signal() == Some(num) || status.code() == Some(128 + num),
            "{what} {sig}: {status:?}"
        );
        assert!(!d.exists(), "{what} {sig}: {} left behind", d.display());
        assert!(is_empty(&parent), "{what} {sig}");
    }
}

/// How many limited runs spilled, of how many.
#[derive(Default)]
struct Fraction {
    limited: AtomicUsize,
    spilled: AtomicUsize,
}

#[test]
fn results_do_not_depend_on_the_limit() {
    use proptest::test_runner::{Config, TestRunner};
    let fraction = Fraction::default();
    let mut runner = TestRunner::new(Config {
        cases: 96,
        ..Config::default()
    });
    // 8 kB results and limits of one to three of them: most limited cases
    // must spill, or this tests nothing about spilling.
    let strategy = (
        random_dag(40),
        prop_oneof![1 => Just(None), 3 => (8_100usize..24_000).prop_map(Some)],
        any::<bool>(),
    );
    runner
        .run(&strategy, |(dag, limit, threaded)| {
            let expected = dag.oracle();
            let dir = spill_parent("prop");
            let s = if threaded {
                SchedulerChoice::Threaded
            } else {
                SchedulerChoice::Sync
            };
            let (g, outs) = dag.to_padded_graph("m", 1_000);
            let spills = Arc::new(LastRun::default());
            let opts = ComputeOptions::new()
                .scheduler(s)
                .memory_limit(limit)
                .spill_dir(&dir)
                .callback(spills.clone());
            let got: Vec<u64> = compute_graph(g, &outs, &opts)
                .unwrap()
                .iter()
                .map(read_padded)
                .collect();
            prop_assert_eq!(got, expected);
            prop_assert!(is_empty(&dir));
            if limit.is_some() {
                fraction.limited.fetch_add(1, Ordering::SeqCst);
                if spills.spilled() > 0 {
                    fraction.spilled.fetch_add(1, Ordering::SeqCst);
                }
            } else {
                prop_assert_eq!(spills.spilled(), 0);
            }
            Ok(())
        })
        .unwrap();
    let (limited, spilled) = (
        fraction.limited.load(Ordering::SeqCst),
        fraction.spilled.load(Ordering::SeqCst),
    );
    eprintln!("results_do_not_depend_on_the_limit: {spilled} of {limited} limited cases spilled");
    assert!(
        limited > 0 && spilled * 2 >= limited,
        "{spilled} of {limited} limited cases spilled"
    );
}

#[test]
fn parents_made_for_spilling_are_removed_afterwards() {
    let root = spill_parent("made-parents");
    let nested = root.join("not/yet/there");
    let (g, out) = wide(40, 10_000);
    let spills = Arc::new(LastRun::default());
    let opts = ComputeOptions::new()
        .memory_limit(Some(200_000))
        .spill_dir(&nested)
        .callback(spills.clone());
    compute_graph(g, &[out], &opts).unwrap();
    assert!(spills.spilled() > 0, "nothing spilled");
    assert!(is_empty(&root), "directories made for spilling left behind");
}

#[test]
fn the_signal_handler_is_installed_only_when_a_directory_is_made_and_switched_on() {
    // In a child process: whether a handler is installed is process-wide.
    let parent = spill_parent("lazy-handler");
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "memory::child_process_spills_or_shuffles_until_killed",
            "--exact",
            "--test-threads=1",
        ])
        .env(CHILD, format!("lazy:{}", parent.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(is_empty(&parent));
}
