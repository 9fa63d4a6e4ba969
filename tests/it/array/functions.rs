//! Every documented elementwise function and NaN-aware reduction against
//! NumPy's own results for inputs with NaN, infinities and signed zeros
//! (`tests/fixtures/npy/{ufunc,reduce}`, written by `make_fixtures.py`
//! there and read with the test's plain parser). Binary functions run on a
//! column against a row, so broadcasting and uneven chunks come along.

use ndarray::{ArrayD, Dimension, IxDyn};
use oxidask::array::{self as da, Array, Reduce, ndarray};
use oxidask::prelude::*;

use super::npy::{fixture, parse};

fn f64s(name: &str) -> ArrayD<f64> {
    parse(&fixture(&format!("{name}.npy"))).f64s()
}

fn bools(name: &str) -> ArrayD<bool> {
    parse(&fixture(&format!("{name}.npy"))).bools()
}

/// Same value: both NaN, or equal within `rel` (exactly when 0), and with
/// the same sign bit when `signed` (signed zeros).
fn same(got: f64, want: f64, rel: f64, signed: bool) -> bool {
    if want.is_nan() || got.is_nan() {
        return want.is_nan() && got.is_nan();
    }
    if signed && got.is_sign_negative() != want.is_sign_negative() {
        return false;
    }
    got == want || (got - want).abs() <= rel * want.abs()
}

fn assert_same(what: &str, got: &ArrayD<f64>, want: &ArrayD<f64>, rel: f64, signed: bool) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    for ((i, g), w) in got.indexed_iter().zip(want.iter()) {
        assert!(
            same(*g, *w, rel, signed),
            "{what} at {:?}: got {g:?}, NumPy gives {w:?}",
            i.slice()
        );
    }
}

/// The 16 test values as a column (16, 1) and a row (1, 16), chunked
/// unevenly.
fn column_and_row() -> (Array<f64>, Array<f64>) {
    let x = f64s("ufunc/x");
    let col = x.clone().into_shape_with_order(IxDyn(&[16, 1])).unwrap();
    let row = x.into_shape_with_order(IxDyn(&[1, 16])).unwrap();
    (
        da::from_array(col, [5, 1]).unwrap(),
        da::from_array(row, [1, 3]).unwrap(),
    )
}

#[test]
fn binary_float_functions_match_numpy() {
    let (c, r) = column_and_row();
    let sync = ComputeOptions::new().scheduler(SchedulerChoice::Sync);
    let run = |a: Array<f64>| a.compute_with(&sync).unwrap();
    // NumPy's remainder takes the divisor's sign, also for zero results.
    assert_same(
        "remainder",
        &run(c.remainder(&r).unwrap()),
        &f64s("ufunc/remainder"),
        0.0,
        true,
    );
    assert_same("%", &run(&c % &r), &f64s("ufunc/remainder"), 0.0, true);
    // maximum/minimum propagate NaN from either side.
    assert_same(
        "maximum",
        &run(c.maximum(&r).unwrap()),
        &f64s("ufunc/maximum"),
        0.0,
        false,
    );
    assert_same(
        "minimum",
        &run(c.minimum(&r).unwrap()),
        &f64s("ufunc/minimum"),
        0.0,
        false,
    );
    assert_same(
        "arctan2",
        &run(c.arctan2(&r).unwrap()),
        &f64s("ufunc/arctan2"),
        1e-15,
        true,
    );
}

#[test]
fn comparisons_and_logical_ops_match_numpy() {
    let (c, r) = column_and_row();
    type Cmp = fn(&Array<f64>, &Array<f64>) -> Array<bool>;
    let cases: [(&str, Cmp); 6] = [
        ("less", |a, b| a.less(b).unwrap()),
        ("less_equal", |a, b| a.less_equal(b).unwrap()),
        ("greater", |a, b| a.greater(b).unwrap()),
        ("greater_equal", |a, b| a.greater_equal(b).unwrap()),
        ("equal", |a, b| a.equal(b).unwrap()),
        ("not_equal", |a, b| a.not_equal(b).unwrap()),
    ];
    for (name, f) in cases {
        let got = f(&c, &r).compute().unwrap();
        assert_eq!(got, bools(&format!("ufunc/{name}")), "{name}");
    }
    let p = da::from_array(bools("ufunc/p"), 3).unwrap();
    let q = da::from_array(bools("ufunc/q"), 2).unwrap();
    assert_eq!(
        p.logical_and(&q).unwrap().compute().unwrap(),
        bools("ufunc/logical_and")
    );
    assert_eq!((&p & &q).compute().unwrap(), bools("ufunc/logical_and"));
    assert_eq!(
        p.logical_or(&q).unwrap().compute().unwrap(),
        bools("ufunc/logical_or")
    );
    assert_eq!((&p | &q).compute().unwrap(), bools("ufunc/logical_or"));
    assert_eq!(
        p.logical_xor(&q).unwrap().compute().unwrap(),
        bools("ufunc/logical_xor")
    );
    assert_eq!((&p ^ &q).compute().unwrap(), bools("ufunc/logical_xor"));
    assert_eq!(
        p.logical_not().compute().unwrap(),
        bools("ufunc/logical_not")
    );
    assert_eq!((!&p).compute().unwrap(), bools("ufunc/logical_not"));
}

#[test]
fn unary_functions_match_numpy() {
    let x = da::from_array(f64s("ufunc/x"), 6).unwrap();
    assert_same(
        "clip",
        &x.clip(-2.0, 3.0).compute().unwrap(),
        &f64s("ufunc/clip"),
        0.0,
        false,
    );
    // lo > hi: NumPy gives hi everywhere (but NaN stays NaN).
    assert_same(
        "clip reversed",
        &x.clip(3.0, -2.0).compute().unwrap(),
        &f64s("ufunc/clip_reversed"),
        0.0,
        false,
    );
    assert_eq!(x.isinf().compute().unwrap(), bools("ufunc/isinf"));
    assert_eq!(x.isfinite().compute().unwrap(), bools("ufunc/isfinite"));
    assert_eq!(x.isnan().compute().unwrap(), bools("ufunc/isnan"));
}

