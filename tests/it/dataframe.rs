//! Frames under the memory limit and in another process: partitions spill
//! as Arrow IPC and come back equal; a frame's graph runs in the
//! `run_graph` binary with the same result as here.

use std::io::Write;
use std::sync::Arc;

use oxidask::dataframe as dd;
use oxidask::dataframe::polars::prelude::*;
use oxidask::graph::TaskGraph;
use oxidask::prelude::*;
use oxidask_testing::{LastRun, TempDir};
use oxidask_tests::encode_values;

use crate::other_process::run_elsewhere;

/// A CSV of `rows` trips (a few MB) in `dir`.
fn trips(dir: &TempDir, rows: usize) -> std::path::PathBuf {
    let path = dir.path().join("trips.csv");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    oxidask_workloads::taxi::write_trips(&mut w, rows, 7, 0).unwrap();
    w.flush().unwrap();
    path
}

#[test]
fn partitions_spill_under_a_small_memory_limit_and_come_back_equal() {
    let dir = TempDir::new("df-spill");
    let path = trips(&dir, 60_000);
    let df = dd::read_csv(
        path.as_path(),
        dd::CsvOptions::default().blocksize(Some(256 << 10)),
    )
    .unwrap();
    assert!(df.npartitions() >= 16, "{}", df.npartitions());
    let free = df.compute().unwrap();
    assert_eq!(free.height(), 60_000);
    let spill = TempDir::new("df-spill-dir");
    let spills = Arc::new(LastRun::default());
    let opts = ComputeOptions::new()
        .memory_limit(Some(1 << 20))
        .spill_dir(spill.path())
        .callback(spills.clone());
    let limited = df.compute_with(&opts).unwrap();
    assert!(spills.spilled() > 0, "nothing spilled");
    assert!(limited.equals_missing(&free));
    // And a group_by, whose partials are frames too.
    let q = df
        .group_by(["passenger_count"])
        .agg([col("tip_amount").mean(), len()])
        .unwrap();
    let a = q.compute().unwrap();
    let b = q.compute_with(&opts).unwrap();
    assert!(a.equals_missing(&b));
    let whole = free
        .lazy()
        .group_by([col("passenger_count")])
        .agg([col("tip_amount").mean(), len()])
        .sort(
            ["passenger_count"],
            SortMultipleOptions::default().with_nulls_last(true),
        )
        .collect()
        .unwrap();
    assert!(
        a.column("len")
            .unwrap()
            .as_materialized_series()
            .equals(whole.column("len").unwrap().as_materialized_series())
    );
    let (x, y) = (
        a.column("tip_amount").unwrap().f64().unwrap(),
        whole.column("tip_amount").unwrap().f64().unwrap(),
    );
    for (x, y) in x.iter().zip(y.iter()) {
        assert!((x.unwrap() - y.unwrap()).abs() < 1e-9, "{x:?} {y:?}");
    }
}

#[test]
fn a_csv_group_by_runs_in_another_process() {
    let dir = TempDir::new("df-other-process");
    let path = trips(&dir, 5_000);
    let q = dd::read_csv(
        path.as_path(),
        dd::CsvOptions::default().blocksize(Some(64 << 10)),
    )
    .unwrap()
    .filter(col("fare_amount").gt(lit(5.0)))
    .unwrap()
    .group_by(["payment_type"])
    .agg([
        col("tip_amount").sum(),
        col("trip_distance").std(1),
        col("VendorID").n_unique(),
    ])
    .unwrap();
    let mut graph = TaskGraph::new();
    let mut keys = Vec::new();
    oxidask::scheduler::Computable::collect(&q, &mut graph, &mut keys).unwrap();
    let here = encode_values(&oxidask::scheduler::compute(graph.clone(), &keys).unwrap()).unwrap();
    let there = run_elsewhere(&graph, &keys).unwrap();
    assert_eq!(here, there);
}

#[test]
fn map_partitions_with_a_registered_function_runs_in_another_process() {
    let dir = TempDir::new("df-map-remote");
    let path = trips(&dir, 3_000);
    let q = dd::read_csv(
        path.as_path(),
        dd::CsvOptions::default().blocksize(Some(32 << 10)),
    )
    .unwrap()
    .map_partitions(oxidask_tests::frame_fns::fare_per_mile)
    .unwrap()
    .group_by(["rows_here"])
    .agg([col("per_mile").max(), len()])
    .unwrap();
    let mut graph = TaskGraph::new();
    let mut keys = Vec::new();
    oxidask::scheduler::Computable::collect(&q, &mut graph, &mut keys).unwrap();
    let here = encode_values(&oxidask::scheduler::compute(graph.clone(), &keys).unwrap()).unwrap();
    let there = run_elsewhere(&graph, &keys).unwrap();
    assert_eq!(here, there);
    // The same with a closure stays here, and says why.
    let local = dd::read_csv(path.as_path(), dd::CsvOptions::default())
        .unwrap()
        .map_partitions(|df: DataFrame| Ok(df))
        .unwrap();
    let mut graph = TaskGraph::new();
    let mut keys = Vec::new();
    oxidask::scheduler::Computable::collect(&local, &mut graph, &mut keys).unwrap();
    let err = graph.to_bytes().unwrap_err().to_string();
    assert!(err.contains("#[oxidask::remote]"), "{err}");
}

#[test]
fn parquet_written_by_tasks_reads_back_under_a_memory_limit() {
    let dir = TempDir::new("df-parquet-limit");
    let path = trips(&dir, 60_000);
    let df = dd::read_csv(
        path.as_path(),
        dd::CsvOptions::default().blocksize(Some(256 << 10)),
    )
    .unwrap();
    let whole = df.compute().unwrap();
    let spill = TempDir::new("df-parquet-spill");
    let spills = Arc::new(LastRun::default());
    let opts = ComputeOptions::new()
        .memory_limit(Some(1 << 20))
        .spill_dir(spill.path())
        .callback(spills.clone());
    let out = dir.path().join("pq");
    let files = df
        .to_parquet_with(&out, &dd::WriteOptions::default().compute(opts.clone()))
        .unwrap();
    assert_eq!(files.len(), df.npartitions());
    let back = dd::read_parquet(&out).unwrap();
    assert!(back.compute_with(&opts).unwrap().equals_missing(&whole));
    assert!(spills.spilled() > 0, "nothing spilled");
    let csv = dir.path().join("csv").join("trips-*.csv");
    df.to_csv(&csv).unwrap();
    // Read back with the original's types: a file of one 256 KiB block
    // may hold no value of a mostly-null column, and inference from it
    // alone would give another type.
    let typed = whole
        .schema()
        .iter()
        .fold(dd::CsvOptions::default(), |o, (name, dtype)| {
            o.dtype(name.as_str(), dtype.clone())
        });
    let again = dd::read_csv(csv.as_path(), typed)
        .unwrap()
        .compute()
        .unwrap();
    assert_eq!(again.schema(), whole.schema());
    assert_eq!(again.height(), whole.height());
    for (a, b) in again.columns().iter().zip(whole.columns()) {
        assert!(
            a.as_materialized_series()
                .equals_missing(b.as_materialized_series()),
            "column {} differs after a CSV round trip",
            a.name()
        );
    }
}
