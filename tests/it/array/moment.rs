//! `moment(order, ddof)` against NumPy: the expected values are
//! `((x - x.mean(axis, keepdims=True))**order).sum(axis) / (n - ddof)`
//! computed once with NumPy 2.4 for
//! `x = (np.arange(35.).reshape(5, 7) * 1.7) % 5.3 - 2.0` — Dask's
//! definition of `da.moment`.

use ndarray::{ArrayD, IxDyn};
use oxidask::array::{self as da, Reduce, ndarray};

use super::get;

fn x() -> ArrayD<f64> {
    ArrayD::from_shape_fn(IxDyn(&[5, 7]), |ix| {
        ((ix[0] * 7 + ix[1]) as f64 * 1.7) % 5.3 - 2.0
    })
}

fn near(got: f64, want: f64) -> bool {
    (got - want).abs() <= 1e-12 * want.abs().max(1.0)
}

#[test]
fn moments_of_every_order_match_numpy() {
    // (order, ddof=1, ddof=0), all elements.
    let want = [
        (2, 2.53381512605042, 2.4614204081632653),
        (3, -0.129689027611046, -0.12598362682215897),
        (4, 11.314249231486878, 10.99098496773011),
        (5, -2.0716336065847116, -2.0124440749680055),
        (6, 60.13898997630741, 58.42073311984148),
    ];
    // Ragged chunks (2, 2, 1) × (4, 3).
    let a = da::from_array(x(), vec![2, 4]).unwrap();
    for (order, w1, w0) in want {
        for (ddof, w) in [(1.0, w1), (0.0, w0)] {
            let got = get(&a.moment(order, ddof).unwrap().into_array());
            let got = got.first().copied().unwrap();
            assert!(near(got, w), "order {order} ddof {ddof}: {got} vs {w}");
        }
    }
    // Orders 0 and 1 are 1 and 0, as in Dask.
    assert_eq!(a.moment(0, 1.0).unwrap().compute().unwrap(), 1.0);
    assert_eq!(a.moment(1, 0.0).unwrap().compute().unwrap(), 0.0);
    // scipy's moment is ddof 0.
    let s = da::stats::moment(&a, 4).unwrap().compute().unwrap();
    assert!(near(s, 10.99098496773011));
}

#[test]
fn moments_along_an_axis_match_numpy() {
    let a = da::from_array(x(), vec![2, 4]).unwrap();
    let m3 = get(&a.moment_with(3, 1.0, &Reduce::axis(0)).unwrap());
    let want3 = [
        4.440892098500626e-15,
        0.7822800000000026,
        -0.782280000000005,
        -1.5645599999999957,
        0.7822799999999994,
        -0.782280000000007,
        -1.5645600000000055,
    ];
    assert_eq!(m3.shape(), &[7]);
    for (g, w) in m3.iter().zip(want3) {
        assert!((g - w).abs() < 1e-12, "{g} vs {w}");
    }
    // Order 5 takes the two-pass path; keepdims keeps the axis.
    let m5 = get(&a
        .moment_with(5, 0.0, &Reduce::axis(-1).keepdims(true))
        .unwrap());
    let want5 = [
        -12.623790194561781,
        5.2334811685607106,
        -1.340258199561406e-14,
        -5.233481168560708,
        -5.2334811685607265,
    ];
    assert_eq!(m5.shape(), &[5, 1]);
    for (g, w) in m5.iter().zip(want5) {
        assert!((g - w).abs() < 1e-12 * w.abs().max(1.0), "{g} vs {w}");
    }
}

#[test]
fn moments_with_nan_empty_and_no_degrees_of_freedom() {
    // A NaN makes the moment NaN (numpy has no nan-moment either).
    let mut v = x();
    v[[2, 3]] = f64::NAN;
    let a = da::from_array(v, vec![2, 4]).unwrap();
    assert!(a.moment(3, 0.0).unwrap().compute().unwrap().is_nan());
    // Empty: NaN, as numpy's mean of nothing.
    let e = da::from_array(ArrayD::<f64>::zeros(IxDyn(&[0])), vec![1]).unwrap();
    assert!(e.moment(2, 0.0).unwrap().compute().unwrap().is_nan());
    assert!(e.moment(6, 0.0).unwrap().compute().unwrap().is_nan());
    // n - ddof = 0 divides by zero, as numpy's var: inf for a spread.
    let two = da::from_array(ndarray::arr1(&[1.0, 3.0]).into_dyn(), vec![1]).unwrap();
    assert_eq!(
        two.moment(2, 2.0).unwrap().compute().unwrap(),
        f64::INFINITY
    );
    // Integers promote to f64.
    let i = da::from_array(ndarray::arr1(&[1i64, 2, 4, 7]).into_dyn(), vec![3]).unwrap();
    assert!(near(i.moment(3, 1.0).unwrap().compute().unwrap(), 8.0));
}
