//! Every intermediate value of array, bag and delayed graphs crosses a
//! process boundary: run through `values_through_bytes`, each task's result
//! is encoded and decoded *by codec id* (as a cluster worker receiving it
//! would) before a dependent uses it, and the graphs themselves go through
//! bytes. Results are checked against plain loops over the whole data.

use std::collections::HashMap;
use std::sync::Arc;

use ndarray::{ArrayD, Axis, IxDyn};
use oxidask::array::{self as da, ndarray};
use oxidask::bag as db;
use oxidask::graph::{FnOp, Key, SerdeCodec, Task, TaskGraph, Value};
use oxidask::prelude::*;
use oxidask_testing::{ValuesThroughBytes, values_through_bytes};
use oxidask_tests::cluster_fns::{add, inc, pairwise_sum, rem5};

#[oxidask::remote]
fn is_odd(x: &i64) -> bool {
    x % 2 != 0
}

#[oxidask::remote]
fn neg_key(x: &i64) -> i64 {
    -x
}

#[oxidask::remote]
fn mod5(x: &i64) -> i64 {
    x.rem_euclid(5)
}

#[oxidask::remote]
fn plus(a: i64, x: i64) -> i64 {
    a + x
}

/// 37 × 23 values with NaN at every 11th place, in ragged 8 × 5 chunks
/// (last chunks 5 and 3 wide).
fn data() -> ArrayD<f64> {
    ArrayD::from_shape_fn(IxDyn(&[37, 23]), |i| {
        let k = i[0] * 23 + i[1];
        ((k * 7919) % 1000) as f64 / 10.0 - 50.0
    })
}

fn with_nan() -> ArrayD<f64> {
    let mut a = data();
    for (k, v) in a.iter_mut().enumerate() {
        if k % 11 == 3 {
            *v = f64::NAN;
        }
    }
    a
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn every_array_reduction_kernel_crosses() {
    let a = data();
    let x = da::from_array(a.clone(), [8, 5]).unwrap();
    let n = da::from_array(with_nan(), [8, 5]).unwrap();
    let flat: Vec<f64> = a.iter().copied().collect();
    let finite: Vec<f64> = with_nan().iter().copied().filter(|v| !v.is_nan()).collect();
    let sum: f64 = flat.iter().sum();
    let mean = sum / flat.len() as f64;
    let var = flat.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / flat.len() as f64;
    let (lo, hi) = flat
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| {
            (l.min(v), h.max(v))
        });
    let argmin = flat.iter().position(|&v| v == lo).unwrap() as i64;
    values_through_bytes(|| {
        assert!(close(x.sum().compute().unwrap(), sum));
        assert!(close(x.mean().compute().unwrap(), mean));
        assert!(close(x.var(0.0).compute().unwrap(), var));
        assert!(close(x.std(0.0).compute().unwrap(), var.sqrt()));
        assert_eq!(x.min().compute().unwrap(), lo);
        assert_eq!(x.max().compute().unwrap(), hi);
        assert_eq!(x.argmin().compute().unwrap(), argmin);
        assert!(x.any().compute().unwrap());
        let prod = da::from_array(ArrayD::from_elem(IxDyn(&[9]), 2i64), [4]).unwrap();
        assert_eq!(prod.prod().compute().unwrap(), 512);
        // The nan-aware kernels (partials of `Option`s).
        let nsum: f64 = finite.iter().sum();
        assert!(close(n.nansum().compute().unwrap(), nsum));
        assert!(close(
            n.nanmean().compute().unwrap(),
            nsum / finite.len() as f64
        ));
        let nmin = finite.iter().copied().fold(f64::INFINITY, f64::min);
        assert_eq!(n.nanmin().compute().unwrap(), nmin);
        let nmax = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        assert_eq!(n.nanmax().compute().unwrap(), nmax);
        let w = with_nan();
        let want_arg = w
            .iter()
            .enumerate()
            .filter(|(_, v)| !v.is_nan())
            .fold((0usize, f64::NEG_INFINITY), |b, (i, &v)| {
                if v > b.1 { (i, v) } else { b }
            })
            .0 as i64;
        assert_eq!(n.nanargmax().compute().unwrap(), want_arg);
        // Along an axis (kept positions in the partials), and skew.
        let got = x
            .mean_with(&da::Reduce::axis(0))
            .unwrap()
            .compute()
            .unwrap();
        let want = a.mean_axis(Axis(0)).unwrap();
        assert_eq!(got.shape(), want.shape());
        assert!(got.iter().zip(want.iter()).all(|(g, w)| close(*g, *w)));
        let skew = da::stats::skew(&x, true).unwrap().compute().unwrap();
        let m3 = flat.iter().map(|v| (v - mean).powi(3)).sum::<f64>() / flat.len() as f64;
        assert!(close(skew, m3 / var.powf(1.5)), "{skew}");
        // topk's candidates.
        let mut sorted = flat.clone();
        sorted.sort_by(|p, q| q.partial_cmp(p).unwrap());
        let top = da::from_array(
            ArrayD::from_shape_vec(IxDyn(&[flat.len()]), flat.clone()).unwrap(),
            [100],
        )
        .unwrap()
        .topk(5)
        .unwrap()
        .compute()
        .unwrap();
        assert_eq!(
            top.iter().copied().collect::<Vec<_>>(),
            sorted[..5].to_vec()
        );
    });
}

