//! Functions the cluster tests call on workers: registered with
//! `#[oxidask::remote]` in this library, which both the test binary (the
//! client) and the `cluster_worker` binary (the workers) link.

use oxidask::delayed::Delayed;

/// `x` modulo 5 (non-negative): a key with few values.
#[oxidask::remote]
pub fn rem5(x: i64) -> i64 {
    x.rem_euclid(5)
}

/// `x + 1`.
#[oxidask::remote]
pub fn inc(x: i64) -> i64 {
    x + 1
}

/// `a + b`.
#[oxidask::remote]
pub fn add(a: i64, b: i64) -> i64 {
    a + b
}

/// `x * x` after sleeping `ms` milliseconds (tasks that last long enough
/// for a worker to be killed under them).
#[oxidask::remote]
pub fn slow_square(x: i64, ms: u64) -> i64 {
    std::thread::sleep(std::time::Duration::from_millis(ms));
    x * x
}

/// Holds `mib` MiB of memory (every page touched) for `ms` milliseconds,
/// creating the file `marker` (unless empty) once it has them; returns
/// their sum. For the worker's memory thresholds.
#[oxidask::remote]
pub fn hold_memory(mib: u64, ms: u64, marker: String) -> u64 {
    let block = vec![1u8; (mib << 20) as usize];
    if !marker.is_empty() {
        std::fs::write(&marker, b"held").expect("writing the marker file");
    }
    std::thread::sleep(std::time::Duration::from_millis(ms));
    block.iter().step_by(4096).map(|&b| u64::from(b)).sum()
}

/// The id of the worker process running it, after sleeping `ms`
/// milliseconds (which worker ran what).
#[oxidask::remote]
pub fn pid_after(ms: u64) -> u32 {
    std::thread::sleep(std::time::Duration::from_millis(ms));
    std::process::id()
}

/// Kills the worker process running it (abort: no unwinding, no report).
#[oxidask::remote]
pub fn abort_worker(x: i64) -> i64 {
    if x >= 0 {
        std::process::abort();
    }
    x
}

/// Fails for negative numbers.
#[oxidask::remote]
pub fn checked_sqrt(x: f64) -> Result<f64, String> {
    if x < 0.0 {
        return Err(format!("square root of the negative number {x}"));
    }
    Ok(x.sqrt())
}

/// `n` floats `seed, seed + 1, …` (a large value to move between workers).
#[oxidask::remote]
pub fn ramp(n: u64, seed: u64) -> Vec<f64> {
    (0..n).map(|i| (seed + i) as f64).collect()
}

/// The elementwise sum's total: reads both inputs whole.
#[oxidask::remote]
pub fn total_of_two(a: Vec<f64>, b: Vec<f64>) -> f64 {
    a.iter().sum::<f64>() + b.iter().sum::<f64>()
}

/// A position-sensitive fingerprint of two vectors: their lengths and
/// `Σ (i + 1) · bits(x[i])` (wrapping) of each, so a lost, reordered or
/// changed element anywhere changes it (a plain sum would miss swaps).
#[oxidask::remote]
pub fn fingerprint_of_two(a: Vec<f64>, b: Vec<f64>) -> Vec<u64> {
    let fp = |v: &[f64]| {
        v.iter().enumerate().fold(0u64, |acc, (i, x)| {
            acc.wrapping_add((i as u64 + 1).wrapping_mul(x.to_bits()))
        })
    };
    vec![a.len() as u64, fp(&a), b.len() as u64, fp(&b)]
}

/// The sum of `leaves` as a binary tree of registered [`add`] calls (an odd
/// one out moves up a level as it is): a graph whose inputs cross between
/// workers at every level.
pub fn pairwise_sum(leaves: Vec<Delayed<i64>>) -> Delayed<i64> {
    use oxidask::prelude::*;
    let mut level = leaves;
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|p| {
                if p.len() == 2 {
                    delayed!(add(&p[0], &p[1]))
                } else {
                    p[0].clone()
                }
            })
            .collect();
    }
    level.pop().expect("pairwise_sum of no leaves")
}

/// Bumps the call counter in the file at `path` (one byte appended per
/// call) and returns how many calls came before this one. Tasks run in
/// worker processes, so a counter in memory would not be seen by the test.
fn bump(path: &str) -> u64 {
    use std::io::Write;
    let before = std::fs::metadata(path).map_or(0, |m| m.len());
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("opening the counter {path}: {e}"));
    f.write_all(b"x")
        .unwrap_or_else(|e| panic!("writing the counter {path}: {e}"));
    before
}

/// How many times the functions counting into `path` were called.
pub fn calls(path: &str) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// `x * 10`, counting its calls in the file at `path`.
#[oxidask::remote]
pub fn counted(path: String, x: i64) -> i64 {
    bump(&path);
    x * 10
}

/// `x`, after failing (an error) on its first `k` calls (counted in the
/// file at `path`).
#[oxidask::remote]
pub fn fail_first(path: String, k: u64, x: i64) -> Result<i64, String> {
    let n = bump(&path);
    if n < k {
        return Err(format!("failing on purpose, call {n}"));
    }
    Ok(x)
}

/// `x`, after panicking on its first `k` calls (counted in the file at
/// `path`).
#[oxidask::remote]
pub fn panic_first(path: String, k: u64, x: i64) -> i64 {
    let n = bump(&path);
    assert!(n >= k, "panicking on purpose, call {n}");
    x
}

/// The sum of `v` and `x`.
#[oxidask::remote]
pub fn sum_plus(v: Vec<f64>, x: f64) -> f64 {
    v.iter().sum::<f64>() + x
}

/// Panics on its first 3 calls (counted in the file at `path`), then
/// returns 3: one argument, for `map`.
#[oxidask::remote]
pub fn pass_after_three(path: String) -> i64 {
    panic_first(path, 3, 3)
}

/// The last decimal digit of `x` (non-negative): a groupby key.
#[oxidask::remote]
pub fn last_digit_of(x: &i64) -> i64 {
    x.rem_euclid(10)
}
