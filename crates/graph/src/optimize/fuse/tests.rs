use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Instant;

use super::{FusedOp, FusedStep, StepArg, fuse_linear};
use crate::error::OpError;
use crate::graph::TaskGraph;
use crate::key::Key;
use crate::op::{FnOp, Op, decode_op};
use crate::optimize::testutil::{evaluate, int_op, ints};
use crate::task::{Arg, Task};
use crate::value::Value;

fn k(name: &str) -> Key {
    Key::new(name)
}

fn keys_of(args: &[&str]) -> Vec<Arg> {
    args.iter().map(|a| Arg::Key(k(a))).collect()
}

fn seven() -> Task {
    Task::new(int_op("seven", |_| 7), vec![])
}

fn inc(args: &[&str]) -> Task {
    Task::new(int_op("inc", |a| a[0] + 1), keys_of(args))
}

fn dbl(args: &[&str]) -> Task {
    Task::new(int_op("double", |a| a[0] * 2), keys_of(args))
}

fn add(args: &[&str]) -> Task {
    Task::new(int_op("add", |a| a.iter().sum()), keys_of(args))
}

/// Fuses, checks the returned deps are the graph's own and that the outputs
/// evaluate as before; returns the fused graph.
fn fuse_checked(g: TaskGraph, outputs: &[Key]) -> TaskGraph {
    let before = ints(&g, outputs);
    let deps = g.validate(outputs).unwrap();
    let fused = fuse_linear(g, &deps, outputs);
    assert_eq!(
        fused.deps,
        fused.graph.validate(outputs).unwrap(),
        "stale deps"
    );
    assert_eq!(ints(&fused.graph, outputs), before);
    fused.graph
}

fn names(g: &TaskGraph) -> Vec<&str> {
    g.keys().map(|k| k.name()).collect()
}

/// The inner op names of fused task `key`, in step order.
fn steps(g: &TaskGraph, key: &str) -> Vec<String> {
    let t = g.get(&k(key)).unwrap();
    assert_eq!(t.op.name(), FusedOp::NAME, "{key} is not fused");
    let bytes = t.op.encode().expect("encodable");
    let op = FusedOp::decode(&bytes).unwrap();
    assert_eq!(op.inputs(), t.args.len());
    op.steps().map(|(op, _)| op.name().to_string()).collect()
}

#[test]
fn a_chain_becomes_one_task_under_its_last_key() {
    let mut g = TaskGraph::new();
    g.insert(k("a"), seven());
    g.insert(k("b"), inc(&["a"]));
    g.insert(k("c"), dbl(&["b"]));
    g.insert(k("d"), inc(&["c"]));
    let g = fuse_checked(g, &[k("d")]);
    assert_eq!(names(&g), ["d"]);
    assert_eq!(g.get(&k("d")).unwrap().op.name(), FusedOp::NAME);
    assert_eq!(ints(&g, &[k("d")]), [17]);
}

#[test]
fn branch_points_and_joins_are_not_fused() {
    // src feeds a1 → a2 and b1; join = a2 + b1; join → t1 → t2.
    let mut g = TaskGraph::new();
    g.insert(k("src"), seven());
    g.insert(k("a1"), inc(&["src"]));
    g.insert(k("a2"), inc(&["a1"]));
    g.insert(k("b1"), dbl(&["src"]));
    g.insert(k("join"), add(&["a2", "b1"]));
    g.insert(k("t1"), inc(&["join"]));
    g.insert(k("t2"), dbl(&["t1"]));
    let g = fuse_checked(g, &[k("t2")]);
    assert_eq!(names(&g), ["src", "a2", "b1", "t2"]);
    let fused: Vec<&str> = g
        .iter()
        .filter(|(_, t)| t.op.name() == FusedOp::NAME)
        .map(|(k, _)| k.name())
        .collect();
    assert_eq!(fused, ["a2", "t2"]);
    // The fused tail reads what its first task (join) read.
    let t2 = g.get(&k("t2")).unwrap();
    assert!(matches!(&t2.args[..], [Arg::Key(a), Arg::Key(b)] if a == &k("a2") && b == &k("b1")));
}

