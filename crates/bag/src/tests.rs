//! Unit tests of the bag crate: bad input, file reading, and the graph
//! shapes the design promises (fusion, culling). Oracle tests over random
//! data live in the workspace's integration tests (`tests/it/bag.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use oxidask_graph::optimize::{OptimizeOptions, optimize};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

use crate::testutil::TempDir;
use crate::*;

fn people(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "{{\"id\":{i},\"name\":\"n{}\",\"address\":{{\"city\":\"c{}\"}},\"tags\":[\"t{i}\"]}}\n",
                i % 7,
                i % 3
            )
        })
        .collect()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Person {
    name: String,
}

#[test]
fn read_json_lines_typed_and_untyped_agree_across_blocksizes() {
    let dir = TempDir::new("json");
    dir.write("a.jsonl", people(100).as_bytes());
    dir.write_gz("b.jsonl.gz", people(50).as_bytes());
    let pattern = dir.path().join("*.jsonl*");
    let whole = read_json_lines_with::<Json>(&pattern, &JsonOptions::new().whole_files()).unwrap();
    assert_eq!(whole.npartitions(), 2);
    let names: Vec<Json> = whole.pluck("name").compute().unwrap();
    assert_eq!(names.len(), 150);
    // Blocks cut the plain file; the compressed one is read whole (a block
    // size given for it is an error, as in Dask).
    let plain = dir.path().join("a.jsonl");
    let gz = dir.path().join("b.jsonl.gz");
    for bs in [1, 64, 1000] {
        let a = read_json_lines_with::<Person>(&plain, &JsonOptions::new().blocksize(bs)).unwrap();
        let b = read_json_lines::<Person>(&gz).unwrap();
        let mut typed: Vec<Json> = a.map(|p| Json::String(p.name)).compute().unwrap();
        typed.extend(b.map(|p| Json::String(p.name)).compute().unwrap());
        assert_eq!(typed, names, "blocksize {bs}");
    }
    let cities = whole
        .pluck(["address", "city"])
        .distinct()
        .compute()
        .unwrap();
    assert_eq!(cities, vec![json!("c0"), json!("c1"), json!("c2")]);
    let tags = whole
        .pluck(vec![Step::from("tags"), 0.into()])
        .take(2)
        .unwrap();
    assert_eq!(tags, vec![json!("t0"), json!("t1")]);
}

#[test]
fn bad_json_names_file_line_and_parser_message() {
    let dir = TempDir::new("badjson");
    let mut text = people(10);
    text.push_str("{\"name\": oops}\n");
    text.push_str(&people(3));
    let path = dir.write("p.jsonl", text.as_bytes());
    for bs in [16, 1 << 20] {
        let b = read_json_lines_with::<Json>(&path, &JsonOptions::new().blocksize(bs)).unwrap();
        let err = b.count().compute().unwrap_err().to_string();
        assert!(err.contains("p.jsonl:11:"), "{err}");
        assert!(err.contains("expected value"), "{err}");
    }
    let tally = BadLines::new();
    let b =
        read_json_lines_with::<Json>(&path, &JsonOptions::new().skip_bad_lines(&tally)).unwrap();
    assert_eq!(b.count().compute().unwrap(), 13);
    assert_eq!(tally.count(), 1);
    assert!(
        tally.examples()[0].contains("p.jsonl:11:"),
        "{:?}",
        tally.examples()
    );
    // A typed record missing its field is a bad line too.
    let b = read_json_lines_with::<Person>(
        &dir.write("q.jsonl", b"{\"name\":\"a\"}\n{\"id\":1}\n"),
        &JsonOptions::new(),
    )
    .unwrap();
    let err = b.compute().unwrap_err().to_string();
    assert!(
        err.contains("q.jsonl:2:") && err.contains("missing field `name`"),
        "{err}"
    );
}

