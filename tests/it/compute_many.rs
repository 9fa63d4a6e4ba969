//! Several collections in one `compute`: arrays, their scalars, bags, a
//! bag's single values and delayed values mixed in one tuple give what
//! each gives alone, and tasks they share (by key) run once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ndarray::{ArrayD, IxDyn};
use oxidask::array::{self as da, ndarray};
use oxidask::bag as db;
use oxidask::prelude::*;
use oxidask::scheduler::{Callback, Event};

fn double(x: f64) -> f64 {
    2.0 * x
}

/// Counts started tasks whose key names the layer `prefix`.
struct Started(&'static str, AtomicUsize);
impl Callback for Started {
    fn on_event(&self, e: &Event<'_>) {
        if let Event::TaskStarted { key, .. } = e
            && key.prefix() == self.0
        {
            self.1.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[test]
fn a_tuple_of_collections_gives_what_each_gives_alone() {
    let data = ArrayD::from_shape_fn(IxDyn(&[30, 8]), |ix| (ix[0] * 8 + ix[1]) as f64 / 7.0);
    let x = da::from_array(data.clone(), vec![7, 3]).unwrap();
    let b = db::range(100, 7).unwrap().map(|i| i * 3);
    let d = delayed!(double(1.5));
    let (whole, sum, std, records, count, twice) =
        compute(&(&x, x.sum(), x.std(0.0), &b, b.count(), &d)).unwrap();
    assert_eq!(whole, data);
    let n = data.len() as f64;
    let mean = data.sum() / n;
    let var = data.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    assert!((sum - data.sum()).abs() < 1e-9, "{sum}");
    assert!((std - var.sqrt()).abs() < 1e-9, "{std}");
    assert_eq!(records, (0..100).map(|i| i * 3).collect::<Vec<u64>>());
    assert_eq!(count, 100);
    assert_eq!(twice, 3.0);
    // A slice of one kind.
    let parts = [x.sum(), x.max()];
    let got = compute(&parts[..]).unwrap();
    assert_eq!(got[1], data.iter().cloned().fold(f64::MIN, f64::max));
}

#[test]
fn shared_tasks_run_once() {
    // Two reductions of one rechunked array: computed apart, the rechunk
    // runs twice; together, its tasks are one set.
    let data = ArrayD::from_shape_fn(IxDyn(&[40, 40]), |ix| (ix[0] + 3 * ix[1]) as f64);
    let y = da::from_array(data, vec![10, 10])
        .unwrap()
        .rechunk(vec![20, 8])
        .unwrap();
    let prefix: &'static str = Box::leak(y.keys()[0].prefix().to_string().into_boxed_str());
    let run = |together: bool| {
        let seen = Arc::new(Started(prefix, AtomicUsize::new(0)));
        let opts = ComputeOptions::new()
            .callback(seen.clone())
            .optimize(oxidask::graph::optimize::OptimizeOptions::none());
        if together {
            compute_with(&(y.sum(), y.max()), &opts).unwrap();
        } else {
            y.sum().compute_with(&opts).unwrap();
            y.max().compute_with(&opts).unwrap();
        }
        seen.1.load(Ordering::SeqCst)
    };
    let apart = run(false);
    let together = run(true);
    assert!(apart > 0, "no {prefix} task seen");
    assert_eq!(
        together * 2,
        apart,
        "{prefix}: {together} together, {apart} apart"
    );
}
