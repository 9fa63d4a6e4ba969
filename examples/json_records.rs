//! The JSON-records workload: JSON lines → name → frequencies → top 10.
//!
//! ```text
//! cargo run --release --example json_records                 # generates 8 × 500,000 records
//! cargo run --release --example json_records -- DIR          # reads DIR/w5/people_*.jsonl[.gz]
//! cargo run --release --example json_records -- --files 2 --records 100000
//! ```
//!
//! `DIR` is a directory written by `../shared/bench/gen_data.py --only w5`
//! (or by this example), so the numbers can be set beside
//! `bench_w5.py --impl dask-processes|polars|polars-scan` on the same files.
//! Three ways of writing the pipeline are timed, each printing the top 10,
//! its wall time and peak RSS, and one JSON line in the `../shared/bench`
//! format:
//!
//! - **typed**: `read_json_lines::<Person>` with `struct Person { name }` —
//!   the parser skips every other field;
//! - **untyped**: `read_json_lines::<serde_json::Value>` + `pluck("name")` —
//!   every field of every record parsed;
//! - **text**: `read_text` + `try_map(serde_json::from_str)` + `pluck` —
//!   the `dask.bag` seed line (`read_text(...).map(json.loads).pluck(...)`)
//!   word for word, a `String` per line on the way.

use std::cmp::Reverse;
use std::path::{Path, PathBuf};
use std::time::Instant;

use oxidask::bag::{self as db, Bag};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

#[path = "common/bench.rs"]
mod bench;
#[path = "common/people.rs"]
mod people;

/// The typed record: only the field the pipeline needs.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Person {
    name: String,
}

struct Args {
    dir: Option<PathBuf>,
    files: u64,
    records: u64,
    only: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        dir: None,
        files: 8,
        records: 500_000,
        only: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--files" => {
                a.files = value("--files")?
                    .parse()
                    .map_err(|e| format!("--files: {e}"))?
            }
            "--records" => {
                a.records = value("--records")?
                    .parse()
                    .map_err(|e| format!("--records: {e}"))?
            }
            "--only" => a.only = Some(value("--only")?),
            "-h" | "--help" => {
                println!(
                    "usage: json_records [DIR] [--files N] [--records N] [--only typed|untyped|text]"
                );
                std::process::exit(0);
            }
            s if !s.starts_with('-') && a.dir.is_none() => a.dir = Some(PathBuf::from(s)),
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(a)
}

fn main() {
    if let Err(e) = run() {
        eprintln!("json_records failed: {e}");
        std::process::exit(1);
    }
}

/// The data files: `DIR/w5/people_*.jsonl` (or `.jsonl.gz`), or `DIR`'s own.
fn find_files(dir: &Path) -> Result<Vec<PathBuf>, Box<dyn std::error::Error>> {
    let w5 = if dir.join("w5").is_dir() {
        dir.join("w5")
    } else {
        dir.to_path_buf()
    };
    for pattern in ["people_*.jsonl", "people_*.jsonl.gz"] {
        let mut found: Vec<PathBuf> = std::fs::read_dir(&w5)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                let (stem, ext) = pattern.split_once('*').unwrap_or((pattern, ""));
                name.starts_with(stem)
                    && name.ends_with(ext)
                    && (ext.ends_with(".gz") || !name.ends_with(".gz"))
            })
            .collect();
        if !found.is_empty() {
            found.sort();
            return Ok(found);
        }
    }
    Err(format!("no people_*.jsonl files in {}", w5.display()).into())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let cores = oxidask::config::default_num_workers();
    let paths = match &args.dir {
        Some(d) => find_files(d)?,
        None => {
            let root = std::env::temp_dir().join("oxidask-json-records");
            let t = Instant::now();
            let (paths, bytes) = people::generate(&root, args.files, args.records, 42)?;
            println!(
                "generated {} files × {} records ({:.0} MB) in {} ({:.2} s)",
                args.files,
                args.records,
                bytes as f64 / 1e6,
                root.join("w5").display(),
                t.elapsed().as_secs_f64()
            );
            paths
        }
    };
    let mb: f64 = paths
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len() as f64)
        .sum::<f64>()
        / 1e6;
    println!("{} files, {mb:.1} MB, {cores} cores", paths.len());
    let want = |name: &str| args.only.as_deref().is_none_or(|o| o == name);

    if want("typed") {
        measure("typed", &paths, mb, || {
            let names: Bag<String> = db::read_json_lines::<Person>(paths.clone())?.map(|p| p.name);
            top10(&names)
        })?;
    }
    if want("untyped") {
        measure("untyped", &paths, mb, || {
            let names = db::read_json_lines::<Json>(paths.clone())?
                .pluck("name")
                .map(|n| match n {
                    Json::String(s) => s,
                    other => other.to_string(),
                });
            top10(&names)
        })?;
    }
    if want("text") {
        measure("text", &paths, mb, || {
            let names = db::read_text(paths.clone())?
                .try_map(|line| serde_json::from_str::<Json>(&line))
                .pluck("name")
                .map(|n| n.as_str().unwrap_or_default().to_string());
            top10(&names)
        })?;
    }
    Ok(())
}

/// Name frequencies, top 10 by count, equal counts by name (as the Python
/// benchmarks break ties).
fn top10(names: &Bag<String>) -> db::Result<Vec<(String, usize)>> {
    names
        .frequencies()
        .topk(10, |(name, n)| (*n, Reverse(name.clone())))
        .compute()
}

fn measure(
    way: &str,
    paths: &[PathBuf],
    mb: f64,
    pipeline: impl FnOnce() -> db::Result<Vec<(String, usize)>>,
) -> Result<(), Box<dyn std::error::Error>> {
    let resettable = bench::reset_peak_rss();
    let t = Instant::now();
    let top = pipeline()?;
    let wall = t.elapsed().as_secs_f64();
    let peak = bench::peak_rss_mb();
    println!();
    println!(
        "{way}: {wall:.3} s, peak RSS {peak:.0} MB{}",
        if resettable { "" } else { " (whole process)" }
    );
    for (i, (name, n)) in top.iter().enumerate() {
        println!("  {:>2}. {name:<12} {n:>8}", i + 1);
    }
    let compact = serde_json::to_string(&top)?;
    let top3 = serde_json::to_string(&top[..top.len().min(3)])?;
    bench::emit(
        "W5",
        &format!("oxidask-{way}"),
        wall,
        peak,
        &bench::digest(&compact),
        &format!(
            ", \"n_files\": {}, \"mb\": {mb:.1}, \"top3\": {top3}",
            paths.len()
        ),
    );
    Ok(())
}
