//! Random arrays whose values depend only on the seed and the chunking.
//!
//! Block `b` (flat, row-major) draws from its own generator seeded with a
//! hash of `(seed, b)`, so a block's numbers never depend on which worker
//! computes it, in which order, or whether other blocks are computed at all.
//! The generator is Xoshiro256++ (fast, portable: the same numbers on every
//! platform and version of this crate); normals come from the ziggurat
//! method of `rand_distr`.

use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal, Uniform};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::array::{Array, grid_for};
use crate::creation::source;
use crate::error::{Result, invalid};
use crate::grid::Chunks;
use crate::source::SourceSpec;

/// The generator of block `block` (row-major position) for `seed`.
pub fn block_rng(seed: u64, block: u64) -> Xoshiro256PlusPlus {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..].copy_from_slice(&block.to_le_bytes());
    Xoshiro256PlusPlus::seed_from_u64(xxhash_rust::xxh3::xxh3_64(&bytes))
}

/// The numbers block `block` (row-major position) of
/// [`standard_normal`]`(…, seed)` holds, one at a time: for code that must
/// see exactly the same data without storing it (a hand-written reference
/// loop, a test).
pub fn standard_normal_stream(seed: u64, block: u64) -> impl Iterator<Item = f64> {
    let mut rng = block_rng(seed, block);
    std::iter::repeat_with(move || rng.sample::<f64, _>(StandardNormal))
}

/// Uniform floats in `[low, high)`.
pub fn uniform(
    low: f64,
    high: f64,
    shape: &[usize],
    chunks: impl Into<Chunks>,
    seed: u64,
) -> Result<Array<f64>> {
    // Checked here for the error; the spec builds its own sampler.
    Uniform::<f64>::new(low, high).map_err(|e| {
        invalid(
            "low/high",
            format!("uniform needs finite low < high, got [{low}, {high}): {e}"),
        )
    })?;
    let grid = grid_for(shape, &chunks.into(), "chunks")?;
    source(
        "uniform",
        &(low, high, seed),
        grid,
        SourceSpec::Uniform { low, high, seed },
    )
}

/// Standard normal floats (mean 0, variance 1).
pub fn standard_normal(
    shape: &[usize],
    chunks: impl Into<Chunks>,
    seed: u64,
) -> Result<Array<f64>> {
    let grid = grid_for(shape, &chunks.into(), "chunks")?;
    source("standard_normal", &seed, grid, SourceSpec::Normal { seed })
}

/// Appends `len` standard normals: one tight loop, so the ziggurat sampler
/// inlines into it as it does into a hand-written loop.
pub(crate) fn normals(rng: &mut Xoshiro256PlusPlus, out: &mut Vec<f64>, len: usize) {
    let start = out.len();
    out.resize(start + len, 0.0);
    for x in &mut out[start..] {
        *x = <StandardNormal as Distribution<f64>>::sample(&StandardNormal, rng);
    }
}

/// Integers in `[low, high)`.
pub fn integers(
    low: i64,
    high: i64,
    shape: &[usize],
    chunks: impl Into<Chunks>,
    seed: u64,
) -> Result<Array<i64>> {
    Uniform::<i64>::new(low, high).map_err(|e| {
        invalid(
            "low/high",
            format!("integers needs low < high, got [{low}, {high}): {e}"),
        )
    })?;
    let grid = grid_for(shape, &chunks.into(), "chunks")?;
    source(
        "integers",
        &(low, high, seed),
        grid,
        SourceSpec::Integers { low, high, seed },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxidask_scheduler::{ComputeOptions, SchedulerChoice};

    #[test]
    fn blocks_do_not_depend_on_the_scheduler() {
        let x = standard_normal(&[1000], 100, 7).unwrap();
        let a = x.compute().unwrap();
        let b = x
            .compute_with(&ComputeOptions::new().scheduler(SchedulerChoice::Sync))
            .unwrap();
        assert_eq!(a, b);
        let m = a.mean().unwrap();
        assert!(m.abs() < 0.15, "{m}");
        let u = uniform(2.0, 3.0, &[50, 4], [7, 3], 1)
            .unwrap()
            .compute()
            .unwrap();
        assert!(u.iter().all(|&v| (2.0..3.0).contains(&v)));
        let i = integers(-3, 4, &[200], 30, 1).unwrap().compute().unwrap();
        assert!(i.iter().all(|&v| (-3..4).contains(&v)));
        assert!(i.iter().any(|&v| v == -3) && i.iter().any(|&v| v == 3));
        assert!(uniform(1.0, 1.0, &[3], 1, 0).is_err());
        let second: Vec<f64> = standard_normal_stream(7, 1).take(100).collect();
        assert_eq!(a.as_slice().unwrap()[100..200], second[..]);
    }
}
