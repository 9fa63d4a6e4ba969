//! Graphs run in another process: a graph is written to bytes, sent to the
//! `run_graph` binary (a separate program that knows only the registered
//! ops and functions), and its result bytes must equal the local run's —
//! what a cluster worker will do.

use std::io::Write;
use std::process::{Command, Stdio};

use oxidask::array as da;
use oxidask::bag as db;
use oxidask::delayed::{Delayed, delayed};
use oxidask::graph::{Key, TaskGraph};
use oxidask_tests::remote_fns::{
    Person, by_count_then_name, parse_int, person_name, repeat, sum_of_squares,
};
use oxidask_tests::{EncodedValue, Job, encode_values};

/// Runs `graph` for `outputs` in a fresh `run_graph` process (the frame
/// tests use it too).
pub(crate) fn run_elsewhere(
    graph: &TaskGraph,
    outputs: &[Key],
) -> Result<Vec<EncodedValue>, String> {
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

#[test]
fn a_skew_graph_runs_in_another_process() {
    // Generated normals, fused elementwise moments and a reduction tree:
    // the array's sources, expressions and kernels all travel as data.
    let x = da::random::standard_normal(&[300_000], 20_000, 7).unwrap();
    let skew = da::stats::skew(&x, true).unwrap().into_array();
    let keys = skew.keys();
    let graph = skew.task_graph().unwrap();
    let here = run_here(graph.clone(), &keys);
    let there = run_elsewhere(&graph, &keys).unwrap();
    assert_eq!(here, there, "the same bytes");
    let v = oxidask::graph::Value::decode(&there[0].0, &there[0].1).unwrap();
    let got = v
        .downcast_ref::<oxidask::array::ndarray::ArrayD<f64>>()
        .unwrap()[[]];
    assert_eq!(got, da::stats::skew(&x, true).unwrap().compute().unwrap());
}

#[test]
fn a_json_lines_pipeline_runs_in_another_process() {
    let dir = oxidask_testing::TempDir::new("elsewhere");
    let mut paths = Vec::new();
    for f in 0..3 {
        let path = dir.join(format!("people_{f}.jsonl"));
        let lines: String = (0..2000)
            .map(|i| {
                let p = Person {
                    name: format!("n{}", (i * 7 + f) % 23),
                    age: (i % 90) as u32,
                };
                serde_json::to_string(&p).unwrap() + "\n"
            })
            .collect();
        std::fs::write(&path, lines).unwrap();
        paths.push(path);
    }
    // Read → parse into a registered type → map → frequencies → top 5.
    let top = db::read_json_lines::<Person>(paths.clone())
        .unwrap()
        .map(person_name)
        .frequencies()
        .topk(5, by_count_then_name);
    let keys = top.keys();
    let graph = top.graph().cull(&keys).unwrap().to_task_graph().unwrap();
    let here = run_here(graph.clone(), &keys);
    let there = run_elsewhere(&graph, &keys);
    let local = top.compute();
    let there = there.unwrap();
    assert_eq!(here, there, "the same bytes");
    let mut got: Vec<(String, usize)> = Vec::new();
    for (codec, bytes) in &there {
        let v = oxidask::graph::Value::decode(codec, bytes).unwrap();
        got.extend(
            v.downcast_ref::<Vec<(String, usize)>>()
                .unwrap()
                .iter()
                .cloned(),
        );
    }
    assert_eq!(got, local.unwrap());
    assert_eq!(got.len(), 5);
}