#[test]
fn invalid_utf8_names_file_and_offset_or_is_replaced() {
    let dir = TempDir::new("utf8");
    let path = dir.write("t.txt", b"good\nbad \xff here\nok\n");
    let err = read_text(&path).unwrap().compute().unwrap_err().to_string();
    assert!(
        err.contains("t.txt:2: invalid UTF-8 at byte offset 9"),
        "{err}"
    );
    let lines = read_text_with(&path, &TextOptions::new().lossy(true))
        .unwrap()
        .compute()
        .unwrap();
    assert_eq!(lines, vec!["good\n", "bad \u{fffd} here\n", "ok\n"]);
    let gz = dir.write_gz("t.txt.gz", b"\xfe\n");
    let err = read_text(&gz).unwrap().compute().unwrap_err().to_string();
    assert!(
        err.contains("t.txt.gz:1: invalid UTF-8 at byte offset 0"),
        "{err}"
    );
}

#[test]
fn pluck_of_missing_key_names_key_and_record() {
    let dir = TempDir::new("pluck");
    let path = dir.write("p.jsonl", b"{\"name\":\"a\"}\n\n{\"nom\":\"b\"}\n");
    let b = read_json_lines::<Json>(&path).unwrap();
    let err = b.pluck("name").compute().unwrap_err().to_string();
    assert!(
        err.contains("key \"name\" not found") && err.contains("p.jsonl:3"),
        "{err}"
    );
    // Still located after a map (records in place), by position after a filter.
    let err = b
        .map(|x| x)
        .pluck("name")
        .compute()
        .unwrap_err()
        .to_string();
    assert!(err.contains("p.jsonl:3"), "{err}");
    let err = b
        .filter(|_| true)
        .pluck("name")
        .compute()
        .unwrap_err()
        .to_string();
    assert!(err.contains("record 1 of partition 0"), "{err}");
    assert_eq!(
        b.pluck_or("name", json!(null)).compute().unwrap(),
        vec![json!("a"), json!(null)]
    );
    let seq = from_sequence(vec![vec![1, 2], vec![3]], 1).unwrap();
    let err = seq.pluck(1).compute().unwrap_err().to_string();
    assert!(
        err.contains("index 1 out of range") && err.contains("record 1 of partition 0"),
        "{err}"
    );
}

#[test]
fn try_map_errors_name_the_line() {
    let dir = TempDir::new("trymap");
    let path = dir.write("n.txt", b"1\n2\nx\n4\n");
    let b = read_text_with(&path, &TextOptions::new().blocksize(3)).unwrap();
    let err = b
        .try_map(|s| s.trim_end().parse::<u32>())
        .sum()
        .compute()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("n.txt:3") && err.contains("invalid digit"),
        "{err}"
    );
}

