//! Arrays against plain `ndarray` on the whole array: random shapes (1–4-d),
//! random regular and ragged chunkings (size-1 and empty chunks included),
//! random axes; NaN cases for the nan- variants; statistics against a
//! direct two-pass formula.
//!
//! Submodules: `as_data` (the shape, rechunk, mask and cumulative graphs
//! through bytes), `blocks` (user block functions see whole blocks), `sizes`
//! (checked size arithmetic, vanished files), `thresholds` (reductions on
//! inputs past the streaming thresholds), `functions` and `npy` (NumPy's
//! own results and files as the oracle), `parity` (issue 14: reshape that
//! rechunks, flat and nan- cumulatives, unified concatenation, N-d
//! matmul and tensordot, against NumPy's rules).

use ndarray::{ArrayD, Axis, IxDyn};
use oxidask::array::{self as da, Array, Reduce, ndarray};
use oxidask::scheduler::{ComputeOptions, SchedulerChoice, compute_many};
use proptest::prelude::*;

mod as_data;
use as_data::fit;
mod blocks;
mod data;
mod dtypes;
mod functions;
mod map_blocks_info;
mod moment;
mod npy;
mod parity;
mod shared_scans;
mod sizes;
mod thresholds;
mod topk;

/// Equal when printed alike: NaN equals NaN, so results with NaN can be
/// compared between runs.
#[derive(Debug)]
struct Printed<T>(T);

impl<T: std::fmt::Debug> PartialEq for Printed<T> {
    fn eq(&self, other: &Self) -> bool {
        format!("{:?}", self.0) == format!("{:?}", other.0)
    }
}

/// `a` computed on the sync and the threaded scheduler, each plain and
/// with its optimized graph sent through bytes and decoded through the
/// registries alone (`both_ways`), which must agree. Blocks come back as
/// outputs (`compute_many`), so only the array's own graph is encoded.
fn get<T: da::Element>(a: &Array<T>) -> ArrayD<T> {
    let run = |choice: SchedulerChoice| {
        let opts = ComputeOptions::new().scheduler(choice);
        oxidask_testing::both_ways(|| Printed(compute_many(a, &opts).unwrap())).0
    };
    let sync = run(SchedulerChoice::Sync);
    let threaded = run(SchedulerChoice::Threaded);
    assert_eq!(
        Printed(&sync),
        Printed(&threaded),
        "sync and threaded differ"
    );
    sync
}

/// A shape of 1–4 axes of length 1–6 and a chunking of it.
fn shape_and_chunks() -> impl Strategy<Value = (Vec<usize>, Vec<Vec<usize>>)> {
    prop::collection::vec(1usize..=6, 1..=4).prop_flat_map(|shape| {
        let per_axis: Vec<_> = shape.iter().map(|&n| chunking(n).boxed()).collect();
        (Just(shape), per_axis)
    })
}

/// Up to four random cuts of an axis of length `n`: chunk lengths that sum
/// to `n`, possibly empty ones.
fn ragged(n: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0..=n, 0..4).prop_map(move |mut cuts| {
        cuts.push(n);
        cuts.sort_unstable();
        let mut prev = 0;
        cuts.into_iter()
            .map(|c| {
                let len = c - prev;
                prev = c;
                len
            })
            .collect()
    })
}

/// Regular chunks (any size, remainder or not) or a ragged partition that
/// may contain empty chunks.
fn chunking(n: usize) -> impl Strategy<Value = Vec<usize>> {
    prop_oneof![
        (1..=n).prop_map(move |s| {
            let mut v = vec![s; n / s];
            if n % s != 0 {
                v.push(n % s);
            }
            v
        }),
        ragged(n),
    ]
}

fn data(shape: &[usize], seed: u64, nan_every: usize) -> ArrayD<f64> {
    let mut k = seed;
    ArrayD::from_shape_simple_fn(IxDyn(shape), || {
        k = k
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let v = ((k >> 33) % 1000) as f64 / 100.0 - 5.0;
        if nan_every > 0 && (k >> 20) % nan_every as u64 == 0 {
            f64::NAN
        } else {
            v
        }
    })
}

/// Axes to reduce: `None` for all, else a subset (in random order).
fn axes_for(ndim: usize, pick: &[bool], all: bool) -> Option<Vec<usize>> {
    if all {
        return None;
    }
    Some((0..ndim).filter(|&a| pick[a % pick.len()]).collect())
}

