//! Scheduler overhead, the W6 reference workload: N independent trivial
//! tasks plus a sum tree, computed once; a 10,000-long chain; a
//! 1,000,000-task graph built, optimized and run (memory per task); and the
//! cost of building `Delayed` calls.
//!
//! ```text
//! cargo run --release --example overhead [-- --n 100000 --fanin 16]
//! ```
//! Prints a human summary and one JSON line per measurement, in the format
//! of ../shared/bench, so the numbers sit beside Dask's in one table.

use std::time::Instant;

use oxidask::graph::optimize::{OptimizeOptions, optimize};
use oxidask::prelude::*;
use oxidask::scheduler::compute_with as compute_graph;

fn inc(x: i64) -> i64 {
    x + 1
}

fn add_all(xs: Vec<i64>) -> i64 {
    xs.iter().sum()
}

/// The W6 graph with delayed calls; returns the root and the task count.
fn delayed_tree(n: i64, fanin: usize) -> (Delayed<i64>, usize) {
    let mut layer: Vec<Delayed<i64>> = (0..n).map(|i| delayed!(inc(i))).collect();
    let mut ntasks = layer.len();
    while layer.len() > 1 {
        layer = layer.chunks(fanin).map(|c| delayed!(add_all(c))).collect();
        ntasks += layer.len();
    }
    (layer.pop().expect("n > 0"), ntasks)
}

use oxidask_testing::fixtures::sum_tree as raw_tree;

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n = arg("--n", 100_000);
    let fanin = arg("--fanin", 16);
    let expect = (n as i64) * (n as i64 + 1) / 2;
    let workers = oxidask::config::default_num_workers();
    println!("scheduler overhead: {n} trivial tasks + sum tree (fan-in {fanin}), {workers} cores");

    for (impl_name, choice) in [
        ("threads", SchedulerChoice::Threaded),
        ("sync", SchedulerChoice::Sync),
    ] {
        let opts = ComputeOptions::new().scheduler(choice.clone());
        // Delayed calls, as the Dask script builds them.
        let t = Instant::now();
        let (root, ntasks) = delayed_tree(n as i64, fanin);
        let build = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let got = root.compute_with(&opts)?;
        let wall = t.elapsed().as_secs_f64();
        assert_eq!(got, expect);
        report(
            "W6",
            impl_name,
            wall,
            &format!(
                r#""n_tasks":{ntasks},"build_s":{build:.4},"us_per_task":{:.3}"#,
                1e6 * wall / ntasks as f64
            ),
        );
        // The raw graph: the scheduler's own cost.
        let (g, root) = raw_tree(n as u32, fanin);
        let ntasks = g.len();
        let t = Instant::now();
        let got = compute_graph(g, &[root], &opts)?;
        let wall = t.elapsed().as_secs_f64();
        assert_eq!(got[0].downcast_ref::<i64>()?, &expect);
        report(
            "W6",
            &format!("{impl_name}-graph"),
            wall,
            &format!(
                r#""n_tasks":{ntasks},"us_per_task":{:.3}"#,
                1e6 * wall / ntasks as f64
            ),
        );
    }

    // A 10,000-long chain, unfused (every task scheduled) and fused.
    for (label, o) in [
        ("chain-unfused", OptimizeOptions::none()),
        ("chain-fused", OptimizeOptions::default()),
    ] {
        let mut x = delayed!(inc(0));
        for _ in 1..10_000 {
            x = delayed!(inc(x));
        }
        let t = Instant::now();
        let got = x.compute_with(&ComputeOptions::new().optimize(o))?;
        let wall = t.elapsed().as_secs_f64();
        assert_eq!(got, 10_000);
        report(
            "W6",
            label,
            wall,
            &format!(
                r#""n_tasks":10000,"us_per_task":{:.3}"#,
                1e6 * wall / 10_000.0
            ),
        );
    }

    // Building Delayed calls (Dask: ~220 µs each).
    let t = Instant::now();
    let xs: Vec<Delayed<i64>> = (0..100_000).map(|i| delayed!(inc(i))).collect();
    let build = t.elapsed().as_secs_f64();
    drop(xs);
    report(
        "W6",
        "delayed-build-100k",
        build,
        &format!(r#""us_per_call":{:.3}"#, 1e6 * build / 1e5),
    );

    // Fan-in: one task reading a million results (issue 9: was quadratic).
    let fan = arg("--fan", 1_000_000);
    let t = Instant::now();
    let xs: Vec<Delayed<i64>> = (0..fan as i64).map(|i| delayed!(inc(i))).collect();
    let total = delayed!(add_all(&xs[..]));
    drop(xs);
    let got = total.compute()?;
    let wall = t.elapsed().as_secs_f64();
    assert_eq!(got, (fan as i64) * (fan as i64 + 1) / 2);
    report(
        "W6",
        "fan-in",
        wall,
        &format!(
            r#""n_inputs":{fan},"us_per_input":{:.3}"#,
            1e6 * wall / fan as f64
        ),
    );

    // One million tasks: build, optimize, run; memory per task.
    let rss0 = rss_kib("VmRSS:");
    let t = Instant::now();
    let (g, root) = raw_tree(937_500, 16);
    let ntasks = g.len();
    let build = t.elapsed().as_secs_f64();
    let rss_graph = rss_kib("VmRSS:");
    let t = Instant::now();
    let plan = optimize(g, std::slice::from_ref(&root), OptimizeOptions::default())?;
    let opt = t.elapsed().as_secs_f64();
    drop(plan);
    // The same graph to bytes and back (as a cluster would ship it).
    let (g, _) = raw_tree(937_500, 16);
    let t = Instant::now();
    let bytes = g.to_bytes()?;
    let encode = t.elapsed().as_secs_f64();
    drop(g);
    let t = Instant::now();
    let g = oxidask::graph::TaskGraph::from_bytes(&bytes)?;
    let decode = t.elapsed().as_secs_f64();
    let bytes_per_task = bytes.len() as f64 / ntasks as f64;
    drop(bytes);
    drop(g);
    let (g, root) = raw_tree(937_500, 16);
    let t = Instant::now();
    let got = compute_graph(g, &[root], &ComputeOptions::new())?;
    let run = t.elapsed().as_secs_f64();
    let expect = 937_500i64 * 937_501 / 2;
    assert_eq!(got[0].downcast_ref::<i64>()?, &expect);
    let per_task = (rss_graph.saturating_sub(rss0) * 1024) as f64 / ntasks as f64;
    let peak_per_task = (rss_kib("VmHWM:").saturating_sub(rss0) * 1024) as f64 / ntasks as f64;
    report(
        "W6",
        "graph-1m",
        run,
        &format!(
            r#""n_tasks":{ntasks},"build_s":{build:.3},"optimize_s":{opt:.3},"run_s":{run:.3},"encode_s":{encode:.3},"decode_s":{decode:.3},"encoded_bytes_per_task":{bytes_per_task:.1},"graph_bytes_per_task":{per_task:.0},"peak_bytes_per_task":{peak_per_task:.0}"#
        ),
    );
    Ok(())
}

fn report(workload: &str, impl_name: &str, wall: f64, extra: &str) {
    println!(
        r#"{{"workload":"{workload}","impl":"oxidask-{impl_name}","wall_s":{wall:.4},"peak_rss_mb":{:.1},{extra}}}"#,
        rss_kib("VmHWM:") as f64 / 1024.0
    );
}
