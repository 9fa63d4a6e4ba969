//! Frames larger than memory: a group_by into 10,000,000 groups, a sort and
//! a join, each over data several times the memory limit, each written to
//! Parquet without ever being collected, and each checked against an
//! independent oracle — with wall time, peak RSS and bytes spilled.
//!
//! ```text
//! cargo run --release --example frame_out_of_core [-- --scale 1.0 --only groupby|sort|join --taxi DIR]
//! ```
//!
//! For experiments: `--blocksize MiB` instead of `read_csv`'s choice,
//! `--npartitions N` for the sort's and join's output, `--threads N`, and
//! `--no-check` to run the computations alone (for a memory profiler).
//!
//! 1. **groupby**: 44,000,000 rows with 10,000,000 distinct keys (≥ 4× a
//!    256 MiB limit in memory), `split_out(16)`: count, integer sum and max
//!    per key, equal to a `HashMap` filled by streaming the CSV's lines.
//! 2. **sort**: the taxi trips (8 × 2,000,000 rows generated as the tour
//!    does, or `--taxi DIR` of `gen_data.py`'s `w3/` files) by `fare_amount`
//!    under a 512 MiB limit: globally sorted, and the row count and every
//!    column's checksum equal to polars reading the files whole.
//! 3. **join**: two frames each ≥ 2× a 256 MiB limit, inner join on `id`
//!    through the disk-backed shuffle: row count and checksums equal to
//!    polars' in-memory join of the same files.
//!
//! The checksums are order-free (a wrapping sum of a hash of every value,
//! nulls included), so frames with the same rows in any order agree. The
//! generated data is cached under the system temp dir.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use oxidask::dataframe as dd;
use oxidask::dataframe::polars::prelude::*;
use oxidask::dataframe::polars_io::SerReader;
use oxidask::dataframe::polars_io::csv::read::CsvReadOptions;
use oxidask::dataframe::polars_io::parquet::read::ParquetReader;
use oxidask::prelude::*;
use oxidask::scheduler::MemoryStats;

#[path = "common/bench.rs"]
mod bench;
#[path = "common/run.rs"]
mod run;
use run::{Memory, arg};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

const MIB: usize = 1 << 20;
const SEED: u64 = 2024;

fn main() -> Res<()> {
    let scale: f64 = arg("--scale").map_or(Ok(1.0), |s| s.parse())?;
    let only = arg("--only");
    let runs = |name: &str| only.as_deref().is_none_or(|o| o == name);
    let data = std::env::temp_dir().join("oxidask-frame-ooc");
    std::fs::create_dir_all(&data)?;
    if only.is_none() {
        // Each in a process of its own, so that one's peak RSS (or what the
        // allocator kept of the previous one's oracle) is not the next's.
        println!(
            "frames out of core (scale {scale}, data in {})",
            data.display()
        );
        for name in ["groupby", "sort", "join"] {
            let status = std::process::Command::new(std::env::current_exe()?)
                .args(std::env::args().skip(1))
                .args(["--only", name])
                .status()?;
            if !status.success() {
                return Err(format!("the {name} run failed ({status})").into());
            }
        }
        return Ok(());
    }
    if runs("groupby") {
        groupby(&data, scale)?;
    }
    if runs("sort") {
        sort(&data, scale, arg("--taxi").map(PathBuf::from))?;
    }
    if runs("join") {
        join(&data, scale)?;
    }
    Ok(())
}

// ---- measuring -------------------------------------------------------------

struct Measured {
    wall: f64,
    peak_mib: f64,
    memory: MemoryStats,
}

