//! `topk`/`argtopk` against NumPy and a plain sort. Dask's `topk(x, k)` is
//! `np.sort(x, axis)[..., ::-1][..., :k]` for `k > 0` and
//! `np.sort(x, axis)[..., :-k]` for `k < 0` (NaN sorts as the largest);
//! the fixed values below were computed that way with NumPy 2.4, the
//! positions with `np.argsort(key, kind='stable')` (ties: lower index
//! first, our documented choice).

use ndarray::{ArrayD, Axis, IxDyn};
use oxidask::array::{self as da, ndarray};
use proptest::prelude::*;

use super::{get, shape_and_chunks};

/// `((i*9 + j)*37 % 23) - 11` on 6 × 9, NaN at (1, 4) and (4, 0).
fn x() -> ArrayD<f64> {
    let mut a = ArrayD::from_shape_fn(IxDyn(&[6, 9]), |ix| {
        ((ix[0] * 9 + ix[1]) * 37 % 23) as f64 - 11.0
    });
    a[[1, 4]] = f64::NAN;
    a[[4, 0]] = f64::NAN;
    a
}

fn rows<T: Copy>(a: &ArrayD<T>) -> Vec<Vec<T>> {
    a.outer_iter()
        .map(|r| r.iter().copied().collect())
        .collect()
}

#[test]
fn topk_and_argtopk_match_numpy() {
    let n = f64::NAN;
    // Ragged chunks along both axes: (4, 2) × (2, 2, 2, 2, 1).
    let a = da::from_array(x(), vec![4, 2]).unwrap();
    let top = get(&a.topk(3).unwrap());
    let want = vec![
        vec![9.0, 8.0, 4.0],
        vec![n, 6.0, 5.0],
        vec![11.0, 8.0, 7.0],
        vec![9.0, 5.0, 4.0],
        vec![n, 11.0, 7.0],
        vec![8.0, 4.0, 3.0],
    ];
    assert_eq!(format!("{:?}", rows(&top)), format!("{want:?}"));
    let arg = get(&a.argtopk(3).unwrap());
    assert_eq!(
        rows(&arg),
        vec![
            vec![8, 3, 6],
            vec![4, 7, 2],
            vec![0, 8, 3],
            vec![4, 7, 2],
            vec![0, 5, 8],
            vec![4, 7, 2]
        ]
    );
    // The smallest two along axis 0, ascending; NaN is never among them.
    let low = get(&a.topk_with(-2, 0, Some(2)).unwrap());
    assert_eq!(
        rows(&low),
        vec![
            vec![-11.0, -11.0, -8.0, -6.0, -3.0, -11.0, -10.0, -7.0, -5.0],
            vec![-2.0, -10.0, -7.0, -5.0, -2.0, -10.0, -9.0, -6.0, -4.0]
        ]
    );
    let low_at = get(&a.argtopk_with(-2, 0, Some(2)).unwrap());
    assert_eq!(
        rows(&low_at),
        vec![
            vec![0, 5, 4, 5, 4, 2, 5, 4, 5],
            vec![5, 3, 2, 3, 2, 0, 3, 2, 3]
        ]
    );
    assert_eq!(
        a.topk_with(-2, 0, None).unwrap().chunks(),
        &[vec![2], vec![2, 2, 2, 2, 1]]
    );
}

#[test]
fn topk_of_bad_k_and_axis_is_an_error_naming_it() {
    let a = da::from_array(x(), vec![4, 2]).unwrap();
    for k in [0, 10, -10] {
        let e = a.topk(k).unwrap_err().to_string();
        assert!(e.contains("k"), "{e}");
    }
    let e = a.topk_with(1, 2, None).unwrap_err().to_string();
    assert!(e.contains("axis"), "{e}");
    let e = a.topk_with(1, 0, Some(1)).unwrap_err().to_string();
    assert!(e.contains("split_every"), "{e}");
    // The whole axis: a full sort.
    let all = a.topk_with(-6, 0, None).unwrap().compute().unwrap();
    let mut col: Vec<f64> = x().index_axis(Axis(1), 1).iter().copied().collect();
    col.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert_eq!(
        all.index_axis(Axis(1), 1)
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        col
    );
}

/// The oracle: each lane sorted by (value, NaN largest; position), taken
/// from the front for `k < 0` and by descending value for `k > 0`.
fn oracle(a: &ArrayD<i64>, k: i64, axis: usize) -> (ArrayD<i64>, ArrayD<i64>) {
    let m = k.unsigned_abs() as usize;
    let mut shape = a.shape().to_vec();
    shape[axis] = m;
    let mut vals = ArrayD::zeros(IxDyn(&shape));
    let mut at = ArrayD::zeros(IxDyn(&shape));
    for ((lane, mut v), mut p) in a
        .lanes(Axis(axis))
        .into_iter()
        .zip(vals.lanes_mut(Axis(axis)))
        .zip(at.lanes_mut(Axis(axis)))
    {
        let mut pairs: Vec<(i64, i64)> = lane.iter().copied().zip(0..).collect();
        if k > 0 {
            pairs.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        } else {
            pairs.sort();
        }
        for (i, (x, pos)) in pairs.into_iter().take(m).enumerate() {
            v[i] = x;
            p[i] = pos;
        }
    }
    (vals, at)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn topk_matches_a_full_sort(
        (shape, chunks) in shape_and_chunks(),
        seed in 0u64..1000,
        axis_pick in 0usize..4,
        k_pick in 0usize..100,
        smallest in any::<bool>(),
        split_every in 2usize..5,
    ) {
        // Few distinct values: many ties.
        let mut s = seed;
        let data = ArrayD::from_shape_simple_fn(IxDyn(&shape), || {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 33) % 7) as i64 - 3
        });
        let axis = axis_pick % shape.len();
        let m = 1 + k_pick % shape[axis];
        let k = if smallest { -(m as i64) } else { m as i64 };
        let a = da::from_array(data.clone(), chunks).unwrap();
        let (want_v, want_at) = oracle(&data, k, axis);
        let got_v = get(&a.topk_with(k, axis as isize, Some(split_every)).unwrap());
        let got_at = get(&a.argtopk_with(k, axis as isize, Some(split_every)).unwrap());
        prop_assert_eq!(got_v, want_v);
        prop_assert_eq!(got_at, want_at);
    }
}
