//! A LocalCluster of this program: tiny-task throughput through
//! `client.map`, the submit→result round trip, and a large value through
//! the wire (client to worker, and worker to worker twice: made on both
//! workers, and scattered to both).
//!
//! `cargo run --release --example cluster -- [--n 100000] [--reps 3] [--dashboard]
//! [--worker-saturation F]`
//! (`--dashboard`: the cluster serves its dashboard on a free port, so
//! workers send their task events, to measure what that costs;
//! `--worker-saturation`: root-task queuing, to measure what it costs).
//!
//! The program calls `oxidask::init()` first, so the LocalCluster's
//! workers — copies of this program — run its `#[oxidask::remote]`
//! functions.

use std::time::{Duration, Instant};

use oxidask::distributed::LocalCluster;
use oxidask::prelude::*;

/// `x + 1`: a trivial task.
#[oxidask::remote]
fn inc(x: i64) -> i64 {
    x + 1
}

/// `n` floats.
#[oxidask::remote]
fn ramp(n: u64) -> Vec<f64> {
    (0..n).map(|i| i as f64).collect()
}

/// The sum of a vector (reads it whole).
#[oxidask::remote]
fn total(v: Vec<f64>) -> f64 {
    v.iter().sum()
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    oxidask::init();
    let n = arg("--n", 100_000);
    let reps = arg("--reps", 3);
    let mut cluster = LocalCluster::builder().n_workers(2).threads_per_worker(1);
    if std::env::args().any(|a| a == "--dashboard") {
        cluster = cluster.dashboard("127.0.0.1:0");
    }
    if let Some(s) = std::env::args()
        .skip_while(|a| a != "--worker-saturation")
        .nth(1)
    {
        cluster = cluster.scheduler_options(oxidask::distributed::SchedulerOptions {
            worker_saturation: Some(s.parse()?),
            ..Default::default()
        });
    }
    let cluster = cluster.start()?;
    if let Some(link) = cluster.dashboard_link() {
        println!("dashboard at {link}");
    }
    let client = cluster.client()?;

    // 1. Tiny tasks: one batch of n through client.map, then gather.
    let mut best = Duration::MAX;
    for _ in 0..reps {
        let t = Instant::now();
        let fs = client.map(inc, 0..n as i64)?;
        let out = client.gather(&fs)?;
        best = best.min(t.elapsed());
        assert_eq!(out.iter().sum::<i64>(), (1..=n as i64).sum::<i64>());
    }
    println!(
        "map: {n} trivial tasks on 2 workers in {:.3} s: {:.0} tasks/s ({:.2} µs/task)",
        best.as_secs_f64(),
        n as f64 / best.as_secs_f64(),
        1e6 * best.as_secs_f64() / n as f64
    );

    // 2. Round trip: one tiny submit, then its result, many times.
    let mut times = Vec::new();
    for i in 0..1000 {
        let t = Instant::now();
        let f = client.submit(&delayed!(inc(i)))?;
        assert_eq!(f.result()?, i + 1);
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "submit→result round trip: median {:.0} µs, p90 {:.0} µs",
        times[times.len() / 2].as_secs_f64() * 1e6,
        times[times.len() * 9 / 10].as_secs_f64() * 1e6
    );

    // 3. 64 MiB through the wire: made on one worker, summed on another
    // would need placement control; instead the value itself is the
    // output, crossing worker → scheduler → client (two hops, two
    // decodes), timed against making it in this process.
    let len = 64 << 20 >> 3;
    let t = Instant::now();
    let local = ramp(len as u64);
    let make = t.elapsed();
    drop(local);
    let mut best = Duration::MAX;
    for _ in 0..reps {
        let t = Instant::now();
        let v = client.submit(&delayed!(ramp(len as u64)))?.result()?;
        best = best.min(t.elapsed());
        assert_eq!(v.len(), len);
    }
    let wire = best.saturating_sub(make);
    println!(
        "64 MiB value worker→scheduler→client: {:.1} ms ({:.1} ms of it making the value): {:.2} GB/s over the two hops",
        best.as_secs_f64() * 1e3,
        make.as_secs_f64() * 1e3,
        (64 << 20) as f64 / wire.as_secs_f64() / 1e9
    );
    // Worker to worker: the sum of two 64 MiB ramps made on both workers
    // reads one of them from the other worker. Best of `reps` runs each.
    let (mut both, mut single) = (Duration::MAX, Duration::MAX);
    for _ in 0..reps {
        let t = Instant::now();
        let s = client
            .submit(&delayed!(add_totals(
                delayed!(ramp(len as u64)),
                delayed!(ramp(len as u64))
            )))?
            .result()?;
        both = both.min(t.elapsed());
        assert_eq!(s, 2.0 * (len as f64) * (len as f64 - 1.0) / 2.0);
        let t = Instant::now();
        let one = client
            .submit(&delayed!(total(delayed!(ramp(len as u64)))))?
            .result()?;
        single = single.min(t.elapsed());
        assert_eq!(one * 2.0, s);
    }
    // Both ramps run in parallel, so the pair costs one ramp, the
    // transfer and two sums; the single costs one ramp and one sum.
    let transfer = both.saturating_sub(single).saturating_sub(sum_time(len));
    println!(
        "64 MiB worker→worker: pair {:.1} ms vs single {:.1} ms: transfer ≈ {:.1} ms, {:.2} GB/s",
        both.as_secs_f64() * 1e3,
        single.as_secs_f64() * 1e3,
        transfer.as_secs_f64() * 1e3,
        (64 << 20) as f64 / transfer.as_secs_f64().max(1e-9) / 1e9
    );

    // Worker to worker, direct: two scattered 64 MiB vectors, one on each
    // worker (scatter goes round robin). A task reading both runs where
    // the larger is and fetches the other from the other worker: the
    // fetch (encode, the wire, decode), a copy of the held one (a task
    // takes its inputs by value; a fetched one is its own) and two sums.
    // A task reading only the held one costs the copy and one sum; the
    // difference less one sum is the fetch.
    let v: Vec<f64> = (0..len).map(|i| i as f64).collect();
    let mut w = v.clone();
    w.push(0.0);
    let parts = client.scatter_many(vec![v, w])?;
    let (a, b) = (&parts[0], &parts[1]);
    let (mut cross, mut local) = (Duration::MAX, Duration::MAX);
    for _ in 0..reps {
        let t = Instant::now();
        client.submit(&delayed!(add_totals(a, b)))?.result()?;
        cross = cross.min(t.elapsed());
        let t = Instant::now();
        client.submit(&delayed!(total(b)))?.result()?;
        local = local.min(t.elapsed());
    }
    let fetch = cross.saturating_sub(local).saturating_sub(sum_only(len));
    println!(
        "64 MiB worker→worker fetch (scattered inputs): {:.1} ms vs {:.1} ms reading the local one only: fetch ≈ {:.1} ms, {:.2} GB/s",
        cross.as_secs_f64() * 1e3,
        local.as_secs_f64() * 1e3,
        fetch.as_secs_f64() * 1e3,
        (64 << 20) as f64 / fetch.as_secs_f64().max(1e-9) / 1e9
    );
    Ok(())
}

/// The sum of two vectors' totals.
#[oxidask::remote]
fn add_totals(a: Vec<f64>, b: Vec<f64>) -> f64 {
    a.iter().sum::<f64>() + b.iter().sum::<f64>()
}

/// How long summing one vector of `len` floats takes here, without
/// making or copying it (best of 3).
fn sum_only(len: usize) -> Duration {
    let v = ramp(len as u64);
    (0..3)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(std::hint::black_box(&v).iter().sum::<f64>());
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

/// How long summing one vector of `len` floats takes here.
fn sum_time(len: usize) -> Duration {
    let v = ramp(len as u64);
    let t = Instant::now();
    std::hint::black_box(total(std::hint::black_box(v.clone())));
    t.elapsed()
}
