//! The oxidask tour: generates sample data and runs the seed workloads in
//! parallel, printing results and timings.
//!
//! ```text
//! cargo run --release --example tour                 # ~2-3 minutes on 2 cores
//! cargo run --release --example tour -- --quick      # seconds
//! cargo run --release --example tour -- --stars 500 --nfreq 50000 --data DIR
//! OXIDASK_DASHBOARD=127.0.0.1:8787 cargo run --release --example tour   # watch it in the browser
//! ```
//!
//! Light curves (the "embarrassingly parallel loop" seed): for each star,
//! read its CSV and compute features — a Lomb–Scargle period search,
//! amplitude, std, skew, median — with plain single-threaded functions from
//! `oxidask-workloads`. The same functions run three ways: a serial loop, one
//! delayed task per file, and one delayed task per batch of 50 files.
//!
//! JSON records (the "messy semi-structured records" seed): people as JSON
//! lines, name frequencies and the top 10 with `oxidask::bag`, parsed into a
//! typed record and into untyped `serde_json::Value`s.
//!
//! Taxi trips (the "out-of-core groupby on large CSVs" seed): mean tip per
//! passenger count over generated taxi-trip CSVs with `oxidask::dataframe`,
//! beside plain polars reading every file whole in this process.
//!
//! On a cluster: a `LocalCluster` of 2 worker processes × 1 thread (copies
//! of this program — hence `oxidask::init()` first in `main`) sorts the
//! letters of 20 text files of 10 MB (the seed tutorial's files; 1 MB with
//! `--quick`) and computes the light curves' features, each against its
//! serial loop, results checked equal.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use oxidask::diagnostics::ProgressBar;
use oxidask::prelude::*;
use oxidask_workloads::lightcurve::{
    self, Features, Kind, ReadError, Truth, count_recovered, features_for_file, features_for_files,
};

