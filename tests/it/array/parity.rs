//! Dask/NumPy parity of shape and product operations (issue 14): `reshape`
//! that rechunks (with a `-1`), `ravel`, `cumsum`/`cumprod` with no axis,
//! `nancumsum`/`nancumprod`, `concatenate`/`stack` of differently chunked
//! inputs, `matmul` with 1-d and batched operands, `tensordot` over N-d.
//!
//! Fixed cases carry NumPy's answer, written in; there is no NumPy here,
//! so each was worked by hand from NumPy's documented rule (said at each).
//! Properties compare with plain loops or `ndarray` over random shapes and
//! ragged chunkings (empty chunks included). Everything runs plain and
//! with its graph encoded to bytes and decoded through the registries
//! alone (`both_ways`), from blocks held in memory ([`held`]).

use ndarray::{ArrayD, Axis, Dimension, IxDyn, arr1, arr2};
use oxidask::array::{self as da, Array, ndarray};
use oxidask_testing::both_ways;
use proptest::prelude::*;

use super::{close, data, shape_and_chunks};

/// `a` in `chunks`, as blocks held in memory (literal values in the graph).
fn held<T: da::Element>(a: &ArrayD<T>, chunks: impl Into<da::Chunks>) -> Array<T> {
    da::from_array(a.clone(), chunks)
        .unwrap()
        .persist()
        .unwrap()
}

/// Computes `x`, with the error as text so results compare.
fn computed<T: da::Element>(x: da::Result<Array<T>>) -> Result<ArrayD<T>, String> {
    x.and_then(|x| x.compute()).map_err(|e| e.to_string())
}

/// `both_ways` for float results that may hold NaN (compared by bits, as
/// NaN is not equal to itself).
fn both_ways_f64(f: impl Fn() -> da::Result<Array<f64>>) -> ArrayD<f64> {
    both_ways(|| computed(f()).map(|a| a.mapv(f64::to_bits)))
        .unwrap()
        .mapv(f64::from_bits)
}

/// Chunk lengths of an axis of length `n` cut at `cuts` (mod `n + 1`):
/// ragged, possibly with empty chunks.
fn cut(n: usize, cuts: &[usize]) -> Vec<usize> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (n + 1)).collect();
    at.push(0);
    at.push(n);
    at.sort_unstable();
    at.windows(2).map(|w| w[1] - w[0]).collect()
}

/// Integers from a seed, small enough that products stay exact.
fn ints(shape: &[usize], seed: i64) -> ArrayD<i64> {
    let mut k = seed;
    ArrayD::from_shape_simple_fn(IxDyn(shape), || {
        k = (k * 31 + 17) % 1009;
        k % 7 - 3
    })
}

fn int_held(shape: &[usize], seed: i64, cuts: &[usize]) -> (ArrayD<i64>, Array<i64>) {
    let a = ints(shape, seed);
    let chunks: Vec<Vec<usize>> = shape
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            cut(
                n,
                &[cuts[(2 * i) % cuts.len()], cuts[(2 * i + 1) % cuts.len()]],
            )
        })
        .collect();
    let x = held(&a, chunks);
    (a, x)
}