/// Runs `f` with `limit` as the memory limit in force (as
/// `OXIDASK_MEMORY_LIMIT` would set it: `read_csv` cuts its blocks to fit
/// it, and computations spill above it), measuring wall time and this
/// process's peak RSS over the call alone.
fn measure<T>(limit: usize, f: impl FnOnce(&ComputeOptions) -> Res<T>) -> Res<(T, Measured)> {
    let mem = Arc::new(Memory::default());
    let mut config = oxidask::config::current()?;
    config.memory_limit = Some(limit);
    if let Some(n) = arg("--threads") {
        config.num_workers = n.parse()?;
    }
    let opts = ComputeOptions::new().callback(mem.clone());
    bench::reset_peak_rss();
    let t = Instant::now();
    let out = oxidask::config::with_config(config, || f(&opts))?;
    let wall = t.elapsed().as_secs_f64();
    Ok((
        out,
        Measured {
            wall,
            peak_mib: bench::peak_rss_mb(),
            memory: mem.last(),
        },
    ))
}

fn report(name: &str, m: &Measured, limit: usize, bound: usize, digest: &str, extra: &str) {
    let mib = |b: usize| b as f64 / MIB as f64;
    println!(
        "  {name:<8} wall {:>6.2} s   peak RSS {:>5.0} MiB (limit {:.0} MiB, bound {:.0} MiB: {})   spilled {:.0} MiB, read back {:.0} MiB{extra}",
        m.wall,
        m.peak_mib,
        mib(limit),
        mib(bound),
        if m.peak_mib <= mib(bound) {
            "within"
        } else {
            "OVER"
        },
        mib(m.memory.spilled_bytes),
        mib(m.memory.read_back_bytes),
    );
    bench::emit(
        "frame_out_of_core",
        &format!("oxidask-{name}"),
        m.wall,
        m.peak_mib,
        &bench::digest(digest),
        &format!(
            ", \"limit_mb\": {:.0}, \"bound_mb\": {:.0}, \"spilled_mb\": {:.1}",
            mib(limit),
            mib(bound),
            mib(m.memory.spilled_bytes)
        ),
    );
}

/// `--no-check`: only the computation, for a memory profiler (heaptrack)
/// to see its peak alone.
fn profiling() -> bool {
    std::env::args().any(|a| a == "--no-check")
}

fn check(what: &str, ok: bool) -> Res<()> {
    if ok {
        Ok(())
    } else {
        Err(format!("{what}: oxidask's answer differs from the oracle's").into())
    }
}

// ---- data ------------------------------------------------------------------