/// `f` over each row of the reduced axes, as the oracle: reduced axes kept
/// as length 1 or dropped.
fn oracle<T: Clone + Default>(
    a: &ArrayD<f64>,
    axes: &Option<Vec<usize>>,
    keepdims: bool,
    f: impl Fn(&[f64]) -> T,
) -> ArrayD<T> {
    let ndim = a.ndim();
    let red: Vec<usize> = axes.clone().unwrap_or_else(|| (0..ndim).collect());
    let keep: Vec<usize> = (0..ndim).filter(|x| !red.contains(x)).collect();
    let perm: Vec<usize> = keep.iter().chain(&red).copied().collect();
    let p = a.view().permuted_axes(IxDyn(&perm));
    let nout: usize = keep.iter().map(|&x| a.shape()[x]).product();
    let nred: usize = red.iter().map(|&x| a.shape()[x]).product();
    let rows = p
        .as_standard_layout()
        .into_shape_with_order((nout, nred))
        .unwrap()
        .to_owned();
    let vals: Vec<T> = rows
        .axis_iter(Axis(0))
        .map(|r| f(r.as_slice().unwrap()))
        .collect();
    let shape: Vec<usize> = (0..ndim)
        .filter(|x| keepdims || !red.contains(x))
        .map(|x| if red.contains(&x) { 1 } else { a.shape()[x] })
        .collect();
    ArrayD::from_shape_vec(IxDyn(&shape), vals).unwrap()
}

fn close(a: &ArrayD<f64>, b: &ArrayD<f64>, tol: f64) -> Result<(), TestCaseError> {
    prop_assert_eq!(a.shape(), b.shape());
    for (x, y) in a.iter().zip(b.iter()) {
        let ok = (x.is_nan() && y.is_nan()) || (x - y).abs() <= tol * (1.0 + y.abs());
        prop_assert!(ok, "{} vs {} (got {:?}, expected {:?})", x, y, a, b);
    }
    Ok(())
}

