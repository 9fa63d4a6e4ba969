//! Array graphs as data: sources, fused expressions, streamed and
//! materialized reductions and registered block functions run the same
//! after their optimized graph went through bytes; the encoding stays
//! small per task; closures are refused with a message saying how to
//! register the function.

use ndarray::{ArrayD, IxDyn};
use oxidask::array::{self as da, Array, Reduce, ndarray};
use oxidask::graph::TaskGraph;
use oxidask::graph::optimize::{OptimizeOptions, optimize};
use oxidask::scheduler::{ComputeOptions, compute_many};
use oxidask_testing::round_trip;
use proptest::prelude::*;

use super::get;

/// A block function registered by path: usable in graphs that leave the
/// process.
#[oxidask::remote]
fn scaled_rows(b: ArrayD<f64>) -> ArrayD<f64> {
    // Not elementwise: each value depends on its row's first value.
    let mut out = b.clone();
    if b.ndim() > 0 && !b.is_empty() {
        for (mut row, src) in out.outer_iter_mut().zip(b.outer_iter()) {
            let first = src.iter().next().copied().unwrap_or(0.0);
            row.mapv_inplace(|v| v * 2.0 + first);
        }
    }
    out
}

/// A registered function that breaks the shape contract.
#[oxidask::remote]
fn drops_a_row(b: ArrayD<f64>) -> ArrayD<f64> {
    let n = b.shape()[0].saturating_sub(1);
    b.slice_axis(ndarray::Axis(0), (0..n).into()).to_owned()
}

/// A two-block function registered by path (for `blockwise_owned`).
#[oxidask::remote]
fn weighted(a: ArrayD<f64>, b: ArrayD<f64>) -> ArrayD<f64> {
    &a * 2.0 + &b
}

/// The optimized graph of `a`'s blocks, as the schedulers run it.
fn optimized<T: da::Element>(a: &Array<T>) -> TaskGraph {
    let keys = a.keys();
    optimize(a.task_graph().unwrap(), &keys, OptimizeOptions::default())
        .unwrap()
        .graph
}

/// The same numbers `standard_normal(&[n], chunk, seed)` holds, drawn by
/// hand block by block.
fn normals(n: usize, chunk: usize, seed: u64) -> ArrayD<f64> {
    let mut v = Vec::with_capacity(n);
    for b in 0..n.div_ceil(chunk) {
        let len = chunk.min(n - b * chunk);
        v.extend(da::random::standard_normal_stream(seed, b as u64).take(len));
    }
    ArrayD::from_shape_vec(IxDyn(&[n]), v).unwrap()
}

fn skew_of(xs: &[f64]) -> f64 {
    let n = xs.len() as f64;
    let m = xs.iter().sum::<f64>() / n;
    let c = |k: i32| xs.iter().map(|v| (v - m).powi(k)).sum::<f64>() / n;
    c(3) / c(2).powf(1.5)
}

#[test]
fn ten_thousand_chunk_elementwise_and_reduce_graph_encodes_in_under_100_bytes_per_task() {
    // Streamed: 10,000 source blocks feed the partial tasks piece by piece.
    let x = da::random::standard_normal(&[1_000_000], 100, 7).unwrap();
    assert_eq!(x.nblocks(), 10_000);
    let s = (&(&x * &x) + 1.0).sum().into_array();
    let g = optimized(&s);
    let bytes = g.to_bytes().unwrap();
    let per_task = bytes.len() as f64 / g.len() as f64;
    assert!(
        per_task <= 100.0,
        "{per_task:.1} bytes per task ({} tasks)",
        g.len()
    );
    // The bytes hold everything: decoded alone, they give the same sum.
    let back = TaskGraph::from_bytes(&bytes).unwrap();
    assert_eq!(back.len(), g.len());
    let want: f64 = normals(1_000_000, 100, 7).iter().map(|v| v * v + 1.0).sum();
    let got = get(&s)[[]];
    assert!((got - want).abs() <= 1e-9 * want, "{got} vs {want}");

    // Materialized: 10,000 blocks of a 2-d array, elementwise tasks reading
    // them, then partials and combines of a reduction over one axis.
    let y = da::random::uniform(0.0, 1.0, &[1000, 1000], [10, 10], 3).unwrap();
    assert_eq!(y.nblocks(), 10_000);
    let r = (&(&y * &y) + 1.0).sum_with(&Reduce::axis(0)).unwrap();
    // Both unfused (the array ops' own encoding) and as the optimizer leaves
    // it, with each source → expression → partial chain one fused task whose
    // steps refer to the graph's op table.
    let keys = r.keys();
    let no_fuse = OptimizeOptions {
        inline: true,
        fuse: false,
        ..Default::default()
    };
    let unfused = optimize(r.task_graph().unwrap(), &keys, no_fuse)
        .unwrap()
        .graph;
    assert!(unfused.len() > 20_000, "{} tasks", unfused.len());
    for (what, g) in [("unfused", unfused), ("fused", optimized(&r))] {
        let bytes = g.to_bytes().unwrap();
        let per_task = bytes.len() as f64 / g.len() as f64;
        eprintln!("materialized 10,000-block reduction, {what}: {per_task:.1} bytes/task");
        assert!(
            per_task <= 100.0,
            "{what}: {per_task:.1} bytes per task ({} tasks)",
            g.len()
        );
    }
}