#[test]
fn outputs_in_the_middle_of_a_chain_stay_tasks() {
    let mut g = TaskGraph::new();
    g.insert(k("a"), seven());
    g.insert(k("b"), inc(&["a"]));
    g.insert(k("c"), inc(&["b"]));
    g.insert(k("d"), inc(&["c"]));
    let outputs = [k("d"), k("b")];
    let g = fuse_checked(g, &outputs);
    assert_eq!(names(&g), ["b", "d"]);
    assert!(matches!(&g.get(&k("d")).unwrap().args[..], [Arg::Key(j)] if j == &k("b")));
}

#[test]
fn repeated_reads_and_literals_inside_a_chain() {
    let mut g = TaskGraph::new();
    g.insert(k("a"), seven());
    g.insert(k("b"), add(&["a", "a"]));
    g.insert(
        k("c"),
        Task::new(
            int_op("add", |a| a.iter().sum()),
            vec![
                Value::new(100i64).into(),
                Arg::Key(k("b")),
                Value::new(1000i64).into(),
            ],
        ),
    );
    let g = fuse_checked(g, &[k("c")]);
    assert_eq!(names(&g), ["c"]);
    assert_eq!(ints(&g, &[k("c")]), [1114]);
}

#[test]
fn a_chain_keeps_its_first_task_arguments_and_its_dependents() {
    let mut g = TaskGraph::new();
    g.insert(k("x"), seven());
    g.insert(k("y"), seven());
    g.insert(
        k("head"),
        Task::new(
            int_op("add", |a| a.iter().sum()),
            vec![
                Arg::Key(k("y")),
                Value::new(1i64).into(),
                Arg::Key(k("x")),
                Arg::Key(k("y")),
            ],
        ),
    );
    g.insert(k("tail"), dbl(&["head"]));
    g.insert(k("u"), inc(&["tail"]));
    g.insert(k("v"), dbl(&["tail"]));
    g.insert(k("out"), add(&["u", "v"]));
    let outputs = [k("out")];
    let g = fuse_checked(g, &outputs);
    assert_eq!(names(&g), ["x", "y", "tail", "u", "v", "out"]);
    assert_eq!(g.get(&k("tail")).unwrap().args.len(), 4);
}

#[test]
fn an_inner_failure_names_the_inner_op() {
    let mut g = TaskGraph::new();
    g.insert(k("a"), seven());
    g.insert(
        k("b"),
        Task::new(
            FnOp::arc("parse", |_| Err::<Value, OpError>("bad digit 'x'".into())),
            keys_of(&["a"]),
        ),
    );
    g.insert(k("c"), inc(&["b"]));
    let deps = g.dependencies().unwrap();
    let g = fuse_linear(g, &deps, &[k("c")]).graph;
    let e = evaluate(&g, &[k("c")]).unwrap_err().to_string();
    assert_eq!(
        e,
        "task 'c' (op seven→parse→inc) failed: in `parse` (fused step 2 of 3): bad digit 'x'"
    );
}

#[test]
fn an_inner_panic_unwinds_through_the_fused_op() {
    let boom: Arc<dyn Op> = FnOp::arc("boom", |_| panic!("boom at step 2"));
    let op = FusedOp::new(
        0,
        vec![
            FusedStep {
                op: int_op("seven", |_| 7),
                args: vec![],
            },
            FusedStep {
                op: boom,
                args: vec![StepArg::Step(0)],
            },
        ],
    )
    .unwrap();
    let payload = catch_unwind(AssertUnwindSafe(|| op.call(vec![]))).unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom at step 2"));
}

/// An op that appends to a `Vec<i64>` in place, failing if it is not handed
/// the only handle.
fn push(x: i64) -> Arc<dyn Op> {
    FnOp::arc("push", move |mut args| {
        let v = args.pop().ok_or("push takes one argument")?;
        let mut v = v
            .try_unwrap::<Vec<i64>>()
            .map_err(|_| "push was not given the only handle")?;
        v.push(x);
        Ok(Value::new(v))
    })
}

