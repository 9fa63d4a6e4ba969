//! Unit tests across modules: fusion, culling, errors, reductions against
//! plain `ndarray`. Results are computed both ways ([`BothWays::both`]):
//! plain and with the graph through bytes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ndarray::{ArrayD, Axis, Dimension, IxDyn};
use oxidask_scheduler::{Callback, ComputeOptions, Event};

use crate::{Array, Element, Reduce, Scalar, from_array};

/// Equal when printed alike: NaN equals NaN, so results with NaN compare.
#[derive(Debug)]
struct Printed<T>(T);

impl<T: std::fmt::Debug> PartialEq for Printed<T> {
    fn eq(&self, other: &Self) -> bool {
        format!("{:?}", self.0) == format!("{:?}", other.0)
    }
}

/// Computes plain and with the graph sent through bytes and decoded by
/// the registries alone (`both_ways`); the two must agree.
trait BothWays {
    type Out;
    fn both(&self) -> Self::Out;
}

impl<T: Element> BothWays for Array<T> {
    type Out = ArrayD<T>;
    fn both(&self) -> ArrayD<T> {
        oxidask_testing::both_ways(|| Printed(self.compute().unwrap())).0
    }
}

impl<T: Element> BothWays for Scalar<T> {
    type Out = T;
    fn both(&self) -> T {
        oxidask_testing::both_ways(|| Printed(self.compute().unwrap())).0
    }
}

#[derive(Default)]
struct Count(AtomicUsize);

