//! The disk-backed hash shuffle: every record arrives exactly once, in the
//! partition its hash names, on every scheduler and memory limit, and no
//! file is left behind.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use oxidask::graph::{Key, Task, TaskGraph, Value};
use oxidask::prelude::*;
use oxidask::scheduler::compute_with as compute_graph;
use oxidask::store::shuffle::{ShuffleSpec, hash_shuffle};
use proptest::prelude::*;

fn bucket(x: u64, m: u32) -> u32 {
    (x.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as u32 % m
}

fn shuffle_graph(parts: &[Vec<u64>], m: u32, dir: &Path) -> (TaskGraph, Vec<Key>) {
    let mut g = TaskGraph::new();
    let inputs: Vec<Key> = parts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let k = Key::with_index("input", &[i as u32]);
            g.insert(k.clone(), Task::literal(Value::new(p.clone())));
            k
        })
        .collect();
    let spec = ShuffleSpec {
        name: "shuffle-test".into(),
        inputs,
        npartitions: m,
        split: Arc::new(|_: usize, v: Value, m: u32| {
            let mut pieces = vec![Vec::new(); m as usize];
            for &x in v.downcast_ref::<Vec<u64>>()? {
                pieces[bucket(x, m) as usize].push(x);
            }
            Ok(pieces.into_iter().map(Value::new).collect())
        }),
        combine: Arc::new(|pieces: Vec<Value>| {
            let mut out = Vec::new();
            for p in pieces {
                out.extend_from_slice(p.downcast_ref::<Vec<u64>>()?);
            }
            Ok(Value::new(out))
        }),
        dir: Some(dir.to_path_buf()),
    };
    let (tasks, outputs) = hash_shuffle(spec);
    g.merge(tasks);
    (g, outputs)
}

fn fresh_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("oxidask-it-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn every_record_arrives_once_in_its_partition(
        parts in proptest::collection::vec(proptest::collection::vec(any::<u64>(), 0..200), 1..8),
        m in 1u32..9,
        threaded in any::<bool>(),
        limit in prop_oneof![Just(None), Just(Some(16_000usize))],
    ) {
        let dir = fresh_dir("shuffle-prop");
        let (g, outs) = shuffle_graph(&parts, m, &dir);
        let s = if threaded { SchedulerChoice::Threaded } else { SchedulerChoice::Sync };
        let opts = ComputeOptions::new().scheduler(s).memory_limit(limit).spill_dir(&dir);
        let got = compute_graph(g, &outs, &opts).unwrap();
        let mut all = Vec::new();
        for (j, v) in got.iter().enumerate() {
            let part = v.downcast_ref::<Vec<u64>>().unwrap();
            prop_assert!(part.iter().all(|&x| bucket(x, m) == j as u32));
            all.extend_from_slice(part);
        }
        let mut expect: Vec<u64> = parts.concat();
        expect.sort_unstable();
        all.sort_unstable();
        prop_assert_eq!(all, expect);
        prop_assert!(std::fs::read_dir(&dir).unwrap().next().is_none(), "files left behind");
    }
}

#[test]
fn a_failing_split_leaves_no_files() {
    let dir = fresh_dir("shuffle-fail");
    let parts = vec![vec![1u64, 2, 3], vec![4, 5]];
    let (mut g, outs) = shuffle_graph(&parts, 3, &dir);
    // An input the split cannot read: a type mismatch inside the split.
    g.insert(
        Key::with_index("input", &[1]),
        Task::literal(Value::new(String::from("oops"))),
    );
    let err = compute_graph(g, &outs, &ComputeOptions::new())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("shuffle-split") && err.contains("String"),
        "{err}"
    );
    assert!(
        std::fs::read_dir(&dir).unwrap().next().is_none(),
        "files left behind"
    );
}
