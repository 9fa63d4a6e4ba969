//! The store alone: spilling under a limit, reading back, cleaning up.

use oxidask_graph::Value;

use crate::{Store, StoreError, StoreOptions};

fn dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("oxidask-store-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn opts(limit: usize, d: &std::path::Path) -> StoreOptions {
    StoreOptions {
        memory_limit: Some(limit),
        spill_dir: Some(d.to_path_buf()),
    }
}

#[test]
fn over_the_limit_old_results_go_to_disk_and_come_back() {
    let d = dir("basic");
    {
        let store = Store::new(vec![1; 20], opts(10_000, &d));
        for i in 0..20u32 {
            store.put(i, Value::new(vec![i as f64; 500])).unwrap(); // 4 kB each
        }
        // What is held is at most the limit plus a quarter of it queued
        // for the writer.
        let held = store.stats().held_bytes;
        assert!(held <= 12_500, "{held} bytes held");
        assert!(store.peak().1 <= 12_500, "peak {:?}", store.peak());
        for i in 0..20u32 {
            let v = store.take(i).unwrap();
            assert_eq!(v.downcast_ref::<Vec<f64>>().unwrap(), &vec![i as f64; 500]);
        }
        let stats = store.stats();
        assert!(stats.spilled >= 10, "{stats:?}");
        assert_eq!(stats.read_back, stats.spilled, "{stats:?}");
        assert_eq!(stats.held, 0);
    }
    assert!(
        std::fs::read_dir(&d).unwrap().next().is_none(),
        "files left behind"
    );
}

#[test]
fn shared_results_stay_readable_until_the_last_reader() {
    let d = dir("shared");
    let store = Store::new(vec![3, 1, 1, 1], opts(5_000, &d));
    store.put(0, Value::new(vec![7u64; 400])).unwrap();
    for i in 1..4 {
        store.put(i, Value::new(vec![i as u64; 400])).unwrap();
    }
    for _ in 0..3 {
        assert_eq!(
            store.take(0).unwrap().downcast_ref::<Vec<u64>>().unwrap()[0],
            7
        );
    }
    drop(store);
    assert!(std::fs::read_dir(&d).unwrap().next().is_none());
}

#[test]
fn too_large_and_unencodable_are_errors() {
    let d = dir("errors");
    let store = Store::new(vec![1; 3], opts(1_000, &d));
    match store.put(0, Value::new(vec![0u8; 2_000])) {
        Err(StoreError::TooLarge {
            id: 0,
            bytes,
            limit: 1_000,
        }) => assert!(bytes >= 2_000),
        other => panic!("expected TooLarge, got {other:?}"),
    }
    struct Opaque;
    store.put(1, Value::sized(Opaque, 800)).unwrap();
    match store.put(2, Value::sized(Opaque, 800)) {
        Err(e @ StoreError::NotEncodable { .. }) => assert!(e.to_string().contains("Opaque")),
        other => panic!("expected NotEncodable, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn results_without_readers_are_dropped_at_once() {
    let d = dir("unread");
    let store = Store::new(vec![0], opts(1_000, &d));
    store.put(0, Value::new(vec![0u8; 500])).unwrap();
    assert_eq!(store.stats().held, 0);
}

#[test]
fn every_reader_of_a_shared_result_gets_it_under_contention() {
    // Readers racing for one result: the last one must not empty the slot
    // before an earlier one has cloned it.
    for round in 0..500u32 {
        let store = Store::new(vec![4], StoreOptions::default());
        store.put(0, Value::new(vec![round as u64; 8])).unwrap();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    let v = store.take(0).expect("every reader gets the value");
                    assert_eq!(v.downcast_ref::<Vec<u64>>().unwrap()[0], round as u64);
                });
            }
        });
        assert_eq!(store.stats().held, 0);
    }
}

/// A store with `n` results of 4 kB spilled (limit 5 kB); returns it with
/// the spill files it wrote.
fn spilled_store(d: &std::path::Path, n: u32) -> (Store, Vec<std::path::PathBuf>) {
    let store = Store::new(vec![1; n as usize], opts(5_000, d));
    for i in 0..n {
        store.put(i, Value::new(vec![i as f64; 500])).unwrap();
    }
    // Let the writer finish: puts wait only past a quarter of the limit.
    let mut files = Vec::new();
    for _ in 0..200 {
        files = spill_files(d);
        if files.len() as u32 >= n - 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(!files.is_empty(), "nothing spilled");
    (store, files)
}

fn spill_files(d: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for sub in std::fs::read_dir(d).unwrap().flatten() {
        if let Ok(inner) = std::fs::read_dir(sub.path()) {
            files.extend(
                inner
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "bin")),
            );
        }
    }
    files.sort();
    files
}

#[test]
fn damaged_spill_files_are_io_errors_naming_file_and_task() {
    type Damage = fn(&std::path::Path);
    let damages: [(&str, Damage, &str); 3] = [
        (
            "truncated",
            |p| {
                let f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
                f.set_len(1_000).unwrap();
            },
            "truncated",
        ),
        (
            "corrupt",
            |p| {
                let mut b = std::fs::read(p).unwrap();
                b[100] ^= 0xff;
                std::fs::write(p, b).unwrap();
            },
            "checksum",
        ),
        (
            "deleted",
            |p| std::fs::remove_file(p).unwrap(),
            "No such file",
        ),
    ];
    for (name, damage, says) in damages {
        let d = dir(&format!("damaged-{name}"));
        let (store, files) = spilled_store(&d, 6);
        // Slot 0 was spilled first: its file is the first written.
        let first = files.iter().find(|p| p.ends_with("0.bin")).unwrap();
        damage(first);
        let v = store.take_named(0, || "('make', 0)".into()).unwrap();
        assert!(v.is_lazy(), "{name}: slot 0 was not spilled");
        let msg = v.downcast_ref::<Vec<f64>>().unwrap_err().to_string();
        assert!(
            msg.contains("I/O error")
                && msg.contains(&first.display().to_string())
                && msg.contains("('make', 0)")
                && msg.contains(says),
            "{name}: {msg}"
        );
        assert!(!msg.contains("type mismatch"), "{name}: {msg}");
        // The others read back intact.
        for i in 1..6u32 {
            let v = store.take(i).unwrap();
            assert_eq!(v.downcast_ref::<Vec<f64>>().unwrap()[0], i as f64);
        }
        drop(v);
        drop(store);
        assert!(
            std::fs::read_dir(&d).unwrap().next().is_none(),
            "{name}: files left behind"
        );
    }
}