#[test]
fn every_bag_aggregation_crosses() {
    // An empty partition and a one-record one among them.
    let parts = vec![
        (0..100i64).collect::<Vec<_>>(),
        vec![],
        vec![7],
        (100..250).collect(),
    ];
    let all: Vec<i64> = parts.iter().flatten().copied().collect();
    let b = db::from_partitions(parts.clone());
    let mean = all.iter().sum::<i64>() as f64 / all.len() as f64;
    let var = all.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / all.len() as f64;
    values_through_bytes(|| {
        assert_eq!(b.count().compute().unwrap(), all.len());
        assert_eq!(b.sum().compute().unwrap(), all.iter().sum::<i64>());
        assert_eq!(b.min().compute().unwrap(), 0);
        assert_eq!(b.max().compute().unwrap(), 249);
        assert!(close(b.mean().compute().unwrap(), mean));
        assert!(close(b.var(0.0).compute().unwrap(), var));
        assert!(close(b.std(0.0).compute().unwrap(), var.sqrt()));
        assert!(b.any(is_odd).compute().unwrap());
        assert!(!b.all(is_odd).compute().unwrap());
        let mut want: HashMap<i64, usize> = HashMap::new();
        for x in &all {
            *want.entry(x % 5).or_default() += 1;
        }
        let freq: HashMap<i64, usize> = b
            .map(rem5)
            .frequencies()
            .compute()
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(freq, want);
        let mut distinct = b.map(rem5).distinct().compute().unwrap();
        distinct.sort();
        assert_eq!(distinct, vec![0, 1, 2, 3, 4]);
        let firsts = b.distinct_by(mod5).compute().unwrap();
        assert_eq!(firsts, vec![0, 1, 2, 3, 4]);
        assert_eq!(b.topk(3, neg_key).compute().unwrap(), vec![0, 1, 2]);
        let mut folded = b.foldby(mod5, plus, 0, add, 0).compute().unwrap();
        folded.sort();
        let mut want: Vec<(i64, i64)> = (0..5)
            .map(|k| (k, all.iter().filter(|x| x.rem_euclid(5) == k).sum()))
            .collect();
        want.sort();
        assert_eq!(folded, want);
        assert_eq!(
            b.fold(0, plus, add).compute().unwrap(),
            all.iter().sum::<i64>()
        );
        let running = b.accumulate(plus, 0).compute().unwrap();
        let want: Vec<i64> = std::iter::once(0)
            .chain(all.iter().scan(0, |s, x| {
                *s += x;
                Some(*s)
            }))
            .collect();
        assert_eq!(running, want);
    });
}

#[test]
fn delayed_tree_crosses() {
    let tree = pairwise_sum((0..9i64).map(|i| delayed!(inc(i))).collect());
    let got = values_through_bytes(|| tree.compute()).unwrap();
    assert_eq!(got, (1..=9).sum::<i64>());
}

/// A type registered nowhere: its values have a codec (`SerdeCodec`) but
/// another process could not find it by id.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct Unregistered(u8);

