//! Mean and standard deviation of a `.npy` file larger than the memory
//! limit, with the array API, checked against a plain streaming pass.
//!
//! ```text
//! cargo run --release --example array_out_of_core
//! cargo run --release --example array_out_of_core -- --gib 8 --limit 512MiB --dir /tmp --chunk-mib 64
//! ```
//!
//! Flags: `--gib` (file size, default 8), `--limit` (memory limit, default
//! 512MiB), `--dir` (where the file goes, default the system temp dir),
//! `--chunk-mib` (block size, default 64), `--seed`, `--keep` (do not
//! delete the file), `--compute-gib` (size of the array of stage 4,
//! default 0: skipped).
//!
//! ```text
//! cargo run --release --example array_out_of_core -- --gib 0.25 --compute-gib 1
//! ```
//!
//! Stages, each with its wall time and peak RSS (VmHWM reset before each
//! stage through `/proc/self/clear_refs`), the bytes the store spilled and
//! a JSON line in the `../shared/bench` format:
//!
//! 1. **write**: `random::standard_normal(..).to_npy(path)`, each task
//!    generating and writing its own block (then the file is synced, so
//!    its write-back does not overlap the timed reads);
//! 2. **stats**: `from_npy(path)?.mean()` and `.std(0.0)` under the memory
//!    limit (two computations, each streaming the file);
//! 3. **reference**: a single pass over the file with plain `std::fs` in
//!    blocks of 1 Mi values, per-block moments merged with the pairwise
//!    (Chan et al.) update — no oxidask involved;
//! 4. **compute** (with `--compute-gib G`): `random::standard_normal` of
//!    `G` GiB brought into memory whole with `compute()` under the same
//!    limit. The result is one `ndarray` of `G` GiB, so the peak RSS can be
//!    no lower than that; the blocks are copied into it as they finish, so
//!    it should be little higher, and nothing should be spilled.
//!
//! The file is deleted afterwards (unless `--keep`).

use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use oxidask::array as da;
use oxidask::prelude::*;
use oxidask::scheduler::{Callback, Event, MemoryStats};

#[path = "common/bench.rs"]
mod bench;

