//! Synthetic people records as JSON lines, shaped like the JSON workload of
//! `../shared/bench/gen_data.py` (`gen_w5`): `{"id","name","age","tags",
//! "address":{"city","zip"}}` per line, names drawn from 5,000 made-up
//! names with Zipf-like weights (rank^-1.1), 0–4 tags, 200 cities. Files are
//! written to `DIR/w5/people_NN.jsonl`, the layout the Python benchmarks
//! read. The values are not the Python generator's (another random number
//! generator), but sizes and distributions match.

use std::io::Write;
use std::path::{Path, PathBuf};

use oxidask::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const SYL: [&str; 30] = [
    "ka", "lo", "mi", "ra", "ne", "to", "su", "vi", "an", "el", "or", "is", "ju", "be", "da", "fe",
    "go", "ha", "li", "mo", "ny", "pa", "qu", "ro", "sa", "te", "ul", "wi", "xe", "zo",
];
const TAGS: [&str; 40] = [
    "red", "green", "blue", "admin", "user", "guest", "beta", "alpha", "vip", "new", "old",
    "active", "idle", "eu", "us", "asia", "mobile", "web", "api", "cli", "free", "pro", "team",
    "solo", "night", "day", "cat", "dog", "tea", "coffee", "rust", "python", "go", "java", "c",
    "sql", "art", "music", "sport", "travel",
];

/// `n` distinct capitalised names of 2–3 syllables.
fn names(n: usize) -> Vec<String> {
    let mut rng = ChaCha8Rng::seed_from_u64(999);
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let k = rng.random_range(2..4);
        let mut name: String = (0..k)
            .map(|_| SYL[rng.random_range(0..SYL.len())])
            .collect();
        name[..1].make_ascii_uppercase();
        if seen.insert(name.clone()) {
            out.push(name);
        }
    }
    out
}

/// Writes file `index` of `records` people; returns its size in bytes.
pub fn write_people(path: PathBuf, index: u64, records: u64, seed: u64) -> std::io::Result<u64> {
    let names = names(5000);
    let mut cumulative = Vec::with_capacity(names.len());
    let mut total = 0.0f64;
    for rank in 1..=names.len() {
        total += 1.0 / (rank as f64).powf(1.1);
        cumulative.push(total);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_mul(1_000_003).wrapping_add(index));
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path)?);
    let mut line = Vec::with_capacity(256);
    for id in index * records..(index + 1) * records {
        let u = rng.random::<f64>() * total;
        let name = &names[cumulative.partition_point(|&c| c < u).min(names.len() - 1)];
        line.clear();
        write!(
            line,
            "{{\"id\":{id},\"name\":\"{name}\",\"age\":{},\"tags\":[",
            rng.random_range(18..91)
        )?;
        for t in 0..rng.random_range(0..5) {
            if t > 0 {
                line.push(b',');
            }
            write!(line, "\"{}\"", TAGS[rng.random_range(0..TAGS.len())])?;
        }
        writeln!(
            line,
            "],\"address\":{{\"city\":\"City{:03}\",\"zip\":\"{:05}\"}}}}",
            rng.random_range(0..200),
            rng.random_range(0..100_000)
        )?;
        out.write_all(&line)?;
    }
    out.flush()?;
    Ok(std::fs::metadata(&path)?.len())
}

/// Writes `files` files of `records` people each under `root/w5/`, one
/// delayed task per file; returns the paths and the total bytes.
pub fn generate(
    root: &Path,
    files: u64,
    records: u64,
    seed: u64,
) -> Result<(Vec<PathBuf>, u64), Box<dyn std::error::Error>> {
    let dir = root.join("w5");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    let paths: Vec<PathBuf> = (0..files)
        .map(|i| dir.join(format!("people_{i:02}.jsonl")))
        .collect();
    let writes: Vec<Delayed<u64>> = paths
        .iter()
        .enumerate()
        .map(|(i, p)| delayed!(write_people(p.clone(), i as u64, records, seed)?))
        .collect();
    let bytes = compute(&writes)?.into_iter().sum();
    Ok((paths, bytes))
}
