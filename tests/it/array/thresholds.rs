//! Reductions on inputs past every size threshold the code switches on
//! (issue 16): blocks larger than a streaming piece (8,192 elements) and
//! split unevenly into pieces, blocks smaller than a piece (several per
//! task), zero-length axes and chunks, axes given negative and out of
//! order, `keepdims` both ways, random `split_every`, three paths into a
//! reduction (an in-memory source read in place, an elementwise chain
//! streamed piece by piece, and a block function that materializes each
//! block) and both schedulers, each plain and with the graph sent through
//! bytes (`both_ways`). The oracle is a plain loop over each row of the
//! reduced axes of the whole `ndarray`.

use ndarray::{ArrayD, IxDyn};
use oxidask::array::{self as da, Array, Reduce, ndarray};
use oxidask::prelude::*;
use proptest::prelude::*;

use super::{Printed, close, data, oracle, ragged};

/// A block function registered by path, so graphs through it can leave
/// the process.
#[oxidask::remote]
fn same_block(b: ArrayD<f64>) -> ArrayD<f64> {
    b
}

/// `y` computed with `opts`, plain and through bytes (which must agree).
fn both<T: da::Element>(y: &Array<T>, opts: &ComputeOptions) -> ArrayD<T> {
    oxidask_testing::both_ways(|| Printed(oxidask::scheduler::compute_many(y, opts).unwrap())).0
}

/// Elements per streaming piece, as documented in `docs/array.md`.
const PIECE: usize = 8192;

/// One axis cut whole, in a few regular chunks, or at random cuts (which
/// may make empty chunks): at most ~16 blocks per axis.
fn cut(n: usize) -> BoxedStrategy<Vec<usize>> {
    let regular = ((n / 16).max(1)..=n.max(1)).prop_map(move |s| {
        if n == 0 {
            return vec![0];
        }
        let mut v = vec![s; n / s];
        if n % s != 0 {
            v.push(n % s);
        }
        v
    });
    prop_oneof![3 => Just(vec![n]), 2 => regular, 1 => ragged(n)].boxed()
}

/// Shapes of up to ~60,000 elements whose blocks are often larger than a
/// piece (and not a multiple of it), sometimes smaller, sometimes empty.
fn big_shape_and_chunks() -> impl Strategy<Value = (Vec<usize>, Vec<Vec<usize>>)> {
    // An axis of length 0 about one time in eight.
    let len = |hi: usize| prop_oneof![1 => Just(0usize), 7 => 1..=hi];
    prop_oneof![
        len(40_000).prop_map(|n| vec![n]),
        (len(40), len(1_500)).prop_map(|(a, b)| vec![a, b]),
        (1usize..=6, len(30), 1usize..=330).prop_map(|(a, b, c)| vec![a, b, c]),
    ]
    .prop_flat_map(|shape| {
        let per_axis: Vec<_> = shape.iter().map(|&n| cut(n)).collect();
        (Just(shape), per_axis)
    })
}

/// How the reduced array is made from the source.
#[derive(Clone, Copy, Debug)]
enum Path {
    /// The source itself (full reductions read it in place, piece by piece).
    Bare,
    /// Through an elementwise step (full reductions stream it).
    Elementwise,
    /// Through a block function (every reduction materializes blocks).
    Blocks,
}

fn through(x: &Array<f64>, path: Path) -> Array<f64> {
    match path {
        Path::Bare => x.clone(),
        Path::Elementwise => &(x * 1.0) + 0.0,
        Path::Blocks => x.map_blocks(same_block),
    }
}

fn path() -> impl Strategy<Value = Path> {
    prop_oneof![
        Just(Path::Bare),
        Just(Path::Elementwise),
        Just(Path::Blocks)
    ]
}

fn scheduler() -> impl Strategy<Value = SchedulerChoice> {
    prop_oneof![Just(SchedulerChoice::Sync), Just(SchedulerChoice::Threaded)]
}

/// Axes as a user might write them: a subset (or all, as `None`), each
/// maybe negative, in a shuffled order; and the sorted normal form.
fn axes_as_written(
    ndim: usize,
    pick: &[bool],
    neg: &[bool],
    reverse: bool,
    all: bool,
) -> (Option<Vec<isize>>, Option<Vec<usize>>) {
    if all {
        return (None, None);
    }
    let sorted: Vec<usize> = (0..ndim).filter(|&a| pick[a]).collect();
    let mut written: Vec<isize> = sorted
        .iter()
        .map(|&a| {
            if neg[a] {
                a as isize - ndim as isize
            } else {
                a as isize
            }
        })
        .collect();
    if reverse {
        written.reverse();
    }
    (Some(written), Some(sorted))
}