struct Args {
    gib: f64,
    limit: usize,
    dir: PathBuf,
    chunk_mib: usize,
    seed: u64,
    keep: bool,
    compute_gib: f64,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        gib: 8.0,
        limit: 512 << 20,
        dir: std::env::temp_dir(),
        chunk_mib: 64,
        seed: 2026,
        keep: false,
        compute_gib: 0.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        fn num<T: std::str::FromStr>(name: &str, s: String) -> Result<T, String>
        where
            T::Err: std::fmt::Display,
        {
            s.parse().map_err(|e| format!("{name}: {e}"))
        }
        match arg.as_str() {
            "--gib" => a.gib = num("--gib", value("--gib")?)?,
            "--limit" => {
                a.limit = oxidask::store::parse_bytes(&value("--limit")?)
                    .map_err(|e| format!("--limit: {e}"))?
                    .ok_or("--limit must be a size")?
            }
            "--dir" => a.dir = PathBuf::from(value("--dir")?),
            "--chunk-mib" => a.chunk_mib = num("--chunk-mib", value("--chunk-mib")?)?,
            "--seed" => a.seed = num("--seed", value("--seed")?)?,
            "--keep" => a.keep = true,
            "--compute-gib" => a.compute_gib = num("--compute-gib", value("--compute-gib")?)?,
            "-h" | "--help" => {
                println!(
                    "usage: array_out_of_core [--gib 8] [--limit 512MiB] [--dir DIR] \
                     [--chunk-mib 64] [--seed 2026] [--keep] [--compute-gib 0]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    if a.compute_gib.is_nan() || a.compute_gib < 0.0 {
        return Err("--compute-gib must be zero or positive".into());
    }
    if a.gib.is_nan() || a.gib <= 0.0 || a.chunk_mib == 0 {
        return Err("--gib and --chunk-mib must be positive".into());
    }
    Ok(a)
}

/// Sums the memory statistics of every computation it sees finish.
#[derive(Default)]
struct Memory(Mutex<MemoryStats>);

impl Callback for Memory {
    fn on_event(&self, e: &Event<'_>) {
        if let Event::Finished { memory, .. } = e {
            let mut m = self.0.lock().unwrap();
            m.spilled += memory.spilled;
            m.spilled_bytes += memory.spilled_bytes;
            m.read_back_bytes += memory.read_back_bytes;
        }
    }
}

fn mib(b: usize) -> f64 {
    b as f64 / (1 << 20) as f64
}

/// Runs one stage with the peak RSS reset before it; prints and emits it.
fn stage<R>(
    name: &str,
    args: &Args,
    digest: impl Fn(&R) -> String,
    f: impl FnOnce(&ComputeOptions) -> Result<R, Box<dyn std::error::Error>>,
) -> Result<(R, f64, f64), Box<dyn std::error::Error>> {
    let memory = Arc::new(Memory::default());
    let opts = ComputeOptions::new()
        .memory_limit(Some(args.limit))
        .callback(memory.clone());
    let resettable = bench::reset_peak_rss();
    let t = Instant::now();
    let out = f(&opts)?;
    let wall = t.elapsed().as_secs_f64();
    let peak = bench::peak_rss_mb();
    let m = *memory.0.lock().unwrap();
    println!(
        "{name:<10} wall {wall:>7.2} s   peak RSS {peak:>6.0} MiB{}   spilled {:.0} MiB in {} values, read back {:.0} MiB",
        if resettable { "" } else { " (whole process)" },
        mib(m.spilled_bytes),
        m.spilled,
        mib(m.read_back_bytes),
    );
    bench::emit(
        "array_out_of_core",
        &if name == "reference" {
            "std-fs-welford".to_string()
        } else {
            format!("oxidask-{name}")
        },
        wall,
        peak,
        &digest(&out),
        &format!(
            ", \"gib\": {}, \"limit_mb\": {:.0}, \"spilled_mb\": {:.1}, \"read_back_mb\": {:.1}",
            args.gib,
            mib(args.limit),
            mib(m.spilled_bytes),
            mib(m.read_back_bytes)
        ),
    );
    Ok((out, wall, peak))
}

/// Count, mean and sum of squared deviations, merged pairwise.
#[derive(Clone, Copy, Default)]
struct Moments {
    n: f64,
    mean: f64,
    m2: f64,
}

impl Moments {
    fn of(xs: &[f64]) -> Moments {
        let n = xs.len() as f64;
        if xs.is_empty() {
            return Moments::default();
        }
        let mean = xs.iter().sum::<f64>() / n;
        let m2 = xs.iter().map(|x| (x - mean) * (x - mean)).sum();
        Moments { n, mean, m2 }
    }

    fn merge(self, o: Moments) -> Moments {
        if o.n == 0.0 {
            return self;
        }
        let n = self.n + o.n;
        let d = o.mean - self.mean;
        Moments {
            n,
            mean: self.mean + d * o.n / n,
            m2: self.m2 + o.m2 + d * d * self.n * o.n / n,
        }
    }
}

/// One pass over a little-endian `<f8` `.npy` file with plain `std::fs`.
fn reference(path: &std::path::Path, len: usize) -> std::io::Result<Moments> {
    let mut f = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(path)?);
    let mut pre = [0u8; 10];
    f.read_exact(&mut pre)?;
    if &pre[..6] != b"\x93NUMPY" || pre[6] != 1 {
        return Err(std::io::Error::other("not a version-1 .npy file"));
    }
    let hlen = u16::from_le_bytes([pre[8], pre[9]]) as usize;
    let mut header = vec![0u8; hlen];
    f.read_exact(&mut header)?;
    let header = String::from_utf8_lossy(&header);
    if !header.contains("'<f8'") || !header.contains(&format!("({len},)")) {
        return Err(std::io::Error::other(format!("unexpected header {header}")));
    }
    const BLOCK: usize = 1 << 20;
    let mut bytes = vec![0u8; BLOCK * 8];
    let mut vals = vec![0f64; BLOCK];
    let (mut acc, mut left) = (Moments::default(), len);
    while left > 0 {
        let n = left.min(BLOCK);
        f.read_exact(&mut bytes[..n * 8])?;
        for (v, b) in vals.iter_mut().zip(bytes[..n * 8].chunks_exact(8)) {
            *v = f64::from_le_bytes(b.try_into().expect("8 bytes"));
        }
        acc = acc.merge(Moments::of(&vals[..n]));
        left -= n;
    }
    if f.read(&mut [0u8; 1])? != 0 {
        return Err(std::io::Error::other("trailing bytes after the data"));
    }
    Ok(acc)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let len = (args.gib * (1u64 << 30) as f64 / 8.0).round() as usize;
    let chunk = (args.chunk_mib << 20) / 8;
    let path = args.dir.join(format!(
        "oxidask-array-out-of-core-{}.npy",
        std::process::id()
    ));
    println!(
        "mean and std of {len} f64 ({:.2} GiB) in {} blocks of {} MiB, memory limit {:.0} MiB, file {}",
        (len * 8) as f64 / (1u64 << 30) as f64,
        len.div_ceil(chunk),
        args.chunk_mib,
        mib(args.limit),
        path.display()
    );

    // Other processes on the machine make the timings noisy: say how busy it is.
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        let l: Vec<&str> = load.split_whitespace().take(3).collect();
        println!(
            "load average {} (1, 5, 15 min) on {} cores",
            l.join(" "),
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
    }
    let result = run(&args, len, chunk, &path);
    if !args.keep {
        let _ = std::fs::remove_file(&path);
    }
    let peak = result?;
    println!("peak RSS of the statistics: {peak:.0} MiB (target ≤ 1024 MiB)");
    if peak > 1024.0 {
        return Err(format!("peak RSS {peak:.0} MiB is over 1 GiB").into());
    }
    Ok(())
}

fn run(
    args: &Args,
    len: usize,
    chunk: usize,
    path: &std::path::Path,
) -> Result<f64, Box<dyn std::error::Error>> {
    stage(
        "write",
        args,
        |_| String::new(),
        |opts| {
            let x = da::random::standard_normal(&[len], chunk, args.seed)?;
            x.to_npy_with(path, opts)?;
            Ok(())
        },
    )?;
    // Flush the written pages to disk now, so their write-back does not
    // compete with (and add noise to) the timed reads below.
    let t = Instant::now();
    std::fs::File::open(path)?.sync_all()?;
    let size = std::fs::metadata(path)?.len();
    println!(
        "  wrote {:.2} GiB, flushed to disk in {:.2} s",
        size as f64 / (1u64 << 30) as f64,
        t.elapsed().as_secs_f64()
    );

    let ((mean, std), _, peak) = stage(
        "stats",
        args,
        |&(m, s)| bench::digest(&format!("[{m:.6},{s:.6}]")),
        |opts| {
            let x = da::from_npy::<f64>(path, chunk)?;
            let mean = x.mean().compute_with(opts)?;
            let std = x.std(0.0).compute_with(opts)?;
            Ok((mean, std))
        },
    )?;
    let (r, _, _) = stage(
        "reference",
        args,
        |r: &Moments| bench::digest(&format!("[{:.6},{:.6}]", r.mean, (r.m2 / r.n).sqrt())),
        |_| Ok(reference(path, len)?),
    )?;
    let rstd = (r.m2 / r.n).sqrt();
    println!("  oxidask:   mean {mean:+.12e}   std {std:.15}");
    println!("  reference: mean {:+.12e}   std {rstd:.15}", r.mean);
    // Both sum ~10^9 values in different orders: agreement to ~1e-12 of
    // the spread is what rounding allows; a wrong block would be far off.
    let (dm, ds) = ((mean - r.mean).abs(), (std - rstd).abs());
    println!("  |Δmean| {dm:.2e}   |Δstd| {ds:.2e}");
    if r.n != len as f64 || dm > 1e-10 * rstd || ds > 1e-10 * rstd {
        return Err("the statistics differ from the reference".into());
    }
    // Standard normals: the sample must look like one (a failed read of
    // zeros would not).
    if mean.abs() > 10.0 / (len as f64).sqrt() || (std - 1.0).abs() > 0.01 {
        return Err(format!("mean {mean} / std {std} do not look like N(0, 1)").into());
    }
    if args.compute_gib > 0.0 {
        let n = (args.compute_gib * (1u64 << 30) as f64 / 8.0).round() as usize;
        let (sum, _, cpeak) = stage(
            "compute",
            args,
            |s| bench::digest(&format!("{s:.6}")),
            |opts| {
                let x = da::random::standard_normal(&[n], chunk, args.seed)?;
                let a = x.compute_with(opts)?;
                if a.len() != n {
                    return Err(format!("compute() returned {} values, not {n}", a.len()).into());
                }
                Ok(a.sum())
            },
        )?;
        println!(
            "  compute(): {:.2} GiB array, sum {sum:.3}, peak RSS {cpeak:.0} MiB ({:.2}x the array)",
            (n * 8) as f64 / (1u64 << 30) as f64,
            cpeak / mib(n * 8)
        );
    }
    Ok(peak)
}
