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
        SchedulerTester::new().through_bytes().assert_outputs(|| dag.to_graph(prefix, &insertion), read_u64, &expected);
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

/// Drives [`TaskState`](oxidask::scheduler::TaskState) alone over a random
/// DAG, picking any ready task next (`picks` chooses among them), and checks
/// the protocol a scheduler relies on.
fn drive_task_state(dag: &RandomDag, picks: &[usize]) -> Result<(), TestCaseError> {
    use oxidask::graph::Deps;
    use oxidask::scheduler::TaskState;

    let n = dag.deps.len();
    let lists: Vec<Vec<u32>> = dag
        .deps
        .iter()
        .map(|d| {
            let mut d: Vec<u32> = d.iter().map(|&x| x as u32).collect();
            d.sort_unstable();
            d.dedup();
            d
        })
        .collect();
    let deps = Deps::from_lists(lists.clone());
    let outputs: Vec<u32> = dag.outputs.iter().map(|&o| o as u32).collect();
    let state = TaskState::<String>::new(&deps, &outputs, true);
    let priority: Vec<u32> = (0..n as u32).collect();
    let mut ready = state.roots(&priority);
    let mut ran = vec![false; n];
    let mut released = Vec::new();
    let mut step = 0;
    while let Some(k) =
        (!ready.is_empty()).then(|| picks.get(step).copied().unwrap_or(0) % ready.len())
    {
        step += 1;
        let id = ready.swap_remove(k);
        prop_assert!(!ran[id as usize], "task {id} ran twice");
        for &d in &lists[id as usize] {
            prop_assert!(ran[d as usize], "task {id} ran before its dependency {d}");
            prop_assert!(
                !released.contains(&d),
                "{d} released before its reader {id} ran"
            );
        }
        ran[id as usize] = true;
        let mut newly = Vec::new();
        state.finished(id, &mut newly);
        for &r in &newly {
            prop_assert!(!ready.contains(&r) && !ran[r as usize]);
        }
        ready.extend(newly);
        state.consumed(id, &mut released);
        if state.unread(id) && !released.contains(&id) {
            // A result nobody reads is released as soon as it exists.
            released.push(id);
        }
    }
    prop_assert!(state.is_over() && !state.failed());
    prop_assert!(ran.iter().all(|&r| r), "every task runs");
    for &o in &outputs {
        state.delivered(o, &mut released);
    }
    let mut sorted = released.clone();
    sorted.sort_unstable();
    sorted.dedup();
    prop_assert_eq!(
        sorted.len(),
        released.len(),
        "a result released twice: {:?}",
        released
    );
    prop_assert_eq!(
        sorted,
        (0..n as u32).collect::<Vec<_>>(),
        "every result is released"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn task_state_runs_each_task_once_after_its_deps_and_releases_each_result_once(
        dag in random_dag(60),
        picks in proptest::collection::vec(any::<usize>(), 0..80),
    ) {
        drive_task_state(&dag, &picks)?;
    }
}
