//! A frame join, sort and shuffled group_by over ~20 MB of CSV under a
//! 2 MiB memory limit: the same answers as polars over the whole frames,
//! partitions spilled on the way, and no shuffle file left behind.

use std::io::Write;
use std::sync::Arc;

use oxidask_scheduler::ComputeOptions;
use oxidask_testing::{LastRun, TempDir};
use polars::prelude::*;

use crate as dd;

/// `rows` lines of `id,g,x,name` (ids unique, in a scrambled order) in
/// `dir/name.csv`.
fn write_csv(dir: &TempDir, name: &str, rows: u64, step: u64) -> std::path::PathBuf {
    let path = dir.path().join(format!("{name}.csv"));
    let mut w = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    writeln!(w, "id,g,x,name").unwrap();
    for i in 0..rows {
        // A permutation of 0..rows·step's multiples of `step`.
        let id = (i * 7_919 % rows) * step;
        let x = ((i * 2_654_435_761) % 1_000_003) as f64 / 1_000.0 - 500.0;
        writeln!(w, "{id},{},{x},n{}", id % 50_000, id % 997).unwrap();
    }
    w.flush().unwrap();
    path
}

fn sorted_by(df: &DataFrame, by: &[&str]) -> DataFrame {
    df.sort(
        by.to_vec(),
        SortMultipleOptions::default()
            .with_nulls_last(true)
            .with_maintain_order(true),
    )
    .unwrap()
}

#[test]
fn join_sort_and_split_out_run_within_a_small_memory_limit() {
    let dir = TempDir::new("df-shuffle-mem");
    let opts = dd::CsvOptions::default().blocksize(Some(512 << 10));
    let left = dd::read_csv(write_csv(&dir, "left", 400_000, 1).as_path(), opts.clone()).unwrap();
    let right = dd::read_csv(write_csv(&dir, "right", 300_000, 2).as_path(), opts).unwrap();
    assert!(left.npartitions() >= 16, "{}", left.npartitions());
    let (l, r) = (left.compute().unwrap(), right.compute().unwrap());
    assert!(l.estimated_size() + r.estimated_size() > 18 << 20);

    let shuffle_dir = TempDir::new("df-shuffle-files");
    let spill = TempDir::new("df-shuffle-spill");
    let limited = |run: &Arc<LastRun>| {
        ComputeOptions::new()
            .memory_limit(Some(2 << 20))
            .spill_dir(spill.path())
            .callback(run.clone())
    };

    // Join: every id of `right` (the even ones below 600,000) is in `left`
    // once if below 400,000.
    let joined = left
        .join_with(
            &right,
            ["id"],
            ["id"],
            dd::JoinOptions::new(JoinType::Inner)
                .npartitions(16)
                .shuffle_dir(shuffle_dir.path()),
        )
        .unwrap();
    let run = Arc::new(LastRun::default());
    let ours = joined.compute_with(&limited(&run)).unwrap();
    assert!(run.spilled() > 0, "the join spilled nothing");
    let theirs = l
        .clone()
        .lazy()
        .join(
            r.clone().lazy(),
            [col("id")],
            [col("id")],
            JoinArgs::new(JoinType::Inner),
        )
        .collect()
        .unwrap();
    assert_eq!(ours.height(), 200_000);
    assert!(sorted_by(&ours, &["id"]).equals_missing(&sorted_by(&theirs, &["id"])));

    // Sort by a float column: globally sorted, equal to polars' sort.
    let sorted = left
        .sort_with(
            ["x"],
            false,
            &dd::SortOptions::new().shuffle_dir(shuffle_dir.path()),
        )
        .unwrap();
    assert!(sorted.divisions().is_some());
    let run = Arc::new(LastRun::default());
    let ours = sorted.compute_with(&limited(&run)).unwrap();
    assert!(run.spilled() > 0, "the sort spilled nothing");
    assert!(ours.equals_missing(&sorted_by(&l, &["x"])));

    // A group_by of 400,000 groups (ids) into 8 partitions.
    let grouped = left
        .group_by(["id"])
        .split_out(8)
        .shuffle_dir(shuffle_dir.path())
        .agg([col("x").sum(), len()])
        .unwrap();
    let run = Arc::new(LastRun::default());
    let ours = grouped.compute_with(&limited(&run)).unwrap();
    assert!(run.spilled() > 0, "the group_by spilled nothing");
    let theirs = l
        .clone()
        .lazy()
        .group_by([col("id")])
        .agg([col("x").sum(), len()])
        .collect()
        .unwrap();
    let (ours, theirs) = (sorted_by(&ours, &["id"]), sorted_by(&theirs, &["id"]));
    assert_eq!(ours.height(), 400_000);
    assert!(
        ours.column("len")
            .unwrap()
            .equals(theirs.column("len").unwrap())
    );
    let (a, b) = (
        ours.column("x").unwrap().f64().unwrap(),
        theirs.column("x").unwrap().f64().unwrap(),
    );
    for (a, b) in a.into_no_null_iter().zip(b.into_no_null_iter()) {
        assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{a} vs {b}");
    }

    let left_behind: Vec<_> = std::fs::read_dir(shuffle_dir.path()).unwrap().collect();
    assert!(left_behind.is_empty(), "{left_behind:?}");
}