fn reduce_opts(axes: &Option<Vec<usize>>, keepdims: bool, split: usize) -> Reduce {
    let r = match axes {
        None => Reduce::all(),
        Some(a) => Reduce::axes(&a.iter().map(|&x| x as isize).collect::<Vec<_>>()),
    };
    r.keepdims(keepdims).split_every(split)
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// Central moment by the direct two-pass formula.
fn central(xs: &[f64], k: i32) -> f64 {
    let m = mean(xs);
    xs.iter().map(|x| (x - m).powi(k)).sum::<f64>() / xs.len() as f64
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn elementwise_with_broadcasting(
        (shape, chunks) in shape_and_chunks(),
        seed in 0u64..1000,
        drop_axes in 0usize..4,
        s in -3.0f64..3.0,
    ) {
        let a = data(&shape, seed, 0);
        let x = da::from_array(a.clone(), chunks.clone()).unwrap();
        // A trailing sub-shape with some axes of length 1 broadcasts.
        let k = drop_axes.min(shape.len() - 1);
        let bshape: Vec<usize> = shape[k..].iter().enumerate().map(|(i, &n)| if i % 2 == 0 { n } else { 1 }).collect();
        let b = data(&bshape, seed + 1, 0);
        // Chunked like x, so no rechunk: this expression runs through bytes.
        let ychunks: Vec<Vec<usize>> = chunks[k..].iter().zip(&shape[k..]).zip(&bshape).map(|((c, &m), &n)| if n == m { c.clone() } else { vec![1] }).collect();
        let y = da::from_array(b.clone(), ychunks).unwrap();
        let z = &(&(&x * &y) + s) - &x.abs().sqrt();
        let expect = (&(&a * &b) + s) - a.mapv(|v| v.abs().sqrt());
        close(&get(&z), &expect, 1e-12)?;
        // Chunked differently: rechunked first, through bytes too.
        let y2 = da::from_array(b.clone(), 2).unwrap();
        let z2 = &(&(&x * &y2) + s) - &x.abs().sqrt();
        close(&get(&z2), &expect, 1e-12)?;
        let c = x.greater(&y).unwrap();
        let w = get(&da::where_(&c, &x, &y).unwrap());
        let bb = b.broadcast(a.shape()).unwrap();
        let we = ndarray::Zip::from(&a).and(&bb).map_collect(|&p, &q| if p > q { p } else { q });
        close(&w, &we, 0.0)?;
        let i = (&x * 10.0).astype::<i64>();
        prop_assert_eq!(get(&i), a.mapv(|v| (v * 10.0) as i64));
    }

    #[test]
    fn reductions_match_ndarray(
        (shape, chunks) in shape_and_chunks(),
        seed in 0u64..1000,
        pick in prop::collection::vec(any::<bool>(), 4),
        all in any::<bool>(),
        keepdims in any::<bool>(),
        split in 2usize..5,
    ) {
        let a = data(&shape, seed, 0);
        let x = da::from_array(a.clone(), chunks).unwrap();
        let axes = axes_for(shape.len(), &pick, all);
        let o = reduce_opts(&axes, keepdims, split);
        close(&get(&x.sum_with(&o).unwrap()), &oracle(&a, &axes, keepdims, |r| r.iter().sum()), 1e-12)?;
        close(&get(&x.prod_with(&o).unwrap()), &oracle(&a, &axes, keepdims, |r| r.iter().product()), 1e-9)?;
        close(&get(&x.mean_with(&o).unwrap()), &oracle(&a, &axes, keepdims, mean), 1e-12)?;
        close(&get(&x.max_with(&o).unwrap()), &oracle(&a, &axes, keepdims, |r| r.iter().cloned().fold(f64::MIN, f64::max)), 0.0)?;
        close(&get(&x.min_with(&o).unwrap()), &oracle(&a, &axes, keepdims, |r| r.iter().cloned().fold(f64::MAX, f64::min)), 0.0)?;
        for ddof in [0.0, 1.0] {
            let var = |r: &[f64]| {
                let m = mean(r);
                r.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (r.len() as f64 - ddof).max(0.0)
            };
            close(&get(&x.var_with(ddof, &o).unwrap()), &oracle(&a, &axes, keepdims, var), 1e-10)?;
            close(&get(&x.std_with(ddof, &o).unwrap()), &oracle(&a, &axes, keepdims, |r| var(r).sqrt()), 1e-10)?;
        }
        let pos = x.greater(0.0).unwrap();
        let any = get(&pos.any_with(&o).unwrap());
        prop_assert_eq!(any, oracle(&a, &axes, keepdims, |r| r.iter().any(|&v| v > 0.0)));
        let allp = get(&pos.all_with(&o).unwrap());
        prop_assert_eq!(allp, oracle(&a, &axes, keepdims, |r| r.iter().all(|&v| v > 0.0)));
        // Integer sums are exact.
        let xi: Array<i32> = (&x * 100.0).astype();
        let ai = a.mapv(|v| (v * 100.0) as i32 as f64);
        let si = get(&xi.sum_with(&o).unwrap()).mapv(|v| v as f64);
        close(&si, &oracle(&ai, &axes, keepdims, |r| r.iter().sum()), 0.0)?;
    }

    #[test]
    fn arg_reductions_match_ndarray(
        (shape, chunks) in shape_and_chunks(),
        seed in 0u64..1000,
        axis in 0usize..4,
        flat in any::<bool>(),
    ) {
        // Few distinct values, so ties (first occurrence wins) are common.
        let a = data(&shape, seed, 0).mapv(|v| v.round());
        let x = da::from_array(a.clone(), chunks).unwrap();
        let axes = if flat { None } else { Some(vec![axis % shape.len()]) };
        let o = reduce_opts(&axes, false, 3);
        let first = |r: &[f64], better: fn(f64, f64) -> bool| {
            let mut best = 0;
            for (i, &v) in r.iter().enumerate() {
                if better(v, r[best]) { best = i; }
            }
            best as i64
        };
        let got = get(&x.argmin_with(&o).unwrap());
        prop_assert_eq!(got, oracle(&a, &axes, false, |r| first(r, |v, b| v < b)));
        let got = get(&x.argmax_with(&o).unwrap());
        prop_assert_eq!(got, oracle(&a, &axes, false, |r| first(r, |v, b| v > b)));
    }

    #[test]
    fn nan_variants_skip_nan(
        (shape, chunks) in shape_and_chunks(),
        seed in 0u64..1000,
        pick in prop::collection::vec(any::<bool>(), 4),
        all in any::<bool>(),
    ) {
        let a = data(&shape, seed, 3);
        let x = da::from_array(a.clone(), chunks).unwrap();
        let axes = axes_for(shape.len(), &pick, all);
        let o = reduce_opts(&axes, false, 2);
        let clean = |r: &[f64]| r.iter().cloned().filter(|v| !v.is_nan()).collect::<Vec<f64>>();
        close(&get(&x.nansum_with(&o).unwrap()), &oracle(&a, &axes, false, |r| clean(r).iter().sum()), 1e-12)?;
        close(&get(&x.nanmean_with(&o).unwrap()), &oracle(&a, &axes, false, |r| mean(&clean(r))), 1e-12)?;
        let nanmax = |r: &[f64]| { let c = clean(r); if c.is_empty() { f64::NAN } else { c.iter().cloned().fold(f64::MIN, f64::max) } };
        close(&get(&x.nanmax_with(&o).unwrap()), &oracle(&a, &axes, false, nanmax), 0.0)?;
        let nanvar = |r: &[f64]| { let c = clean(r); let m = mean(&c); c.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / c.len() as f64 };
        close(&get(&x.nanvar_with(0.0, &o).unwrap()), &oracle(&a, &axes, false, nanvar), 1e-10)?;
        let nanstd1 = |r: &[f64]| { let c = clean(r); let m = mean(&c); (c.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (c.len() as f64 - 1.0).max(0.0)).sqrt() };
        close(&get(&x.nanstd_with(1.0, &o).unwrap()), &oracle(&a, &axes, false, nanstd1), 1e-10)?;
        let nanmin = |r: &[f64]| { let c = clean(r); if c.is_empty() { f64::NAN } else { c.iter().cloned().fold(f64::MAX, f64::min) } };
        close(&get(&x.nanmin_with(&o).unwrap()), &oracle(&a, &axes, false, nanmin), 0.0)?;
        // Products of values clipped to [-1.5, 1.5] stay finite.
        let small = a.mapv(|v| if v.is_nan() { v } else { v.clamp(-1.5, 1.5) });
        let xs = x.clip(-1.5, 1.5);
        close(&get(&xs.nanprod_with(&o).unwrap()), &oracle(&small, &axes, false, |r| clean(r).iter().product()), 1e-9)?;
        // Plain variants propagate NaN.
        close(&get(&x.sum_with(&o).unwrap()), &oracle(&a, &axes, false, |r| r.iter().sum()), 1e-12)?;
        close(&get(&x.max_with(&o).unwrap()), &oracle(&a, &axes, false, |r| if r.iter().any(|v| v.is_nan()) { f64::NAN } else { r.iter().cloned().fold(f64::MIN, f64::max) }), 0.0)?;
    }

    #[test]
    fn stats_match_the_two_pass_formula(
        (shape, chunks) in shape_and_chunks(),
        seed in 0u64..1000,
        axis in 0usize..4,
        flat in any::<bool>(),
        bias in any::<bool>(),
        fisher in any::<bool>(),
    ) {
        let a = data(&shape, seed, 0);
        let x = da::from_array(a.clone(), chunks).unwrap();
        let axes = if flat { None } else { Some(vec![axis % shape.len()]) };
        let o = reduce_opts(&axes, false, 2);
        let skew = |r: &[f64]| {
            let n = r.len() as f64;
            let (m2, m3) = (central(r, 2), central(r, 3));
            if m2 <= (1e-15 * mean(r)).powi(2) { return f64::NAN; }
            let g1 = m3 / m2.powf(1.5);
            if !bias && n > 2.0 { g1 * (n * (n - 1.0)).sqrt() / (n - 2.0) } else { g1 }
        };
        let kurt = |r: &[f64]| {
            let n = r.len() as f64;
            let (m2, m4) = (central(r, 2), central(r, 4));
            if m2 <= (1e-15 * mean(r)).powi(2) { return f64::NAN; }
            let mut g2 = m4 / (m2 * m2);
            if !bias && n > 3.0 {
                g2 = 1.0 / (n - 2.0) / (n - 3.0) * ((n * n - 1.0) * g2 - 3.0 * (n - 1.0) * (n - 1.0)) + 3.0;
            }
            if fisher { g2 - 3.0 } else { g2 }
        };
        close(&get(&da::stats::skew_with(&x, bias, &o).unwrap()), &oracle(&a, &axes, false, skew), 1e-9)?;
        close(&get(&da::stats::kurtosis_with(&x, fisher, bias, &o).unwrap()), &oracle(&a, &axes, false, kurt), 1e-9)?;
        for k in [0u32, 1, 2, 3, 4, 5] {
            let m = da::stats::moment_with(&x, k, &o).unwrap();
            // Orders above 4 subtract a kept-dims mean, which rechunks
            // when the input has empty chunks: through bytes as well.
            let m = get(&m);
            close(&m, &oracle(&a, &axes, false, |r| if k == 0 { 1.0 } else if k == 1 { 0.0 } else { central(r, k as i32) }), 1e-9)?;
        }
    }

    #[test]
    fn slicing_matches_ndarray(
        (shape, chunks) in shape_and_chunks(),
        seed in 0u64..1000,
        picks in prop::collection::vec((0usize..4, -7isize..7, -7isize..7, prop_oneof![-3isize..=-1, 1isize..=3]), 4),
    ) {
        use ndarray::SliceInfoElem;
        let a = data(&shape, seed, 0);
        let x = da::from_array(a.clone(), chunks).unwrap();
        let info: Vec<SliceInfoElem> = shape.iter().zip(&picks).map(|(&n, &(kind, i, j, step))| {
            let n = n as isize;
            let clamp = |v: isize| v.clamp(-n, n);
            match kind {
                0 => SliceInfoElem::Index(i.rem_euclid(n)),
                1 => SliceInfoElem::Slice { start: clamp(i), end: None, step },
                _ => {
                    let (s, e) = (clamp(i), clamp(j));
                    let (s2, e2) = (if s < 0 { s + n } else { s }, if e < 0 { e + n } else { e });
                    if s2 <= e2 { SliceInfoElem::Slice { start: s, end: Some(e), step } } else { SliceInfoElem::Slice { start: e, end: Some(s), step } }
                }
            }
        }).collect();
        let got = get(&x.slice(info.as_slice()).unwrap());
        prop_assert_eq!(got, a.slice(info.as_slice()).to_owned());
        let idx: Vec<isize> = picks.iter().map(|p| p.1.rem_euclid(shape[0] as isize)).collect();
        let t = get(&x.take(&idx, 0).unwrap());
        let expect = a.select(Axis(0), &idx.iter().map(|&i| i as usize).collect::<Vec<_>>());
        prop_assert_eq!(t, expect);
    }

    #[test]
    fn cumulative_matches_ndarray((shape, chunks) in shape_and_chunks(), seed in 0u64..1000, axis in 0usize..4) {
        let a = data(&shape, seed, 0).mapv(|v| v.round());
        let x = da::from_array(a.clone(), chunks).unwrap();
        let ax = axis % shape.len();
        let mut s = a.clone();
        s.accumulate_axis_inplace(Axis(ax), |&p, c| *c += p);
        close(&get(&x.cumsum(ax as isize).unwrap()), &s, 1e-12)?;
        let small = a.mapv(|v| v / 4.0);
        let y = get(&(&x / 4.0).cumprod(ax as isize).unwrap());
        let mut p = small.clone();
        p.accumulate_axis_inplace(Axis(ax), |&q, c| *c *= q);
        close(&y, &p, 1e-9)?;
        let xi: Array<i32> = x.astype();
        let si = get(&xi.cumsum(-1).unwrap());
        let mut e = a.mapv(|v| v as i64);
        e.accumulate_axis_inplace(Axis(shape.len() - 1), |&q, c| *c += q);
        prop_assert_eq!(si, e);
    }

    #[test]
    fn boolean_masks_match_ndarray(
        (shape, chunks) in shape_and_chunks(),
        mchunks in prop::collection::vec(chunking(6), 4),
        seed in 0u64..1000,
        kind in 0usize..4,
        thr in -6.0f64..6.0,
        axis in 0usize..4,
    ) {
        let a = data(&shape, seed, 0);
        let x = da::from_array(a.clone(), chunks).unwrap();
        // The mask's own chunking: a chunking of length 6 cut down to each axis.
        let bits = data(&shape, seed ^ 0x5555, 0);
        let m = match kind {
            0 => bits.mapv(|v| v > 0.0),
            1 => bits.mapv(|_| false),
            2 => bits.mapv(|_| true),
            _ => a.mapv(|v| v > thr),
        };
        let lazy = if kind == 3 {
            x.greater(thr).unwrap() // fused, chunked like x
        } else {
            let mc: Vec<Vec<usize>> = shape.iter().zip(&mchunks).map(|(&n, c)| fit(c, n)).collect();
            da::from_array(m.clone(), mc).unwrap()
        };
        let expect: Vec<f64> = a.iter().zip(m.iter()).filter(|p| *p.1).map(|p| *p.0).collect();
        let y = x.mask(&lazy).unwrap();
        prop_assert_eq!(y.shape(), &[expect.len()]);
        prop_assert_eq!(y.chunks()[0].iter().sum::<usize>(), expect.len());
        let got = get(&y);
        prop_assert_eq!(got.iter().copied().collect::<Vec<_>>(), expect);

        // A 1-d mask along one axis.
        let ax = axis % shape.len();
        let n = shape[ax];
        let m1: Vec<bool> = (0..n).map(|i| match kind {
            1 => false,
            2 => true,
            _ => bits.iter().nth(i).is_some_and(|&v| v > thr.min(0.0)),
        }).collect();
        let lazy1 = da::from_array(
            ndarray::Array1::from(m1.clone()).into_dyn(),
            vec![fit(&mchunks[ax], n)],
        ).unwrap();
        let picks: Vec<usize> = (0..n).filter(|&i| m1[i]).collect();
        let y1 = x.mask_axis(&lazy1, ax as isize).unwrap();
        let e1 = a.select(Axis(ax), &picks);
        prop_assert_eq!(y1.shape(), e1.shape());
        prop_assert_eq!(get(&y1), e1.clone());
        // Negative axis, and the mask as a lazy expression.
        let y2 = x.mask_axis(&!&lazy1, ax as isize - shape.len() as isize).unwrap();
        let rest: Vec<usize> = (0..n).filter(|&i| !m1[i]).collect();
        prop_assert_eq!(get(&y2), a.select(Axis(ax), &rest));
    }

    #[test]
    fn rechunk_round_trips((shape, chunks) in shape_and_chunks(), seed in 0u64..1000, to in 1usize..5) {
        let a = data(&shape, seed, 0);
        let x = da::from_array(a.clone(), chunks).unwrap();
        let y = x.rechunk(to).unwrap();
        prop_assert_eq!(get(&y), a);
    }

    /// Reductions with no axis (to a scalar) over 1–4-d arrays, through
    /// bytes and plain: every level of the reduction tree, against plain
    /// folds over all elements.
    #[test]
    fn full_reductions_over_nd_arrays(
        (shape, chunks) in shape_and_chunks(),
        seed in 0u64..1000,
        nan_every in prop_oneof![Just(0usize), 2usize..5],
    ) {
        let a = data(&shape, seed, 0);
        let x = da::from_array(a.clone(), chunks.clone()).unwrap();
        let all: Vec<f64> = a.iter().copied().collect();
        let n = all.len() as f64;
        let m = mean(&all);
        let near = |got: f64, want: f64, tol: f64| -> Result<(), TestCaseError> {
            let ok = got == want || (got - want).abs() <= tol * (1.0 + want.abs());
            prop_assert!(ok, "{} vs {}", got, want);
            Ok(())
        };
        near(scalar(&x.sum()), all.iter().sum(), 1e-12)?;
        near(scalar(&x.prod()), all.iter().product(), 1e-9)?;
        near(scalar(&x.mean()), m, 1e-12)?;
        near(scalar(&x.var(0.0)), all.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / n, 1e-10)?;
        prop_assert_eq!(scalar(&x.max()), all.iter().cloned().fold(f64::MIN, f64::max));
        prop_assert_eq!(scalar(&x.min()), all.iter().cloned().fold(f64::MAX, f64::min));
        let first_max = (0..all.len()).fold(0, |b, i| if all[i] > all[b] { i } else { b });
        prop_assert_eq!(scalar(&x.argmax()) as usize, first_max);
        let pos = x.greater(0.0).unwrap();
        prop_assert_eq!(scalar(&pos.any()), all.iter().any(|&v| v > 0.0));
        prop_assert_eq!(scalar(&pos.all()), all.iter().all(|&v| v > 0.0));
        let xi: Array<i64> = (&x * 100.0).astype();
        prop_assert_eq!(scalar(&xi.sum()), all.iter().map(|&v| (v * 100.0) as i64).sum::<i64>());
        // With NaN: the nan- variants skip them.
        let b = data(&shape, seed, nan_every);
        let y = da::from_array(b.clone(), chunks).unwrap();
        let kept: Vec<f64> = b.iter().copied().filter(|v| !v.is_nan()).collect();
        near(scalar(&y.nansum()), kept.iter().sum(), 1e-12)?;
        prop_assert_eq!(scalar(&y.nanmax()).is_nan(), kept.is_empty());
        if !kept.is_empty() {
            prop_assert_eq!(scalar(&y.nanmax()), kept.iter().cloned().fold(f64::MIN, f64::max));
        }
    }
}

/// A reduction to one value, computed plain and through bytes
/// (`both_ways`), which must agree.
fn scalar<T: da::Element>(s: &da::Scalar<T>) -> T {
    oxidask_testing::both_ways(|| Printed(s.compute().unwrap())).0
}

#[test]
fn bad_input_is_an_error_naming_the_argument() {
    let a = ArrayD::<f64>::zeros(IxDyn(&[4, 3]));
    let e = da::from_array(a.clone(), vec![vec![2, 1], vec![3]])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("chunks") && e.contains("axis 0") && e.contains("length 4"),
        "{e}"
    );
    let x = da::from_array(a, [2, 2]).unwrap();
    let e = x.sum_with(&Reduce::axis(-3)).unwrap_err().to_string();
    assert!(e.contains("axis -3") && e.contains("2 dimensions"), "{e}");
    let y = da::ones::<f64>(&[5], 2).unwrap();
    let e = x.add(&y).unwrap_err().to_string();
    assert!(e.contains("[4, 3]") && e.contains("[5]"), "{e}");
    assert!(
        da::random::uniform(1.0, 0.0, &[3], 1, 0)
            .unwrap_err()
            .to_string()
            .contains("low/high")
    );
}