/// NumPy's `matmul` rule by plain loops: 1-d operands promoted to a row
/// (left) or column (right) vector and the added axis removed after;
/// leading batch axes broadcast (a length 1 repeats).
fn matmul_oracle(a: &ArrayD<i64>, b: &ArrayD<i64>) -> ArrayD<i64> {
    let (l, r) = (a.ndim(), b.ndim());
    let a2 = if l == 1 {
        a.clone().insert_axis(Axis(0))
    } else {
        a.clone()
    };
    let b2 = if r == 1 {
        b.clone().insert_axis(Axis(1))
    } else {
        b.clone()
    };
    let nd = a2.ndim().max(b2.ndim());
    let pad = |x: ArrayD<i64>| {
        let mut s = vec![1; nd - x.ndim()];
        s.extend_from_slice(x.shape());
        x.into_shape_with_order(IxDyn(&s)).unwrap()
    };
    let (a2, b2) = (pad(a2), pad(b2));
    let batch: Vec<usize> = (0..nd - 2)
        .map(|d| a2.shape()[d].max(b2.shape()[d]))
        .collect();
    let (n, k, m) = (a2.shape()[nd - 2], a2.shape()[nd - 1], b2.shape()[nd - 1]);
    let mut shape = batch.clone();
    shape.extend([n, m]);
    let mut out = ArrayD::<i64>::zeros(IxDyn(&shape));
    for bi in ndarray::indices(IxDyn(&batch)) {
        let bi = bi.slice().to_vec();
        let at = |x: &ArrayD<i64>, d: usize| if x.shape()[d] == 1 { 0 } else { bi[d] };
        for i in 0..n {
            for j in 0..m {
                let mut s = 0;
                for t in 0..k {
                    let mut ia: Vec<usize> = (0..nd - 2).map(|d| at(&a2, d)).collect();
                    ia.extend([i, t]);
                    let mut ib: Vec<usize> = (0..nd - 2).map(|d| at(&b2, d)).collect();
                    ib.extend([t, j]);
                    s += a2[IxDyn(&ia)] * b2[IxDyn(&ib)];
                }
                let mut io = bi.clone();
                io.extend([i, j]);
                out[IxDyn(&io)] = s;
            }
        }
    }
    if r == 1 {
        let last = out.ndim() - 1;
        out = out.index_axis_move(Axis(last), 0);
    }
    if l == 1 {
        let row = out.ndim() - 1 - usize::from(r > 1);
        out = out.index_axis_move(Axis(row), 0);
    }
    out
}

/// NumPy's `tensordot` by plain loops over the free and contracted indices.
fn tensordot_oracle(a: &ArrayD<i64>, b: &ArrayD<i64>, aa: &[usize], ba: &[usize]) -> ArrayD<i64> {
    let af: Vec<usize> = (0..a.ndim()).filter(|k| !aa.contains(k)).collect();
    let bf: Vec<usize> = (0..b.ndim()).filter(|k| !ba.contains(k)).collect();
    let shape: Vec<usize> = af
        .iter()
        .map(|&k| a.shape()[k])
        .chain(bf.iter().map(|&k| b.shape()[k]))
        .collect();
    let csh: Vec<usize> = aa.iter().map(|&k| a.shape()[k]).collect();
    let mut out = ArrayD::<i64>::zeros(IxDyn(&shape));
    for o in ndarray::indices(IxDyn(&shape)) {
        let o = o.slice().to_vec();
        let mut s = 0;
        for c in ndarray::indices(IxDyn(&csh)) {
            let c = c.slice().to_vec();
            let mut ia = vec![0; a.ndim()];
            for (p, &k) in af.iter().enumerate() {
                ia[k] = o[p];
            }
            let mut ib = vec![0; b.ndim()];
            for (p, &k) in bf.iter().enumerate() {
                ib[k] = o[af.len() + p];
            }
            for (p, (&x, &y)) in aa.iter().zip(ba).enumerate() {
                ia[x] = c[p];
                ib[y] = c[p];
            }
            s += a[IxDyn(&ia)] * b[IxDyn(&ib)];
        }
        out[IxDyn(&o)] = s;
    }
    out
}

/// Prime factors of `n`.
fn factors(mut n: usize) -> Vec<usize> {
    let mut f = Vec::new();
    let mut p = 2;
    while n > 1 {
        while n % p == 0 {
            f.push(p);
            n /= p;
        }
        p += 1;
    }
    f
}