#[test]
fn a_write_failing_midway_leaves_no_partial_file() {
    let d = dir("partial");
    let store = Store::new(vec![1; 6], opts(5_000, &d)).fail_writes_after(1_000);
    let mut err = None;
    for i in 0..6u32 {
        if let Err(e) = store.put(i, Value::new(vec![i as f64; 500])) {
            err = Some(e);
            break;
        }
        // The writer fails in the background; the next put reports it.
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let err = err.expect("a failing spill write is an error");
    let msg = err.to_string();
    assert!(matches!(err, StoreError::Io { .. }), "{msg}");
    assert!(msg.contains("no space left"), "{msg}");
    assert_eq!(
        msg.matches("no space left").count(),
        1,
        "the OS error is printed once: {msg}"
    );
    assert!(std::error::Error::source(&err).is_none());
    // Observed while the store (and its directory) still exists: the
    // directory is there, the partial file is not.
    let spill = store.spill_dir().expect("the spill directory was made");
    assert!(spill.exists());
    let left: Vec<_> = std::fs::read_dir(&spill).unwrap().flatten().collect();
    assert!(left.is_empty(), "partial spill file left: {left:?}");
    drop(store);
    assert!(std::fs::read_dir(&d).unwrap().next().is_none());
}

#[test]
fn the_peak_stays_under_a_bound_independent_of_the_number_of_threads() {
    // 16 threads put at once (many more than cores): the store still holds
    // at most 1.25 × the limit — no "plus one chunk per worker".
    let d = dir("threads");
    for threads in [1usize, 4, 16] {
        let per = 40u32;
        let n = threads as u32 * per;
        let store = Store::new(vec![1; n as usize], opts(40_000, &d));
        std::thread::scope(|sc| {
            for t in 0..threads as u32 {
                let store = &store;
                sc.spawn(move || {
                    for k in 0..per {
                        let i = t * per + k;
                        store.put(i, Value::new(vec![i as f64; 1_000])).unwrap(); // 8 kB
                    }
                });
            }
        });
        let (_, peak) = store.peak();
        assert!(
            peak <= 50_000,
            "{threads} threads: peak {peak} > 1.25 × 40000"
        );
        assert!(store.stats().spilled > 0);
        for i in 0..n {
            assert_eq!(
                store.take(i).unwrap().downcast_ref::<Vec<f64>>().unwrap()[0],
                i as f64
            );
        }
    }
}

#[test]
fn the_spill_buffer_alone_keeps_values_until_the_caller_says_last() {
    let d = dir("buffer");
    {
        let buf = crate::SpillBuffer::new(8, opts(10_000, &d));
        for i in 0..8u32 {
            buf.insert(i, Value::new(vec![i as f64; 500])).unwrap(); // 4 kB each
        }
        // Waiting for the writer: the oldest values are on disk.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while buf.stats().spilled == 0 {
            assert!(std::time::Instant::now() < deadline, "nothing was spilled");
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        for i in 0..8u32 {
            let name = || format!("value {i}");
            // Not the last fetch: the value stays.
            let first = buf.fetch(i, || false, name).expect("kept");
            let again = buf.fetch(i, || true, name).expect("still there");
            assert_eq!(
                first.downcast_ref::<Vec<f64>>().unwrap(),
                &vec![i as f64; 500]
            );
            assert_eq!(
                again.downcast_ref::<Vec<f64>>().unwrap(),
                &vec![i as f64; 500]
            );
            // The last fetch removed it.
            assert!(buf.fetch(i, || true, name).is_none());
        }
        assert_eq!(buf.stats().held, 0);
        assert_eq!(buf.stats().on_disk_bytes, 0);
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn spill_down_to_sends_the_oldest_results_to_disk_within_the_limit() {
    let d = dir("spill-down");
    let buffer = crate::SpillBuffer::new(10, opts(1 << 20, &d));
    for i in 0..10u32 {
        buffer.insert(i, Value::new(vec![i as f64; 1_000])).unwrap(); // 8 kB each
    }
    let held = buffer.stats().held_bytes;
    assert!(held >= 80_000, "{held}");
    // Well within its own limit, the buffer is asked to hold at most 30 kB
    // (a worker's process memory is high): the 7 oldest go to disk.
    let queued = buffer.spill_down_to(30_000);
    assert!(queued >= held - 30_000, "{queued} of {held}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while buffer.stats().spilled < 7 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let stats = buffer.stats();
    assert_eq!(stats.spilled, 7, "{stats:?}");
    assert!(stats.held_bytes <= 30_000, "{stats:?}");
    // Nothing more to do at the same target.
    assert_eq!(buffer.spill_down_to(30_000), 0);
    for i in 0..10u32 {
        let v = buffer.fetch(i, || true, || format!("#{i}")).unwrap();
        assert_eq!(
            v.downcast_ref::<Vec<f64>>().unwrap(),
            &vec![i as f64; 1_000]
        );
    }
    assert_eq!(buffer.stats().read_back, 7);
}