#[test]
fn random_arrays_are_independent_of_the_scheduler_and_the_order() {
    use oxidask::prelude::*;
    let x = da::random::standard_normal(&[64, 10], [7, 3], 11).unwrap();
    let a = x.compute().unwrap();
    let b = x
        .compute_with(&ComputeOptions::new().scheduler(SchedulerChoice::Sync))
        .unwrap();
    assert_eq!(a, b);
    // Any one block alone has the same numbers.
    let s = x.sum_with(&Reduce::axis(1)).unwrap().compute().unwrap();
    assert!((s.sum() - a.sum()).abs() < 1e-9);
    let g = da::stats::skew(&x, true).unwrap().compute().unwrap();
    let flat: Vec<f64> = a.iter().copied().collect();
    let expect = central(&flat, 3) / central(&flat, 2).powf(1.5);
    assert!((g - expect).abs() < 1e-12, "{g} vs {expect}");
}

#[test]
fn boolean_masks_edge_cases() {
    // 0-d: x[mask] has length 0 or 1.
    let s = da::from_array(
        ArrayD::from_elem(IxDyn(&[]), 7i64),
        Vec::<Vec<usize>>::new(),
    )
    .unwrap();
    let t = da::from_array(
        ArrayD::from_elem(IxDyn(&[]), true),
        Vec::<Vec<usize>>::new(),
    )
    .unwrap();
    assert_eq!(
        s.mask(&t)
            .unwrap()
            .compute()
            .unwrap()
            .into_raw_vec_and_offset()
            .0,
        vec![7]
    );
    assert_eq!(s.mask(&!&t).unwrap().shape(), &[0]);
    // An axis of length 0.
    let e = da::zeros::<f64>(&[3, 0, 2], 2).unwrap();
    let me = da::full(&[3, 0, 2], true, 1).unwrap();
    assert_eq!(e.mask(&me).unwrap().compute().unwrap().len(), 0);
    // Bad masks: errors naming the argument and the shapes, when built.
    let x = da::ones::<f64>(&[4, 3], 2).unwrap();
    let bad = da::full(&[3, 4], true, 2).unwrap();
    let err = x.mask(&bad).unwrap_err().to_string();
    assert!(
        err.contains("`mask`") && err.contains("[3, 4]") && err.contains("[4, 3]"),
        "{err}"
    );
    let err = x
        .mask_axis(&da::full(&[4], true, 2).unwrap(), 1)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`mask`") && err.contains("axis 1 of length 3"),
        "{err}"
    );
    let err = x
        .mask_axis(&da::full(&[3], true, 2).unwrap(), 2)
        .unwrap_err()
        .to_string();
    assert!(err.contains("axis 2"), "{err}");
    // The result of a mask is an ordinary array: it reduces, and masking
    // with x > 0 keeps exact chunks (one per mask block with a true value).
    let r = da::arange(-5.0f64, 15.0, 1.0, 4).unwrap();
    let pos = r.mask(&r.greater(0.0).unwrap()).unwrap();
    assert_eq!(pos.chunks(), &[vec![2, 4, 4, 4]]);
    assert_eq!(pos.sum().compute().unwrap(), (1..15).sum::<i32>() as f64);
}