#[test]
fn integer_remainder_matches_numpy() {
    let xi = parse(&fixture("ufunc/xi.npy")).i64s();
    let yi = parse(&fixture("ufunc/yi.npy")).i64s();
    let (n, m) = (xi.len(), yi.len());
    let c = da::from_array(xi.into_shape_with_order(IxDyn(&[n, 1])).unwrap(), [3, 1]).unwrap();
    let r = da::from_array(yi.into_shape_with_order(IxDyn(&[1, m])).unwrap(), [1, 4]).unwrap();
    let want = parse(&fixture("ufunc/remainder_int.npy")).i64s();
    assert_eq!(c.remainder(&r).unwrap().compute().unwrap(), want);
    assert_eq!((&c % &r).compute().unwrap(), want);
}

/// `(name, how)` for each NaN-aware reduction: its full and per-axis forms.
type Full = fn(&Array<f64>) -> f64;
type Axes = fn(&Array<f64>, &Reduce) -> Array<f64>;

#[test]
fn nan_reductions_match_numpy() {
    let m = f64s("reduce/m");
    let cases: Vec<(&str, Full, Axes, f64)> = vec![
        (
            "nanprod",
            |x| x.nanprod().compute().unwrap(),
            |x, o| x.nanprod_with(o).unwrap(),
            1e-15,
        ),
        (
            "prod",
            |x| x.prod().compute().unwrap(),
            |x, o| x.prod_with(o).unwrap(),
            1e-15,
        ),
        (
            "nansum",
            |x| x.nansum().compute().unwrap(),
            |x, o| x.nansum_with(o).unwrap(),
            1e-15,
        ),
        (
            "nanmin",
            |x| x.nanmin().compute().unwrap(),
            |x, o| x.nanmin_with(o).unwrap(),
            0.0,
        ),
        (
            "nanmax",
            |x| x.nanmax().compute().unwrap(),
            |x, o| x.nanmax_with(o).unwrap(),
            0.0,
        ),
        (
            "max",
            |x| x.max().compute().unwrap(),
            |x, o| x.max_with(o).unwrap(),
            0.0,
        ),
        (
            "nanmean",
            |x| x.nanmean().compute().unwrap(),
            |x, o| x.nanmean_with(o).unwrap(),
            1e-14,
        ),
        (
            "nanvar0",
            |x| x.nanvar(0.0).compute().unwrap(),
            |x, o| x.nanvar_with(0.0, o).unwrap(),
            1e-13,
        ),
        (
            "nanvar1",
            |x| x.nanvar(1.0).compute().unwrap(),
            |x, o| x.nanvar_with(1.0, o).unwrap(),
            1e-13,
        ),
        (
            "nanstd0",
            |x| x.nanstd(0.0).compute().unwrap(),
            |x, o| x.nanstd_with(0.0, o).unwrap(),
            1e-13,
        ),
        (
            "nanstd1",
            |x| x.nanstd(1.0).compute().unwrap(),
            |x, o| x.nanstd_with(1.0, o).unwrap(),
            1e-13,
        ),
        // No degrees of freedom left: NaN for the nan- forms, inf for var.
        (
            "nanvar4",
            |x| x.nanvar(4.0).compute().unwrap(),
            |x, o| x.nanvar_with(4.0, o).unwrap(),
            1e-13,
        ),
        (
            "nanstd4",
            |x| x.nanstd(4.0).compute().unwrap(),
            |x, o| x.nanstd_with(4.0, o).unwrap(),
            1e-13,
        ),
        (
            "var6",
            |x| x.var(6.0).compute().unwrap(),
            |x, o| x.var_with(6.0, o).unwrap(),
            1e-13,
        ),
    ];
    for chunks in [vec![5usize, 6], vec![2, 4], vec![1, 1]] {
        let x = da::from_array(m.clone(), chunks.clone()).unwrap();
        for (name, full, axes, rel) in &cases {
            let want = f64s(&format!("reduce/{name}_all"));
            let got = ArrayD::from_elem(IxDyn(&[]), full(&x));
            assert_same(&format!("{name} {chunks:?}"), &got, &want, *rel, false);
            for (axis, tag) in [
                (0isize, "axis0"),
                (1, "axis1"),
                (-1, "axis1"),
                (-2, "axis0"),
            ] {
                let want = f64s(&format!("reduce/{name}_{tag}"));
                let o = Reduce::axis(axis).split_every(2);
                let got = axes(&x, &o).compute().unwrap();
                assert_same(
                    &format!("{name} axis {axis} {chunks:?}"),
                    &got,
                    &want,
                    *rel,
                    false,
                );
                let kept = axes(&x, &o.clone().keepdims(true)).compute().unwrap();
                let want_kept = want
                    .clone()
                    .insert_axis(ndarray::Axis((axis.rem_euclid(2)) as usize));
                assert_same(
                    &format!("{name} keepdims {axis}"),
                    &kept,
                    &want_kept,
                    *rel,
                    false,
                );
            }
        }
    }
    // An all-NaN slice has no nanargmax: an error, like NumPy's ValueError.
    let x = da::from_array(m, 3).unwrap();
    let e = x
        .nanargmax_with(&Reduce::axis(1))
        .unwrap()
        .compute()
        .unwrap_err();
    assert!(e.to_string().contains("All-NaN"), "{e}");
}
