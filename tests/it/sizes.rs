//! Delayed results of any type count their real size against the memory
//! limit, and spill when the limit needs it (issue 9: `Vec<i16>`,
//! `Vec<(u32, f32)>` and user structs once counted a few dozen bytes, so a
//! run held gigabytes under a 256 MiB limit without spilling).

use std::sync::Arc;

use oxidask::graph::DataSize as _;
use oxidask::prelude::*;
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

/// A user record with heap in several fields.
#[derive(Clone, Debug, PartialEq, oxidask::DataSize, Serialize, Deserialize)]
struct Reading {
    station: String,
    values: Vec<f64>,
    flags: Vec<(u8, bool)>,
}

/// A user enum: the size of the live variant counts.
#[derive(Clone, Debug, PartialEq, oxidask::DataSize, Serialize, Deserialize)]
enum Sample {
    Empty,
    Dense(Vec<f32>),
    Labelled { label: String, at: (u32, u32) },
}

oxidask::graph::register_value!(Vec<(u32, f32)>);
oxidask::graph::register_value!(Vec<Reading>);

use oxidask_testing::fixtures::xorshift as stream;

fn shorts(seed: u64, len: usize) -> Vec<i16> {
    stream(seed).take(len).map(|x| (x >> 48) as i16).collect()
}

fn pairs(seed: u64, len: usize) -> Vec<(u32, f32)> {
    stream(seed)
        .take(len)
        .map(|x| ((x >> 32) as u32, (x & 0xffff) as f32 / 7.0))
        .collect()
}

fn readings(seed: u64, len: usize) -> Vec<Reading> {
    stream(seed)
        .take(len.div_ceil(16))
        .map(|x| Reading {
            station: format!("st-{}", x % 997),
            values: stream(x)
                .take(12)
                .map(|v| (v % 1000) as f64 / 8.0)
                .collect(),
            flags: stream(x ^ 1)
                .take(4)
                .map(|v| (v as u8, v & 1 == 0))
                .collect(),
        })
        .collect()
}

fn digest_shorts(parts: Vec<Vec<i16>>) -> i64 {
    parts
        .iter()
        .flatten()
        .fold(0i64, |s, &x| s.wrapping_mul(31).wrapping_add(x as i64))
}

fn digest_pairs(parts: Vec<Vec<(u32, f32)>>) -> i64 {
    parts.iter().flatten().fold(0i64, |s, &(k, v)| {
        s.wrapping_mul(31)
            .wrapping_add(k as i64)
            .wrapping_add(v.to_bits() as i64)
    })
}

fn digest_readings(parts: Vec<Vec<Reading>>) -> i64 {
    parts.iter().flatten().fold(0i64, |s, r| {
        let v = r.values.iter().fold(0i64, |a, x| a ^ x.to_bits() as i64);
        let f = r
            .flags
            .iter()
            .map(|&(f, t)| f as i64 * 2 + t as i64)
            .sum::<i64>();
        s.wrapping_mul(31)
            .wrapping_add(r.station.len() as i64)
            .wrapping_add(v)
            .wrapping_add(f)
    })
}

/// The same computation without oxidask.
fn oracle<T>(n: usize, len: usize, make: fn(u64, usize) -> T, digest: fn(Vec<T>) -> i64) -> i64 {
    digest((0..n as u64).map(|i| make(i, len)).collect())
}
/// Runs one type's graph with and without `limit`; returns (the oracle's
/// answer, unlimited, limited, results spilled in the limited run).
fn run_both(kind: u8, n: usize, len: usize, limit: usize) -> (i64, i64, i64, usize) {
    macro_rules! graph {
        ($make:ident, $digest:ident) => {{
            // One reader of every chunk: all n are held before it runs,
            // so a limit of two chunks must spill n - 2 of them.
            let chunks: Vec<_> = (0..n as u64).map(|i| delayed!($make(i, len))).collect();
            (
                delayed!($digest(&chunks[..])),
                oracle(n, len, $make, $digest),
            )
        }};
    }
    let (root, expect) = match kind % 3 {
        0 => graph!(shorts, digest_shorts),
        1 => graph!(pairs, digest_pairs),
        _ => graph!(readings, digest_readings),
    };
    let free = root
        .compute_with(&ComputeOptions::new().memory_limit(None))
        .unwrap();
    let spilled = Arc::new(oxidask_testing::LastRun::default());
    let limited = root
        .compute_with(
            &ComputeOptions::new()
                .memory_limit(Some(limit))
                .callback(spilled.clone()),
        )
        .unwrap();
    (expect, free, limited, spilled.spilled())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn results_do_not_depend_on_the_limit_for_user_types(
        kind in 0u8..3,
        n in 4usize..16,
        len in 2_000usize..8_000,
        sched in 0u8..2,
    ) {
        let sched = if sched == 0 { SchedulerChoice::Sync } else { SchedulerChoice::Threaded };
        // A limit of about two chunks: the pairing holds ~n/2 at once.
        let chunk = match kind % 3 {
            0 => shorts(0, len).total_bytes(),
            1 => pairs(0, len).total_bytes(),
            _ => readings(0, len).total_bytes(),
        };
        let (expect, free, limited, spilled) =
            with_scheduler(sched, || Ok::<_, oxidask::Error>(run_both(kind, n, len, 2 * chunk))).unwrap();
        prop_assert_eq!(free, expect);
        prop_assert_eq!(limited, expect);
        // n >= 4 chunks are held at once and two fit: real sizes must spill.
        prop_assert!(spilled > 0, "kind {} n {} len {}: nothing spilled", kind, n, len);
    }
}

#[test]
fn derived_sizes_count_every_field_and_the_live_variant() {
    let r = Reading {
        station: String::from("abcd"),
        values: Vec::with_capacity(10),
        flags: vec![(1, true); 3],
    };
    let a = oxidask::graph::allocation_bytes;
    assert_eq!(
        r.heap_bytes(),
        a(4) + a(10 * 8) + a(3 * std::mem::size_of::<(u8, bool)>())
    );
    assert_eq!(Sample::Empty.heap_bytes(), 0);
    assert_eq!(Sample::Dense(Vec::with_capacity(100)).heap_bytes(), a(400));
    let l = Sample::Labelled {
        label: String::from("xyz"),
        at: (1, 2),
    };
    assert_eq!(l.heap_bytes(), a(3));
}

#[test]
fn a_value_without_a_codec_that_must_spill_is_an_error_naming_its_type() {
    #[derive(Clone, oxidask::DataSize)]
    struct Unregistered(Vec<u64>);
    fn make(i: u64) -> Unregistered {
        Unregistered(vec![i; 50_000])
    }
    fn count(xs: Vec<Unregistered>) -> usize {
        xs.iter().map(|x| x.0.len()).sum()
    }
    let parts: Vec<_> = (0..8).map(|i| delayed!(make(i))).collect();
    let err = delayed!(count(parts))
        .compute_with(&ComputeOptions::new().memory_limit(Some(600_000)))
        .unwrap_err()
        .to_string();
    assert!(err.contains("Unregistered"), "{err}");
}