#[test]
fn reductions_keeping_most_axes_spill_their_partials_under_a_tiny_limit() {
    use oxidask::prelude::*;
    use oxidask::scheduler::{Callback, Event};
    use std::sync::{Arc, Mutex};

    /// Bytes spilled by the last computation.
    #[derive(Default)]
    struct Spilled(Mutex<usize>);
    impl Callback for Spilled {
        fn on_event(&self, e: &Event<'_>) {
            if let Event::Finished { memory, .. } = e {
                *self.0.lock().unwrap() = memory.spilled_bytes;
            }
        }
    }

    // 64 blocks along the reduced axis, 256 kept values each: one combine
    // task reads all 64 partials (2–10 KB each), far over a 32 KiB limit.
    let x = da::random::uniform(-1.0, 1.0, &[64, 16, 16], [1, 16, 16], 3).unwrap();
    let a = x.compute().unwrap();
    let r = Reduce::axis(0).split_every(64);
    let spilled = Arc::new(Spilled::default());
    let opts = ComputeOptions::new()
        .memory_limit(Some(32 << 10))
        .callback(spilled.clone());
    let check = |what: &str, got: ArrayD<f64>, expect: ArrayD<f64>| {
        let s = std::mem::take(&mut *spilled.0.lock().unwrap());
        assert!(s > 0, "{what}: nothing spilled");
        close(&got, &expect, 1e-12).unwrap_or_else(|e| panic!("{what}: {e}"));
    };
    check(
        "sum",
        x.sum_with(&r).unwrap().compute_with(&opts).unwrap(),
        a.sum_axis(Axis(0)),
    );
    let n = 64.0;
    let mean = a.sum_axis(Axis(0)) / n;
    let var = a
        .axis_iter(Axis(0))
        .fold(ArrayD::zeros(mean.raw_dim()), |acc, row| {
            acc + (&row - &mean).mapv(|d| d * d)
        })
        / (n - 1.0);
    check(
        "var",
        x.var_with(1.0, &r).unwrap().compute_with(&opts).unwrap(),
        var,
    );
    check(
        "min",
        x.min_with(&r).unwrap().compute_with(&opts).unwrap(),
        a.map_axis(Axis(0), |c| c.fold(f64::INFINITY, |m, &v| m.min(v))),
    );
    let am = x.argmax_with(&r).unwrap().compute_with(&opts).unwrap();
    check(
        "argmax",
        am.mapv(|i| i as f64),
        a.map_axis(Axis(0), |c| {
            let mut best = 0;
            for (i, &v) in c.iter().enumerate() {
                if v > c[best] {
                    best = i;
                }
            }
            best as f64
        }),
    );
    // cumsum's blocks and carries along the first axis, reduced by one
    // combine of all 64 partials, spill too.
    let mut cs = a.clone();
    cs.accumulate_axis_inplace(Axis(0), |&p, c| *c += p);
    check(
        "cumsum",
        x.cumsum(0)
            .unwrap()
            .sum_with(&r)
            .unwrap()
            .compute_with(&opts)
            .unwrap(),
        cs.sum_axis(Axis(0)),
    );
}