fn first_extreme(r: &[f64], max: bool) -> i64 {
    if let Some(i) = r.iter().position(|v| v.is_nan()) {
        return i as i64;
    }
    let mut best = 0;
    for (i, &v) in r.iter().enumerate() {
        if (max && v > r[best]) || (!max && v < r[best]) {
            best = i;
        }
    }
    best as i64
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn reductions_past_the_streaming_thresholds(
        (shape, chunks) in big_shape_and_chunks(),
        seed in 0u64..1000,
        nan in prop_oneof![Just(0usize), Just(3_000)],
        pick in prop::collection::vec(any::<bool>(), 3),
        neg in prop::collection::vec(any::<bool>(), 3),
        reverse in any::<bool>(),
        all in any::<bool>(),
        keepdims in any::<bool>(),
        split in 2usize..20,
        path in path(),
        scheduler in scheduler(),
    ) {
        let a = data(&shape, seed, nan).mapv(|v| if v.is_nan() { v } else { v.round() });
        let x = through(&da::from_array(a.clone(), chunks.clone()).unwrap(), path);
        let (written, axes) = axes_as_written(shape.len(), &pick, &neg, reverse, all);
        let o = match &written {
            None => Reduce::all(),
            Some(w) => Reduce::axes(w),
        }
        .keepdims(keepdims)
        .split_every(split);
        let opts = ComputeOptions::new().scheduler(scheduler);
        let run = |y: Array<f64>| both(&y, &opts);
        let ctx = format!("{shape:?} {chunks:?} {written:?} {path:?}");
        let nred: usize = axes.as_ref().map_or(a.len(), |ax| ax.iter().map(|&k| shape[k]).product());
        let nout: usize = (0..shape.len())
            .filter(|k| axes.as_ref().is_some_and(|ax| !ax.contains(k)))
            .map(|k| shape[k])
            .product();

        let sum = |r: &[f64]| r.iter().sum::<f64>();
        close(&run(x.sum_with(&o).unwrap()), &oracle(&a, &axes, keepdims, sum), 1e-12)
            .map_err(|e| TestCaseError::fail(format!("sum {ctx}: {e}")))?;
        let nansum = |r: &[f64]| r.iter().filter(|v| !v.is_nan()).sum::<f64>();
        close(&run(x.nansum_with(&o).unwrap()), &oracle(&a, &axes, keepdims, nansum), 1e-12)
            .map_err(|e| TestCaseError::fail(format!("nansum {ctx}: {e}")))?;
        let mean = |r: &[f64]| r.iter().sum::<f64>() / r.len() as f64;
        close(&run(x.mean_with(&o).unwrap()), &oracle(&a, &axes, keepdims, mean), 1e-12)
            .map_err(|e| TestCaseError::fail(format!("mean {ctx}: {e}")))?;
        let var1 = |r: &[f64]| {
            let m = mean(r);
            r.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (r.len() as f64 - 1.0).max(0.0)
        };
        close(&run(x.var_with(1.0, &o).unwrap()), &oracle(&a, &axes, keepdims, var1), 1e-9)
            .map_err(|e| TestCaseError::fail(format!("var {ctx}: {e}")))?;
        let nanmin = |r: &[f64]| r.iter().copied().filter(|v| !v.is_nan()).fold(f64::NAN, |m, v| if m.is_nan() || v < m { v } else { m });
        if nred > 0 || nout == 0 {
            let max = |r: &[f64]| if r.iter().any(|v| v.is_nan()) { f64::NAN } else { r.iter().copied().fold(f64::MIN, f64::max) };
            close(&run(x.max_with(&o).unwrap()), &oracle(&a, &axes, keepdims, max), 0.0)
                .map_err(|e| TestCaseError::fail(format!("max {ctx}: {e}")))?;
            close(&run(x.nanmin_with(&o).unwrap()), &oracle(&a, &axes, keepdims, nanmin), 0.0)
                .map_err(|e| TestCaseError::fail(format!("nanmin {ctx}: {e}")))?;
        } else {
            // NumPy: a reduction without identity over zero elements is an error.
            prop_assert!(x.max_with(&o).is_err(), "max of nothing {}", ctx);
        }
        let pos = x.greater(0.0).unwrap();
        let any = both(&pos.any_with(&o).unwrap(), &opts);
        prop_assert_eq!(any, oracle(&a, &axes, keepdims, |r| r.iter().any(|&v| v > 0.0)), "any {}", ctx);

        // Arg-reductions: over everything or one axis (no keepdims).
        let one: Option<Vec<usize>> = axes.as_ref().and_then(|v| v.first().map(|&k| vec![k]));
        let ao = match &one {
            None => Reduce::all(),
            Some(v) => Reduce::axis(if neg[v[0]] { v[0] as isize - shape.len() as isize } else { v[0] as isize }),
        }
        .split_every(split);
        let nred1: usize = one.as_ref().map_or(a.len(), |v| shape[v[0]]);
        if nred1 > 0 {
            for max in [true, false] {
                let got = both(&if max { x.argmax_with(&ao) } else { x.argmin_with(&ao) }.unwrap(), &opts);
                prop_assert_eq!(got, oracle(&a, &one, false, |r| first_extreme(r, max)), "arg max={} {}", max, ctx);
            }
        }
    }
}

