//! Slicing, shape, rechunk, mask and cumulative graphs are data: every
//! property below runs plain and with its graph encoded to bytes and
//! decoded through the registries alone (`both_ways`), against the
//! `ndarray` oracle; compute's assembly and the `.npy` writers give the
//! same results through bytes; a rechunk and a slicing graph encode in at
//! most 100 bytes per task.
//!
//! The inputs are [`held`] arrays: `from_array` sources, whose graphs hold
//! their blocks as data (a source spec with the array as a value), so the
//! whole graph from the source up goes through bytes.

use ndarray::{ArrayD, Axis, IxDyn, SliceInfoElem, s};
use oxidask::array::{self as da, Array, ndarray};
use oxidask_testing::{both_ways, round_trip};
use proptest::prelude::*;

use super::{chunking, data, shape_and_chunks};

/// `a` in `chunks`, as a `from_array` source (data: it encodes).
fn held<T: da::Element>(a: &ArrayD<T>, chunks: impl Into<da::Chunks>) -> Array<T> {
    da::from_array(a.clone(), chunks).unwrap()
}

/// Computes `x`, with the error as text so results compare.
fn computed<T: da::Element>(x: da::Result<Array<T>>) -> Result<ArrayD<T>, String> {
    x.and_then(|x| x.compute()).map_err(|e| e.to_string())
}

/// A slice element for an axis of length `n` from a random pick.
fn slice_elem(n: usize, (kind, i, j, step): (usize, isize, isize, isize)) -> SliceInfoElem {
    let n = n as isize;
    let clamp = |v: isize| v.clamp(-n, n);
    match kind {
        0 => SliceInfoElem::Index(i.rem_euclid(n)),
        1 => SliceInfoElem::Slice {
            start: clamp(i),
            end: None,
            step,
        },
        _ => {
            let (a, b) = (clamp(i), clamp(j));
            let (a2, b2) = (if a < 0 { a + n } else { a }, if b < 0 { b + n } else { b });
            let (start, end) = if a2 <= b2 { (a, b) } else { (b, a) };
            SliceInfoElem::Slice {
                start,
                end: Some(end),
                step,
            }
        }
    }
}