#[test]
fn random_sources_and_streamed_reductions_match_after_a_round_trip() {
    // Blocks of at least one piece (8192) and smaller ones (grouped).
    for chunk in [10_000, 700] {
        let n = 50_000;
        let x = da::random::standard_normal(&[n], chunk, 11).unwrap();
        let a = normals(n, chunk, 11);
        assert_eq!(get(&x), a);
        let g1 = get(&da::stats::skew(&x, true).unwrap().into_array())[[]];
        let want = skew_of(a.as_slice().unwrap());
        assert!((g1 - want).abs() < 1e-10, "{g1} vs {want}");
        let m = get(&(&x * 2.0 - 1.0).mean().into_array())[[]];
        let want = a.iter().map(|v| v * 2.0 - 1.0).sum::<f64>() / n as f64;
        assert!((m - want).abs() < 1e-12, "{m} vs {want}");
        let am = get(&x.argmax().into_array())[[]];
        let want = a
            .iter()
            .enumerate()
            .fold((0, f64::MIN), |b, (i, &v)| if v > b.1 { (i, v) } else { b })
            .0;
        assert_eq!(am as usize, want);
    }
    let u = da::random::uniform(-2.0, 3.0, &[300, 7], [64, 3], 5).unwrap();
    let uv = get(&u);
    assert!(uv.iter().all(|&v| (-2.0..3.0).contains(&v)));
    assert_eq!(uv, u.compute().unwrap());
    let i = da::random::integers(-3, 9, &[1000], 128, 2).unwrap();
    assert_eq!(get(&i), i.compute().unwrap());
    let mx = get(&i.max().into_array())[[]];
    assert_eq!(mx, *i.compute().unwrap().iter().max().unwrap());
}

#[test]
fn formula_and_in_memory_sources_match_after_a_round_trip() {
    let a = da::arange(3i64, 50, 4, 5).unwrap();
    assert_eq!(
        get(&a).into_raw_vec_and_offset().0,
        (3..50).step_by(4).collect::<Vec<i64>>()
    );
    let l = da::linspace(0.0f32, 1.0, 9, true, 4).unwrap();
    assert_eq!(
        get(&l).into_raw_vec_and_offset().0,
        (0..9).map(|k| k as f32 / 8.0).collect::<Vec<f32>>()
    );
    let o = da::ones::<i32>(&[3, 4], [2, 3]).unwrap();
    assert_eq!(get(&o), ArrayD::from_elem(IxDyn(&[3, 4]), 1));
    let f = da::full(&[5], true, 2).unwrap();
    assert!(get(&f).iter().all(|&b| b));
    // In-memory data: its bytes travel once in the op, not per task.
    let data = ArrayD::from_shape_fn(IxDyn(&[20, 30]), |ix| (ix[0] * 30 + ix[1]) as f64);
    let x = da::from_array(data.clone(), [7, 8]).unwrap();
    assert_eq!(get(&x), data);
    let s = get(&x.sum().into_array())[[]];
    assert_eq!(s, data.sum());
    // A big in-memory array streams without copies (its visit path) and
    // through bytes alike.
    let big = ArrayD::from_shape_fn(IxDyn(&[100_000]), |ix| {
        ((ix[0] * 7919) % 1000) as f64 / 999.0
    });
    let xb = da::from_array(big.clone(), 10_000).unwrap();
    let g1 = get(&da::stats::skew(&xb, false).unwrap().into_array())[[]];
    let want = skew_of(big.as_slice().unwrap()) * {
        let n = big.len() as f64;
        (n * (n - 1.0)).sqrt() / (n - 2.0)
    };
    assert!((g1 - want).abs() < 1e-9, "{g1} vs {want}");
}

