//! Delayed results of your own types under a memory limit: each chunk is a
//! `Vec<i16>`, a `Vec<(u32, f32)>` or a `Vec<Reading>` (a user struct with
//! `#[derive(DataSize)]`), several times the limit in all, combined pairwise
//! so that (with `--spread`) many must wait on disk. Prints the wall time, peak RSS
//! and what was spilled, and checks the answer against a plain loop.
//!
//! ```text
//! cargo run --release --example delayed_user_types -- --type pairs [--limit 256MiB --gib 1.5 --spread 7 --chunk-mib 32]
//! ```
//!
//! Run one type per process: peak RSS is the process's high-water mark.

use std::sync::Arc;
use std::time::Instant;

use oxidask::prelude::*;
use serde::{Deserialize, Serialize};

#[path = "common/bench.rs"]
mod bench;
#[path = "common/run.rs"]
mod run;
use run::{Memory, arg};

/// A user record with heap in several fields.
#[derive(Clone, oxidask::DataSize, Serialize, Deserialize)]
struct Reading {
    station: String,
    values: Vec<f64>,
}

oxidask::graph::register_value!(Vec<(u32, f32)>);
oxidask::graph::register_value!(Vec<Reading>);

use oxidask_testing::fixtures::xorshift as stream;

fn shorts(seed: u64, bytes: usize) -> Vec<i16> {
    stream(seed)
        .take(bytes / 2)
        .map(|x| (x >> 48) as i16)
        .collect()
}

fn pairs(seed: u64, bytes: usize) -> Vec<(u32, f32)> {
    stream(seed)
        .take(bytes / 8)
        .map(|x| ((x >> 32) as u32, (x & 0xffff) as f32))
        .collect()
}

/// About 160 bytes each (a short name and 16 values).
fn readings(seed: u64, bytes: usize) -> Vec<Reading> {
    stream(seed)
        .take(bytes / 200)
        .map(|x| Reading {
            station: format!("st-{}", x % 997),
            values: stream(x).take(16).map(|v| (v % 1000) as f64).collect(),
        })
        .collect()
}

fn digest_shorts(a: Vec<i16>, b: Vec<i16>, c: Vec<i16>) -> i64 {
    a.iter().chain(&b).chain(&c).map(|&x| x as i64).sum()
}

fn digest_pairs(a: Vec<(u32, f32)>, b: Vec<(u32, f32)>, c: Vec<(u32, f32)>) -> i64 {
    a.iter()
        .chain(&b)
        .chain(&c)
        .map(|&(k, v)| k as i64 + v as i64)
        .sum()
}

fn digest_readings(a: Vec<Reading>, b: Vec<Reading>, c: Vec<Reading>) -> i64 {
    a.iter()
        .chain(&b)
        .chain(&c)
        .map(|r| r.station.len() as i64 + r.values.iter().sum::<f64>() as i64)
        .sum()
}

fn total(parts: Vec<i64>) -> i64 {
    parts.iter().sum()
}
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let kind = arg("--type").unwrap_or_else(|| "pairs".into());
    let limit = oxidask::store::parse_bytes(&arg("--limit").unwrap_or("256MiB".into()))?
        .ok_or("--limit must be a size")?;
    let gib: f64 = arg("--gib").map_or(Ok(1.5), |s| s.parse())?;
    let chunk: usize = arg("--chunk-mib").map_or(Ok(32), |s| s.parse())? << 20;
    let n = ((gib * (1u64 << 30) as f64) / chunk as f64).ceil() as usize;
    // Task j reads chunks j and j + n/2 (n odd, so the pairs chain through
    // every chunk) and, with `--spread k`, chunk j + k too: a chunk is then
    // needed by tasks far apart, so several must wait on disk.
    let spread: usize = arg("--spread").map_or(Ok(0), |s| s.parse())?;
    let n = n | 1;
    let pairing = move || {
        (0..n).map(move |j| {
            let far = (j + n / 2) % n;
            let third = if spread == 0 { far } else { (j + spread) % n };
            (j, far, third)
        })
    };

    macro_rules! run {
        ($make:ident, $digest:ident) => {{
            let chunks: Vec<_> = (0..n as u64).map(|i| delayed!($make(i, chunk))).collect();
            let parts: Vec<Delayed<i64>> = pairing()
                .map(|(a, b, c)| delayed!($digest(&chunks[a], &chunks[b], &chunks[c])))
                .collect();
            let root = delayed!(total(parts));
            drop(chunks);
            let memory = Arc::new(Memory::default());
            bench::reset_peak_rss();
            let t = Instant::now();
            let got = root.compute_with(
                &ComputeOptions::new()
                    .memory_limit(Some(limit))
                    .callback(memory.clone()),
            )?;
            let wall = t.elapsed().as_secs_f64();
            let expect: i64 = pairing()
                .map(|(a, b, c)| {
                    let make = |i: usize| $make(i as u64, chunk);
                    $digest(make(a), make(b), make(c))
                })
                .sum();
            let stats = memory.last();
            (got == expect, got, wall, stats)
        }};
    }
    let (ok, got, wall, stats) = match kind.as_str() {
        "i16" => run!(shorts, digest_shorts),
        "pairs" => run!(pairs, digest_pairs),
        "struct" => run!(readings, digest_readings),
        other => return Err(format!("--type must be i16, pairs or struct, not {other}").into()),
    };
    let peak = bench::peak_rss_mb();
    println!(
        "{kind}: {n} chunks of {} MiB ({:.2} GiB, {:.1}x the {} MiB limit): {} in {wall:.2} s, \
         peak RSS {peak:.0} MB, spilled {} results ({:.0} MiB), read back {:.0} MiB",
        chunk >> 20,
        (n * chunk) as f64 / (1u64 << 30) as f64,
        (n * chunk) as f64 / limit as f64,
        limit >> 20,
        if ok { "correct" } else { "WRONG" },
        stats.spilled,
        stats.spilled_bytes as f64 / (1u64 << 20) as f64,
        stats.read_back_bytes as f64 / (1u64 << 20) as f64,
    );
    bench::emit(
        &format!("delayed-{kind}"),
        "oxidask-threads",
        wall,
        peak,
        &bench::digest(&got.to_string()),
        &format!(
            r#", "memory_limit_mb": {}, "spilled_mb": {:.0}"#,
            limit >> 20,
            stats.spilled_bytes as f64 / (1u64 << 20) as f64
        ),
    );
    if !ok {
        return Err("the result differs from the plain loop's".into());
    }
    Ok(())
}
