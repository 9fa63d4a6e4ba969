//! Scheduler and graph benchmarks: per-task overhead (100,000 trivial tasks
//! plus a sum tree; a 10,000-long chain) on sync and threaded, building and
//! optimizing a 1,000,000-task graph, a task reading 1,000,000 results,
//! building 100,000 delayed calls, and
//! the light-curve workload serial vs threaded.
//!
//! `cargo bench -p oxidask-benches` (add `-- NAME` to pick one).

use std::path::PathBuf;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use oxidask::graph::optimize::{OptimizeOptions, optimize};
use oxidask::prelude::*;
use oxidask::scheduler::compute_with as compute_graph;
use oxidask_testing::fixtures::{chain, sum_tree};
use oxidask_workloads::lightcurve::{self, Features, ReadError};

fn schedulers() -> [(&'static str, ComputeOptions); 2] {
    [
        (
            "sync",
            ComputeOptions::new().scheduler(SchedulerChoice::Sync),
        ),
        (
            "threaded",
            ComputeOptions::new().scheduler(SchedulerChoice::Threaded),
        ),
    ]
}

fn overhead(c: &mut Criterion) {
    let mut group = c.benchmark_group("overhead");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    let (g, _) = sum_tree(100_000, 16);
    group.throughput(Throughput::Elements(g.len() as u64));
    for (name, opts) in schedulers() {
        group.bench_function(BenchmarkId::new("tree_100k", name), |b| {
            b.iter_batched(
                || sum_tree(100_000, 16),
                |(g, root)| compute_graph(g, &[root], &opts).unwrap(),
                criterion::BatchSize::LargeInput,
            )
        });
    }
    group.throughput(Throughput::Elements(10_000));
    for (name, opts) in schedulers() {
        let opts = opts.optimize(OptimizeOptions::none());
        group.bench_function(BenchmarkId::new("chain_10k_unfused", name), |b| {
            b.iter_batched(
                || chain(10_000),
                |(g, last)| compute_graph(g, &[last], &opts).unwrap(),
                criterion::BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

fn graphs(c: &mut Criterion) {
    let mut group = c.benchmark_group("graph");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("build_1m", |b| b.iter(|| sum_tree(937_500, 16)));
    // One task reading 1,000,000 results: build, optimize and run end to
    // end (issue 9: de-duplicating its inputs was quadratic, 101 s).
    group.bench_function("fan_in_1m", |b| {
        b.iter(|| {
            let (g, root) = sum_tree(1_000_000, 1_000_000);
            compute_graph(g, &[root], &ComputeOptions::new()).unwrap()
        })
    });
    group.bench_function("optimize_1m", |b| {
        b.iter_batched(
            || sum_tree(937_500, 16),
            |(g, root)| optimize(g, &[root], OptimizeOptions::default()).unwrap(),
            criterion::BatchSize::LargeInput,
        )
    });
    // The same graph through bytes, as a cluster ships it (issue 10: each
    // direction within 1 s).
    group.bench_function("encode_1m", |b| {
        let (g, _) = sum_tree(937_500, 16);
        b.iter(|| g.to_bytes().unwrap())
    });
    group.bench_function("decode_1m", |b| {
        let bytes = sum_tree(937_500, 16).0.to_bytes().unwrap();
        b.iter(|| oxidask::graph::TaskGraph::from_bytes(&bytes).unwrap())
    });
    fn inc(x: i64) -> i64 {
        x + 1
    }
    group.bench_function("delayed_build_100k", |b| {
        b.iter(|| {
            (0..100_000)
                .map(|i| delayed!(inc(i)))
                .collect::<Vec<Delayed<i64>>>()
        })
    });
    group.finish();
}

fn features_of(path: PathBuf, nfreq: usize) -> Result<Features, ReadError> {
    lightcurve::features_for_file(&path, nfreq)
}

fn light_curves(c: &mut Criterion) {
    let dir = std::env::temp_dir().join("oxidask-bench-lightcurves");
    let truth = lightcurve::write_dataset(&dir, 40, 7).expect("writing bench data");
    let paths: Vec<PathBuf> = truth
        .iter()
        .map(|t| dir.join("lc").join(lightcurve::star_file_name(t.star_id)))
        .collect();
    let nfreq = 50_000;
    let mut group = c.benchmark_group("light_curves_40_stars");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("serial", |b| {
        b.iter(|| {
            paths
                .iter()
                .map(|p| features_of(p.clone(), nfreq).unwrap())
                .collect::<Vec<_>>()
        })
    });
    group.bench_function("threaded", |b| {
        b.iter(|| {
            let tasks: Vec<Delayed<Features>> = paths
                .iter()
                .map(|p| delayed!(features_of(p.clone(), nfreq)?))
                .collect();
            compute(&tasks).unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, overhead, graphs, light_curves);
criterion_main!(benches);
