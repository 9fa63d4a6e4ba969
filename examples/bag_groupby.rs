//! `groupby` over more records than the memory limit: records generated
//! inside the computation, grouped by key through the disk-backed shuffle,
//! each group reduced to its size, checked against a plain `HashMap` count.
//!
//! ```text
//! cargo run --release --example bag_groupby
//! cargo run --release --example bag_groupby -- --gib 2 --limit 256MiB --keys 100000 --payload 88
//! ```
//!
//! Flags: `--gib` (in-memory bytes of the records by the bag's own size
//! estimate, default 2), `--limit` (memory limit, default 256MiB),
//! `--keys` (distinct keys, default 100,000), `--payload` (bytes of text
//! per record, default 88), `--partitions` (input partitions, default
//! ~32 MiB each), `--out` (output partitions, default as many as the input),
//! `--skip-foldby`.
//!
//! Stages, each with its wall time and peak RSS (VmHWM reset before each
//! stage through `/proc/self/clear_refs`), the bytes the store spilled,
//! and a JSON line in the `../shared/bench` format:
//!
//! 1. **hashmap**: the oracle, a streaming count per key in this thread
//!    (the same generator, one record at a time);
//! 2. **groupby**: `range → map(generate) → groupby(user) → map(size)`, every
//!    record through the shuffle files; each group is also checked to hold
//!    only its key, in input order;
//! 3. **foldby**: the same counts without moving records (for scale: what
//!    an aggregate per key costs when no group must be whole).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use oxidask::bag::{self as db, GroupbyOptions};
use oxidask::prelude::*;
use oxidask::scheduler::{Callback, Event, MemoryStats};
use serde::{Deserialize, Serialize};

#[path = "common/bench.rs"]
mod bench;

/// One generated record: a user id (the key), a sequence number, some text.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Visit {
    user: u64,
    seq: u64,
    payload: String,
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const ALPHABET: &[u8; 64] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";

impl Visit {
    /// Record `i`: its user drawn uniformly from `keys`, `payload` bytes of text.
    fn generate(i: u64, keys: u64, payload: usize) -> Visit {
        let h = splitmix(i);
        let mut text = Vec::with_capacity(payload);
        let mut k = 0u64;
        while text.len() < payload {
            let bits = splitmix(h ^ k).to_le_bytes();
            let take = (payload - text.len()).min(8);
            text.extend(bits[..take].iter().map(|b| ALPHABET[(b & 63) as usize]));
            k += 1;
        }
        Visit {
            user: h % keys,
            seq: i,
            payload: String::from_utf8(text).expect("the alphabet is ASCII"),
        }
    }
}