/// xorshift64*: a fast deterministic stream of pseudo-random numbers.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Writes `path` with `write` unless it is already there (a `.done` stamp
/// beside it says it was written whole).
fn cached(path: &Path, write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Res<()> {
    let stamp = path.with_extension("done");
    if path.exists() && stamp.exists() {
        return Ok(());
    }
    let t = Instant::now();
    let tmp = path.with_extension("tmp");
    let mut w = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp)?);
    write(&mut w)?;
    w.flush()?;
    drop(w);
    std::fs::rename(&tmp, path)?;
    std::fs::write(&stamp, b"")?;
    println!(
        "  generated {} ({:.0} MB) in {:.1} s",
        path.display(),
        std::fs::metadata(path)?.len() as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Reads a CSV whole with polars alone (the oracle's reader).
fn polars_csv(path: &Path) -> Res<DataFrame> {
    Ok(CsvReadOptions::default()
        .try_into_reader_with_file_path(Some(path.to_path_buf()))?
        .finish()?)
}

/// Reads one Parquet file whole with polars alone.
fn polars_parquet(path: &Path) -> Res<DataFrame> {
    Ok(ParquetReader::new(std::fs::File::open(path)?).finish()?)
}

/// A fresh, empty directory `name` under `data` for an output dataset.
fn out_dir(data: &Path, name: &str) -> Res<PathBuf> {
    let dir = data.join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    Ok(dir)
}

/// `read_csv`'s options: its own blocksize for the memory limit in force
/// unless `--blocksize MiB` is given.
fn csv_options() -> Res<dd::CsvOptions> {
    Ok(match arg("--blocksize") {
        Some(b) => dd::CsvOptions::default().blocksize(Some(b.parse::<u64>()? << 20)),
        None => dd::CsvOptions::default(),
    })
}

// ---- checksums -------------------------------------------------------------

/// splitmix64's finalizer: spreads a value's bits so that a sum of many is a
/// good checksum.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

const NULL: u64 = 0x6E75_6C6C;

/// Order-free checksums of the rows of frames: per column, the wrapping sum
/// of a hash of every value (nulls included); and the row count.
#[derive(Default, PartialEq, Debug)]
struct Checksums {
    rows: usize,
    columns: Vec<(String, u64)>,
}

impl Checksums {
    fn add(&mut self, df: &DataFrame) -> Res<()> {
        if self.columns.is_empty() {
            self.columns = df
                .get_column_names()
                .into_iter()
                .map(|n| (n.to_string(), 0))
                .collect();
        }
        let names: Vec<String> = df
            .get_column_names()
            .into_iter()
            .map(|n| n.to_string())
            .collect();
        if names.iter().ne(self.columns.iter().map(|(n, _)| n)) {
            return Err(format!("columns {names:?} after {:?}", self.columns).into());
        }
        self.rows += df.height();
        for ((_, sum), c) in self.columns.iter_mut().zip(df.columns()) {
            let s = c.as_materialized_series();
            let add = |sum: &mut u64, h: u64| *sum = sum.wrapping_add(mix(h));
            match s.dtype() {
                DataType::Float64 | DataType::Float32 => {
                    for v in s.cast(&DataType::Float64)?.f64()?.iter() {
                        add(sum, v.map_or(NULL, f64::to_bits));
                    }
                }
                DataType::String => {
                    for v in s.str()?.iter() {
                        add(sum, v.map_or(NULL, |v| fnv1a(v.as_bytes())));
                    }
                }
                d if d.is_integer() || d.is_bool() => {
                    for v in s.cast(&DataType::Int64)?.i64()?.iter() {
                        add(sum, v.map_or(NULL, |v| v as u64));
                    }
                }
                d => return Err(format!("no checksum for column {} of {d}", s.name()).into()),
            }
        }
        Ok(())
    }

    fn digest(&self) -> String {
        format!("{:?}", self)
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

// ---- 1. group_by into 10,000,000 groups ------------------------------------

/// `n × scale` (at least 1,000), made coprime with 7,919 so that
/// `i ↦ i·7,919 mod n` is a permutation (the generators' scrambled order).
fn scaled(n: u64, scale: f64) -> u64 {
    let n = ((n as f64 * scale) as u64).max(1_000);
    if n % 7_919 == 0 { n + 1 } else { n }
}

/// `key,qty,price,tag`: `rows` rows cycling through `keys` distinct keys
/// in a scrambled order (every key at least once when rows ≥ keys).
fn write_groupby(w: &mut dyn Write, rows: u64, keys: u64) -> std::io::Result<()> {
    // 7,919 is prime and does not divide 10⁷ (nor the scaled key counts
    // used), so i ↦ i·7,919 mod keys is a permutation.
    let mut rng = Rng::new(SEED);
    writeln!(w, "key,qty,price,tag")?;
    for i in 0..rows {
        let key = (i % keys) * 7_919 % keys;
        let r = rng.next();
        let qty = (r % 2_001) as i64 - 1_000;
        let price = (r >> 20) % 100_000;
        writeln!(
            w,
            "{key},{qty},{}.{:02},t{}",
            price / 100,
            price % 100,
            r >> 58
        )?;
    }
    Ok(())
}

fn groupby(data: &Path, scale: f64) -> Res<()> {
    let limit = 256 * MIB;
    let keys = scaled(10_000_000, scale);
    let rows = keys * 22 / 5;
    let path = data.join(format!("groupby-{rows}-{keys}.csv"));
    cached(&path, |w| write_groupby(w, rows, keys))?;
    let out = out_dir(data, "groupby-out")?;

    let ((files, nparts), m) = measure(limit, |opts| {
        let df = dd::read_csv(&path, csv_options()?)?;
        let nparts = df.npartitions();
        let files = df
            .group_by(["key"])
            .split_out(16)
            .agg([len().alias("n"), col("qty").sum(), col("price").max()])?
            .to_parquet_with(&out, &dd::WriteOptions::default().compute(opts.clone()))?;
        Ok((files, nparts))
    })?;

    if profiling() {
        return Ok(());
    }
    // The oracle: every line streamed into a HashMap of key → (count, sum, max).
    let mut truth: HashMap<i64, (u32, i64, f64)> = HashMap::with_capacity(keys as usize);
    let mut lines = std::io::BufReader::new(std::fs::File::open(&path)?).lines();
    lines.next();
    for line in lines {
        let line = line?;
        let mut f = line.split(',');
        let mut next = || f.next().ok_or("short line");
        let (k, q, p) = (next()?.parse()?, next()?.parse::<i64>()?, next()?.parse()?);
        let e = truth.entry(k).or_insert((0, 0, f64::NEG_INFINITY));
        e.0 += 1;
        e.1 += q;
        e.2 = e.2.max(p);
    }
    let groups = truth.len();
    let mut seen = 0usize;
    for f in &files {
        let part = polars_parquet(f)?;
        let (k, n, q, p) = (
            part.column("key")?.i64()?,
            part.column("n")?.cast(&DataType::UInt32)?,
            part.column("qty")?.i64()?,
            part.column("price")?.f64()?,
        );
        let n = n.u32()?;
        for r in 0..part.height() {
            let key = k.get(r).ok_or("null key")?;
            let got = (
                n.get(r).ok_or("null n")?,
                q.get(r).ok_or("null sum")?,
                p.get(r).ok_or("null max")?,
            );
            check(&format!("group {key}"), truth.remove(&key) == Some(got))?;
            seen += 1;
        }
    }
    check("groups missing from the output", truth.is_empty())?;
    let in_memory = polars_csv(&path)?.estimated_size();
    report(
        "groupby",
        &m,
        limit,
        limit + 256 * MIB,
        &format!("{seen}"),
        &format!(
            "\n           {rows} rows, {groups} groups = a HashMap over the lines; {nparts} partitions, {:.0} MiB in memory = {:.1}× the limit",
            in_memory as f64 / MIB as f64,
            in_memory as f64 / limit as f64
        ),
    );
    std::fs::remove_dir_all(&out)?;
    Ok(())
}

// ---- 2. sort the taxi trips -----------------------------------------------

fn sort(data: &Path, scale: f64, taxi: Option<PathBuf>) -> Res<()> {
    let limit = 512 * MIB;
    let paths = match taxi {
        Some(dir) => dd::IntoPaths::into_paths(dir.join("*.csv").to_string_lossy().as_ref())?,
        None => {
            let rows = ((2_000_000.0 * scale) as usize).max(1_000);
            oxidask_workloads::taxi::generate(&data.join(format!("taxi-{rows}")), 8, rows, SEED)?
        }
    };
    let out = out_dir(data, "sort-out")?;

    let (files, m) = measure(limit, |opts| {
        let sorted = dd::read_csv(paths.clone(), csv_options()?)?.sort_with(
            ["fare_amount"],
            false,
            &match arg("--npartitions") {
                Some(n) => dd::SortOptions::new().npartitions(n.parse()?),
                None => dd::SortOptions::new(),
            }
            .compute_options(opts.clone()),
        )?;
        Ok(sorted.to_parquet_with(&out, &dd::WriteOptions::default().compute(opts.clone()))?)
    })?;

    if profiling() {
        return Ok(());
    }
    // Globally sorted: within each file, and each file's first at or after
    // the previous file's last.
    let mut ours = Checksums::default();
    let mut last = f64::NEG_INFINITY;
    for f in &files {
        let part = polars_parquet(f)?;
        ours.add(&part)?;
        for v in part.column("fare_amount")?.f64()?.iter() {
            let v = v.ok_or("a null fare_amount")?;
            check(&format!("order in {}", f.display()), v >= last)?;
            last = v;
        }
    }
    let mut theirs = Checksums::default();
    let mut in_memory = 0;
    for p in &paths {
        let df = polars_csv(p)?;
        in_memory += df.estimated_size();
        theirs.add(&df)?;
    }
    check("row count and column checksums", ours == theirs)?;
    report(
        "sort",
        &m,
        limit,
        768 * MIB,
        &ours.digest(),
        &format!(
            "\n           {} rows in {} files sorted into {} partitions; {:.0} MiB in memory = {:.1}× the limit",
            ours.rows,
            paths.len(),
            files.len(),
            in_memory as f64 / MIB as f64,
            in_memory as f64 / limit as f64
        ),
    );
    std::fs::remove_dir_all(&out)?;
    Ok(())
}

// ---- 3. join two frames larger than the limit ------------------------------

/// `id,a,b,s`: ids 0..rows, each once, in a scrambled order.
fn write_left(w: &mut dyn Write, rows: u64) -> std::io::Result<()> {
    let mut rng = Rng::new(SEED + 1);
    writeln!(w, "id,a,b,s")?;
    for i in 0..rows {
        let r = rng.next();
        let id = i * 7_919 % rows;
        writeln!(
            w,
            "{id},{},{}.{:03},s{}",
            (r % 1_000_000) as i64 - 500_000,
            (r >> 24) % 10_000,
            (r >> 40) % 1_000,
            r >> 50
        )?;
    }
    Ok(())
}

/// `id,c,t`: random ids below 1.5 × `left_rows` (two in three find a left
/// row; some ids repeat).
fn write_right(w: &mut dyn Write, rows: u64, left_rows: u64) -> std::io::Result<()> {
    let mut rng = Rng::new(SEED + 2);
    writeln!(w, "id,c,t")?;
    for _ in 0..rows {
        let r = rng.next();
        let id = r % (left_rows + left_rows / 2);
        writeln!(
            w,
            "{id},{}.{:02},u{}",
            (r >> 30) % 1_000,
            (r >> 20) % 100,
            r >> 54
        )?;
    }
    Ok(())
}

fn join(data: &Path, scale: f64) -> Res<()> {
    let limit = 256 * MIB;
    let left_rows = scaled(20_000_000, scale);
    let right_rows = left_rows * 27 / 20;
    let left = data.join(format!("left-{left_rows}.csv"));
    let right = data.join(format!("right-{right_rows}-{left_rows}.csv"));
    cached(&left, |w| write_left(w, left_rows))?;
    cached(&right, |w| write_right(w, right_rows, left_rows))?;
    let out = out_dir(data, "join-out")?;

    let (files, m) = measure(limit, |opts| {
        let l = dd::read_csv(&left, csv_options()?)?;
        let r = dd::read_csv(&right, csv_options()?)?;
        let how = match arg("--npartitions") {
            Some(n) => dd::JoinOptions::new(JoinType::Inner).npartitions(n.parse()?),
            None => dd::JoinOptions::new(JoinType::Inner),
        };
        let joined = l.join_with(&r, ["id"], ["id"], how)?;
        Ok(joined.to_parquet_with(&out, &dd::WriteOptions::default().compute(opts.clone()))?)
    })?;
    if profiling() {
        return Ok(());
    }
    let mut ours = Checksums::default();
    for f in &files {
        ours.add(&polars_parquet(f)?)?;
    }

    let (l, r) = (polars_csv(&left)?, polars_csv(&right)?);
    let sizes = (l.estimated_size(), r.estimated_size());
    let theirs_df = l
        .lazy()
        .join(
            r.lazy(),
            [col("id")],
            [col("id")],
            JoinArgs::new(JoinType::Inner),
        )
        .collect()?;
    let mut theirs = Checksums::default();
    theirs.add(&theirs_df)?;
    check("row count and column checksums", ours == theirs)?;
    report(
        "join",
        &m,
        limit,
        limit + 256 * MIB,
        &ours.digest(),
        &format!(
            "\n           {left_rows} ⋈ {right_rows} rows = {} rows in {} partitions; {:.0} and {:.0} MiB in memory = {:.1}× and {:.1}× the limit",
            ours.rows,
            files.len(),
            sizes.0 as f64 / MIB as f64,
            sizes.1 as f64 / MIB as f64,
            sizes.0 as f64 / limit as f64,
            sizes.1 as f64 / limit as f64
        ),
    );
    std::fs::remove_dir_all(&out)?;
    Ok(())
}
