//! Graphs run in another process: a graph is written to bytes, sent to the
//! `run_graph` binary (a separate program that knows only the registered
//! ops and functions), and its result bytes must equal the local run's —
//! what a cluster worker will do.

use std::io::Write;
use std::process::{Command, Stdio};

use oxidask::delayed::{Delayed, delayed};
use oxidask::graph::{Key, TaskGraph};
use oxidask_tests::remote_fns::{parse_int, repeat, sum_of_squares};
use oxidask_tests::{EncodedValue, Job, encode_values};

/// Runs `graph` for `outputs` in a fresh `run_graph` process.
fn run_elsewhere(graph: &TaskGraph, outputs: &[Key]) -> Result<Vec<EncodedValue>, String> {
    let job = postcard::to_stdvec(&Job {
        graph: graph.to_bytes().map_err(|e| e.to_string())?,
        outputs: outputs.to_vec(),
    })
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_run_graph"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting run_graph");
    child.stdin.take().unwrap().write_all(&job).unwrap();
    let out = child.wait_with_output().unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(postcard::from_bytes(&out.stdout).expect("reading run_graph's output"))
}

/// The local run's results, encoded the same way.
fn run_here(graph: TaskGraph, outputs: &[Key]) -> Vec<EncodedValue> {
    let values = oxidask::scheduler::compute(graph, outputs).unwrap();
    encode_values(&values).unwrap()
}

#[test]
fn a_delayed_graph_of_registered_functions_runs_in_another_process() {
    let parsed: Vec<Delayed<i64>> = ["3", " 4", "5 "]
        .into_iter()
        .map(|s| delayed!(parse_int(s.to_string())?))
        .collect();
    let total = delayed!(sum_of_squares(parsed));
    let text = delayed!(repeat("ab".to_string(), total.clone()));
    let outputs = [total.key().clone(), text.key().clone()];
    // `text` reads `total`, so its graph holds both.
    let graph = text.to_graph();
    let here = run_here(graph.clone(), &outputs);
    let there = run_elsewhere(&graph, &outputs).unwrap();
    assert_eq!(here, there);
    let total = oxidask::graph::Value::decode(&there[0].0, &there[0].1).unwrap();
    assert_eq!(*total.downcast_ref::<i64>().unwrap(), 50);
    let text = oxidask::graph::Value::decode(&there[1].0, &there[1].1).unwrap();
    assert_eq!(text.downcast_ref::<String>().unwrap(), &"ab".repeat(50));
}

#[test]
fn a_failure_in_the_other_process_names_the_task() {
    let bad = delayed!(parse_int("x".to_string())?);
    let e = run_elsewhere(&bad.to_graph(), &[bad.key().clone()]).unwrap_err();
    assert!(
        e.contains("parse_int") && e.contains("invalid digit"),
        "{e}"
    );
}