/// Command-line settings.
struct Args {
    quick: bool,
    stars: Option<u32>,
    nfreq: usize,
    data: Option<PathBuf>,
    budget: Duration,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        quick: false,
        stars: None,
        nfreq: 100_000,
        data: None,
        budget: Duration::from_secs(150),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match flag.as_str() {
            "--quick" => a.quick = true,
            "--stars" => {
                a.stars = Some(
                    value("--stars")?
                        .parse()
                        .map_err(|e| format!("--stars: {e}"))?,
                )
            }
            "--nfreq" => {
                a.nfreq = value("--nfreq")?
                    .parse()
                    .map_err(|e| format!("--nfreq: {e}"))?
            }
            "--data" => a.data = Some(PathBuf::from(value("--data")?)),
            "--budget-secs" => {
                a.budget = Duration::from_secs(
                    value("--budget-secs")?
                        .parse()
                        .map_err(|e| format!("--budget-secs: {e}"))?,
                )
            }
            "-h" | "--help" => {
                println!(
                    "usage: tour [--quick] [--stars N] [--nfreq N] [--data DIR] [--budget-secs S]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    if a.quick {
        a.stars = Some(a.stars.unwrap_or(100));
        a.nfreq = a.nfreq.min(20_000);
    }
    Ok(a)
}

// ---- the user's plain functions, as they would write them -----------------

/// Writes a range of synthetic stars; returns their answer keys.
fn write_stars(dir: PathBuf, first: u32, count: u32, seed: u64) -> std::io::Result<Vec<Truth>> {
    (first..first + count)
        .map(|id| {
            let (lc, truth) = lightcurve::generate_star(seed, id);
            lightcurve::write_csv(&dir.join(lightcurve::star_file_name(id)), &lc)?;
            Ok(truth)
        })
        .collect()
}

fn features_of(path: PathBuf, nfreq: usize) -> Result<Features, ReadError> {
    features_for_file(&path, nfreq)
}

fn features_of_batch(paths: Vec<PathBuf>, nfreq: usize) -> Result<Vec<Features>, ReadError> {
    features_for_files(&paths, nfreq)
}

// ---- the tour ---------------------------------------------------------------

const SEED: u64 = 42;
const MAX_STARS: u32 = 2_000;

fn main() {
    // A copy of this program started by the LocalCluster below becomes a
    // worker here, running the #[oxidask::remote] functions of this file.
    oxidask::init();
    if let Err(e) = run() {
        eprintln!("tour failed: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let cores = oxidask::config::default_num_workers();
    println!(
        "oxidask tour — {cores} cores{}",
        if args.quick { " (quick)" } else { "" }
    );
    // OXIDASK_DASHBOARD=127.0.0.1:8787 shows the tour on the live dashboard.
    let dashboard = oxidask::diagnostics::Dashboard::from_env()?;
    if let Some(d) = &dashboard {
        println!("dashboard at {}", d.url());
    }
    println!();
    let curves = light_curves(&args, cores)?;
    println!();
    json_records(&args)?;
    println!();
    skewness(&args)?;
    println!();
    taxi(&args)?;
    println!();
    on_a_cluster(&args, &curves)?;
    Ok(())
}

/// What the light-curve section leaves for the cluster section: the files
/// and the serial loop's features.
struct Curves {
    paths: Vec<PathBuf>,
    serial: Vec<Features>,
    nfreq: usize,
}

fn light_curves(args: &Args, cores: usize) -> Result<Curves, Box<dyn std::error::Error>> {
    println!("Light curves: per-star Lomb–Scargle period, amplitude, std, skew, median");
    // 1. Data: the user's directory, or synthetic stars written in parallel.
    let (dir, truth) = match &args.data {
        Some(d) => (d.clone(), lightcurve::read_truth(&d.join("truth.csv"))?),
        None => {
            let dir = std::env::temp_dir()
                .join("oxidask-tour")
                .join("lightcurves");
            let n = args.stars.unwrap_or(MAX_STARS);
            let t = Instant::now();
            let truth = generate(&dir, n)?;
            println!(
                "  generated {n} light curves in {} ({:.2} s, {} delayed tasks)",
                dir.display(),
                t.elapsed().as_secs_f64(),
                n.div_ceil(100)
            );
            (dir, truth)
        }
    };
    let mut paths: Vec<PathBuf> = truth
        .iter()
        .map(|t| dir.join("lc").join(lightcurve::star_file_name(t.star_id)))
        .collect();

    // 2. Fit the star count to the time budget from a short serial calibration.
    let t = Instant::now();
    let calib = paths.len().min(8);
    for p in &paths[..calib] {
        features_of(p.clone(), args.nfreq)?;
    }
    let per_star = t.elapsed().as_secs_f64() / calib as f64;
    // Serial once, parallel twice: about serial * (1 + 2 / cores).
    let fit = (args.budget.as_secs_f64() / (per_star * (1.0 + 2.0 / cores as f64))) as usize;
    match args.stars {
        Some(n) => paths.truncate(n as usize),
        None if fit < paths.len() => paths.truncate(fit.max(cores * 50)),
        None => {}
    }
    let n = paths.len();
    println!(
        "  {n} stars, {} trial frequencies per star ({:.1} ms per star serially)",
        args.nfreq,
        per_star * 1e3
    );

    // 3. Serial loop.
    let bar = indicatif::ProgressBar::new(n as u64);
    bar.set_style(indicatif::ProgressStyle::with_template(
        "  serial loop [{elapsed_precise}] {bar:30} {pos}/{len}",
    )?);
    let t = Instant::now();
    let mut serial = Vec::with_capacity(n);
    for p in &paths {
        serial.push(features_of(p.clone(), args.nfreq)?);
        bar.inc(1);
    }
    let serial_s = t.elapsed().as_secs_f64();
    bar.finish_and_clear();

    // 4. One delayed task per file.
    let per_file: Vec<Delayed<Features>> = paths
        .iter()
        .map(|p| delayed!(features_of(p.clone(), args.nfreq)?))
        .collect();
    let t = Instant::now();
    let opts = ComputeOptions::new().callback(std::sync::Arc::new(ProgressBar::with_label(
        "  delayed, 1 file/task",
    )));
    let by_file = compute_with(&per_file, &opts)?;
    let by_file_s = t.elapsed().as_secs_f64();

    // 5. One delayed task per batch of 50 files.
    let per_batch: Vec<Delayed<Vec<Features>>> = paths
        .chunks(50)
        .map(|c| delayed!(features_of_batch(c.to_vec(), args.nfreq)?))
        .collect();
    let t = Instant::now();
    let opts = ComputeOptions::new().callback(std::sync::Arc::new(ProgressBar::with_label(
        "  delayed, 50 files/task",
    )));
    let by_batch: Vec<Features> = compute_with(&per_batch, &opts)?
        .into_iter()
        .flatten()
        .collect();
    let by_batch_s = t.elapsed().as_secs_f64();

    println!("  {:<28} {:>8} {:>9}", "way", "wall", "speedup");
    for (name, s) in [
        ("serial loop", serial_s),
        ("delayed, 1 file per task", by_file_s),
        ("delayed, 50 files per task", by_batch_s),
    ] {
        println!("  {name:<28} {:>7.2}s {:>8.2}×", s, serial_s / s);
    }
    let same = serial == by_file && serial == by_batch;
    println!(
        "  results identical across the three ways: {}",
        if same { "yes" } else { "NO" }
    );
    if !same {
        return Err("the parallel results differ from the serial loop".into());
    }
    let used: Vec<Truth> = truth.iter().take(n).cloned().collect();
    let r = count_recovered(&serial, &used);
    println!(
        "  periods within 2% of the truth (or of half of it): {}/{} ({:.1}%) — {}",
        r.recovered,
        r.stars,
        100.0 * r.fraction(),
        [Kind::Sinusoid, Kind::RrLyrae, Kind::EclipsingBinary]
            .iter()
            .map(|&k| format!("{} {:.1}%", k.as_str(), 100.0 * r.kind(k).fraction()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(Curves {
        paths,
        serial,
        nfreq: args.nfreq,
    })
}

/// Writes `n` stars with one delayed task per 100 stars, then the answer key.
fn generate(dir: &Path, n: u32) -> Result<Vec<Truth>, Box<dyn std::error::Error>> {
    let lc = dir.join("lc");
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(&lc)?;
    let parts: Vec<Delayed<Vec<Truth>>> = (0..n)
        .step_by(100)
        .map(|first| delayed!(write_stars(lc.clone(), first, 100.min(n - first), SEED)?))
        .collect();
    let truth: Vec<Truth> = compute(&parts)?.into_iter().flatten().collect();
    lightcurve::write_truth(&dir.join("truth.csv"), &truth)?;
    Ok(truth)
}

// ---- JSON records -------------------------------------------------------------

#[path = "common/people.rs"]
mod people;
#[path = "common/taxi_polars.rs"]
mod taxi_polars;

/// The typed record of the JSON section: the one field it needs.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct Person {
    name: String,
}

/// People as JSON lines → name → frequencies → top 10, typed and untyped.
fn json_records(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    use oxidask::bag as db;
    use std::cmp::Reverse;
    println!("JSON records: people as JSON lines → name frequencies → top 10 (oxidask::bag)");
    let (files, records) = if args.quick {
        (2, 20_000)
    } else {
        (4, 100_000)
    };
    let root = std::env::temp_dir().join("oxidask-tour").join("json");
    let t = Instant::now();
    let (paths, bytes) = people::generate(&root, files, records, SEED)?;
    println!(
        "  generated {files} files × {records} records ({:.0} MB) in {} ({:.2} s)",
        bytes as f64 / 1e6,
        root.join("w5").display(),
        t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let typed: Vec<(String, usize)> = db::read_json_lines::<Person>(paths.clone())?
        .map(|p| p.name)
        .frequencies()
        .topk(10, |(name, n)| (*n, Reverse(name.clone())))
        .compute()?;
    let typed_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let untyped: Vec<(serde_json::Value, usize)> =
        db::read_json_lines::<serde_json::Value>(paths.clone())?
            .pluck("name")
            .frequencies()
            .topk(10, |(name, n)| {
                (*n, Reverse(name.as_str().unwrap_or_default().to_string()))
            })
            .compute()?;
    let untyped_s = t.elapsed().as_secs_f64();

    for (i, (name, n)) in typed.iter().enumerate() {
        println!("  {:>2}. {name:<10} {n:>7}", i + 1);
    }
    let mb = bytes as f64 / 1e6;
    println!("  {:<34} {:>8} {:>10}", "way", "wall", "MB/s");
    for (name, s) in [
        ("typed record (struct Person)", typed_s),
        ("untyped serde_json::Value + pluck", untyped_s),
    ] {
        println!("  {name:<34} {s:>7.2}s {:>10.0}", mb / s);
    }
    let same = typed.len() == untyped.len()
        && typed
            .iter()
            .zip(&untyped)
            .all(|((a, n), (b, m))| b.as_str() == Some(a.as_str()) && n == m);
    println!(
        "  typed and untyped top 10 identical: {}",
        if same { "yes" } else { "NO" }
    );
    if !same {
        return Err("the typed and untyped JSON pipelines disagree".into());
    }
    Ok(())
}

// ---- skewness: chunked arrays ---------------------------------------------

fn skewness(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    use oxidask::array as da;
    println!("Skewness: chunked arrays, scipy.stats.skew semantics");
    // 1. Standard normals generated inside the computation: each chunk is
    //    streamed through the moment sums, never held whole.
    let (n, chunk) = if args.quick {
        (20_000_000, 2_000_000)
    } else {
        (200_000_000, 10_000_000)
    };
    let t = Instant::now();
    let x = da::random::standard_normal(&[n], chunk, SEED)?;
    let g1 = da::stats::skew(&x, true)?.compute()?;
    println!(
        "  {n} generated normals in {} chunks: skew {g1:+.3e} in {:.2} s",
        x.nblocks(),
        t.elapsed().as_secs_f64()
    );
    // 2. An in-memory array in many small chunks: 10,000 tasks' worth of
    //    blocks, reduced with a few hundred tasks.
    let m = if args.quick { 1_000_000 } else { 10_000_000 };
    let data = da::random::standard_normal(&[m], 1_000_000, SEED + 1)?.compute()?;
    let t = Instant::now();
    let y = da::from_array(data, 1_000)?;
    let (g1, g2) = (
        da::stats::skew(&y, true)?.compute()?,
        da::stats::kurtosis(&y, true, true)?.compute()?,
    );
    println!(
        "  {m} in-memory values in {} chunks: skew {g1:+.3e}, excess kurtosis {g2:+.3e} in {:.3} s",
        y.nblocks(),
        t.elapsed().as_secs_f64()
    );
    println!("  (side by side with NumPy and Dask: cargo run --release --example skew)");
    Ok(())
}

// ---- taxi: a partitioned data frame ----------------------------------------

/// Mean tip per passenger count over generated taxi-trip CSVs: the code
/// one would write for one file (`examples/taxi.rs` is the full benchmark,
/// with a memory limit and the reference scripts' digest).
fn taxi(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    use oxidask::dataframe as dd;
    use oxidask::dataframe::polars::prelude::*;
    println!("Taxi trips: mean tip per passenger count over CSVs (oxidask::dataframe)");
    let (files, rows) = if args.quick {
        (2, 50_000)
    } else {
        (4, 1_000_000)
    };
    let dir = std::env::temp_dir()
        .join("oxidask-tour")
        .join(format!("taxi-{rows}"));
    let t = Instant::now();
    let paths = oxidask_workloads::taxi::generate(&dir, files, rows, SEED)?;
    let bytes: u64 = paths
        .iter()
        .map(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
        .sum();
    println!(
        "  generated {files} files × {rows} rows ({:.0} MB) in {} ({:.2} s)",
        bytes as f64 / 1e6,
        dir.display(),
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let tips = dd::read_csv(dir.join("yellow_tripdata_*.csv"), dd::CsvOptions::default())?
        .group_by(["passenger_count"])
        .agg([col("tip_amount").mean(), len().alias("trips")])?
        .compute()?;
    let wall = t.elapsed().as_secs_f64();
    for row in 0..tips.height() {
        let k = tips.column("passenger_count")?.get(row)?;
        let v = tips
            .column("tip_amount")?
            .f64()?
            .get(row)
            .unwrap_or(f64::NAN);
        let n = tips.column("trips")?.get(row)?;
        println!("  passenger_count {k:>4}: mean tip {v:.4} over {n} trips");
    }
    println!(
        "  oxidask read_csv + group_by: {wall:.2} s ({:.0} MB/s)",
        bytes as f64 / 1e6 / wall
    );

    // The same answer from polars alone: every file read whole (its own
    // multi-threaded reader, the two columns only), stacked, grouped.
    let t = Instant::now();
    let reference = taxi_polars::read_tips(&paths)?
        .lazy()
        .group_by([col("passenger_count")])
        .agg([col("tip_amount").mean(), len().alias("trips")])
        .sort(
            ["passenger_count"],
            SortMultipleOptions::default().with_nulls_last(true),
        )
        .collect()?;
    let ref_wall = t.elapsed().as_secs_f64();
    let same = tips.height() == reference.height()
        && tips.column("trips")?.as_materialized_series()
            == reference.column("trips")?.as_materialized_series()
        && tips
            .column("tip_amount")?
            .f64()?
            .iter()
            .zip(reference.column("tip_amount")?.f64()?.iter())
            .all(|(a, b)| match (a, b) {
                (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * b.abs().max(1.0),
                (a, b) => a == b,
            });
    println!(
        "  polars, each file read whole then grouped: {ref_wall:.2} s ({:.2}× oxidask's time); same answer: {}",
        ref_wall / wall,
        if same { "yes" } else { "NO" }
    );
    if !same {
        return Err("the taxi group_by differs from polars' answer".into());
    }
    Ok(())
}

// ---- on a cluster ---------------------------------------------------------------

/// The seed tutorial's task: sort a file's text, count its letters. Returns
/// a hash of the sorted text then the count of each of `A-Z`, `a-z`.
#[oxidask::remote]
fn sort_count(path: String) -> Result<Vec<u64>, String> {
    let mut text = std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?;
    let mut counts = [0u64; 256];
    for &b in &text {
        counts[b as usize] += 1;
    }
    text.sort_unstable();
    let mut row = vec![fnv1a(&text)];
    row.extend((b'A'..=b'Z').chain(b'a'..=b'z').map(|c| counts[c as usize]));
    Ok(row)
}

/// 64-bit FNV-1a: the same in every process (unlike a randomly keyed hash).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The light curves' features of one star as numbers (a `Vec<f64>` crosses
/// between processes as it is).
#[oxidask::remote]
fn star_features(path: String, nfreq: u64) -> Result<Vec<f64>, String> {
    features_for_file(Path::new(&path), nfreq as usize)
        .map(|f| feature_row(&f))
        .map_err(|e| e.to_string())
}

fn feature_row(f: &Features) -> Vec<f64> {
    vec![
        f64::from(f.star_id),
        f.period,
        f.power,
        f.amplitude,
        f.std,
        f.skew,
        f.median,
    ]
}

/// Whether two rows are equal bit for bit (NaN equals NaN).
fn same_bits(a: &[Vec<f64>], b: &[Vec<f64>]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits())
        })
}

/// Writes `n` files of `size` random ASCII letters (as the seed
/// benchmark's `gen_data.py` does) under `dir`.
fn write_texts(dir: &Path, n: usize, size: usize) -> std::io::Result<Vec<String>> {
    use rand::{Rng, SeedableRng};
    const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    std::fs::create_dir_all(dir)?;
    (0..n)
        .map(|i| {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(SEED + i as u64);
            let text: Vec<u8> = (0..size)
                .map(|_| LETTERS[rng.random_range(0..LETTERS.len())])
                .collect();
            let path = dir.join(format!("text_{i:02}.txt"));
            std::fs::write(&path, text)?;
            Ok(path.to_string_lossy().into_owned())
        })
        .collect()
}

fn on_a_cluster(args: &Args, curves: &Curves) -> Result<(), Box<dyn std::error::Error>> {
    use oxidask::distributed::LocalCluster;
    println!(
        "On a cluster: LocalCluster of 2 worker processes × 1 thread (copies of this program)"
    );
    let t = Instant::now();
    let cluster = LocalCluster::new(2, 1, None)?;
    let client = cluster.client()?;
    println!("  started in {:.2} s", t.elapsed().as_secs_f64());
    println!(
        "  {:<40} {:>8} {:>8} {:>9}",
        "work", "serial", "cluster", "speedup"
    );

    // (a) The seed tutorial: 20 files, sort each one's text, count letters.
    let size = if args.quick { 1 << 20 } else { 10 << 20 };
    let dir = std::env::temp_dir().join("oxidask-tour").join("text");
    let files = write_texts(&dir, 20, size)?;
    let t = Instant::now();
    let serial = files
        .iter()
        .map(|f| sort_count(f.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    let serial_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    // One task per file (`?`: a file that cannot be read fails its task).
    let tasks: Vec<Delayed<Vec<u64>>> = files
        .iter()
        .map(|f| delayed!(sort_count(f.clone())?))
        .collect();
    let on_cluster = client.submit(&tasks)?.result()?;
    let cluster_s = t.elapsed().as_secs_f64();
    let what = format!("sort + count letters, 20 × {} MB", size >> 20);
    println!(
        "  {what:<40} {serial_s:>7.2}s {cluster_s:>7.2}s {:>8.2}×",
        serial_s / cluster_s
    );
    let letters_same = serial == on_cluster;
    std::fs::remove_dir_all(&dir)?;

    // (b) The light curves, one task per star: up to 400 of the stars
    // above, their serial loop timed again right before (on a shared
    // machine, adjacent timings compare best).
    let stars: Vec<String> = curves
        .paths
        .iter()
        .take(400)
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let nfreq = curves.nfreq as u64;
    let t = Instant::now();
    let serial_rows = stars
        .iter()
        .map(|p| star_features(p.clone(), nfreq))
        .collect::<Result<Vec<_>, _>>()?;
    let serial_s = t.elapsed().as_secs_f64();
    let tasks: Vec<Delayed<Vec<f64>>> = stars
        .iter()
        .map(|p| delayed!(star_features(p.clone(), nfreq)?))
        .collect();
    let t = Instant::now();
    let rows = client.submit(&tasks)?.result()?;
    let cluster_s = t.elapsed().as_secs_f64();
    let what = format!("light curves, {} stars", stars.len());
    println!(
        "  {what:<40} {serial_s:>7.2}s {cluster_s:>7.2}s {:>8.2}×",
        serial_s / cluster_s
    );
    let first: Vec<Vec<f64>> = curves
        .serial
        .iter()
        .take(stars.len())
        .map(feature_row)
        .collect();
    let curves_same = same_bits(&serial_rows, &rows) && same_bits(&first, &rows);
    println!(
        "  results identical to the serial loops: letters {}, light curves {}",
        if letters_same { "yes" } else { "NO" },
        if curves_same { "yes" } else { "NO" }
    );
    if !(letters_same && curves_same) {
        return Err("the cluster's results differ from the serial loop".into());
    }
    Ok(())
}
