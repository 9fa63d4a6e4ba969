//! Registered functions: delayed graphs that call them run after a round
//! trip through bytes, with the same results; closures are refused with a
//! message saying how to register them.

use oxidask::delayed::{Delayed, delayed};
use oxidask_testing::{both_ways, round_trip};
use proptest::prelude::*;

#[oxidask::remote]
fn square(x: i64) -> i64 {
    x * x
}

#[oxidask::remote]
fn total(xs: Vec<i64>) -> i64 {
    xs.iter().sum()
}

#[oxidask::remote]
fn parse(s: String) -> Result<i64, std::num::ParseIntError> {
    s.trim().parse()
}

#[oxidask::remote]
fn label(n: i64, unit: String) -> String {
    format!("{n} {unit}")
}

fn pipeline(xs: &[i64]) -> oxidask::Result<String> {
    let squares: Vec<Delayed<i64>> = xs.iter().map(|&x| delayed!(square(x))).collect();
    let sum = delayed!(total(squares));
    delayed!(label(sum, "units".to_string())).compute()
}

#[test]
fn a_graph_of_registered_functions_runs_through_bytes() {
    let out = both_ways(|| pipeline(&[1, 2, 3]).unwrap());
    assert_eq!(out, "14 units");
}

#[test]
fn a_failing_registered_function_fails_its_task_after_a_round_trip() {
    let e = round_trip(|| delayed!(parse("x1".to_string())?).compute()).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("parse") && msg.contains("invalid digit"),
        "{msg}"
    );
}

#[test]
fn a_closure_cannot_leave_the_process_and_the_error_says_how_to_register() {
    let double = |x: i64| x * 2;
    let e = round_trip(|| delayed!(double(21)).compute()).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("lambda") && msg.contains("#[oxidask::remote]"),
        "{msg}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn registered_pipelines_match_a_plain_loop(xs in proptest::collection::vec(-1000i64..1000, 0..40)) {
        let expected = format!("{} units", xs.iter().map(|x| x * x).sum::<i64>());
        prop_assert_eq!(both_ways(|| pipeline(&xs).unwrap()), expected);
    }
}