#[test]
fn compute_copies_blocks_into_the_result_without_holding_or_spilling_them() {
    use oxidask::prelude::*;
    use oxidask::scheduler::{Callback, Event};
    use std::sync::{Arc, Mutex};

    /// Bytes spilled and peak bytes held by the last computation.
    #[derive(Default)]
    struct Held(Mutex<(usize, usize)>);
    impl Callback for Held {
        fn on_event(&self, e: &Event<'_>) {
            if let Event::Finished {
                memory,
                peak_held_bytes,
                ..
            } = e
            {
                *self.0.lock().unwrap() = (memory.spilled_bytes, *peak_held_bytes);
            }
        }
    }

    // 64 blocks of 2 KiB: 128 KiB of result under a 32 KiB limit. Before
    // the blocks were assembled as they finished, all 64 were held to the
    // end, and most were spilled to disk and read back.
    let a = data(&[64, 16, 16], 9, 0);
    let x = da::from_array(a.clone(), [1, 16, 16]).unwrap();
    let y = &(&x * 2.0) + 1.0;
    let expect = a.mapv(|v| v * 2.0 + 1.0);
    for scheduler in [SchedulerChoice::Sync, SchedulerChoice::Threaded] {
        let held = Arc::new(Held::default());
        let opts = ComputeOptions::new()
            .scheduler(scheduler.clone())
            .memory_limit(Some(32 << 10))
            .callback(held.clone());
        assert_eq!(y.compute_with(&opts).unwrap(), expect);
        let (spilled, peak) = *held.0.lock().unwrap();
        assert_eq!(spilled, 0, "{scheduler:?}: {spilled} bytes spilled");
        assert!(
            peak <= 16 << 10,
            "{scheduler:?}: {peak} bytes held at the peak for 2 KiB blocks"
        );
    }
    // Edge cases of assembly: empty axes and ragged blocks.
    for (shape, chunks) in [
        (vec![0usize, 5], vec![vec![0], vec![2, 3]]),
        (vec![5, 7], vec![vec![1, 0, 4], vec![3, 3, 1]]),
        (vec![3, 0, 2], vec![vec![1, 2], vec![0], vec![2]]),
    ] {
        let a = data(&shape, 3, 0);
        let x = da::from_array(a.clone(), chunks).unwrap();
        assert_eq!((&x + 0.0).compute().unwrap(), a);
    }
}