impl Callback for Count {
    fn on_event(&self, e: &Event<'_>) {
        if let Event::TaskFinished { .. } = e {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn counted() -> (Arc<Count>, ComputeOptions) {
    let c = Arc::new(Count::default());
    (c.clone(), ComputeOptions::new().callback(c))
}

fn data(shape: &[usize]) -> ArrayD<f64> {
    ArrayD::from_shape_fn(IxDyn(shape), |ix| {
        ix.as_array_view()
            .iter()
            .enumerate()
            .map(|(k, &i)| ((i * 7 + k * 3) % 11) as f64 - 4.5)
            .sum()
    })
}

#[test]
fn elementwise_chain_is_one_task_per_chunk_plus_the_tree() {
    // Chunks of at least one streaming piece, so each is its own task.
    let a = data(&[100 * crate::stream::PIECE]);
    let x = from_array(a.clone(), crate::stream::PIECE).unwrap();
    let y = &(&x * &x) * &x;
    let (count, opts) = counted();
    let m = y.mean().compute_with(&opts).unwrap();
    let expect = a.mapv(|v| v * v * v).mean().unwrap();
    assert!((m - expect).abs() < 1e-9, "{m} vs {expect}");
    // 100 chunks; split_every 16: 7 combine tasks, then 1 finishing.
    assert_eq!(count.0.load(Ordering::Relaxed), 100 + 7 + 1);

    // Chunks smaller than a piece are reduced a first-level group per task.
    let small = from_array(data(&[1000]), 10).unwrap();
    let (count, opts) = counted();
    let m = (&small * 2.0).sum().compute_with(&opts).unwrap();
    assert!((m - 2.0 * data(&[1000]).sum()).abs() < 1e-9);
    assert_eq!(count.0.load(Ordering::Relaxed), 7 + 1);
    // Not streamable (a rechunked input): 100 source tasks, 50 rechunks
    // (each fused with its partial reduction), then the tree.
    let (count, opts) = counted();
    let r = small.rechunk(20).unwrap();
    r.sum().compute_with(&opts).unwrap();
    assert_eq!(count.0.load(Ordering::Relaxed), 100 + 50 + 4 + 1);

    // The elementwise chain alone: one task per chunk (the source copies
    // fuse into it), whatever its length.
    let z = &(&(&y + 1.0) * &x) - &x.abs().sqrt();
    let (count, opts) = counted();
    let got = z.compute_with(&opts).unwrap();
    assert_eq!(count.0.load(Ordering::Relaxed), 100);
    assert_eq!(got, a.mapv(|v| (v * v * v + 1.0) * v - v.abs().sqrt()));
    assert_eq!(z.graph().num_layers(), 2, "{:?}", z.graph());
}

#[test]
fn in_place_updates_reuse_the_input_chunk() {
    // Nothing to observe but correctness here; the owned path runs when the
    // task holds the only handle.
    let x = crate::arange(0.0f64, 10.0, 1.0, 3).unwrap();
    let y = (&x + 1.0).negative().abs();
    assert_eq!(
        y.both(),
        ArrayD::from_shape_fn(IxDyn(&[10]), |i| i[0] as f64 + 1.0)
    );
}

#[test]
fn broadcasting_with_different_chunks() {
    let a = data(&[6, 5]);
    let b = data(&[5]);
    let x = from_array(a.clone(), [4, 2]).unwrap();
    let y = from_array(b.clone(), [3]).unwrap();
    let z = &x * &y;
    assert_eq!(z.chunks(), &[vec![4, 2], vec![2, 1, 1, 1]]);
    assert_eq!(z.both(), &a * &b);
    let col = from_array(data(&[6, 1]), [3, 1]).unwrap();
    assert_eq!((&x - &col).both(), &a - &data(&[6, 1]));
    let bad = from_array(data(&[4]), 2).unwrap();
    let e = x.add(&bad).unwrap_err().to_string();
    assert!(e.contains("[6, 5]") && e.contains("[4]"), "{e}");
    // Operators keep the error for the next fallible call.
    let p = &x + &bad;
    let e = p.sum().compute().unwrap_err().to_string();
    assert!(e.contains("[6, 5]") && e.contains("[4]"), "{e}");
    assert!(p.sum_with(&Reduce::axis(0)).is_err());
}

#[test]
fn where_comparisons_and_casts() {
    let a = data(&[7, 3]);
    let x = from_array(a.clone(), [2, 2]).unwrap();
    let pos = x.greater(0.0).unwrap();
    let w = crate::where_(&pos, &x, 0.0).unwrap();
    assert_eq!(w.both(), a.mapv(|v| if v > 0.0 { v } else { 0.0 }));
    let n: i64 = pos.astype::<i64>().sum().both();
    assert_eq!(n, a.iter().filter(|&&v| v > 0.0).count() as i64);
    assert!(pos.any().both());
    assert!(!pos.all().both());
    let i = x.astype::<i32>().both();
    assert_eq!(i, a.mapv(|v| v as i32));
}

#[test]
fn axis_reductions_match_ndarray() {
    let a = data(&[5, 4, 3]);
    let x = from_array(a.clone(), vec![vec![2, 0, 3], vec![1, 3], vec![3]]).unwrap();
    let s = x.sum_with(&Reduce::axis(1).split_every(2)).unwrap();
    assert_eq!(s.shape(), &[5, 3]);
    assert_eq!(s.both(), a.sum_axis(Axis(1)));
    let s = x.sum_with(&Reduce::axes(&[0, 2]).keepdims(true)).unwrap();
    assert_eq!(s.shape(), &[1, 4, 1]);
    let expect = a.sum_axis(Axis(2)).sum_axis(Axis(0));
    let got = s.both();
    for (g, e) in got.iter().zip(expect.iter()) {
        assert!((g - e).abs() < 1e-9);
    }
    let am = x.argmax_with(&Reduce::axis(0)).unwrap().both();
    let expect = a.map_axis(Axis(0), |l| {
        let m = l.iter().cloned().fold(f64::MIN, f64::max);
        l.iter().position(|&v| v == m).unwrap() as i64
    });
    assert_eq!(am, expect);
    let flat = x.argmin().both();
    let v = a.iter().cloned().fold(f64::MAX, f64::min);
    assert_eq!(flat, a.iter().position(|&w| w == v).unwrap() as i64);
    let e = x.sum_with(&Reduce::axis(3)).unwrap_err().to_string();
    assert!(e.contains("axis 3") && e.contains("`axis`"), "{e}");
    assert!(x.argmin_with(&Reduce::axes(&[0, 1])).is_err());
    assert!(x.sum_with(&Reduce::all().split_every(1)).is_err());
    let v = x
        .var_with(1.0, &Reduce::axis(0))
        .unwrap()
        .compute()
        .unwrap();
    let e = a.var_axis(Axis(0), 1.0);
    for (g, e) in v.iter().zip(e.iter()) {
        assert!((g - e).abs() < 1e-9, "{g} {e}");
    }
}

#[test]
fn nan_variants_skip_nan() {
    let mut a = data(&[9]);
    a[2] = f64::NAN;
    a[7] = f64::NAN;
    let x = from_array(a.clone(), 2).unwrap();
    assert!(x.sum().both().is_nan());
    assert!(x.max().both().is_nan());
    assert_eq!(x.argmax().both(), 2);
    let clean: Vec<f64> = a.iter().cloned().filter(|v| !v.is_nan()).collect();
    let s: f64 = clean.iter().sum();
    assert!((x.nansum().both() - s).abs() < 1e-12);
    assert!((x.nanmean().both() - s / 7.0).abs() < 1e-12);
    let mx = clean.iter().cloned().fold(f64::MIN, f64::max);
    assert_eq!(x.nanmax().both(), mx);
    let i = x.nanargmax().both();
    assert_eq!(a[i as usize], mx);
    let all_nan = from_array(ArrayD::from_elem(IxDyn(&[3]), f64::NAN), 2).unwrap();
    assert!(all_nan.nanargmin().compute().is_err());
    assert!(all_nan.nanmax().both().is_nan());
    let empty = from_array(ArrayD::<f64>::zeros(IxDyn(&[0])), 2).unwrap();
    assert_eq!(empty.sum().both(), 0.0);
    assert!(empty.mean().both().is_nan());
    assert!(
        empty
            .min()
            .compute()
            .unwrap_err()
            .to_string()
            .contains("zero-size")
    );
}

#[test]
fn slicing_culls_unneeded_chunks() {
    let x = crate::random::standard_normal(&[1_000_000], 1000, 1).unwrap();
    let s = x.sum();
    // The whole graph: 1000 chunks + tree; culling to one block of x reads one chunk.
    let g = x.graph().cull(&[x.keys()[3].clone()]).unwrap();
    assert_eq!(g.len(), 1);
    assert!(s.graph().len() > 1000);
}

#[test]
fn slicing_matches_ndarray_and_culls() {
    use ndarray::{NewAxis, s};
    let a = data(&[7, 5, 4]);
    let x = from_array(a.clone(), vec![vec![3, 0, 4], vec![2, 3], vec![4]]).unwrap();
    let cases = [
        (
            x.slice(s![1..6;2, .., 1]).unwrap(),
            a.slice(s![1..6;2, .., 1]).to_owned().into_dyn(),
        ),
        (
            x.slice(s![..;-1, 3, ..;-3]).unwrap(),
            a.slice(s![..;-1, 3, ..;-3]).to_owned().into_dyn(),
        ),
        (
            x.slice(s![-3.., NewAxis, 1..4;-2, ..]).unwrap(),
            a.slice(s![-3.., NewAxis, 1..4;-2, ..])
                .to_owned()
                .into_dyn(),
        ),
        (
            x.slice(s![2..2, ..]).unwrap(),
            a.slice(s![2..2, .., ..]).to_owned().into_dyn(),
        ),
        (
            x.slice(s![6, 4, 3]).unwrap(),
            a.slice(s![6, 4, 3]).to_owned().into_dyn(),
        ),
    ];
    for (got, expect) in cases {
        assert_eq!(got.shape(), expect.shape());
        assert_eq!(got.both(), expect);
    }
    // A range past the end clamps, as in NumPy; an index past it is an error.
    assert_eq!(x.slice(s![0..9, ..]).unwrap().both(), a);
    assert!(x.slice(s![7, ..]).is_err());
    assert!(x.slice(s![.., .., .., 1]).is_err());
    let t = x.take(&[6, 0, -1, 3, 4], 0).unwrap();
    assert_eq!(t.both(), a.select(Axis(0), &[6, 0, 6, 3, 4]));
    let m = [true, false, true, true, false];
    let c = x.compress(&m, 1).unwrap();
    assert_eq!(c.both(), a.select(Axis(1), &[0, 2, 3]));
    assert!(
        x.compress(&m, 0)
            .unwrap_err()
            .to_string()
            .contains("`mask`")
    );
    let p = x.permute_axes(&[2, 0, 1]).unwrap();
    assert_eq!(
        p.both(),
        a.view().permuted_axes(IxDyn(&[2, 0, 1])).to_owned()
    );
    assert_eq!(
        x.swapaxes(0, -1).unwrap().both(),
        a.view().permuted_axes(IxDyn(&[2, 1, 0])).to_owned()
    );
    let r = x
        .rechunk(vec![vec![2, 5], vec![5], vec![4]])
        .unwrap()
        .reshape(&[7, 20])
        .unwrap();
    assert_eq!(
        r.both(),
        a.clone().into_shape_with_order(IxDyn(&[7, 20])).unwrap()
    );
    let r = from_array(data(&[12]), 4)
        .unwrap()
        .reshape(&[6, 2])
        .unwrap();
    assert_eq!(r.chunks(), &[vec![2, 2, 2], vec![2]]);
    // Chunked along trailing axes: rechunked as Dask does, not an error.
    assert_eq!(
        x.reshape(&[140]).unwrap().both(),
        a.clone().into_shape_with_order(IxDyn(&[140])).unwrap()
    );
    let j = crate::concatenate(&[&x, &x.slice(s![..2, .., ..]).unwrap()], 0).unwrap();
    assert_eq!(
        j.both(),
        ndarray::concatenate(Axis(0), &[a.view(), a.slice(s![..2, .., ..]).into_dyn()]).unwrap()
    );
    let st = crate::stack(&[&x, &x], 1).unwrap();
    assert_eq!(
        st.both(),
        ndarray::stack(Axis(1), &[a.view(), a.view()]).unwrap()
    );

    // A slice of a huge array computes only the chunks it touches.
    let big = crate::random::standard_normal(&[1_000_000_000], 1_000_000, 3).unwrap();
    let (count, opts) = counted();
    let v = big
        .slice(s![..1000])
        .unwrap()
        .sum()
        .compute_with(&opts)
        .unwrap();
    assert!(v.is_finite());
    assert!(
        count.0.load(Ordering::Relaxed) <= 2,
        "{}",
        count.0.load(Ordering::Relaxed)
    );
}

#[test]
fn matrix_products_match_ndarray() {
    use ndarray::Ix2;
    let a = data(&[7, 5]);
    let b = data(&[5, 6]).mapv(|v| v * 0.5 - 1.0);
    let x = from_array(a.clone(), vec![vec![3, 4], vec![2, 2, 1]]).unwrap();
    let y = from_array(b.clone(), vec![vec![1, 4], vec![6]]).unwrap();
    let a2 = a.view().into_dimensionality::<Ix2>().unwrap();
    let b2 = b.view().into_dimensionality::<Ix2>().unwrap();
    let expect = a2.dot(&b2).into_dyn();
    let got = x
        .matmul_with(&y, &Reduce::all().split_every(2))
        .unwrap()
        .compute()
        .unwrap();
    assert_eq!(got.shape(), &[7, 6]);
    for (g, e) in got.iter().zip(expect.iter()) {
        assert!((g - e).abs() < 1e-9, "{g} {e}");
    }
    let v = data(&[5]);
    let v1 = v.view().into_dimensionality::<ndarray::Ix1>().unwrap();
    let xv = x
        .dot(&from_array(v.clone(), 2).unwrap())
        .unwrap()
        .compute()
        .unwrap();
    for (g, e) in xv.iter().zip(a2.dot(&v1).iter()) {
        assert!((g - e).abs() < 1e-9);
    }
    let inner = from_array(v.clone(), 3)
        .unwrap()
        .dot(&from_array(v.clone(), 2).unwrap())
        .unwrap();
    assert!((inner.both()[[]] - v1.dot(&v1)).abs() < 1e-9);
    let td = crate::tensordot(&x, &x, (&[0], &[0]))
        .unwrap()
        .compute()
        .unwrap();
    let e = a2.t().dot(&a2);
    for (g, e) in td.iter().zip(e.iter()) {
        assert!((g - e).abs() < 1e-9);
    }
    let full = crate::tensordot(&x, &x, (&[0, 1], &[0, 1]))
        .unwrap()
        .compute()
        .unwrap();
    assert!((full[[]] - a.iter().map(|v| v * v).sum::<f64>()).abs() < 1e-9);
    let e = x.matmul(&x).unwrap_err().to_string();
    assert!(e.contains("[7, 5]"), "{e}");
    let xi = from_array(a.mapv(|v| v as i64), 3).unwrap();
    let gi = xi.matmul(&xi.t().unwrap()).unwrap().both();
    let ai = a2.mapv(|v| v as i64);
    assert_eq!(gi, ai.dot(&ai.t()).into_dyn());
}

#[test]
fn persist_and_visualize() {
    let x = crate::random::uniform(0.0, 1.0, &[100], 25, 9).unwrap();
    let y = (&x + 1.0).persist().unwrap();
    assert_eq!(y.task_graph().unwrap().len(), 4);
    assert_eq!(y.both(), (&x + 1.0).both());
    let path = std::env::temp_dir().join(format!("oxidask-array-{}.svg", std::process::id()));
    y.sum().visualize(&path).unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(svg.contains("<svg"), "{}", &svg[..svg.len().min(200)]);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn rows_to_columns_rechunk_runs_in_two_bounded_stages() {
    let a = data(&[64, 48]);
    let x = from_array(a.clone(), [1, 48]).unwrap();
    let y = x.rechunk([64, 1]).unwrap();
    assert_eq!(y.both(), a);
    // Every task reads at most one block's worth of elements.
    let g = y.task_graph().unwrap();
    let sizes: std::collections::HashMap<String, usize> =
        [(x.name().to_string(), 48)].into_iter().collect();
    let mut max_inputs = 0;
    for (_, task) in g.iter() {
        let n = task
            .dependencies()
            .filter(|k| !sizes.contains_key(k.name()))
            .count()
            + task
                .dependencies()
                .filter(|k| sizes.contains_key(k.name()))
                .count()
                * 48;
        max_inputs = max_inputs.max(n);
    }
    assert!(max_inputs <= 64, "a task reads {max_inputs} elements");
    // A rechunk that merges neighbours stays one stage.
    let z = x.rechunk([8, 48]).unwrap();
    assert_eq!(z.graph().num_layers(), 2);
}

#[test]
fn dask_style_skew_with_lazy_scalars() {
    let x = crate::random::standard_normal(&[20_000], 3_000, 4).unwrap();
    let m = x.mean();
    let d = &x - &m;
    let m2 = (&d * &d).mean();
    let m3 = (&(&d * &d) * &d).mean();
    let g1 = &m3 / &m2.powf(1.5);
    let direct = crate::stats::skew(&x, true).unwrap().both();
    let lazy = g1.both();
    assert!((lazy - direct).abs() < 1e-12, "{lazy} vs {direct}");
    let shifted = (2.0 * &x + 1.0).mean().both();
    assert!((shifted - (2.0 * m.both() + 1.0)).abs() < 1e-12);
}

#[test]
fn slice_bounds_past_the_ends_clamp_like_numpy() {
    use ndarray::s;
    let a = ArrayD::from_shape_fn(IxDyn(&[10]), |ix| ix[0] as i64);
    let x = crate::from_array(a.clone(), 3).unwrap();
    let got = |info: &[ndarray::SliceInfoElem]| x.slice(info).unwrap().both();
    // x[100:], x[:100], x[-100:], x[5:100:2], x[-100:-8]
    assert_eq!(got(s![100..].as_ref()).len(), 0);
    assert_eq!(got(s![..100].as_ref()), a);
    assert_eq!(got(s![-100..].as_ref()), a);
    assert_eq!(
        got(s![5..100;2].as_ref())
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        vec![5, 7, 9]
    );
    assert_eq!(
        got(s![-100..-8].as_ref())
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        vec![0, 1]
    );
}
