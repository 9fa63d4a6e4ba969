//! A user's block function (`map_blocks`, `blockwise`) always sees exactly
//! its block, also inside full reductions, where elementwise chains are
//! streamed piece by piece (issue 9, item 1). The oracle is `compute()` of
//! the same array followed by a plain `ndarray` reduction, and the shapes
//! the function recorded.

use std::sync::{Arc, Mutex};

use ndarray::{ArrayD, IxDyn};
use oxidask::array::{self as da, Reduce, ndarray};
use oxidask::prelude::*;

fn schedulers() -> [ComputeOptions; 2] {
    [
        ComputeOptions::new().scheduler(SchedulerChoice::Sync),
        ComputeOptions::new().scheduler(SchedulerChoice::Threaded),
    ]
}

/// Shapes seen by a block function.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<Vec<usize>>>>);

impl Seen {
    fn record(&self, b: &ArrayD<f64>) {
        self.0.lock().unwrap().push(b.shape().to_vec());
    }

    /// Every shape seen is one of `allowed`, and something was seen.
    fn check(&self, allowed: &[Vec<usize>], what: &str) {
        let seen = std::mem::take(&mut *self.0.lock().unwrap());
        assert!(!seen.is_empty(), "{what}: the function never ran");
        for s in &seen {
            assert!(
                allowed.contains(s),
                "{what}: the block function saw shape {s:?}, blocks are {allowed:?}"
            );
        }
    }
}

#[test]
fn map_blocks_in_a_full_reduction_sees_whole_blocks() {
    // The example: each block minus its own first element.
    let x = da::arange(0.0f64, 100_000.0, 1.0, 50_000).unwrap();
    let seen = Seen::default();
    let s2 = seen.clone();
    let y = x.map_blocks(move |b: ArrayD<f64>| {
        s2.record(&b);
        let first = b.iter().next().copied().unwrap_or(0.0);
        b.mapv(|v| v - first)
    });
    let whole = y.compute().unwrap();
    seen.check(&[vec![50_000]], "compute");
    let expect: f64 = (0..50_000).map(|k| k as f64).sum::<f64>() * 2.0;
    assert_eq!(whole.sum(), expect);
    assert_eq!(expect, 2_499_950_000.0);
    for o in schedulers() {
        assert_eq!(y.sum().compute_with(&o).unwrap(), expect);
        seen.check(&[vec![50_000]], "sum");
        // Elementwise steps before and after still fuse with it.
        let z = &(&x * 2.0).map_blocks({
            let s = seen.clone();
            move |b: ArrayD<f64>| {
                s.record(&b);
                let first = b.iter().next().copied().unwrap_or(0.0);
                b.mapv(|v| v - first)
            }
        }) + 1.0;
        let zc = z.compute_with(&o).unwrap();
        assert_eq!(z.sum().compute_with(&o).unwrap(), zc.sum());
        assert_eq!(zc.sum(), 2.0 * expect + 100_000.0);
        let zm = z.max().compute_with(&o).unwrap();
        assert_eq!(zm, zc.iter().cloned().fold(f64::MIN, f64::max));
        seen.check(&[vec![50_000]], "fused chain");
    }
}