#[test]
fn missing_files_and_empty_globs_are_named() {
    let dir = TempDir::new("glob");
    let pattern = dir.path().join("*.nothing");
    let err = read_text(&pattern).unwrap_err().to_string();
    assert!(
        err.contains("no files match") && err.contains(".nothing"),
        "{err}"
    );
    let err = read_json_lines::<Json>(dir.path().join("absent.jsonl"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("absent.jsonl"), "{err}");
}

#[test]
fn text_roundtrip_through_textfiles_plain_and_gzip() {
    let dir = TempDir::new("write");
    let b = from_sequence((0..25).map(|i| format!("line {i}")), 4).unwrap();
    for pattern in ["out/part-*.txt", "gz/part-*.txt.gz"] {
        let written = b.to_textfiles(dir.path().join(pattern)).unwrap();
        assert_eq!(written.len(), 4);
        let strip = TextOptions::new().strip_line_endings(true);
        let back = read_text_with(written, &strip).unwrap().compute().unwrap();
        assert_eq!(back, b.compute().unwrap(), "{pattern}");
    }
    let written = b.to_textfiles(dir.path().join("plain")).unwrap();
    assert!(written[3].ends_with("plain/3.part"));
}

#[test]
fn take_computes_only_the_partitions_it_needs() {
    let seen = Arc::new(AtomicUsize::new(0));
    let s = seen.clone();
    let b = from_sequence(0..100u32, 10)
        .unwrap()
        .map_partitions(move |v| {
            s.fetch_add(1, Ordering::SeqCst);
            v
        });
    assert_eq!(b.take(3).unwrap(), vec![0, 1, 2]);
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    // Dask's take: only the first partition (10 records), fewer than asked.
    seen.store(0, Ordering::SeqCst);
    assert_eq!(b.take(25).unwrap(), (0..10).collect::<Vec<_>>());
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    // npartitions=2: 20 records.
    seen.store(0, Ordering::SeqCst);
    assert_eq!(
        b.take_in(25, crate::TakeFrom::First(2)).unwrap(),
        (0..20).collect::<Vec<_>>()
    );
    assert_eq!(seen.load(Ordering::SeqCst), 2);
    // npartitions=-1: partition 0, then 1..3 — three partitions.
    seen.store(0, Ordering::SeqCst);
    assert_eq!(
        b.take_in(25, crate::TakeFrom::All).unwrap(),
        (0..25).collect::<Vec<_>>()
    );
    assert_eq!(seen.load(Ordering::SeqCst), 3);
    assert_eq!(b.take_in(1000, crate::TakeFrom::All).unwrap().len(), 100);
    assert_eq!(
        b.take_in(1000, crate::TakeFrom::First(50)).unwrap().len(),
        100
    );
}

#[test]
fn pipelines_run_as_one_task_per_partition() {
    let b = range(1000, 5)
        .unwrap()
        .map(|x| x + 1)
        .filter(|x| x % 2 == 0)
        .map(|x| x * 3)
        .persist_layer();
    // the partition-index layer and one layer for the whole pipeline
    assert_eq!(b.graph().num_layers(), 2);
    let tasks = b.graph().cull(&b.keys()).unwrap().to_task_graph().unwrap();
    let plan = optimize(tasks, &b.keys(), OptimizeOptions::default()).unwrap();
    assert_eq!(plan.len(), 5);
    let total = b.count();
    let tasks = total
        .graph()
        .cull(std::slice::from_ref(total.key()))
        .unwrap();
    let plan = optimize(
        tasks.to_task_graph().unwrap(),
        std::slice::from_ref(total.key()),
        OptimizeOptions::default(),
    )
    .unwrap();
    // five fused partition chains, one aggregate
    assert_eq!(plan.len(), 6);
}

#[test]
fn aggregations_on_small_bags() {
    let b = from_sequence(vec![3.0, 1.0, f64::NAN, 4.0, 1.0, 5.0], 4).unwrap();
    assert_eq!(b.min().compute().unwrap(), 1.0);
    assert_eq!(b.max().compute().unwrap(), 5.0);
    let e = from_partitions::<i64>(vec![vec![], vec![]]);
    let err = e.min().compute().unwrap_err().to_string();
    assert!(err.contains("min of an empty bag"), "{err}");
    assert_eq!(e.sum().compute().unwrap(), 0);
    let err = e.mean().compute().unwrap_err().to_string();
    assert!(err.contains("mean of an empty bag"), "{err}");
    let err = e.max().compute().unwrap_err().to_string();
    assert!(err.contains("max of an empty bag"), "{err}");
    // var and std stay NaN below ddof + 1 records, as NumPy.
    assert!(e.var(0.0).compute().unwrap().is_nan());
    assert!(!e.any(|_| true).compute().unwrap());
    assert!(e.all(|_| false).compute().unwrap());
    let x = from_sequence(vec![2i64, 4, 4, 4, 5, 5, 7, 9], 3).unwrap();
    assert_eq!(x.mean().compute().unwrap(), 5.0);
    assert_eq!(x.var(0.0).compute().unwrap(), 4.0);
    assert_eq!(x.std(0.0).compute().unwrap(), 2.0);
    assert!((x.var(1.0).compute().unwrap() - 32.0 / 7.0).abs() < 1e-12);
}

#[test]
fn topk_ties_are_broken_by_position() {
    // counts: b 2, a 2, c 1 — b appears first
    let words = from_sequence(["b", "a", "c", "a", "b"].map(String::from), 2).unwrap();
    let top = words.frequencies().topk(2, |(_, n)| *n).compute().unwrap();
    assert_eq!(top, vec![("b".to_string(), 2), ("a".to_string(), 2)]);
    let top = words
        .frequencies()
        .topk(2, |(w, n)| (*n, std::cmp::Reverse(w.clone())))
        .compute()
        .unwrap();
    assert_eq!(top, vec![("a".to_string(), 2), ("b".to_string(), 2)]);
    // equal keys everywhere: the first k records of the bag, in order
    let b = from_partitions(vec![vec![5, 6], vec![], vec![7, 8, 9]]);
    assert_eq!(b.topk(4, |_| 0).compute().unwrap(), vec![5, 6, 7, 8]);
}

#[test]
fn from_delayed_and_repartition_keep_records_in_order() {
    use oxidask_delayed::delayed;
    fn load(i: u32) -> Vec<u32> {
        (i * 10..i * 10 + i).collect()
    }
    let parts: Vec<_> = (0..4).map(|i| delayed!(load(i))).collect();
    let b = from_delayed(&parts);
    assert_eq!(b.npartitions(), 4);
    let all: Vec<u32> = (0..4).flat_map(load).collect();
    assert_eq!(b.compute().unwrap(), all);
    for n in [1, 2, 3, 4, 7, 13] {
        let r = b.repartition(n).unwrap();
        assert_eq!(r.npartitions(), n);
        assert_eq!(r.compute().unwrap(), all, "repartition({n})");
    }
    assert!(b.repartition(0).is_err());
}

static CLONES: AtomicUsize = AtomicUsize::new(0);

/// A record that counts its clones.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Counted(u64);

impl Clone for Counted {
    fn clone(&self) -> Self {
        CLONES.fetch_add(1, Ordering::SeqCst);
        Counted(self.0)
    }
}

#[test]
fn records_move_through_chains_without_clones() {
    use oxidask_scheduler::{ComputeOptions, SchedulerChoice};
    let b = range(10_000, 4)
        .unwrap()
        .map(Counted)
        .map(|c| Counted(c.0 + 1))
        .filter(|c| c.0 % 3 != 0);
    for (opts, name) in [
        (
            ComputeOptions::new().scheduler(SchedulerChoice::Sync),
            "sync",
        ),
        (
            ComputeOptions::new().scheduler(SchedulerChoice::Threaded),
            "threaded",
        ),
        (
            ComputeOptions::new().optimize(OptimizeOptions::none()),
            "unfused",
        ),
    ] {
        CLONES.store(0, Ordering::SeqCst);
        let n = b.map(|c| c.0).sum().compute_with(&opts).unwrap();
        assert!(n > 0);
        assert_eq!(CLONES.load(Ordering::SeqCst), 0, "{name}");
    }
}

#[test]
fn take_and_any_stop_the_pipeline_early() {
    let seen = Arc::new(AtomicUsize::new(0));
    let s = seen.clone();
    let b = range(1000, 2).unwrap().map(move |x| {
        s.fetch_add(1, Ordering::SeqCst);
        x
    });
    assert_eq!(b.take(3).unwrap(), vec![0, 1, 2]);
    assert_eq!(seen.load(Ordering::SeqCst), 3);
    seen.store(0, Ordering::SeqCst);
    let opts = oxidask_scheduler::ComputeOptions::new()
        .scheduler(oxidask_scheduler::SchedulerChoice::Sync);
    assert!(b.any(|x| *x == 10).compute_with(&opts).unwrap());
    // partition 0 stops at its 11th record; partition 1 has no match
    assert_eq!(seen.load(Ordering::SeqCst), 11 + 500);
    seen.store(0, Ordering::SeqCst);
    assert!(!b.all(|x| *x < 10).compute_with(&opts).unwrap());
    // each partition stops at its first failure: 10 (the 11th) and 500 (the 1st)
    assert_eq!(seen.load(Ordering::SeqCst), 11 + 1);
}

/// Repartitioning up makes several tasks read one partition at once on the
/// threaded scheduler; this caught a race in the store's reader counting
/// (the last reader could empty a slot before an earlier reader cloned it).
#[test]
fn partitions_read_by_several_tasks_at_once() {
    use oxidask_scheduler::{ComputeOptions, SchedulerChoice};
    let opts = ComputeOptions::new()
        .scheduler(SchedulerChoice::Threaded)
        .num_workers(2);
    for round in 0..300usize {
        let m = 1 + round % 5;
        let parts: Vec<Vec<u32>> = (0..m).map(|i| (0..(i as u32 * 3) % 7).collect()).collect();
        let n = 1 + (round * 7) % 19;
        let r = from_partitions(parts.clone())
            .map(|x| x + 1)
            .repartition(n)
            .unwrap();
        let expected: Vec<u32> = parts.concat().iter().map(|x| x + 1).collect();
        assert_eq!(r.compute_with(&opts).unwrap(), expected, "round {round}");
    }
}

mod json_records {
    //! JSON records through spilling and the groupby shuffle.
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use crate::{self as db, GroupbyOptions};
    use oxidask_scheduler::{Callback, ComputeOptions, Event, SchedulerChoice};
    use serde_json::{Value as Json, json};

    #[derive(Default)]
    struct Spilled(AtomicUsize);
    impl Callback for Spilled {
        fn on_event(&self, e: &Event<'_>) {
            if let Event::Finished { memory, .. } = e {
                self.0.store(memory.spilled, Ordering::SeqCst);
            }
        }
    }

    fn people(n: usize) -> Vec<Json> {
        (0..n)
            .map(|i| {
                json!({"id": i, "name": format!("n{}", i % 13), "tags": ["a", i % 3],
                       "address": {"city": format!("c{}", i % 5)}})
            })
            .collect()
    }

    /// `serde_json::Value` cannot be read back from postcard (it needs a
    /// self-describing format): spilled partitions and shuffle pieces of
    /// JSON records must still come back.
    #[test]
    fn json_partitions_spill_and_read_back() {
        let xs = people(3000);
        let b = db::from_sequence(xs.clone(), 12).unwrap().map(|v| v);
        for sched in [SchedulerChoice::Sync, SchedulerChoice::Threaded] {
            let spilled = Arc::new(Spilled::default());
            let opts = ComputeOptions::new()
                .scheduler(sched.clone())
                .memory_limit(Some(200_000))
                .callback(spilled.clone());
            assert_eq!(b.compute_with(&opts).unwrap(), xs, "{sched:?}");
            assert!(
                spilled.0.load(Ordering::SeqCst) > 0,
                "{sched:?}: nothing spilled"
            );
        }
    }

    #[test]
    fn json_records_group_by_a_plucked_key() {
        let xs = people(3000);
        let b = db::from_sequence(xs.clone(), 7).unwrap();
        let g = b
            .groupby_with(
                |v: &Json| v["address"]["city"].as_str().unwrap_or("").to_string(),
                &GroupbyOptions::new().npartitions(3),
            )
            .unwrap();
        for sched in [SchedulerChoice::Sync, SchedulerChoice::Threaded] {
            let opts = ComputeOptions::new()
                .scheduler(sched.clone())
                .memory_limit(Some(4_000_000));
            let mut got = g.compute_with(&opts).unwrap();
            got.sort_by(|a, b| a.0.cmp(&b.0));
            assert_eq!(got.len(), 5);
            for (city, records) in got {
                let expected: Vec<Json> = xs
                    .iter()
                    .filter(|v| v["address"]["city"] == json!(city))
                    .cloned()
                    .collect();
                assert_eq!(records, expected, "{sched:?} {city}");
            }
        }
    }
}

#[test]
fn pluck_of_an_index_from_a_string_gives_its_character() {
    let words = from_sequence(vec!["héllo".to_string(), "ab".to_string()], 2).unwrap();
    assert_eq!(words.pluck(1).compute().unwrap(), vec!["é", "b"]);
    let err = words.pluck(4).compute().unwrap_err().to_string();
    assert!(
        err.contains("index 4 out of range (a string of 2 characters)"),
        "{err}"
    );
    let json = from_sequence(vec![json!({"name": "Ann"})], 1).unwrap();
    assert_eq!(
        json.pluck(vec![Step::from("name"), 2.into()])
            .compute()
            .unwrap(),
        vec![json!("n")]
    );
}