#[test]
fn each_step_receives_the_only_handle_to_its_predecessor_result() {
    let mut g = TaskGraph::new();
    g.insert(
        k("make"),
        Task::new(FnOp::arc("make", |_| Ok(Value::new(vec![1i64]))), vec![]),
    );
    g.insert(k("p2"), Task::new(push(2), keys_of(&["make"])));
    g.insert(k("p3"), Task::new(push(3), keys_of(&["p2"])));
    g.insert(k("p4"), Task::new(push(4), keys_of(&["p3"])));
    let deps = g.dependencies().unwrap();
    let g = fuse_linear(g, &deps, &[k("p4")]).graph;
    assert_eq!(g.len(), 1);
    let out = evaluate(&g, &[k("p4")]).unwrap();
    assert_eq!(out[0].downcast_ref::<Vec<i64>>().unwrap(), &[1, 2, 3, 4]);

    // The fused task's own input is moved into the first step, too.
    let op = FusedOp::new(
        1,
        vec![
            FusedStep {
                op: push(5),
                args: vec![StepArg::Input(0)],
            },
            FusedStep {
                op: push(6),
                args: vec![StepArg::Step(0)],
            },
        ],
    )
    .unwrap();
    let v = op.call(vec![Value::new(vec![0i64])]).unwrap();
    assert_eq!(v.downcast_ref::<Vec<i64>>().unwrap(), &[0, 5, 6]);
}

#[test]
fn a_value_read_twice_is_cloned_once_and_moved_last() {
    let seen = FnOp::arc("pair", |args| {
        assert!(args[0].ptr_eq(&args[1]));
        Ok(Value::new(args.len() as i64))
    });
    let op = FusedOp::new(
        1,
        vec![
            FusedStep {
                op: push(1),
                args: vec![StepArg::Input(0)],
            },
            FusedStep {
                op: seen,
                args: vec![StepArg::Step(0), StepArg::Step(0)],
            },
        ],
    )
    .unwrap();
    assert_eq!(
        *op.call(vec![Value::new(vec![0i64])])
            .unwrap()
            .downcast_ref::<i64>()
            .unwrap(),
        2
    );
}

#[test]
fn bad_step_references_are_errors() {
    let step = |args| FusedStep {
        op: int_op("seven", |_| 7),
        args,
    };
    assert!(FusedOp::new(0, vec![]).is_err());
    assert!(FusedOp::new(1, vec![step(vec![StepArg::Input(1)])]).is_err());
    assert!(FusedOp::new(0, vec![step(vec![]), step(vec![StepArg::Step(1)])]).is_err());
    let op = FusedOp::new(2, vec![step(vec![])]).unwrap();
    let e = op.call(vec![Value::new(1i64)]).unwrap_err().to_string();
    assert!(e.contains("expects 2 arguments, got 1"), "{e}");
}

#[test]
fn a_cycle_of_fusable_links_is_left_alone() {
    // Validation rejects this graph; fusing it must still keep every task.
    let mut g = TaskGraph::new();
    g.insert(k("a"), inc(&["b"]));
    g.insert(k("b"), inc(&["a"]));
    g.insert(k("c"), seven());
    g.insert(k("d"), inc(&["c"]));
    let deps = g.dependencies().unwrap();
    let fused = fuse_linear(g, &deps, &[]);
    assert_eq!(names(&fused.graph), ["a", "b", "d"]);
    assert_eq!(fused.deps, fused.graph.dependencies().unwrap());
}

fn long_chain(len: usize) -> TaskGraph {
    let mut g = TaskGraph::with_capacity(len + 1);
    g.insert(Key::with_index("c", &[0]), seven());
    for i in 1..=len as u32 {
        g.insert(
            Key::with_index("c", &[i]),
            Task::new(
                int_op("inc", |a| a[0] + 1),
                vec![Key::with_index("c", &[i - 1]).into()],
            ),
        );
    }
    g
}

#[test]
fn a_10_000_task_chain_fuses_into_one_task() {
    let len = 10_000;
    let g = long_chain(len);
    let out = [Key::with_index("c", &[len as u32])];
    let deps = g.dependencies().unwrap();
    let fused = fuse_linear(g, &deps, &out);
    assert_eq!(fused.graph.len(), 1);
    assert_eq!(ints(&fused.graph, &out), [7 + len as i64]);
}

/// `chains` independent chains of `len` tasks each; returns the graph and
/// the chain ends.
fn many_chains(chains: u32, len: u32) -> (TaskGraph, Vec<Key>) {
    let op = int_op("inc", |a| a[0] + 1);
    let name: Arc<str> = Arc::from("chain");
    let mut g = TaskGraph::with_capacity((chains * len) as usize);
    for c in 0..chains {
        g.insert(
            Key::with_index(name.clone(), &[c, 0]),
            Task::new(op.clone(), vec![]),
        );
        for i in 1..len {
            let prev = Key::with_index(name.clone(), &[c, i - 1]);
            g.insert(
                Key::with_index(name.clone(), &[c, i]),
                Task::new(op.clone(), vec![prev.into()]),
            );
        }
    }
    let ends = (0..chains)
        .map(|c| Key::with_index(name.clone(), &[c, len - 1]))
        .collect();
    (g, ends)
}

