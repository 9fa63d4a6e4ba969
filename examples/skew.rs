//! Skewness of many standard normals, two ways, side by side with NumPy and
//! dask.array (threads) — the W4 workload of `../shared/bench`.
//!
//! (a) an in-memory array of 10,000,000 elements in chunks of 1,000
//!     (10,000 tasks): per-task overhead must vanish; compared with Dask
//!     threads and with NumPy's whole-array computation;
//! (b) 200,000,000 standard normals in chunks of 10,000,000, generated
//!     inside the computation; compared with Dask threads and with a
//!     hand-written two-thread single-pass loop over the same numbers.
//!
//! ```text
//! cargo run --release --example skew
//! cargo run --release --example skew -- --n-b 20000000 --chunk-b 1000000 --no-dask
//! flags: --n-a N --chunk-a C --n-b N --chunk-b C --seed S --reps R --only a|b
//!        --no-dask --no-python --python PATH --bench-dir DIR
//! ```
//!
//! Prints one JSON line per measurement on stdout in the format of the
//! bench scripts (`common.py: emit`; `result_digest` is the skew rounded to
//! ten digits, since oxidask's random numbers differ from NumPy's), Python's
//! lines as they come, and a summary with the ratios on stderr. Python runs
//! only when an interpreter with NumPy (and Dask, for the Dask lines) is
//! found: `/tmp/bench-venv/bin/python` (see `../shared/bench/README.md`),
//! else `python3`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use oxidask::array::{self as da, ndarray};

struct Args {
    n_a: usize,
    chunk_a: usize,
    n_b: usize,
    chunk_b: usize,
    seed: u64,
    reps: usize,
    only: Option<char>,
    dask: bool,
    python: Option<PathBuf>,
    bench_dir: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        n_a: 10_000_000,
        chunk_a: 1_000,
        n_b: 200_000_000,
        chunk_b: 10_000_000,
        seed: 7,
        reps: 3,
        only: None,
        dask: true,
        python: find_python(),
        bench_dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/bench"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        let num = |v: String| {
            v.replace('_', "")
                .parse::<usize>()
                .map_err(|e| format!("{flag}: {e}"))
        };
        match flag.as_str() {
            "--n-a" => a.n_a = num(value()?)?,
            "--chunk-a" => a.chunk_a = num(value()?)?,
            "--n-b" => a.n_b = num(value()?)?,
            "--chunk-b" => a.chunk_b = num(value()?)?,
            "--seed" => a.seed = num(value()?)? as u64,
            "--reps" => a.reps = num(value()?)?.max(1),
            "--only" => a.only = value()?.chars().next(),
            "--no-dask" => a.dask = false,
            "--no-python" => a.python = None,
            "--python" => a.python = Some(PathBuf::from(value()?)),
            "--bench-dir" => a.bench_dir = PathBuf::from(value()?),
            "-h" | "--help" => {
                return Err(
                    "usage: skew [--n-a N --chunk-a C --n-b N --chunk-b C --seed S --reps R \
                            --only a|b --no-dask --no-python --python PATH --bench-dir DIR]"
                        .into(),
                );
            }
            other => return Err(format!("unknown flag {other} (try --help)")),
        }
    }
    Ok(a)
}