/// `c` cut down (or extended) to sum to `n`.
pub(super) fn fit(c: &[usize], n: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut left = n;
    for &k in c {
        let k = k.min(left);
        out.push(k);
        left -= k;
    }
    if left > 0 {
        out.push(left);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn slicing_take_and_transpose_through_bytes(
        (shape, chunks) in shape_and_chunks(),
        seed in 0u64..1000,
        picks in prop::collection::vec((0usize..4, -7isize..7, -7isize..7, prop_oneof![-3isize..=-1, 1isize..=3]), 4),
        rot in 0usize..4,
    ) {
        let a = data(&shape, seed, 0);
        let x = held(&a, chunks);
        let info: Vec<SliceInfoElem> = shape.iter().zip(&picks).map(|(&n, &p)| slice_elem(n, p)).collect();
        let got = both_ways(|| computed(x.slice(info.as_slice())));
        prop_assert_eq!(got, Ok(a.slice(info.as_slice()).to_owned()));

        let idx: Vec<isize> = picks.iter().map(|p| p.1.rem_euclid(shape[0] as isize)).collect();
        let got = both_ways(|| computed(x.take(&idx, 0)));
        let expect = a.select(Axis(0), &idx.iter().map(|&i| i as usize).collect::<Vec<_>>());
        prop_assert_eq!(got, Ok(expect));

        let perm: Vec<usize> = (0..shape.len()).map(|k| (k + rot) % shape.len()).collect();
        let got = both_ways(|| computed(x.permute_axes(&perm)));
        prop_assert_eq!(got, Ok(a.view().permuted_axes(IxDyn(&perm)).to_owned()));
    }

    #[test]
    fn reshape_concatenate_and_stack_through_bytes(
        (shape, chunks) in shape_and_chunks(),
        seed in 0u64..1000,
        axis in 0usize..4,
    ) {
        let a = data(&shape, seed, 0);
        let x = held(&a, chunks);
        // Rows of the flattened array: chunked along axis 0 only first.
        let mut rows = vec![x.chunks()[0].clone()];
        rows.extend(shape[1..].iter().map(|&n| vec![n]));
        let flat = [shape[0], shape[1..].iter().product()];
        let got = both_ways(|| computed(x.rechunk(rows.clone()).and_then(|r| r.reshape(&flat))));
        prop_assert_eq!(got, Ok(a.clone().into_shape_with_order(IxDyn(&flat)).unwrap()));

        let ax = axis % shape.len();
        let head = a.slice_axis(Axis(ax), ndarray::Slice::from(..1)).to_owned();
        let y = held(&head, 1);
        let got = both_ways(|| computed(da::concatenate(&[&x, &y, &x], ax as isize)));
        let expect = ndarray::concatenate(Axis(ax), &[a.view(), head.view(), a.view()]).unwrap();
        prop_assert_eq!(got, Ok(expect));
        let got = both_ways(|| computed(da::stack(&[&x, &x], ax as isize)));
        prop_assert_eq!(got, Ok(ndarray::stack(Axis(ax), &[a.view(), a.view()]).unwrap()));
    }

    #[test]
    fn rechunk_through_bytes(
        (shape, chunks) in shape_and_chunks(),
        to in prop::collection::vec(chunking(6), 4),
        size in 1usize..5,
        seed in 0u64..1000,
    ) {
        let a = data(&shape, seed, 0);
        let x = held(&a, chunks);
        prop_assert_eq!(both_ways(|| computed(x.rechunk(size))), Ok(a.clone()));
        // Ragged targets with empty chunks, and rows to columns (two stages).
        let target: Vec<Vec<usize>> = shape.iter().zip(&to).map(|(&n, c)| fit(c, n)).collect();
        prop_assert_eq!(both_ways(|| computed(x.rechunk(target.clone()))), Ok(a.clone()));
        let mut cols = vec![vec![1; shape[0]]];
        cols.extend(shape[1..].iter().map(|&n| vec![n]));
        prop_assert_eq!(
            both_ways(|| computed(x.rechunk(cols.clone()).and_then(|c| c.rechunk(da::Chunks::full())))),
            Ok(a.clone())
        );
    }

    #[test]
    fn cumulative_through_bytes(
        (shape, chunks) in shape_and_chunks(),
        seed in 0u64..1000,
        axis in 0usize..4,
    ) {
        let ax = axis % shape.len();
        let a = data(&shape, seed, 0).mapv(|v| v.round());
        let x = held(&a, chunks.clone());
        let mut sum = a.clone();
        sum.accumulate_axis_inplace(Axis(ax), |&p, c| *c += p);
        // Whole numbers: every order of additions gives the same sums.
        prop_assert_eq!(both_ways(|| computed(x.cumsum(ax as isize))), Ok(sum));

        let small = a.mapv(|v| v / 4.0);
        let mut prod = small.clone();
        prod.accumulate_axis_inplace(Axis(ax), |&q, c| *c *= q);
        let xs = held(&small, chunks.clone());
        let got = both_ways(|| computed(xs.cumprod(ax as isize))).unwrap();
        prop_assert_eq!(got.shape(), prod.shape());
        for (g, e) in got.iter().zip(prod.iter()) {
            prop_assert!((g - e).abs() <= 1e-9 * (1.0 + e.abs()), "{} vs {}", g, e);
        }

        let ints = a.mapv(|v| v as i32);
        let mut isum = a.mapv(|v| v as i64);
        isum.accumulate_axis_inplace(Axis(shape.len() - 1), |&q, c| *c += q);
        let xi = held(&ints, chunks);
        prop_assert_eq!(both_ways(|| computed(xi.cumsum(-1))), Ok(isum));
    }

    #[test]
    fn boolean_masks_through_bytes(
        (shape, chunks) in shape_and_chunks(),
        mchunks in prop::collection::vec(chunking(6), 4),
        seed in 0u64..1000,
        kind in 0usize..3,
        axis in 0usize..4,
    ) {
        let a = data(&shape, seed, 0);
        let x = held(&a, chunks);
        let bits = data(&shape, seed ^ 0x5555, 0);
        let m = match kind {
            0 => bits.mapv(|v| v > 0.0),
            1 => bits.mapv(|_| false),
            _ => bits.mapv(|_| true),
        };
        let mc: Vec<Vec<usize>> = shape.iter().zip(&mchunks).map(|(&n, c)| fit(c, n)).collect();
        let lazy = held(&m, mc);
        let expect: Vec<f64> = a.iter().zip(m.iter()).filter(|p| *p.1).map(|p| *p.0).collect();
        let got = both_ways(|| computed(x.mask(&lazy)));
        prop_assert_eq!(got, Ok(ArrayD::from_shape_vec(IxDyn(&[expect.len()]), expect).unwrap()));

        let ax = axis % shape.len();
        let n = shape[ax];
        let m1: Vec<bool> = (0..n).map(|i| kind == 2 || (kind == 0 && bits.iter().nth(i).is_some_and(|&v| v > 0.0))).collect();
        let lazy1 = held(&ndarray::Array1::from(m1.clone()).into_dyn(), vec![fit(&mchunks[ax], n)]);
        let picks: Vec<usize> = (0..n).filter(|&i| m1[i]).collect();
        let got = both_ways(|| computed(x.mask_axis(&lazy1, ax as isize)));
        prop_assert_eq!(got, Ok(a.select(Axis(ax), &picks)));
    }
}

#[test]
fn round_trips_are_real_a_closure_cannot_leave_the_process() {
    // Guards the tests above: in round-trip mode a graph really goes
    // through bytes, so a closure in it is an error naming the fix.
    let x = held(&data(&[6, 4], 1, 0), [2, 2]);
    let e = round_trip(|| computed(Ok(x.map_blocks(|b: ArrayD<f64>| b * 2.0)))).unwrap_err();
    assert!(e.contains("oxidask::remote"), "{e}");
}

#[test]
fn compute_assembles_many_blocks_through_bytes() {
    let a = data(&[13, 7, 5], 7, 0);
    for chunks in [
        vec![vec![13], vec![7], vec![5]],
        vec![vec![3, 0, 10], vec![2, 2, 3], vec![1, 4]],
    ] {
        let x = held(&a, chunks);
        assert_eq!(both_ways(|| computed(Ok(x.clone()))), Ok(a.clone()));
    }
    let i = held(&a.mapv(|v| v as i64), 4);
    assert_eq!(
        round_trip(|| computed(Ok(i.clone()))),
        Ok(a.mapv(|v| v as i64))
    );
    let b = held(&a.mapv(|v| v > 0.0), [5, 3, 2]);
    assert_eq!(
        round_trip(|| computed(Ok(b.clone()))),
        Ok(a.mapv(|v| v > 0.0))
    );
}

#[test]
fn npy_writers_write_the_same_files_through_bytes() {
    let dir = oxidask_testing::TempDir::new("asdata");
    let a = data(&[9, 4, 3], 3, 0);
    let x = held(&a, [4, 3, 2]);
    let (plain, bytes) = (dir.join("plain.npy"), dir.join("bytes.npy"));
    x.to_npy(&plain).unwrap();
    round_trip(|| x.to_npy(&bytes)).unwrap();
    let written = std::fs::read(&bytes).unwrap();
    assert_eq!(written, std::fs::read(&plain).unwrap());
    let p = super::npy::parse(&bytes);
    assert_eq!(p.shape, vec![9, 4, 3]);
    assert_eq!(p.f64s(), a);

    let (sp, sb) = (dir.join("stack-plain"), dir.join("stack-bytes"));
    x.to_npy_stack(&sp, 1).unwrap();
    round_trip(|| x.to_npy_stack(&sb, 1)).unwrap();
    for k in 0..2 {
        let f = format!("{k}.npy");
        assert_eq!(
            std::fs::read(sp.join(&f)).unwrap(),
            std::fs::read(sb.join(&f)).unwrap()
        );
        let part = super::npy::parse(&sb.join(&f)).f64s();
        let cols = if k == 0 { 0..3 } else { 3..4 };
        assert_eq!(part, a.slice(s![.., cols, ..]).to_owned().into_dyn());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Bytes per task that the layers on top of `x` add to the encoded graph
/// of the blocks of `x` they read.
fn bytes_per_task<T: da::Element>(x: &Array<T>, y: &Array<T>) -> f64 {
    let gy = y.task_graph().unwrap();
    let read: Vec<_> = gy
        .keys()
        .filter(|k| k.name() == x.name())
        .cloned()
        .collect();
    let gx = x.graph().cull(&read).unwrap().to_task_graph().unwrap();
    let (bx, by) = (gx.to_bytes().unwrap(), gy.to_bytes().unwrap());
    (by.len() - bx.len()) as f64 / (gy.len() - gx.len()) as f64
}

#[test]
fn rechunk_and_slicing_graphs_encode_in_at_most_100_bytes_per_task() {
    // 10,000 blocks of one element each: the input's own tasks are
    // subtracted, what is left is the layers' ops, keys and arguments.
    let x = held(&data(&[100, 100], 5, 0), [1, 1]);
    let cases = [
        ("rechunk 1×1 → 2×2", x.rechunk([2, 2]).unwrap()),
        ("slice", x.slice(s![..;-1, 3..97;2]).unwrap()),
        (
            "slice with an index and a new axis",
            x.slice(s![.., ndarray::NewAxis, 5]).unwrap(),
        ),
        (
            "take",
            x.take(&(0..100).rev().collect::<Vec<_>>(), 1).unwrap(),
        ),
        ("transpose", x.t().unwrap()),
    ];
    for (what, y) in &cases {
        let per = bytes_per_task(&x, y);
        eprintln!("{what}: {per:.1} bytes per task");
        assert!(per <= 100.0, "{what}: {per:.1} bytes per task");
        // The encoded graph decodes and computes the same.
        let g = oxidask::graph::TaskGraph::from_bytes(&y.task_graph().unwrap().to_bytes().unwrap())
            .unwrap();
        assert_eq!(g.len(), y.task_graph().unwrap().len(), "{what}");
    }
    // A task reading many blocks lists their keys (≈5 bytes each): 3×7
    // output blocks of 1×1 input blocks read 21 blocks a task.
    let wide = x.rechunk([3, 7]).unwrap();
    let per = bytes_per_task(&x, &wide);
    let g = wide.task_graph().unwrap();
    let reads: Vec<usize> = g
        .iter()
        .filter(|(k, _)| k.name() == wide.name())
        .map(|(_, t)| t.dependencies().count())
        .collect();
    let fan_in = reads.iter().sum::<usize>() as f64 / reads.len() as f64;
    eprintln!("rechunk 1×1 → 3×7: {per:.1} bytes per task, {fan_in:.1} reads per task");
    assert!(fan_in > 15.0);
    assert!(
        per <= 20.0 + 6.0 * fan_in,
        "{per:.1} bytes per task for {fan_in:.1} reads"
    );

    let ten_thousand = held(&data(&[10_000], 6, 0), 1);
    let y = ten_thousand.rechunk(3).unwrap();
    let per = bytes_per_task(&ten_thousand, &y);
    eprintln!("1-d rechunk: {per:.1} bytes per task");
    assert!(per <= 100.0, "1-d rechunk: {per:.1} bytes per task");
}
