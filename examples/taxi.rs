//! The seed user's job on frames: mean `tip_amount` per `passenger_count`
//! over taxi trip CSVs that need not fit in memory, with the code one
//! would write for one file (the reference benchmark's W3).
//!
//! ```sh
//! cargo run --release --example taxi                       # 8 files × 2,000,000 rows, generated
//! cargo run --release --example taxi -- --rows 200000     # smaller
//! cargo run --release --example taxi -- --data /tmp/bench-data   # gen_data.py's w3/ files
//! cargo run --release --example taxi -- --memory-limit 256MiB
//! ```
//!
//! Prints the answer, the wall time of oxidask and of plain polars reading
//! each file whole in this process (the same polars, no oxidask), peak RSS,
//! and one JSON line in the format of `../shared/bench` (`impl:
//! oxidask-threads`; its `result_digest` equals the Python scripts' on the
//! same files: `passenger_count → mean` rounded to 6 digits, nulls dropped).

use std::path::PathBuf;
use std::time::Instant;

use oxidask::dataframe as dd;
use oxidask::dataframe::polars::prelude::*;

#[path = "common/bench.rs"]
mod bench;
#[path = "common/taxi_polars.rs"]
mod taxi_polars;

struct Args {
    files: u32,
    rows: usize,
    data: Option<PathBuf>,
    memory_limit: Option<usize>,
    /// `None`: `read_csv`'s own choice (`dd::auto_blocksize`).
    blocksize: Option<u64>,
    reference: bool,
}

fn parse_size(s: &str) -> Result<usize, String> {
    let (num, mul) = match s.trim_end_matches('B') {
        t if t.ends_with("Gi") => (&t[..t.len() - 2], 1usize << 30),
        t if t.ends_with("Mi") => (&t[..t.len() - 2], 1 << 20),
        t if t.ends_with("Ki") => (&t[..t.len() - 2], 1 << 10),
        t => (t, 1),
    };
    num.parse::<usize>()
        .map(|n| n * mul)
        .map_err(|e| format!("bad size {s:?}: {e}"))
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        files: 8,
        rows: 2_000_000,
        data: None,
        memory_limit: None,
        blocksize: None,
        reference: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--files" => a.files = value()?.parse().map_err(|e| format!("--files: {e}"))?,
            "--rows" => a.rows = value()?.parse().map_err(|e| format!("--rows: {e}"))?,
            "--data" => a.data = Some(PathBuf::from(value()?)),
            "--memory-limit" => a.memory_limit = Some(parse_size(&value()?)?),
            "--blocksize" => a.blocksize = Some(parse_size(&value()?)? as u64),
            "--no-reference" => a.reference = false,
            _ => {
                return Err(format!(
                    "unknown argument {flag}; usage: taxi [--files N] [--rows N] [--data DIR] \
                     [--memory-limit SIZE] [--blocksize SIZE] [--no-reference]"
                ));
            }
        }
    }
    Ok(a)
}

/// `passenger_count → mean tip` with nulls dropped, as the bench scripts
/// normalise it.
fn pairs(df: &DataFrame) -> Result<Vec<(i64, f64)>, PolarsError> {
    let k = df.column("passenger_count")?.cast(&DataType::Int64)?;
    let v = df.column("tip_amount")?.cast(&DataType::Float64)?;
    Ok(k.i64()?
        .iter()
        .zip(v.f64()?.iter())
        .filter_map(|(k, v)| Some((k?, v?)))
        .collect())
}

fn digest(pairs: &[(i64, f64)]) -> String {
    let mut sorted = pairs.to_vec();
    sorted.sort_by_key(|a| a.0.to_string());
    let body: Vec<String> = sorted
        .iter()
        .map(|(k, v)| format!("\"{k}\":{}", py_float((v * 1e6).round() / 1e6)))
        .collect();
    bench::digest(&format!("{{{}}}", body.join(",")))
}

/// Python's `repr` of a float for the values here (shortest round trip;
/// Rust's `{}` agrees except that Python writes a trailing `.0`).
fn py_float(v: f64) -> String {
    let s = format!("{v}");
    if s.contains('.') || s.contains('e') {
        s
    } else {
        format!("{s}.0")
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("taxi failed: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let (pattern, paths) = match &args.data {
        Some(d) => {
            let p = d.join("w3").join("yellow_tripdata_*.csv");
            let s = p.to_string_lossy().into_owned();
            let paths = dd::IntoPaths::into_paths(s.as_str())?;
            (s, paths)
        }
        None => {
            let dir = std::env::temp_dir()
                .join("oxidask-taxi")
                .join(format!("r{}", args.rows));
            let t = Instant::now();
            let paths = oxidask_workloads::taxi::generate(&dir, args.files, args.rows, 42)?;
            println!(
                "generated {} files × {} rows in {} ({:.1} s)",
                args.files,
                args.rows,
                dir.display(),
                t.elapsed().as_secs_f64()
            );
            (
                dir.join("yellow_tripdata_*.csv")
                    .to_string_lossy()
                    .into_owned(),
                paths,
            )
        }
    };
    let bytes: u64 = paths
        .iter()
        .map(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
        .sum();
    println!("{} files, {:.0} MB", paths.len(), bytes as f64 / 1e6);

    // The job: what one would write for one file, over all of them.
    bench::reset_peak_rss();
    let t = Instant::now();
    if let Some(limit) = args.memory_limit {
        // Process-wide, as `OXIDASK_MEMORY_LIMIT` would: `read_csv` then
        // cuts blocks to fit it, and the computation spills above it.
        let mut config = oxidask::config::current()?;
        config.memory_limit = Some(limit);
        oxidask::config::set_global(config);
    }
    let csv = match args.blocksize {
        Some(b) => dd::CsvOptions::default().blocksize(Some(b)),
        None => dd::CsvOptions::default(),
    };
    let tips = dd::read_csv(pattern.as_str(), csv)?
        .group_by(["passenger_count"])
        .agg([col("tip_amount").mean()])?
        .compute()?;
    let wall = t.elapsed().as_secs_f64();
    let peak = bench::peak_rss_mb();
    println!("{tips}");
    println!("oxidask          {wall:>7.2} s   peak RSS {peak:>6.0} MB");
    let ours = pairs(&tips)?;

    if args.reference {
        // Plain polars in this process (its multi-threaded CSV reader, the two
        // columns only): each file read whole, concatenated, grouped — what
        // a user without oxidask writes first.
        bench::reset_peak_rss();
        let t = Instant::now();
        let whole = taxi_polars::read_tips(&paths)?
            .lazy()
            .group_by([col("passenger_count")])
            .agg([col("tip_amount").mean()])
            .collect()?;
        let ref_wall = t.elapsed().as_secs_f64();
        let ref_peak = bench::peak_rss_mb();
        println!(
            "polars, files read whole one after another {ref_wall:>7.2} s   peak RSS {ref_peak:>6.0} MB   ({:.2}× oxidask's time)",
            ref_wall / wall
        );
        let mut theirs = pairs(&whole)?;
        theirs.sort_by_key(|p| p.0);
        let same = ours.len() == theirs.len()
            && ours
                .iter()
                .zip(&theirs)
                .all(|(a, b)| a.0 == b.0 && (a.1 - b.1).abs() <= 1e-9 * b.1.abs().max(1.0));
        println!("answers agree: {}", if same { "yes" } else { "NO" });
        if !same {
            return Err("oxidask and polars disagree".into());
        }
    }
    bench::emit("w3", "oxidask-threads", wall, peak, &digest(&ours), "");
    Ok(())
}
