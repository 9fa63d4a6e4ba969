//! Random DAGs give the oracle's values on every scheduler, optimized or not,
//! under any key naming and insertion order, and after a trip through bytes.

use oxidask::graph::optimize::{OptimizeOptions, optimize};
use oxidask::graph::{Key, TaskGraph, Value};
use oxidask_testing::{RandomDag, SchedulerTester, random_dag};
use proptest::prelude::*;
use proptest::strategy::ValueTree;

fn read_u64(v: &Value) -> u64 {
    *v.downcast_ref::<u64>().expect("mix returns u64")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_dags_match_the_oracle_everywhere(dag in random_dag(40), rev in any::<bool>()) {
        let expected = dag.oracle();
        let n = dag.deps.len();
        // Two namings and two insertion orders: results must not care.
        let insertion: Vec<usize> = if rev { (0..n).rev().collect() } else { Vec::new() };
        let prefix = if rev { "zz-other" } else { "node" };
        SchedulerTester::new().assert_outputs(|| dag.to_graph(prefix, &insertion), read_u64, &expected);
    }

    #[test]
    fn priorities_are_a_topological_order(dag in random_dag(60)) {
        let (g, outputs) = dag.to_graph("p", &[]);
        let plan = optimize(g, &outputs, OptimizeOptions::none()).unwrap();
        for i in 0..plan.len() as u32 {
            for &d in plan.deps.of(i) {
                prop_assert!(plan.priority[d as usize] < plan.priority[i as usize]);
            }
        }
    }
}

#[test]
fn a_big_random_dag_matches_the_oracle() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let dag: RandomDag = random_dag(3_000).new_tree(&mut runner).unwrap().current();
    let expected = dag.oracle();
    SchedulerTester::new().assert_outputs(|| dag.to_graph("big", &[]), read_u64, &expected);
}

#[test]
fn tester_refuses_to_compare_nothing() {
    let r = std::panic::catch_unwind(|| {
        SchedulerTester::new().assert_outputs(|| (TaskGraph::new(), vec![]), read_u64, &[])
    });
    assert!(r.is_err());
}

#[test]
fn graphs_of_registered_ops_survive_bytes() {
    use oxidask::graph::Task;
    let mut g = TaskGraph::new();
    g.insert(Key::with_index("x", &[0]), Task::literal(Value::new(41u64)));
    g.insert(
        Key::with_index("x", &[1]),
        Task::alias(Key::with_index("x", &[0])),
    );
    let bytes = g.to_bytes().unwrap();
    let back = TaskGraph::from_bytes(&bytes).unwrap();
    let out = oxidask::scheduler::compute(back, &[Key::with_index("x", &[1])]).unwrap();
    assert_eq!(read_u64(&out[0]), 41);
}