/// The planted bug: piece offsets miscounted in a full reduction
/// over one block larger than a piece (argmax gave 6,809, not 15,000).
#[test]
fn arg_reductions_over_one_large_block_find_positions_past_the_first_piece() {
    for n in [15_001usize, 2 * PIECE + 1, 20_000, 3 * PIECE] {
        for at in [0, PIECE - 1, PIECE, 15_000.min(n - 1), n - 1] {
            let mut a = ArrayD::from_shape_fn(IxDyn(&[n]), |i| (i[0] % 97) as f64);
            a[[at]] = 1e9;
            let mut b = a.clone();
            b[[at]] = -1e9;
            for chunks in [da::Chunks::full(), da::Chunks::from(n - 3)] {
                let x = da::from_array(a.clone(), chunks.clone()).unwrap();
                let y = da::from_array(b.clone(), chunks.clone()).unwrap();
                for scheduler in [SchedulerChoice::Sync, SchedulerChoice::Threaded] {
                    let o = ComputeOptions::new().scheduler(scheduler);
                    let ctx = format!("n={n} at={at} {chunks:?}");
                    assert_eq!(
                        x.argmax().compute_with(&o).unwrap(),
                        at as i64,
                        "bare {ctx}"
                    );
                    assert_eq!(
                        (&x + 1.0).argmax().compute_with(&o).unwrap(),
                        at as i64,
                        "streamed {ctx}"
                    );
                    assert_eq!(
                        y.argmin().compute_with(&o).unwrap(),
                        at as i64,
                        "bare {ctx}"
                    );
                    assert_eq!(
                        (&y * 2.0).argmin().compute_with(&o).unwrap(),
                        at as i64,
                        "streamed {ctx}"
                    );
                }
            }
        }
    }
    // A generated source, streamed: the peak of -|i - 15000| over one
    // block of 20,000, and over a 2-d block of 150 x 200.
    let x = da::arange(0.0f64, 20_000.0, 1.0, 20_000).unwrap();
    let peak = (&x - 15_000.0).abs().negative();
    assert_eq!(peak.argmax().compute().unwrap(), 15_000);
    let x2 = da::arange(0.0f64, 30_000.0, 1.0, 30_000)
        .unwrap()
        .reshape(&[150, 200])
        .unwrap();
    let x2 = x2.rechunk([150, 200]).unwrap();
    let peak2 = (&x2 - 15_000.0).abs().negative();
    assert_eq!(peak2.argmax().compute().unwrap(), 15_000);
    let r = peak2
        .argmax_with(&Reduce::axis(-1))
        .unwrap()
        .compute()
        .unwrap();
    assert_eq!(r[[75]], 0);
    assert_eq!(r[[74]], 199);
}

/// The generator really reaches the thresholds: a test over inputs that
/// never cross them would pass without testing the paths it names.
#[test]
fn the_generator_crosses_every_threshold() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = big_shape_and_chunks();
    let n = 400;
    let (mut big_uneven, mut small, mut empty_axis, mut empty_chunk) = (0, 0, 0, 0);
    for _ in 0..n {
        let (shape, chunks) = strategy.new_tree(&mut runner).unwrap().current();
        let mut blocks: Vec<usize> = vec![1];
        for c in &chunks {
            blocks = blocks
                .iter()
                .flat_map(|&b| c.iter().map(move |&x| b * x))
                .collect();
        }
        big_uneven += blocks.iter().any(|&b| b > PIECE && b % PIECE != 0) as usize;
        small += blocks.iter().any(|&b| b > 0 && b < PIECE) as usize;
        empty_axis += shape.contains(&0) as usize;
        empty_chunk += chunks.iter().any(|c| c.len() > 1 && c.contains(&0)) as usize;
    }
    eprintln!(
        "of {n} generated cases: {big_uneven} with a block > {PIECE} elements (not a multiple), \
         {small} with a block < {PIECE}, {empty_axis} with a zero-length axis, {empty_chunk} \
         with an empty chunk"
    );
    let at_least = |what: &str, k: usize, frac: f64| {
        assert!(
            k as f64 >= frac * n as f64,
            "only {k} of {n} cases have {what}"
        );
    };
    at_least(
        "a block larger than a piece, not a multiple of it",
        big_uneven,
        0.3,
    );
    at_least("a block smaller than a piece", small, 0.3);
    at_least("a zero-length axis", empty_axis, 0.08);
    at_least("an empty chunk beside others", empty_chunk, 0.02);
}
