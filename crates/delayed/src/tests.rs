//! Delayed calls against plain evaluation.

use std::sync::atomic::{AtomicUsize, Ordering};

use oxidask_scheduler::{ComputeOptions, SchedulerChoice};

use crate::{Delayed, compute, compute_with};

fn inc(x: i64) -> i64 {
    x + 1
}
fn add(a: i64, b: i64) -> i64 {
    a + b
}
fn parse(s: String) -> Result<i64, std::num::ParseIntError> {
    s.trim().parse()
}

static LOADS: AtomicUsize = AtomicUsize::new(0);
fn load(n: usize) -> Vec<f64> {
    LOADS.fetch_add(1, Ordering::SeqCst);
    (0..n).map(|i| i as f64).collect()
}
fn total(v: Vec<f64>) -> f64 {
    v.iter().sum()
}
fn count(v: Vec<f64>) -> usize {
    v.len()
}

#[test]
fn plain_and_delayed_arguments_mix() {
    let a = delayed!(inc(1));
    let b = delayed!(add(a.clone(), 10));
    let c = delayed!(add(&a, &b));
    assert_eq!(c.compute().unwrap(), 2 + 12);
    assert_eq!(Delayed::value(5i64).compute().unwrap(), 5);
}

#[test]
fn shared_inputs_are_computed_once() {
    let before = LOADS.load(Ordering::SeqCst);
    let data = delayed!(load(1000));
    let s = delayed!(total(&data));
    let n = delayed!(count(&data));
    let (s, n) = compute(&(s, n)).unwrap();
    assert_eq!((s, n), (499_500.0, 1000));
    assert_eq!(LOADS.load(Ordering::SeqCst) - before, 1);
}

#[test]
fn fallible_functions_fail_the_computation_with_their_name() {
    let ok = delayed!(parse(String::from(" 42 "))?);
    assert_eq!(ok.compute().unwrap(), 42);
    let bad = delayed!(parse(String::from("4x2"))?);
    let msg = delayed!(inc(bad)).compute().unwrap_err().to_string();
    assert!(
        msg.contains("parse") && msg.contains("invalid digit"),
        "{msg}"
    );
}

#[test]
fn many_values_in_one_graph_on_every_scheduler() {
    let xs: Vec<Delayed<i64>> = (0..500).map(|i| delayed!(inc(i))).collect();
    for s in [SchedulerChoice::Sync, SchedulerChoice::Threaded] {
        let got = compute_with(&xs, &ComputeOptions::new().scheduler(s)).unwrap();
        assert_eq!(got, (1..=500).collect::<Vec<i64>>());
    }
    let (v, one) = compute(&(xs.clone(), xs[0].clone())).unwrap();
    assert_eq!((v.len(), one), (500, 1));
}

#[test]
fn a_long_chain_builds_runs_and_drops_without_overflow() {
    let mut x = delayed!(inc(0));
    for _ in 0..100_000 {
        x = delayed!(inc(x));
    }
    assert_eq!(x.compute().unwrap(), 100_001);
    drop(x);
}

#[test]
fn closures_bound_to_names_work() {
    let offset = 7i64;
    let shift = move |x: i64| x + offset;
    assert_eq!(delayed!(shift(1)).compute().unwrap(), 8);
    assert!(delayed!(shift(1)).key().name().starts_with("lambda-"));
}

#[test]
fn keys_are_unique_per_call_and_named_after_the_function() {
    let a = delayed!(inc(1));
    let b = delayed!(inc(1));
    assert_ne!(a.key(), b.key());
    assert!(a.key().name().starts_with("inc-"), "{}", a.key());
}

#[test]
fn building_100k_calls_gives_100k_distinct_tasks() {
    // How fast is measured by the `delayed_build_100k` benchmark, not here:
    // a wall-clock bound flakes on a loaded machine.
    let xs: Vec<Delayed<i64>> = (0..100_000).map(|i| delayed!(inc(i))).collect();
    let keys: std::collections::HashSet<_> = xs.iter().map(|x| x.key().clone()).collect();
    assert_eq!(keys.len(), 100_000);
}

fn add_all(xs: Vec<i64>) -> i64 {
    xs.iter().sum()
}

#[test]
fn lists_of_delayed_values_are_arguments() {
    let mut layer: Vec<Delayed<i64>> = (0..1000).map(|i| delayed!(inc(i))).collect();
    while layer.len() > 1 {
        layer = layer.chunks(16).map(|c| delayed!(add_all(c))).collect();
    }
    assert_eq!(layer[0].compute().unwrap(), (1..=1000).sum::<i64>());
}

#[allow(clippy::too_many_arguments)]
fn twelve(
    a: i64,
    b: i64,
    c: i64,
    d: i64,
    e: i64,
    f: i64,
    g: i64,
    h: i64,
    i: i64,
    j: i64,
    k: i64,
    l: i64,
) -> i64 {
    [a, b, c, d, e, f, g, h, i, j, k, l]
        .iter()
        .enumerate()
        .map(|(n, x)| (n as i64 + 1) * x)
        .sum()
}

#[test]
fn calls_of_up_to_twelve_arguments_keep_their_order() {
    let one = delayed!(inc(0));
    let x = delayed!(twelve(1, &one, 1, 1, 1, 1, 1, 1, 1, 1, 1, one.clone()));
    // 1 + 2 + ... + 12 with every argument 1.
    assert_eq!(x.compute().unwrap(), 78);
}