#[test]
fn a_value_no_other_process_decodes_fails_naming_its_type() {
    let run = |make: fn() -> Value| {
        let mut g = TaskGraph::new();
        g.insert(
            Key::new("made"),
            Task::new(FnOp::arc("make", move |_| Ok(make())), vec![]),
        );
        with_scheduler(
            SchedulerChoice::Custom(Arc::new(ValuesThroughBytes)),
            || oxidask::scheduler::compute(g, &[Key::new("made")]),
        )
        .unwrap_err()
        .to_string()
    };
    let e = run(|| Value::with_codec::<_, SerdeCodec>(Unregistered(1), 1));
    assert!(
        e.contains("Unregistered") && e.contains("register_value!"),
        "{e}"
    );
    assert!(e.contains("made"), "{e}");
    let e = run(|| Value::sized(Unregistered(1), 1));
    assert!(e.contains("Unregistered") && e.contains("no codec"), "{e}");
    // A registered type crosses.
    let mut g = TaskGraph::new();
    g.insert(
        Key::new("x"),
        Task::new(FnOp::arc("x", |_| Ok(Value::new(41i64))), vec![]),
    );
    let out = with_scheduler(
        SchedulerChoice::Custom(Arc::new(ValuesThroughBytes)),
        || oxidask::scheduler::compute(g, &[Key::new("x")]),
    )
    .unwrap();
    assert_eq!(out[0].downcast_ref::<i64>().unwrap(), &41);
}

#[test]
fn other_array_intermediates_cross() {
    let a = data();
    let x = da::from_array(a.clone(), [8, 5]).unwrap();
    values_through_bytes(|| {
        // cumsum's carries, rechunk's pieces, matmul's partial products.
        let got = x.cumsum(0).unwrap().compute().unwrap();
        let mut want = a.clone();
        for i in 1..want.shape()[0] {
            for j in 0..want.shape()[1] {
                want[[i, j]] += want[[i - 1, j]];
            }
        }
        assert!(got.iter().zip(want.iter()).all(|(g, w)| close(*g, *w)));
        assert_eq!(x.rechunk([10, 7]).unwrap().compute().unwrap(), a);
        let y = da::from_array(a.t().to_owned(), [5, 8]).unwrap();
        let got = x.matmul(&y).unwrap().compute().unwrap();
        let a2 = a.clone().into_dimensionality::<ndarray::Ix2>().unwrap();
        let want = a2.dot(&a2.t());
        assert!(got.iter().zip(want.iter()).all(|(g, w)| close(*g, *w)));
    });
}

/// groupby's shuffle by the tasks method: every piece, and every split's
/// pieces as a whole, cross through bytes (as between workers). (The disk
/// method hands on a local file index with no codec: it cannot cross.)
#[test]
fn bag_groupby_of_the_tasks_method_crosses() {
    use oxidask::config::{Config, ShuffleMethod, current, with_config};
    let parts = vec![(0..300i64).collect::<Vec<_>>(), vec![], (-50..40).collect()];
    let mut want: HashMap<i64, Vec<i64>> = HashMap::new();
    for &x in parts.iter().flatten() {
        want.entry(mod5(&x)).or_default().push(x);
    }
    let config = Config {
        shuffle: ShuffleMethod::Tasks,
        ..current().unwrap()
    };
    let grouped = with_config(config, || {
        db::from_partitions(parts)
            .groupby_with(mod5, &db::GroupbyOptions::new().npartitions(3))
            .unwrap()
    });
    let got: HashMap<i64, Vec<i64>> = values_through_bytes(|| grouped.compute())
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(got, want);
}

#[test]
fn bag_repartition_crosses() {
    let parts = vec![
        (0..100i64).collect::<Vec<_>>(),
        vec![],
        vec![7],
        (100..250).collect(),
    ];
    let all: Vec<i64> = parts.iter().flatten().copied().collect();
    let b = db::from_partitions(parts);
    values_through_bytes(|| {
        assert_eq!(b.repartition(7).unwrap().compute().unwrap(), all);
        assert_eq!(b.repartition(2).unwrap().compute().unwrap(), all);
    });
}