#[test]
fn many_independent_chains_each_become_one_task() {
    let (g, ends) = many_chains(1000, 10);
    let deps = g.dependencies().unwrap();
    let fused = fuse_linear(g, &deps, &ends);
    assert_eq!(fused.graph.len(), 1000);
    assert!(fused.graph.keys().eq(ends.iter()));
}

/// Run with `cargo test --release -p oxidask-graph -- --ignored --nocapture fuse_timing`.
#[test]
#[ignore = "timing; run in release"]
fn fuse_timing_1_000_000_tasks() {
    let (g, ends) = many_chains(100_000, 10);
    let deps = g.dependencies().unwrap();
    let t = Instant::now();
    let fused = fuse_linear(g, &deps, &ends);
    let took = t.elapsed();
    assert_eq!(fused.graph.len(), 100_000);
    eprintln!("fuse_linear: 1,000,000 tasks (100,000 chains of 10) in {took:?}");

    let g = long_chain(1_000_000);
    let deps = g.dependencies().unwrap();
    let t = Instant::now();
    let fused = fuse_linear(g, &deps, &[Key::with_index("c", &[1_000_000])]);
    eprintln!(
        "fuse_linear: one chain of 1,000,001 tasks in {:?}",
        t.elapsed()
    );
    assert_eq!(fused.graph.len(), 1);
}

/// A registered, encodable op for the round-trip test: scales the sum of its
/// arguments.
struct Scale(i64);

impl Op for Scale {
    fn name(&self) -> &str {
        "oxidask.test.scale"
    }

    fn call(&self, args: Vec<Value>) -> Result<Value, OpError> {
        let mut sum = 0;
        for a in &args {
            sum += *a.downcast_ref::<i64>()?;
        }
        Ok(Value::new(self.0 * sum))
    }

    fn encode(&self) -> Option<Vec<u8>> {
        postcard::to_stdvec(&self.0).ok()
    }
}

crate::register_op!("oxidask.test.scale", |bytes| {
    Ok(Arc::new(Scale(
        postcard::from_bytes(bytes).map_err(|e| e.to_string())?,
    )))
});

#[test]
fn fused_graphs_round_trip_through_bytes() {
    let scale = |x: i64, args: Vec<Arg>| Task::new(Arc::new(Scale(x)), args);
    let mut g = TaskGraph::new();
    g.insert(k("x"), Task::literal(Value::new(2i64)));
    g.insert(
        k("a"),
        scale(1, vec![Arg::Key(k("x")), Value::new(1i64).into()]),
    );
    g.insert(k("b"), scale(10, vec![Arg::Key(k("a"))]));
    g.insert(
        k("c"),
        scale(1, vec![Arg::Key(k("b")), Value::new(5i64).into()]),
    );
    g.insert(k("d"), scale(3, vec![Arg::Key(k("c")), Arg::Key(k("x"))]));
    let outputs = [k("d")];
    let g = fuse_checked(g, &outputs);
    assert_eq!(names(&g), ["x", "c", "d"]);
    let back = TaskGraph::from_bytes(&g.to_bytes().unwrap()).unwrap();
    assert_eq!(steps(&back, "c"), ["oxidask.test.scale"; 3]);
    assert_eq!(ints(&back, &outputs), [(35 + 2) * 3]);
    // And once more, so the decoded op encodes the same way.
    assert_eq!(back.to_bytes().unwrap(), g.to_bytes().unwrap());
}

#[test]
fn fused_closures_do_not_encode_and_garbage_does_not_decode() {
    let mut g = TaskGraph::new();
    g.insert(k("a"), seven());
    g.insert(k("b"), inc(&["a"]));
    let deps = g.dependencies().unwrap();
    let g = fuse_linear(g, &deps, &[k("b")]).graph;
    assert!(g.get(&k("b")).unwrap().op.encode().is_none());
    assert!(g.to_bytes().is_err());
    assert!(decode_op(FusedOp::NAME, &[7, 7, 7]).is_err());
}