#[test]
fn block_functions_over_2d_blocks_see_their_declared_shapes() {
    let a = ArrayD::from_shape_fn(IxDyn(&[300, 500]), |i| ((i[0] * 7 + i[1] * 3) % 101) as f64);
    let blocks = vec![vec![150, 200], vec![150, 100]];
    let seen = Seen::default();
    // A function of the whole block: each element minus its block's column
    // mean (depends on the block's 2-d shape).
    let centre = {
        let s = seen.clone();
        move |b: ArrayD<f64>| {
            s.record(&b);
            let b2 = b.into_dimensionality::<ndarray::Ix2>().unwrap();
            let m = b2.mean_axis(ndarray::Axis(0)).unwrap();
            (&b2 - &m).mapv(|v| v * v).into_dyn()
        }
    };
    let sources: Vec<(&str, da::Array<f64>)> = vec![
        ("from_array", da::from_array(a.clone(), [150, 200]).unwrap()),
        (
            "streamed source",
            da::arange(0.0f64, 150_000.0, 1.0, 150_000)
                .unwrap()
                .reshape(&[300, 500])
                .unwrap()
                .rechunk([150, 200])
                .unwrap(),
        ),
        (
            "random source",
            da::random::standard_normal(&[300, 500], [150, 200], 5).unwrap(),
        ),
    ];
    for (what, x) in sources {
        let y = (&x + 1.0).map_blocks(centre.clone());
        for o in schedulers() {
            let whole = y.compute_with(&o).unwrap();
            seen.check(&blocks, what);
            let close = |got: f64, expect: f64| {
                assert!(
                    (got - expect).abs() <= 1e-9 * (1.0 + expect.abs()),
                    "{what}: {got} vs {expect}"
                );
            };
            close(y.sum().compute_with(&o).unwrap(), whole.sum());
            seen.check(&blocks, what);
            close(y.mean().compute_with(&o).unwrap(), whole.mean().unwrap());
            seen.check(&blocks, what);
            let am = y.argmax().compute_with(&o).unwrap() as usize;
            let flat: Vec<f64> = whole.iter().copied().collect();
            let mut best = 0;
            for (i, &v) in flat.iter().enumerate() {
                if v > flat[best] {
                    best = i;
                }
            }
            assert_eq!(am, best, "{what}: argmax");
            seen.check(&blocks, what);
            // Partial reductions read whole blocks as well.
            let s0 = y
                .sum_with(&Reduce::axis(0))
                .unwrap()
                .compute_with(&o)
                .unwrap();
            let e0 = whole.sum_axis(ndarray::Axis(0));
            for (g, e) in s0.iter().zip(e0.iter()) {
                close(*g, *e);
            }
            seen.check(&blocks, what);
        }
    }
}

#[test]
fn blockwise_in_a_full_reduction_sees_whole_blocks() {
    let x = da::arange(0.0f64, 40_000.0, 1.0, 20_000).unwrap();
    let y = da::ones::<f64>(&[40_000], 20_000).unwrap();
    let seen = Seen::default();
    let s = seen.clone();
    let z = da::blockwise(&x, &y, move |a, b| {
        s.record(&a.to_owned());
        let first = a.iter().next().copied().unwrap_or(0.0);
        (&a - first) * &b
    })
    .unwrap();
    let expect: f64 = 2.0 * (0..20_000).map(|k| k as f64).sum::<f64>();
    for o in schedulers() {
        assert_eq!(z.compute_with(&o).unwrap().sum(), expect);
        assert_eq!(z.sum().compute_with(&o).unwrap(), expect);
        assert_eq!((&z * 2.0).sum().compute_with(&o).unwrap(), 2.0 * expect);
        seen.check(&[vec![20_000]], "blockwise");
    }
}

#[test]
fn block_functions_broadcast_into_more_dimensions_still_see_their_own_blocks() {
    // A 1-d block function's result added to a 2-d array: the function
    // must get its 1-d blocks, not blocks padded to two dimensions.
    let seen = Seen::default();
    let s = seen.clone();
    let v = da::arange(0.0f64, 12.0, 1.0, 5).unwrap();
    let centred = v.map_blocks(move |b: ArrayD<f64>| {
        s.record(&b);
        let first = b.iter().next().copied().unwrap_or(0.0);
        b.mapv(|x| x - first)
    });
    let m = da::ones::<f64>(&[4, 12], [2, 5]).unwrap();
    let z = &m + &centred;
    let expect_row: Vec<f64> = (0..12).map(|i| 1.0 + (i % 5) as f64).collect();
    for o in schedulers() {
        let got = z.compute_with(&o).unwrap();
        for r in got.outer_iter() {
            assert_eq!(r.iter().copied().collect::<Vec<_>>(), expect_row);
        }
        seen.check(&[vec![5], vec![2]], "map_blocks under broadcasting");
        assert_eq!(z.sum().compute_with(&o).unwrap(), got.sum());
        seen.check(&[vec![5], vec![2]], "map_blocks under broadcasting, sum");
    }
    // blockwise likewise sees blocks of its own output's dimensions.
    let s = seen.clone();
    let w = da::blockwise(&v, &v, move |a, b| {
        s.record(&a.to_owned());
        &a + &b
    })
    .unwrap();
    let z = (&m * &w).sum_with(&Reduce::axis(0)).unwrap();
    let got = z.compute().unwrap();
    assert_eq!(
        got.iter().copied().collect::<Vec<_>>(),
        (0..12).map(|i| 8.0 * i as f64).collect::<Vec<_>>()
    );
    seen.check(&[vec![5], vec![2]], "blockwise under broadcasting");
}