struct Args {
    gib: f64,
    limit: usize,
    keys: u64,
    payload: usize,
    partitions: Option<usize>,
    out: Option<usize>,
    foldby: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        gib: 2.0,
        limit: 256 << 20,
        keys: 100_000,
        payload: 88,
        partitions: None,
        out: None,
        foldby: true,
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
            "--keys" => a.keys = num("--keys", value("--keys")?)?,
            "--payload" => a.payload = num("--payload", value("--payload")?)?,
            "--partitions" => a.partitions = Some(num("--partitions", value("--partitions")?)?),
            "--out" => a.out = Some(num("--out", value("--out")?)?),
            "--skip-foldby" => a.foldby = false,
            "-h" | "--help" => {
                println!(
                    "usage: bag_groupby [--gib 2] [--limit 256MiB] [--keys 100000] [--payload 88] \
                     [--partitions N] [--out N] [--skip-foldby]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    if a.keys == 0 {
        return Err("--keys must be at least 1".into());
    }
    Ok(a)
}

/// Keeps the last computation's memory statistics.
#[derive(Default)]
struct Memory(Mutex<(MemoryStats, usize)>);

impl Callback for Memory {
    fn on_event(&self, e: &Event<'_>) {
        if let Event::Finished {
            memory,
            peak_held_bytes,
            ..
        } = e
        {
            *self.0.lock().unwrap() = (*memory, *peak_held_bytes);
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
    digest_of: impl Fn(&R) -> String,
    f: impl FnOnce(&ComputeOptions) -> Result<R, Box<dyn std::error::Error>>,
) -> Result<(R, f64), Box<dyn std::error::Error>> {
    let memory = Arc::new(Memory::default());
    let opts = ComputeOptions::new()
        .memory_limit(Some(args.limit))
        .callback(memory.clone());
    let resettable = bench::reset_peak_rss();
    let t = Instant::now();
    let out = f(&opts)?;
    let wall = t.elapsed().as_secs_f64();
    let peak = bench::peak_rss_mb();
    let (m, peak_held) = *memory.0.lock().unwrap();
    println!(
        "{name:<8} wall {wall:>7.2} s   peak RSS {peak:>6.0} MiB{}   store: peak held {:.0} MiB, spilled {:.0} MiB in {} values, read back {:.0} MiB",
        if resettable { "" } else { " (whole process)" },
        mib(peak_held),
        mib(m.spilled_bytes),
        m.spilled,
        mib(m.read_back_bytes),
    );
    bench::emit(
        "bag_groupby",
        &format!("oxidask-{name}"),
        wall,
        peak,
        &digest_of(&out),
        &format!(
            ", \"gib\": {}, \"limit_mb\": {:.0}, \"keys\": {}, \"spilled_mb\": {:.1}, \"read_back_mb\": {:.1}",
            args.gib,
            mib(args.limit),
            args.keys,
            mib(m.spilled_bytes),
            mib(m.read_back_bytes)
        ),
    );
    Ok((out, peak))
}

/// Counts per key, sorted by key, as compact JSON for the digest.
fn digest(counts: &[(u64, u64)]) -> String {
    let json = serde_json::to_string(counts).unwrap_or_default();
    bench::digest(&json)
}

fn main() {
    if let Err(e) = run() {
        eprintln!("bag_groupby failed: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let (keys, payload) = (args.keys, args.payload);

    // How many records make `--gib`: the bag's own estimate of a stored
    // partition of 100,000 generated records (what the memory limit counts).
    let sample_n = 100_000u64;
    let sample = db::range(sample_n, 1)?
        .map(move |i| Visit::generate(i, keys, payload))
        .persist_layer();
    let sample_keys = sample.keys();
    let tasks = sample.graph().cull(&sample_keys)?.to_task_graph()?;
    let values = oxidask::scheduler::compute(tasks, &sample_keys)?;
    let per_record = values[0].nbytes() as f64 / sample_n as f64;
    drop(values);
    let target = args.gib * (1u64 << 30) as f64;
    let n = (target / per_record).round() as u64;
    let parts = args
        .partitions
        .unwrap_or_else(|| (target / (32u64 << 20) as f64).ceil().max(1.0) as usize);
    let out = args.out.unwrap_or(parts);
    println!(
        "groupby of {n} records ({:.2} GiB by the bag's estimate, {per_record:.0} B per record), \
         {keys} keys, {parts} → {out} partitions, memory limit {:.0} MiB, {} workers",
        n as f64 * per_record / (1u64 << 30) as f64,
        mib(args.limit),
        oxidask::config::default_num_workers(),
    );

    // 1. The oracle: a plain HashMap count, one record at a time.
    let (expected, _) = stage(
        "hashmap",
        &args,
        |c: &Vec<(u64, u64)>| digest(c),
        |_| {
            let mut counts: HashMap<u64, u64> = HashMap::new();
            for i in 0..n {
                *counts
                    .entry(Visit::generate(i, keys, payload).user)
                    .or_default() += 1;
            }
            let mut v: Vec<(u64, u64)> = counts.into_iter().collect();
            v.sort_unstable();
            Ok(v)
        },
    )?;

    // 2. groupby through the shuffle, each group reduced to its size.
    let (got, peak) = stage(
        "groupby",
        &args,
        |c: &Vec<(u64, u64)>| digest(c),
        |opts| {
            let events = db::range(n, parts)?.map(move |i| Visit::generate(i, keys, payload));
            let groups =
                events.groupby_with(|e| e.user, &GroupbyOptions::new().npartitions(out))?;
            let sizes = groups.map(|(k, v)| {
                let whole =
                    v.iter().all(|e| e.user == k) && v.windows(2).all(|w| w[0].seq < w[1].seq);
                (k, v.len() as u64, whole)
            });
            let mut rows = sizes.compute_with(opts)?;
            if let Some(bad) = rows.iter().find(|r| !r.2) {
                return Err(format!("group {} holds another key or is out of order", bad.0).into());
            }
            rows.sort_unstable_by_key(|r| r.0);
            Ok(rows.into_iter().map(|(k, c, _)| (k, c)).collect::<Vec<_>>())
        },
    )?;
    if got != expected {
        return Err(format!(
            "groupby counts differ from the HashMap count ({} vs {} keys)",
            got.len(),
            expected.len()
        )
        .into());
    }
    println!(
        "         {} groups, counts equal the HashMap count; peak RSS {peak:.0} MiB {} 512 MiB",
        got.len(),
        if peak <= 512.0 { "≤" } else { ">" }
    );

    // 3. For scale: the same counts with foldby (no shuffle).
    if args.foldby {
        let (folded, _) = stage(
            "foldby",
            &args,
            |c: &Vec<(u64, u64)>| digest(c),
            |opts| {
                let events = db::range(n, parts)?.map(move |i| Visit::generate(i, keys, payload));
                let mut rows = events
                    .foldby(|e| e.user, |a, _| a + 1, 0u64, |a, b| a + b, 0u64)
                    .compute_with(opts)?;
                rows.sort_unstable();
                Ok(rows)
            },
        )?;
        if folded != expected {
            return Err("foldby counts differ from the HashMap count".into());
        }
    }
    Ok(())
}