#[test]
fn a_fused_label_counts_runs_and_shortens_long_chains() {
    let op = |name: &'static str| -> Arc<dyn Op> { FnOp::arc(name, |a| Ok(a[0].clone())) };
    let steps = |names: &[&'static str]| -> FusedOp {
        let steps = names
            .iter()
            .enumerate()
            .map(|(s, n)| FusedStep {
                op: op(n),
                args: vec![if s == 0 {
                    StepArg::Input(0)
                } else {
                    StepArg::Step(s as u32 - 1)
                }],
            })
            .collect();
        FusedOp::new(1, steps).unwrap()
    };
    assert_eq!(steps(&["load", "stat"]).label(), "load→stat");
    assert_eq!(steps(&["inc", "inc", "inc", "sum"]).label(), "inc×3→sum");
    assert_eq!(
        steps(&["a", "b", "c", "d", "e", "f"]).label(),
        "a→b→…→f (6 steps)"
    );
    assert_eq!(steps(&["a"]).name(), FusedOp::NAME);
}

mod renamed {
    use std::sync::Arc;

    use crate::optimize::fuse_linear_with;
    use crate::optimize::testutil::ints;
    use crate::{Arg, FnOp, Key, Task, TaskGraph, Value};

    fn inc() -> Arc<dyn crate::Op> {
        FnOp::arc("inc", |a| Ok(Value::new(a[0].downcast_ref::<i64>()? + 1)))
    }

    /// `load → parse → stat` over partition 3, and `report` reading `stat`.
    fn chain(with_report: bool) -> (TaskGraph, Vec<Key>) {
        let mut g = TaskGraph::new();
        let load = Key::with_index("load-1a2b", &[3]);
        let parse = Key::with_index("parse-3c4d", &[3]);
        let stat = Key::with_index("stat-5e6f", &[3]);
        g.insert(load.clone(), Task::literal(Value::new(1i64)));
        g.insert(parse.clone(), Task::new(inc(), vec![load.into()]));
        g.insert(stat.clone(), Task::new(inc(), vec![parse.into()]));
        if with_report {
            // Two readers: the chain ends at stat.
            g.insert(
                Key::new("report"),
                Task::new(inc(), vec![stat.clone().into()]),
            );
            g.insert(Key::new("plot"), Task::new(inc(), vec![stat.into()]));
            (g, vec![Key::new("report"), Key::new("plot")])
        } else {
            (g, vec![stat])
        }
    }

    #[test]
    fn fused_keys_are_named_after_their_parts_as_in_dask() {
        // Dask: fuse({'a': 1, 'b': (inc, 'a'), 'c': (inc, 'b')}, rename_keys=True)
        // gives the fused task the key 'a-b-c' and keeps 'c' as an alias.
        let (g, outputs) = chain(false);
        let deps = g.dependencies().unwrap();
        let fused = fuse_linear_with(g, &deps, &outputs, true);
        let new = Key::with_index("load-parse-stat-5e6f", &[3]);
        assert!(
            fused.graph.contains(&new),
            "{:?}",
            fused.graph.keys().collect::<Vec<_>>()
        );
        let alias = fused.graph.get(&outputs[0]).unwrap();
        assert!(matches!(alias.args.as_slice(), [Arg::Key(k)] if *k == new));
        assert_eq!(fused.graph.len(), 2);
        assert_eq!(fused.deps, fused.graph.dependencies().unwrap());
        assert_eq!(ints(&fused.graph, &outputs), vec![3]);
    }

    #[test]
    fn readers_of_a_renamed_key_read_the_new_one() {
        let (g, outputs) = chain(true);
        let deps = g.dependencies().unwrap();
        let fused = fuse_linear_with(g, &deps, &outputs, true);
        let new = Key::with_index("load-parse-stat-5e6f", &[3]);
        let old = Key::with_index("stat-5e6f", &[3]);
        assert!(fused.graph.contains(&new) && !fused.graph.contains(&old));
        for reader in &outputs {
            let t = fused.graph.get(reader).unwrap();
            assert!(matches!(t.args.as_slice(), [Arg::Key(k)] if *k == new));
        }
        assert_eq!(fused.deps, fused.graph.dependencies().unwrap());
        assert_eq!(ints(&fused.graph, &outputs), vec![4, 4]);
    }
}