fn find_python() -> Option<PathBuf> {
    let venv = PathBuf::from("/tmp/bench-venv/bin/python");
    let candidates = [venv, PathBuf::from("python3")];
    candidates.into_iter().find(|p| {
        Command::new(p)
            .args(["-c", "import numpy"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

// ---- measuring ----------------------------------------------------------

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Samples this process's RSS every 2 ms until finished (like the bench's
/// `TreeRSS`, which samples every 100 ms).
struct PeakRss {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PeakRss {
    fn start() -> PeakRss {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(rss_bytes()));
        let (s, p) = (stop.clone(), peak.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(rss_bytes(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        PeakRss {
            stop,
            peak,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> f64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.peak.fetch_max(rss_bytes(), Ordering::Relaxed);
        self.peak.load(Ordering::Relaxed) as f64 / (1 << 20) as f64
    }
}

fn self_maxrss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

#[derive(Clone, Copy)]
struct Run {
    wall: f64,
    peak_mb: f64,
    skew: f64,
}

/// Runs `f` `reps` times, each on a fresh input from `setup` (not timed);
/// the run with the median wall time.
fn measure<I>(
    reps: usize,
    mut setup: impl FnMut() -> I,
    mut f: impl FnMut(I) -> Result<f64, da::Error>,
) -> Result<Run, da::Error> {
    let mut runs = Vec::new();
    for _ in 0..reps {
        let input = setup();
        let rss = PeakRss::start();
        let t0 = Instant::now();
        let skew = f(input)?;
        let wall = t0.elapsed().as_secs_f64();
        runs.push(Run {
            wall,
            peak_mb: rss.finish(),
            skew,
        });
    }
    runs.sort_by(|a, b| a.wall.total_cmp(&b.wall));
    Ok(runs[runs.len() / 2])
}

fn emit(imp: &str, r: &Run, n: usize, chunk: usize) {
    println!(
        "{{\"workload\": \"W4\", \"impl\": \"{imp}\", \"wall_s\": {:.4}, \"setup_s\": 0.0, \
         \"peak_rss_mb\": {:.1}, \"peak_rss_self_mb\": {:.1}, \"result_digest\": \"{:.10}\", \
         \"n\": {n}, \"chunk\": {chunk}, \"nchunks\": {}, \"skew\": {:e}}}",
        r.wall,
        r.peak_mb,
        self_maxrss_mb(),
        r.skew,
        n.div_ceil(chunk),
        r.skew
    );
}

/// Runs a Python snippet or bench script; returns the JSON line it printed
/// (echoed to stdout) and its wall time and peak RSS.
fn python(args: &Args, argv: &[&str]) -> Option<Run> {
    let py = args.python.as_ref()?;
    let out = Command::new(py)
        .args(argv)
        .current_dir(&args.bench_dir)
        .output();
    let out = match out {
        Ok(o) if o.status.success() => o,
        Ok(o) => {
            eprintln!(
                "  python {argv:?} failed: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            );
            return None;
        }
        Err(e) => {
            eprintln!("  cannot run {}: {e}", py.display());
            return None;
        }
    };
    let line = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()?
        .to_string();
    println!("{line}");
    let field = |name: &str| -> f64 {
        line.split(&format!("\"{name}\": "))
            .nth(1)
            .and_then(|rest| rest.split([',', '}']).next())
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(f64::NAN)
    };
    Some(Run {
        wall: field("wall_s"),
        peak_mb: field("peak_rss_mb"),
        skew: field("skew"),
    })
}

fn has_dask(args: &Args) -> bool {
    args.dask
        && args.python.as_ref().is_some_and(|p| {
            Command::new(p)
                .args(["-c", "import dask.array, psutil"])
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

// ---- the workloads ------------------------------------------------------

/// The hand-written reference for (b): two threads, each generating its
/// share of blocks (the same numbers as `standard_normal`) and accumulating
/// power sums in one pass, nothing stored.
fn hand_loop(n: usize, chunk: usize, seed: u64) -> f64 {
    let nblocks = n.div_ceil(chunk);
    let sums: Vec<[f64; 5]> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|t| {
                s.spawn(move || {
                    let mut acc = [0.0f64; 5];
                    for b in (t..nblocks).step_by(2) {
                        let len = chunk.min(n - b * chunk);
                        let (mut s1, mut s2, mut s3, mut s4) = (0.0, 0.0, 0.0, 0.0);
                        for x in da::random::standard_normal_stream(seed, b as u64).take(len) {
                            let x2 = x * x;
                            s1 += x;
                            s2 += x2;
                            s3 += x2 * x;
                            s4 += x2 * x2;
                        }
                        for (a, v) in acc.iter_mut().zip([len as f64, s1, s2, s3, s4]) {
                            *a += v;
                        }
                    }
                    acc
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("worker"))
            .collect()
    });
    let mut t = [0.0f64; 5];
    for s in sums {
        for k in 0..5 {
            t[k] += s[k];
        }
    }
    let (n, m) = (t[0], t[1] / t[0]);
    let m2 = t[2] / n - m * m;
    let m3 = t[3] / n - 3.0 * m * t[2] / n + 2.0 * m * m * m;
    m3 / m2.powf(1.5)
}

const NUMPY_STAT: &str = r#"
import json, sys, time, numpy as np
n = int(sys.argv[1])
x = np.random.default_rng(7).standard_normal(n)
best = None
for _ in range(3):
    t0 = time.perf_counter()
    m = x.mean(); d = x - m; d2 = d * d; m2 = d2.mean(); d2 *= d; m3 = d2.mean()
    g1 = float(m3 / m2**1.5)
    w = time.perf_counter() - t0
    best = w if best is None else sorted([best, w])[0]
print(json.dumps({"workload": "W4", "impl": "numpy-stat-only", "wall_s": round(best, 4), "setup_s": 0.0,
                  "peak_rss_mb": None, "peak_rss_self_mb": None, "result_digest": "", "n": n, "skew": g1}))
"#;

fn main() {
    if let Err(e) = run() {
        eprintln!("skew failed: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let dask = has_dask(&args);
    eprintln!(
        "skew: {} cores; python: {}; dask: {}",
        oxidask::config::default_num_workers(),
        args.python
            .as_ref()
            .map_or("none".into(), |p| p.display().to_string()),
        if dask { "yes" } else { "no" }
    );
    let ratio = |a: f64, b: f64| {
        if a.is_finite() && b.is_finite() && b > 0.0 {
            a / b
        } else {
            f64::NAN
        }
    };

    if args.only != Some('a') {
        let (n, c, seed) = (args.n_b, args.chunk_b, args.seed);
        eprintln!("\n(b) {n} standard normals in chunks of {c}, generated in the computation");
        let ours = measure(
            args.reps,
            || (),
            |()| {
                let x = da::random::standard_normal(&[n], c, seed)?;
                da::stats::skew(&x, true)?.compute()
            },
        )?;
        emit("oxidask-threads", &ours, n, c);
        let hand = measure(args.reps, || (), |()| Ok(hand_loop(n, c, seed)))?;
        emit("hand-loop-2-threads", &hand, n, c);
        let dk = if dask {
            python(
                &args,
                &[
                    "bench_w4.py",
                    "--impl",
                    "dask-threads",
                    "--n",
                    &n.to_string(),
                    "--chunk",
                    &c.to_string(),
                ],
            )
        } else {
            None
        };
        eprintln!(
            "  oxidask  skew {:+.6e}  {:.3} s  peak RSS {:.0} MB",
            ours.skew, ours.wall, ours.peak_mb
        );
        eprintln!(
            "  hand loop skew {:+.6e}  {:.3} s  peak RSS {:.0} MB  (oxidask / hand = {:.2}×)",
            hand.skew,
            hand.wall,
            hand.peak_mb,
            ratio(ours.wall, hand.wall)
        );
        if let Some(d) = dk {
            eprintln!(
                "  dask     skew {:+.6e}  {:.3} s  peak RSS {:.0} MB  (dask / oxidask: {:.1}× time, {:.1}× memory)",
                d.skew,
                d.wall,
                d.peak_mb,
                ratio(d.wall, ours.wall),
                ratio(d.peak_mb, ours.peak_mb)
            );
        }
    }

    if args.only != Some('b') {
        let (n, c, seed) = (args.n_a, args.chunk_a, args.seed);
        eprintln!("\n(a) an in-memory array of {n} elements in chunks of {c}");
        let mut data = Vec::with_capacity(n);
        for b in 0..n.div_ceil(c) {
            data.extend(da::random::standard_normal_stream(seed, b as u64).take(c.min(n - b * c)));
        }
        let data = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[n]), data)?;
        // A copy of the input per repetition, made before timing: the array
        // takes its data without copying. The peak RSS includes the input.
        let ours = measure(
            args.reps,
            || data.clone(),
            |copy| {
                let x = da::from_array(copy, c)?;
                da::stats::skew(&x, true)?.compute()
            },
        )?;
        emit("oxidask-threads", &ours, n, c);
        let np = python(&args, &["-c", NUMPY_STAT, &n.to_string()]);
        let dk = if dask {
            python(
                &args,
                &[
                    "bench_w4.py",
                    "--impl",
                    "dask-threads",
                    "--n",
                    &n.to_string(),
                    "--chunk",
                    &c.to_string(),
                ],
            )
        } else {
            None
        };
        eprintln!(
            "  oxidask  skew {:+.6e}  {:.4} s  peak RSS {:.0} MB",
            ours.skew, ours.wall, ours.peak_mb
        );
        if let Some(p) = np {
            eprintln!(
                "  numpy whole-array skew (stat only) {:.4} s  (numpy / oxidask = {:.1}×)",
                p.wall,
                ratio(p.wall, ours.wall)
            );
        }
        if let Some(d) = dk {
            eprintln!(
                "  dask     skew {:+.6e}  {:.3} s  (dask / oxidask = {:.0}×)",
                d.skew,
                d.wall,
                ratio(d.wall, ours.wall)
            );
        }
    }
    Ok(())
}