/// The chunk boundaries of every input along an axis, as Dask's
/// `unify_chunks` gives them: the lengths between all cut points.
fn union_of_cuts(chunkings: &[&[usize]]) -> Vec<usize> {
    let mut at = std::collections::BTreeSet::new();
    for c in chunkings {
        let mut s = 0;
        for &l in *c {
            s += l;
            at.insert(s);
        }
    }
    let mut prev = 0;
    let mut out = Vec::new();
    for c in at {
        if c > prev {
            out.push(c - prev);
            prev = c;
        }
    }
    if out.is_empty() {
        out.push(0);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Any reshape of any chunking equals ndarray's row-major reshape; one
    /// length may be -1.
    #[test]
    fn reshape_rechunks_as_needed(
        (shape, chunks) in shape_and_chunks(),
        seed in 0u64..1000,
        to in prop::collection::vec(0usize..4, 12),
        ndim in 1usize..=4,
        minus in 0usize..6,
    ) {
        let a = data(&shape, seed, 0);
        let x = held(&a, chunks);
        let size: usize = shape.iter().product();
        let mut target = vec![1usize; ndim];
        for (i, f) in factors(size).into_iter().enumerate() {
            target[to[i % to.len()] % ndim] *= f;
        }
        let mut asked: Vec<isize> = target.iter().map(|&t| t as isize).collect();
        if minus < ndim {
            asked[minus] = -1;
        }
        let expect = a.clone().into_shape_with_order(IxDyn(&target)).unwrap();
        let got = both_ways(|| computed(x.reshape(&asked)));
        prop_assert_eq!(got, Ok(expect.clone()));
        // And back, from the reshaped array's own chunks.
        let back = x.reshape(&target).unwrap();
        prop_assert_eq!(both_ways(|| computed(back.reshape(&shape))), Ok(a.clone()));
        let flat = a.iter().copied().collect::<Vec<_>>();
        prop_assert_eq!(both_ways(|| computed(x.ravel())), Ok(arr1(&flat).into_dyn()));
    }

    /// `cumsum`/`cumprod` of the flattened array run in row-major order;
    /// the nan- variants count NaN as 0 (sums) or 1 (products).
    #[test]
    fn flat_and_nan_cumulative_match_loops(
        (shape, chunks) in shape_and_chunks(),
        seed in 0u64..1000,
        axis in 0usize..4,
    ) {
        let a = data(&shape, seed, 4).mapv(|v| if v.is_nan() { v } else { v / 4.0 });
        let x = held(&a, chunks);
        let scan = |it: &mut dyn Iterator<Item = f64>, prod: bool| -> Vec<f64> {
            let mut acc = if prod { 1.0 } else { 0.0 };
            it.map(|v| {
                acc = if prod { acc * v } else { acc + v };
                acc
            })
            .collect()
        };
        let flat = |v: Vec<f64>| arr1(&v).into_dyn();
        let got = both_ways_f64(|| x.cumsum_flat());
        close(&got, &flat(scan(&mut a.iter().copied(), false)), 1e-9)?;
        let got = both_ways_f64(|| x.cumprod_flat());
        close(&got, &flat(scan(&mut a.iter().copied(), true)), 1e-9)?;
        let got = both_ways_f64(|| x.nancumsum_flat());
        close(&got, &flat(scan(&mut a.iter().map(|&v| if v.is_nan() { 0.0 } else { v }), false)), 1e-9)?;

        let ax = axis % shape.len();
        for prod in [false, true] {
            let identity = if prod { 1.0 } else { 0.0 };
            let mut expect = a.mapv(|v| if v.is_nan() { identity } else { v });
            expect.accumulate_axis_inplace(Axis(ax), |&p, c| *c = if prod { p * *c } else { p + *c });
            let got = if prod {
                both_ways_f64(|| x.nancumprod(ax as isize))
            } else {
                both_ways_f64(|| x.nancumsum(ax as isize))
            };
            close(&got, &expect, 1e-9)?;
        }
    }

    /// Differently chunked inputs: the other axes are chunked at every
    /// input's boundaries, the values are ndarray's.
    #[test]
    fn concatenate_and_stack_unify_chunks(
        (shape, chunks) in shape_and_chunks(),
        cuts in prop::collection::vec(0usize..7, 8),
        seed in 0u64..1000,
        axis in 0usize..4,
    ) {
        let a = data(&shape, seed, 0);
        let b = data(&shape, seed + 1, 0);
        let x = held(&a, chunks.clone());
        let other: Vec<Vec<usize>> = shape.iter().enumerate().map(|(i, &n)| cut(n, &cuts[2 * i..2 * i + 2])).collect();
        let y = held(&b, other.clone());
        let ax = axis % shape.len();
        let c = da::concatenate(&[&x, &y], ax as isize).unwrap();
        for k in 0..shape.len() {
            if k != ax {
                prop_assert_eq!(&c.chunks()[k], &union_of_cuts(&[&chunks[k], &other[k]]));
            }
        }
        let expect = ndarray::concatenate(Axis(ax), &[a.view(), b.view()]).unwrap();
        prop_assert_eq!(both_ways(|| computed(Ok(c.clone()))), Ok(expect));
        let s = da::stack(&[&x, &y], ax as isize).unwrap();
        for k in 0..shape.len() {
            let sk = if k < ax { k } else { k + 1 };
            prop_assert_eq!(&s.chunks()[sk], &union_of_cuts(&[&chunks[k], &other[k]]));
        }
        let expect = ndarray::stack(Axis(ax), &[a.view(), b.view()]).unwrap();
        prop_assert_eq!(both_ways(|| computed(Ok(s.clone()))), Ok(expect));
    }

    /// `matmul` by NumPy's rules against plain loops: 1-d operands, batch
    /// axes that broadcast (length 1 on either side, missing on one),
    /// ragged chunks everywhere, empty axes.
    #[test]
    fn matmul_follows_numpy_rules(
        batch in prop::collection::vec(1usize..=3, 0..=2),
        ones in prop::collection::vec(0usize..3, 2),
        drop in (0usize..3, 0usize..3),
        vec_side in 0usize..4,
        (n, k, m) in (0usize..=4, 0usize..=4, 1usize..=4),
        cuts in prop::collection::vec(0usize..6, 8),
        split in 2usize..4,
        seed in 0i64..100,
    ) {
        // Batch axes of each side: a suffix of `batch`, some set to 1.
        let side = |skip: usize, one: usize| -> Vec<usize> {
            batch.iter().enumerate().skip(skip.min(batch.len())).map(|(i, &b)| if i == one { 1 } else { b }).collect()
        };
        let mut ash = side(drop.0, ones[0]);
        let mut bsh = side(drop.1, ones[1]);
        ash.extend([n, k]);
        bsh.extend([k, m]);
        if vec_side & 1 == 1 {
            ash = vec![k];
        }
        if vec_side & 2 == 2 {
            bsh = vec![k];
        }
        let (a, x) = int_held(&ash, seed, &cuts);
        let (b, y) = int_held(&bsh, seed + 7, &cuts[3..]);
        let expect = matmul_oracle(&a, &b);
        let opts = da::Reduce::all().split_every(split);
        prop_assert_eq!(both_ways(|| computed(x.matmul_with(&y, &opts))), Ok(expect));
    }

    /// `tensordot` over N-d operands with an integer `axes` and with axis
    /// lists in any order, against plain loops.
    #[test]
    fn tensordot_matches_loops(
        free_a in prop::collection::vec(1usize..=3, 0..=2),
        free_b in prop::collection::vec(0usize..=3, 0..=2),
        shared in prop::collection::vec(1usize..=3, 0..=2),
        rot in 0usize..4,
        cuts in prop::collection::vec(0usize..5, 10),
        seed in 0i64..100,
    ) {
        // Integer axes: a = free_a + shared, b = shared + free_b.
        let ash: Vec<usize> = free_a.iter().chain(&shared).copied().collect();
        let bsh: Vec<usize> = shared.iter().chain(&free_b).copied().collect();
        let (a, x) = int_held(&ash, seed, &cuts);
        let (b, y) = int_held(&bsh, seed + 3, &cuts[4..]);
        let aa: Vec<usize> = (free_a.len()..ash.len()).collect();
        let ba: Vec<usize> = (0..shared.len()).collect();
        let expect = tensordot_oracle(&a, &b, &aa, &ba);
        prop_assert_eq!(both_ways(|| computed(da::tensordot(&x, &y, shared.len()))), Ok(expect));
        // Axis lists on permuted operands: `b`'s axes rotated.
        let nb = bsh.len();
        if nb > 0 {
            let perm: Vec<usize> = (0..nb).map(|i| (i + rot) % nb).collect();
            let bp = b.view().permuted_axes(IxDyn(&perm)).as_standard_layout().into_owned();
            let yp = held(&bp, da::Chunks::full());
            // Axis p of `bp` is axis perm[p] of `b`.
            let bpa: Vec<usize> = ba.iter().map(|&q| perm.iter().position(|&p| p == q).unwrap()).collect();
            let expect = tensordot_oracle(&a, &bp, &aa, &bpa);
            let got = both_ways(|| computed(da::tensordot(&x, &yp, (aa.clone(), bpa.clone()))));
            prop_assert_eq!(got, Ok(expect));
        }
    }
}

#[test]
fn reshape_matches_numpy() {
    // np.arange(12).reshape(3, -1) chunked 5 → [[0..4], [4..8], [8..12]].
    let x = held(&ArrayD::from_shape_fn(IxDyn(&[12]), |i| i[0] as i64), 5);
    let r = x.reshape(&[3, -1]).unwrap();
    assert_eq!(r.shape(), &[3, 4]);
    assert_eq!(
        both_ways(|| computed(Ok(r.clone()))),
        Ok(arr2(&[[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]).into_dyn())
    );
    // np.arange(12).reshape(2, 3, 2).reshape(3, 4)[2] == [8, 9, 10, 11],
    // from chunks that cut every axis.
    let y = held(
        &ArrayD::from_shape_fn(IxDyn(&[2, 3, 2]), |i| (i[0] * 6 + i[1] * 2 + i[2]) as i64),
        [1, 2, 1],
    );
    let got = both_ways(|| computed(y.reshape(&[3, 4]))).unwrap();
    assert_eq!(
        got.index_axis(Axis(0), 2)
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        vec![8, 9, 10, 11]
    );
    // np.zeros((0, 3)).reshape(-1, 3).shape == (0, 3); .reshape(3, 0) too.
    let e = held(&ArrayD::<f64>::zeros(IxDyn(&[0, 3])), 1);
    assert_eq!(
        both_ways(|| computed(e.reshape(&[-1, 3]))).map(|a| a.shape().to_vec()),
        Ok(vec![0, 3])
    );
    assert_eq!(
        both_ways(|| computed(e.reshape(&[3, 0]))).map(|a| a.shape().to_vec()),
        Ok(vec![3, 0])
    );
    // NumPy: "can only specify one unknown dimension"; "cannot reshape
    // array of size 12 into shape (5,2)"; reshape(0, -1) of size 0 is
    // ambiguous.
    let err = x.reshape(&[-1, -1]).unwrap_err().to_string();
    assert!(err.contains("[12]") && err.contains("[-1, -1]"), "{err}");
    let err = x.reshape(&[5, 2]).unwrap_err().to_string();
    assert!(err.contains("[12]") && err.contains("[5, 2]"), "{err}");
    let err = x.reshape(&[5, -1]).unwrap_err().to_string();
    assert!(err.contains("[12]") && err.contains("[5, -1]"), "{err}");
    assert!(e.reshape(&[0, -1]).is_err());
    // ravel of a 2-d array chunked along both axes: C order.
    let z = held(&arr2(&[[1, 2, 3], [4, 5, 6]]).into_dyn(), [1, 2]);
    assert_eq!(
        both_ways(|| computed(z.flatten())),
        Ok(arr1(&[1, 2, 3, 4, 5, 6]).into_dyn())
    );
}

#[test]
fn cumulative_matches_numpy() {
    let z = held(&arr2(&[[1i64, 2, 3], [4, 5, 6]]).into_dyn(), [1, 2]);
    // np.cumsum([[1, 2, 3], [4, 5, 6]]) == [1, 3, 6, 10, 15, 21]
    assert_eq!(
        both_ways(|| computed(z.cumsum_flat())),
        Ok(arr1(&[1, 3, 6, 10, 15, 21]).into_dyn())
    );
    // np.cumprod([[1, 2, 3], [4, 5, 6]]) == [1, 2, 6, 24, 120, 720]
    assert_eq!(
        both_ways(|| computed(z.cumprod_flat())),
        Ok(arr1(&[1, 2, 6, 24, 120, 720]).into_dyn())
    );
    let n = held(&arr1(&[1.0, f64::NAN, 3.0, f64::NAN, 2.0]).into_dyn(), 2);
    // np.nancumsum([1, nan, 3, nan, 2]) == [1, 1, 4, 4, 6]
    assert_eq!(
        both_ways(|| computed(n.nancumsum(0))),
        Ok(arr1(&[1.0, 1.0, 4.0, 4.0, 6.0]).into_dyn())
    );
    // np.nancumprod([1, nan, 3, nan, 2]) == [1, 1, 3, 3, 6]
    assert_eq!(
        both_ways(|| computed(n.nancumprod(0))),
        Ok(arr1(&[1.0, 1.0, 3.0, 3.0, 6.0]).into_dyn())
    );
    // np.cumsum keeps NaN: [1, nan, nan, nan, nan].
    let c = both_ways_f64(|| n.cumsum(0));
    assert!(c[0] == 1.0 && c.iter().skip(1).all(|v| v.is_nan()));
    // np.nancumsum([nan, nan]) == [0, 0]; np.nancumprod([nan]) == [1].
    let all = held(&arr1(&[f64::NAN, f64::NAN]).into_dyn(), 1);
    assert_eq!(
        both_ways(|| computed(all.nancumsum_flat())),
        Ok(arr1(&[0.0, 0.0]).into_dyn())
    );
    assert_eq!(
        both_ways(|| computed(all.nancumprod_flat())),
        Ok(arr1(&[1.0, 1.0]).into_dyn())
    );
    // np.cumsum(np.zeros((0, 3))) has shape (0,).
    let e = held(&ArrayD::<f64>::zeros(IxDyn(&[0, 3])), 1);
    assert_eq!(
        both_ways(|| computed(e.cumsum_flat())).map(|a| a.shape().to_vec()),
        Ok(vec![0])
    );
}

#[test]
fn concatenate_unifies_as_dask() {
    // da.concatenate of chunks ((2, 2), (3, 3)) and ((4,), (1, 5)) along
    // axis 0: axis 1 is cut at 1, 3 and 6 → (1, 2, 3), as unify_chunks.
    let x = held(&ArrayD::<i64>::zeros(IxDyn(&[4, 6])), [2, 3]);
    let y = held(
        &ArrayD::<i64>::ones(IxDyn(&[4, 6])),
        vec![vec![4], vec![1, 5]],
    );
    let c = da::concatenate(&[&x, &y], 0).unwrap();
    assert_eq!(c.chunks(), &[vec![2, 2, 4], vec![1, 2, 3]]);
    let got = both_ways(|| computed(Ok(c.clone()))).unwrap();
    assert_eq!(got.sum(), 24);
    let s = da::stack(&[&x, &y], -1).unwrap();
    assert_eq!(s.chunks(), &[vec![2, 2], vec![1, 2, 3], vec![1, 1]]);
}

#[test]
fn products_match_numpy() {
    let m = held(&arr2(&[[1i64, 2], [3, 4]]).into_dyn(), 1);
    let v = held(&arr1(&[5i64, 6]).into_dyn(), 1);
    // np.matmul([[1, 2], [3, 4]], [5, 6]) == [17, 39]
    assert_eq!(
        both_ways(|| computed(m.matmul(&v))),
        Ok(arr1(&[17, 39]).into_dyn())
    );
    // np.matmul([5, 6], [[1, 2], [3, 4]]) == [23, 34]
    assert_eq!(
        both_ways(|| computed(v.matmul(&m))),
        Ok(arr1(&[23, 34]).into_dyn())
    );
    // np.matmul([5, 6], [5, 6]) == 61, a 0-d result; np.dot the same.
    let inner = both_ways(|| computed(v.matmul(&v))).unwrap();
    assert_eq!((inner.ndim(), inner.sum()), (0, 61));
    assert_eq!(both_ways(|| computed(v.dot(&v))), Ok(inner));
    // np.matmul(np.arange(8).reshape(2, 2, 2), [[1, 0], [1, 1]])
    //   == [[[1, 1], [5, 3]], [[9, 5], [13, 7]]]
    let s = held(
        &ArrayD::from_shape_fn(IxDyn(&[2, 2, 2]), |i| (i[0] * 4 + i[1] * 2 + i[2]) as i64),
        [1, 1, 2],
    );
    let b = held(&arr2(&[[1i64, 0], [1, 1]]).into_dyn(), 1);
    let expect = ArrayD::from_shape_vec(IxDyn(&[2, 2, 2]), vec![1, 1, 5, 3, 9, 5, 13, 7]).unwrap();
    assert_eq!(both_ways(|| computed(s.matmul(&b))), Ok(expect));
    // np.matmul(np.ones((2, 0)), np.ones((0, 3))) == zeros((2, 3));
    // np.matmul(np.ones((0, 2)), np.ones((2, 3))).shape == (0, 3).
    let k0 = held(&ArrayD::<f64>::ones(IxDyn(&[2, 0])), 1);
    let k0t = held(&ArrayD::<f64>::ones(IxDyn(&[0, 3])), 1);
    assert_eq!(
        both_ways(|| computed(k0.matmul(&k0t))),
        Ok(ArrayD::zeros(IxDyn(&[2, 3])))
    );
    let r0 = held(&ArrayD::<f64>::ones(IxDyn(&[0, 2])), 1);
    let w = held(&ArrayD::<f64>::ones(IxDyn(&[2, 3])), 1);
    assert_eq!(
        both_ways(|| computed(r0.matmul(&w))).map(|a| a.shape().to_vec()),
        Ok(vec![0, 3])
    );
    // NumPy: "matmul: Input operand 1 has a mismatch in its core dimension";
    // batch axes 2 and 3 do not broadcast; 0-d operands are refused.
    let w32 = held(&ArrayD::<i64>::ones(IxDyn(&[3, 2])), 1);
    let err = m.matmul(&w32).unwrap_err().to_string();
    assert!(err.contains("[2, 2]") && err.contains("[3, 2]"), "{err}");
    let b3 = held(&ArrayD::<i64>::ones(IxDyn(&[3, 2, 2])), 1);
    assert!(s.matmul(&b3).is_err());
    assert!(m.matmul(&v.sum().into_array()).is_err());

    // np.tensordot(np.arange(24).reshape(2, 3, 4), np.ones((3, 4, 5)), 2)
    //   == [[66] * 5, [210] * 5]  (sums of 0..12 and 12..24)
    let a = held(
        &ArrayD::from_shape_fn(IxDyn(&[2, 3, 4]), |i| (i[0] * 12 + i[1] * 4 + i[2]) as i64),
        [1, 2, 3],
    );
    let o = held(&ArrayD::<i64>::ones(IxDyn(&[3, 4, 5])), [2, 2, 2]);
    let mut expect = ArrayD::<i64>::zeros(IxDyn(&[2, 5]));
    expect.index_axis_mut(Axis(0), 0).fill(66);
    expect.index_axis_mut(Axis(0), 1).fill(210);
    assert_eq!(both_ways(|| computed(da::tensordot(&a, &o, 2))), Ok(expect));
    // np.tensordot(a, b, axes=0) is the outer product: shape (2, 3, 4, 3, 4, 5).
    assert_eq!(
        da::tensordot(&a, &o, 0).unwrap().shape(),
        &[2, 3, 4, 3, 4, 5]
    );
    // NumPy: "shape-mismatch for sum"; an axis out of range.
    assert!(da::tensordot(&a, &o, (&[0], &[0])).is_err());
    assert!(da::tensordot(&a, &o, (&[3], &[0])).is_err());
    assert!(da::tensordot(&a, &o, 4).is_err());
}

/// Encoded bytes per task of `y`'s layers beyond `x`'s own tasks.
fn bytes_per_task<T: da::Element, U: da::Element>(x: &Array<T>, y: &Array<U>) -> f64 {
    let gy = y.task_graph().unwrap();
    let gx = x.task_graph().unwrap();
    let (bx, by) = (gx.to_bytes().unwrap(), gy.to_bytes().unwrap());
    (by.len() - bx.len()) as f64 / (gy.len() - gx.len()) as f64
}

#[test]
fn reshape_and_matmul_graphs_encode_in_at_most_100_bytes_per_task() {
    let x = held(&data(&[60, 60], 3, 0), [3, 4]);
    let cases = [
        (
            "reshape that splits and merges",
            x.reshape(&[20, -1, 9]).unwrap(),
        ),
        ("ravel", x.ravel().unwrap()),
        ("matmul", x.matmul(&x).unwrap()),
        ("tensordot", da::tensordot(&x, &x, (&[0], &[0])).unwrap()),
        ("nancumsum", x.nancumsum(1).unwrap()),
    ];
    for (what, y) in &cases {
        let per = bytes_per_task(&x, y);
        eprintln!("{what}: {per:.1} bytes per task");
        assert!(per <= 100.0, "{what}: {per:.1} bytes per task");
    }
}

/// NumPy's `floor_divide`, `fmax`, `fmin` and `sign` (issue 14), worked
/// from NumPy's documented rules: `np.floor_divide([-7, 7, -7.5, 7.5, 1],
/// [2, -2, 2, -2, 0])` is `[-4, -4, -4, -4, inf]` (floats); on integers
/// `[-7, 7, 7, -7, 5] // [2, -2, 2, -2, 0]` is `[-4, -4, 3, 3, 0]` (NumPy
/// gives 0 for a zero divisor, with a warning); `np.fmax([1, nan, 3, nan],
/// [nan, 2, 1, nan])` is `[1, 2, 3, nan]`, `np.fmin` of the same `[1, 2,
/// 1, nan]`; `np.sign([-2.5, 0, 3, nan, -0.0])` is `[-1, 0, 1, nan, 0]`.
#[test]
fn floor_divide_fmax_fmin_and_sign_match_numpy() {
    let nan = f64::NAN;
    let a = held(&arr1(&[-7.0, 7.0, -7.5, 7.5, 1.0]).into_dyn(), 2);
    let b = held(&arr1(&[2.0, -2.0, 2.0, -2.0, 0.0]).into_dyn(), 3);
    let q = both_ways_f64(|| a.floor_divide(&b));
    assert_eq!(
        q.as_slice().unwrap(),
        &[-4.0, -4.0, -4.0, -4.0, f64::INFINITY]
    );
    let ai = held(&arr1(&[-7i64, 7, 7, -7, 5]).into_dyn(), 2);
    let bi = held(&arr1(&[2i64, -2, 2, -2, 0]).into_dyn(), 2);
    let qi = both_ways(|| computed(ai.floor_divide(&bi))).unwrap();
    assert_eq!(qi.as_slice().unwrap(), &[-4, -4, 3, 3, 0]);
    // A scalar divisor too: [-7, 7] // 3 is [-3, 2].
    let qs = both_ways(|| computed(ai.floor_divide(3i64))).unwrap();
    assert_eq!(qs.as_slice().unwrap(), &[-3, 2, 2, -3, 1]);

    let x = held(&arr1(&[1.0, nan, 3.0, nan]).into_dyn(), 3);
    let y = held(&arr1(&[nan, 2.0, 1.0, nan]).into_dyn(), 1);
    let hi = both_ways_f64(|| x.fmax(&y));
    let lo = both_ways_f64(|| x.fmin(&y));
    assert_eq!(&hi.as_slice().unwrap()[..3], &[1.0, 2.0, 3.0]);
    assert_eq!(&lo.as_slice().unwrap()[..3], &[1.0, 2.0, 1.0]);
    assert!(hi[[3]].is_nan() && lo[[3]].is_nan());

    let s = held(&arr1(&[-2.5, 0.0, 3.0, nan, -0.0]).into_dyn(), 2);
    let sg = both_ways_f64(|| Ok(s.sign()));
    assert_eq!(sg[[0]], -1.0);
    assert_eq!(sg[[1]], 0.0);
    assert_eq!(sg[[2]], 1.0);
    assert!(sg[[3]].is_nan());
    assert_eq!(sg[[4]], 0.0);
    let si = held(&arr1(&[-5i32, 0, 9]).into_dyn(), 2);
    let sgi = both_ways(|| computed(Ok(si.sign()))).unwrap();
    assert_eq!(sgi.as_slice().unwrap(), &[-1, 0, 1]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Integer floor division agrees with `i64::div_euclid` adjusted to
    /// floor semantics (`(a - a.rem_euclid(b)) / b` for b > 0; for b < 0 the
    /// floor of the exact quotient), computed from plain integers.
    #[test]
    fn integer_floor_division_matches_a_plain_floor(
        xs in proptest::collection::vec((-1000i64..1000, -20i64..20), 1..40),
    ) {
        let (a, b): (Vec<i64>, Vec<i64>) = xs.iter().copied().unzip();
        let want: Vec<i64> = xs
            .iter()
            .map(|&(a, b)| if b == 0 { 0 } else { (a as f64 / b as f64).floor() as i64 })
            .collect();
        let n = a.len();
        let ax = held(&ArrayD::from_shape_vec(IxDyn(&[n]), a).unwrap(), 7);
        let bx = held(&ArrayD::from_shape_vec(IxDyn(&[n]), b).unwrap(), 5);
        let got = both_ways(|| computed(ax.floor_divide(&bx))).unwrap();
        prop_assert_eq!(got.as_slice().unwrap(), &want[..]);
    }
}