#[test]
fn npy_sources_stream_and_materialize_after_a_round_trip() {
    let dir = std::env::temp_dir().join(format!("oxidask-arrexpr-npy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("x.npy");
    let data = ArrayD::from_shape_fn(IxDyn(&[40, 25]), |ix| (ix[0] as f64).sin() + ix[1] as f64);
    da::from_array(data.clone(), [13, 25])
        .unwrap()
        .to_npy(&path)
        .unwrap();
    let x = da::from_npy::<f64>(&path, [9, 10]).unwrap();
    assert_eq!(get(&x), data);
    // A full reduction streams the file; an axis reduction reads blocks.
    let s = get(&(&x * 3.0).sum().into_array())[[]];
    assert!((s - data.sum() * 3.0).abs() < 1e-9);
    let cols = get(&x.mean_with(&Reduce::axis(0)).unwrap());
    let want = data.mean_axis(ndarray::Axis(0)).unwrap();
    assert!(
        cols.iter()
            .zip(want.iter())
            .all(|(a, b)| (a - b).abs() < 1e-12)
    );
    // A stack of files, one per block along axis 0.
    let stack = dir.join("stack");
    da::from_array(data.clone(), [16, 25])
        .unwrap()
        .to_npy_stack(&stack, 0)
        .unwrap();
    let y = da::from_npy_stack::<f64>(&stack).unwrap();
    assert_eq!(get(&y), data);
    let m = get(&y.max().into_array())[[]];
    assert_eq!(m, data.iter().cloned().fold(f64::MIN, f64::max));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn map_blocks_with_a_registered_function_round_trips() {
    let data = ArrayD::from_shape_fn(IxDyn(&[6, 5]), |ix| (ix[0] * 5 + ix[1]) as f64);
    let x = da::from_array(data.clone(), [4, 2]).unwrap();
    // Fused with elementwise steps before and after.
    let y = (&x + 1.0).map_blocks(scaled_rows);
    let z = &y * 0.5;
    let got = get(&z);
    // The oracle: the function applied to each block of x + 1 by hand.
    let mut want = &data + 1.0;
    for (r0, r1) in [(0, 4), (4, 6)] {
        for (c0, c1) in [(0, 2), (2, 4), (4, 5)] {
            let b = want
                .slice(ndarray::s![r0..r1, c0..c1])
                .to_owned()
                .into_dyn();
            want.slice_mut(ndarray::s![r0..r1, c0..c1])
                .assign(&scaled_rows(b));
        }
    }
    want.mapv_inplace(|v| v * 0.5);
    assert_eq!(got, want);
    // Inside a reduction (the materialized path: the function sees blocks).
    let s = get(&z.sum().into_array())[[]];
    assert!((s - want.sum()).abs() < 1e-9);
    // A function that changes the shape fails its task, naming itself.
    let bad = x.map_blocks(drops_a_row);
    let e = round_trip(|| compute_many(&bad, &ComputeOptions::new())).unwrap_err();
    assert!(e.to_string().contains("drops_a_row"), "{e}");
}

#[test]
fn blockwise_with_a_registered_function_round_trips() {
    let data = ArrayD::from_shape_fn(IxDyn(&[6, 5]), |ix| (ix[0] * 5 + ix[1]) as f64);
    let row = ArrayD::from_shape_fn(IxDyn(&[5]), |ix| ix[0] as f64 * 100.0);
    let x = da::from_array(data.clone(), [4, 2]).unwrap();
    let y = da::from_array(row.clone(), 2).unwrap();
    // Fused into a longer chain: the function sees its own blocks.
    let z = &da::blockwise_owned(&(&x - 1.0), &y, weighted).unwrap() + 0.5;
    let want = (&data - 1.0) * 2.0 + &row + 0.5;
    assert_eq!(get(&z), want);
    assert_eq!(get(&z.sum().into_array())[[]], want.sum());
    // The same function as a closure runs locally only.
    let c = da::blockwise_owned(&x, &y, |a, b| &a * 2.0 + &b).unwrap();
    assert_eq!(get_local(&c), &data * 2.0 + &row);
    let e = round_trip(|| compute_many(&c, &ComputeOptions::new())).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("blockwise") && msg.contains("#[oxidask::remote]"),
        "{msg}"
    );
}

#[test]
fn a_block_closure_cannot_leave_the_process_and_the_error_says_how_to_register() {
    let x = da::from_array(ArrayD::<f64>::zeros(IxDyn(&[4])), 2).unwrap();
    let y = x.map_blocks(|b| b + 1.0);
    // Locally it runs.
    assert_eq!(get_local(&y), ArrayD::from_elem(IxDyn(&[4]), 1.0));
    let e = round_trip(|| compute_many(&y, &ComputeOptions::new())).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("map_blocks") && msg.contains("#[oxidask::remote]"),
        "{msg}"
    );
    // So does a reduction over it.
    let e = round_trip(|| y.sum().compute()).unwrap_err();
    assert!(e.to_string().contains("#[oxidask::remote]"), "{e}");
}

fn get_local<T: da::Element>(a: &Array<T>) -> ArrayD<T> {
    compute_many(a, &ComputeOptions::new()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Every step kind of the expression tables, on every dtype it exists
    /// for, gives the same blocks through bytes as here, and matches
    /// `ndarray` on the same data.
    #[test]
    fn every_step_round_trips(seed in 0u64..1000, n in 1usize..40, chunk in 1usize..9, s in -3.0f64..3.0) {
        let a = ArrayD::from_shape_fn(IxDyn(&[n]), |ix| (((ix[0] as u64 * 2654435761 + seed) % 1000) as f64 - 500.0) / 97.0);
        let x = da::from_array(a.clone(), chunk).unwrap();
        let b = a.mapv(|v| v.sin() * 2.0);
        let y = da::from_array(b.clone(), chunk).unwrap();
        let f = |v: Array<f64>| get(&v);
        let close = |got: ArrayD<f64>, want: ArrayD<f64>| -> Result<(), TestCaseError> {
            prop_assert_eq!(got.shape(), want.shape());
            for (g, w) in got.iter().zip(want.iter()) {
                prop_assert!(g.is_nan() && w.is_nan() || (g - w).abs() <= 1e-12 * (1.0 + w.abs()), "{} vs {}", g, w);
            }
            Ok(())
        };
        close(f(x.add(&y).unwrap()), &a + &b)?;
        close(f(x.subtract(s).unwrap()), a.mapv(|v| v - s))?;
        close(f(2.0 - &x), a.mapv(|v| 2.0 - v))?;
        close(f(x.multiply(&y).unwrap()), &a * &b)?;
        close(f(x.divide(3.0).unwrap()), a.mapv(|v| v / 3.0))?;
        close(f(x.remainder(1.5).unwrap()), a.mapv(|v| ((v % 1.5) + 1.5) % 1.5))?;
        close(f(x.maximum(&y).unwrap()), ndarray::Zip::from(&a).and(&b).map_collect(|&p, &q| p.max(q)))?;
        close(f(x.minimum(s).unwrap()), a.mapv(|v| v.min(s)))?;
        close(f(x.negative()), a.mapv(|v| -v))?;
        close(f(x.abs()), a.mapv(f64::abs))?;
        close(f(x.powi(3)), a.mapv(|v| v.powi(3)))?;
        close(f(x.clip(-1.0, s)), a.mapv(|v| if v < -1.0 { -1.0 } else { v }).mapv(|v| if v > s { s } else { v }))?;
        close(f(x.abs().sqrt()), a.mapv(|v| v.abs().sqrt()))?;
        close(f(x.exp()), a.mapv(f64::exp))?;
        close(f(x.tanh()), a.mapv(f64::tanh))?;
        close(f(x.floor()), a.mapv(f64::floor))?;
        close(f(x.round()), a.mapv(f64::round_ties_even))?;
        close(f(x.abs().powf(&y).unwrap()), ndarray::Zip::from(&a).and(&b).map_collect(|&p, &q| p.abs().powf(q)))?;
        close(f(x.arctan2(0.5).unwrap()), a.mapv(|v| v.atan2(0.5)))?;
        let c = x.less(&y).unwrap();
        prop_assert_eq!(get(&c), ndarray::Zip::from(&a).and(&b).map_collect(|&p, &q| p < q));
        prop_assert_eq!(get(&x.greater_equal(s).unwrap()), a.mapv(|v| v >= s));
        prop_assert_eq!(get(&x.isnan()), a.mapv(f64::is_nan));
        prop_assert_eq!(get(&x.isfinite()), a.mapv(f64::is_finite));
        let nc = c.logical_not();
        prop_assert_eq!(get(&(&c ^ &nc)), ArrayD::from_elem(IxDyn(&[n]), true));
        prop_assert_eq!(get(&c.logical_and(true).unwrap()), get(&c));
        close(f(da::where_(&c, &x, s).unwrap()), ndarray::Zip::from(&a).and(&b).map_collect(|&p, &q| if p < q { p } else { s }))?;
        let i = (&x * 10.0).astype::<i64>();
        prop_assert_eq!(get(&i), a.mapv(|v| (v * 10.0) as i64));
        prop_assert_eq!(get(&(&i % 7)), a.mapv(|v| ((v * 10.0) as i64).rem_euclid(7)));
        prop_assert_eq!(get(&(5 - &i)), a.mapv(|v| 5 - (v * 10.0) as i64));
        prop_assert_eq!(get(&i.astype::<u8>().astype::<f32>()), a.mapv(|v| (v * 10.0) as i64 as u8 as f32));
    }
}
