//! Tests of high-level graphs. The oracle for culling is
//! [`optimize::cull`](crate::optimize::cull) on the fully expanded graph.

use std::collections::HashMap;
use std::sync::Arc;

use proptest::prelude::*;

use super::*;
use crate::op::{FnOp, Op};
use crate::optimize;
use crate::task::{Arg, Task};
use crate::value::Value;

pub(super) fn add() -> Arc<dyn Op> {
    FnOp::arc("add", |args| {
        let mut sum = 0i64;
        for a in &args {
            sum += *a.downcast_ref::<i64>()?;
        }
        Ok(Value::new(sum))
    })
}

fn k(name: &str, i: u32) -> Key {
    Key::with_index(name, &[i])
}

/// `(name, i) = i` for `i < n`.
fn source(name: &str, n: u32) -> Arc<dyn Layer> {
    let mut g = TaskGraph::new();
    for i in 0..n {
        g.insert(k(name, i), Task::literal(Value::new(i64::from(i))));
    }
    Arc::new(MaterializedLayer::new(name, g))
}

fn blockwise(name: &str, args: Vec<BlockArg>, n: u32) -> Arc<dyn Layer> {
    Arc::new(BlockLayer::blockwise(name, add(), args, vec![n]))
}

/// Runs `key` of `g` by plain recursion: enough to check tasks get the
/// right arguments.
pub(super) fn eval(g: &TaskGraph, key: &Key, memo: &mut HashMap<Key, Value>) -> Value {
    if let Some(v) = memo.get(key) {
        return v.clone();
    }
    let task = g.get(key).unwrap_or_else(|| panic!("no task {key}"));
    let args = task
        .args
        .iter()
        .map(|a| match a {
            Arg::Key(d) => eval(g, d, memo),
            Arg::Value(v) => v.clone(),
        })
        .collect();
    let v = task.op.call(args).expect("op runs");
    memo.insert(key.clone(), v.clone());
    v
}

fn eval_i64(g: &TaskGraph, key: &Key) -> i64 {
    *eval(g, key, &mut HashMap::new())
        .downcast_ref::<i64>()
        .unwrap()
}

fn sorted_keys(g: &TaskGraph) -> Vec<Key> {
    let mut keys: Vec<Key> = g.keys().cloned().collect();
    keys.sort();
    keys
}

/// Culls at the layer level and checks the result against the oracle.
pub(super) fn assert_cull_matches_oracle(hlg: &HighLevelGraph, outputs: &[Key]) -> HighLevelGraph {
    let culled = hlg.cull(outputs).expect("layer cull");
    let lowered = culled.to_task_graph().expect("materialize culled");
    lowered.validate(outputs).expect("culled graph is complete");
    let full = hlg.to_task_graph().expect("materialize full");
    let oracle = optimize::cull(full.clone(), outputs).expect("oracle cull");
    assert_eq!(sorted_keys(&lowered), sorted_keys(&oracle.graph));
    assert_eq!(
        culled.len(),
        lowered.len(),
        "layer lengths match their tasks"
    );
    culled
}

/// x (1,000 literals) → a = x + 10 → b = a + x → c = b; u = x is unused.
fn chain(n: u32) -> HighLevelGraph {
    let lit = BlockArg::literal(Value::new(10i64));
    let x = HighLevelGraph::from_layer(source("x", n));
    let a = HighLevelGraph::from_inputs(blockwise("a", vec![BlockArg::block("x"), lit], n), [&x]);
    let b = HighLevelGraph::from_inputs(
        blockwise("b", vec![BlockArg::block("a"), BlockArg::block("x")], n),
        [&a],
    );
    let c = b.with_layer(blockwise("c", vec![BlockArg::block("b")], n));
    c.with_layer(blockwise("u", vec![BlockArg::block("x")], n))
}

#[test]
fn cull_of_a_chain_keeps_only_needed_tasks() {
    let hlg = chain(1_000);
    assert_eq!(hlg.len(), 5_000);
    let outputs = [k("c", 5), k("c", 7)];
    let culled = assert_cull_matches_oracle(&hlg, &outputs);
    assert_eq!(culled.len(), 8, "two tasks per needed layer");
    let names: Vec<&str> = culled.layers().map(|l| l.name()).collect();
    assert_eq!(names, ["x", "a", "b", "c"], "the unused layer is gone");
    let g = culled.to_task_graph().unwrap();
    assert_eq!(eval_i64(&g, &k("c", 5)), (5 + 10) + 5);
    assert_eq!(eval_i64(&g, &k("c", 7)), (7 + 10) + 7);
}

#[test]
fn cull_to_everything_keeps_layers_whole() {
    let hlg = chain(50);
    let outputs: Vec<Key> = (0..50).map(|i| k("c", i)).collect();
    let culled = assert_cull_matches_oracle(&hlg, &outputs);
    assert_eq!(culled.len(), 200);
    assert!(hlg.cull(&[]).unwrap().is_empty());
}

#[test]
fn cull_does_not_rely_on_layer_order() {
    let ordered = chain(20);
    let mut reversed = HighLevelGraph::new();
    for layer in ordered.layers().rev() {
        reversed = reversed.merge(&HighLevelGraph::from_layer(layer.clone()));
    }
    assert_eq!(reversed.layers().next().unwrap().name(), "u");
    let culled = assert_cull_matches_oracle(&reversed, &[k("c", 3), k("a", 4)]);
    assert_eq!(culled.len(), 2 + 2 + 1 + 1);
}

#[test]
fn merging_keeps_one_copy_of_shared_layers() {
    let x = HighLevelGraph::from_layer(source("x", 10));
    let a = HighLevelGraph::from_inputs(blockwise("a", vec![BlockArg::block("x")], 10), [&x]);
    let b = HighLevelGraph::from_inputs(blockwise("b", vec![BlockArg::block("x")], 10), [&x]);
    let c = HighLevelGraph::from_inputs(
        blockwise("c", vec![BlockArg::block("a"), BlockArg::block("b")], 10),
        [&a, &b],
    );
    let names: Vec<&str> = c.layers().map(|l| l.name()).collect();
    assert_eq!(names, ["x", "a", "b", "c"]);
    assert_eq!(c.len(), 40);
    assert_eq!(c.to_task_graph().unwrap().len(), 40);
    let deps = c.layer_dependencies();
    assert_eq!(deps[3], ("c", vec!["a", "b"]));
    assert_eq!(deps[0], ("x", vec![]));

    // A culled copy of a layer never replaces the whole one, in either order.
    let small = a.cull(&[k("a", 1)]).unwrap();
    assert_eq!(small.len(), 2);
    assert_eq!(small.clone().merge(&a).len(), 20);
    assert_eq!(a.clone().merge(&small).len(), 20);
}

#[test]
fn blockwise_tasks_have_the_right_arguments() {
    let layer = BlockLayer::blockwise(
        "y",
        add(),
        vec![
            BlockArg::block("x"),
            BlockArg::key(Key::new("s")),
            BlockArg::literal(Value::new(3i64)),
        ],
        vec![4],
    );
    assert_eq!(
        layer.output_keys(),
        (0..4).map(|i| k("y", i)).collect::<Vec<_>>()
    );
    assert_eq!(layer.dependencies(), [Arc::from("x"), Arc::from("s")]);
    let mut g = TaskGraph::new();
    layer.materialize(&mut g).unwrap();
    assert_eq!(g.len(), 4);
    let task = g.get(&k("y", 2)).unwrap();
    assert_eq!(task.op.name(), "add");
    match task.args.as_slice() {
        [Arg::Key(a), Arg::Key(b), Arg::Value(c)] => {
            assert_eq!(a, &k("x", 2));
            assert_eq!(b, &Key::new("s"));
            assert_eq!(*c.downcast_ref::<i64>().unwrap(), 3);
        }
        other => panic!("unexpected args {other:?}"),
    }
    assert!(layer.contains(&k("y", 3)));
    assert!(!layer.contains(&k("y", 4)));
    assert!(!layer.contains(&Key::with_index("y", &[0, 0])));
    assert!(!layer.contains(&k("x", 0)));
}

#[test]
fn broadcast_arguments_are_culled_in_once() {
    let mut s = TaskGraph::new();
    s.insert(Key::new("s"), Task::literal(Value::new(100i64)));
    let s = HighLevelGraph::from_layer(Arc::new(MaterializedLayer::new("s", s)));
    let x = HighLevelGraph::from_layer(source("x", 100));
    let y = HighLevelGraph::from_inputs(
        blockwise(
            "y",
            vec![BlockArg::block("x"), BlockArg::key(Key::new("s"))],
            100,
        ),
        [&x, &s],
    );
    let culled = assert_cull_matches_oracle(&y, &[k("y", 1), k("y", 9)]);
    assert_eq!(culled.len(), 2 + 2 + 1);
    let g = culled.to_task_graph().unwrap();
    assert_eq!(eval_i64(&g, &k("y", 9)), 109);
}

#[test]
fn materialized_layers_with_many_names_are_culled_inside() {
    // One layer holding two names, reading another layer.
    let x = HighLevelGraph::from_layer(source("x", 3));
    let mut g = TaskGraph::new();
    g.insert(
        Key::new("p"),
        Task::new(add(), vec![k("x", 0).into(), k("x", 1).into()]),
    );
    g.insert(Key::new("q"), Task::new(add(), vec![Key::new("p").into()]));
    g.insert(Key::new("r"), Task::new(add(), vec![k("x", 2).into()]));
    let m = HighLevelGraph::from_inputs(Arc::new(MaterializedLayer::new("m", g)), [&x]);
    assert_eq!(m.layer_dependencies()[1], ("m", vec!["x"]));
    let culled = assert_cull_matches_oracle(&m, &[Key::new("q")]);
    assert_eq!(culled.len(), 2 + 2);
    assert_eq!(
        eval_i64(&culled.to_task_graph().unwrap(), &Key::new("q")),
        1
    );
}

#[test]
fn an_output_no_layer_has_is_named() {
    let hlg = chain(10);
    for key in [k("nope", 0), k("c", 10), Key::new("c")] {
        match hlg.cull(std::slice::from_ref(&key)) {
            Err(Error::MissingOutput { key: missing }) => assert_eq!(missing, key),
            other => panic!("expected a missing output, got {other:?}"),
        }
    }
    let e = hlg.cull(&[k("c", 10)]).unwrap_err().to_string();
    assert!(e.contains("('c', 10,)"), "{e}");
}

#[test]
fn a_dependency_no_layer_has_names_the_reader() {
    // y has more partitions than the x it reads.
    let x = HighLevelGraph::from_layer(source("x", 5));
    let y = HighLevelGraph::from_inputs(blockwise("y", vec![BlockArg::block("x")], 10), [&x]);
    assert!(y.cull(&[k("y", 4)]).is_ok());
    match y.cull(&[k("y", 4), k("y", 7)]) {
        Err(Error::MissingDependency { key, missing }) => {
            assert_eq!(key, k("y", 7));
            assert_eq!(missing, k("x", 7));
        }
        other => panic!("expected a missing dependency, got {other:?}"),
    }
    let mut g = TaskGraph::new();
    g.insert(Key::new("a"), Task::alias(Key::new("ghost")));
    let hlg = HighLevelGraph::from(g);
    match hlg.cull(&[Key::new("a")]) {
        Err(Error::MissingDependency { key, missing }) => {
            assert_eq!((key, missing), (Key::new("a"), Key::new("ghost")));
        }
        other => panic!("expected a missing dependency, got {other:?}"),
    }
}

#[test]
fn layer_cull_rejects_keys_it_does_not_have() {
    let layer = BlockLayer::blockwise("y", add(), vec![], vec![3]);
    let e = layer.cull(&[k("y", 3)]).unwrap_err().to_string();
    assert!(e.contains("('y', 3,)"), "{e}");
    let culled = layer.cull(&[k("y", 2), k("y", 0), k("y", 2)]).unwrap();
    assert_eq!(culled.layer.output_keys(), [k("y", 0), k("y", 2)]);
    assert!(culled.layer.cull(&[k("y", 1)]).is_err(), "culled away");
    let m = source("m", 2);
    assert!(m.cull(&[k("m", 2)]).is_err());
}

/// One generated layer `L{j}`, reading only layers before it.
#[derive(Clone, Debug)]
enum Spec {
    /// `(Lj, i) = add(blocks…, broadcast?, literal?)`.
    Blockwise {
        blocks: Vec<usize>,
        broadcast: Option<(usize, u32)>,
        literal: bool,
    },
    /// A materialized layer of two names, crossing partitions:
    /// `(Lj-inner, i) = (input, i)`, `(Lj, i) = (Lj-inner, i) + (input, i+1 mod p)`.
    Shift { input: usize },
}

fn spec(j: usize, p: u32) -> BoxedStrategy<Spec> {
    let blockwise = (
        proptest::collection::vec(0..j, 1..3),
        proptest::option::of((0..j, 0..p)),
        any::<bool>(),
    )
        .prop_map(|(blocks, broadcast, literal)| Spec::Blockwise {
            blocks,
            broadcast,
            literal,
        });
    prop_oneof![3 => blockwise, 1 => (0..j).prop_map(|input| Spec::Shift { input })].boxed()
}

fn build_layer(j: usize, spec: &Spec, p: u32) -> Arc<dyn Layer> {
    let name = |j: usize| format!("L{j}");
    match spec {
        Spec::Blockwise {
            blocks,
            broadcast,
            literal,
        } => {
            let mut args: Vec<BlockArg> =
                blocks.iter().map(|&b| BlockArg::block(name(b))).collect();
            if let Some((b, i)) = broadcast {
                args.push(BlockArg::key(k(&name(*b), *i)));
            }
            if *literal {
                args.push(BlockArg::literal(Value::new(1i64)));
            }
            blockwise(&name(j), args, p)
        }
        Spec::Shift { input } => {
            let (me, inner, input) = (name(j), format!("L{j}-inner"), name(*input));
            let mut g = TaskGraph::new();
            for i in 0..p {
                g.insert(k(&inner, i), Task::alias(k(&input, i)));
                let args = vec![k(&inner, i).into(), k(&input, (i + 1) % p).into()];
                g.insert(k(&me, i), Task::new(add(), args));
            }
            Arc::new(MaterializedLayer::new(me, g))
        }
    }
}

/// Partitions per layer, specs of layers 1.., requested `(layer, partition)`
/// outputs, and the order layers are added in.
type RandomGraph = (u32, Vec<Spec>, Vec<(usize, u32)>, Vec<usize>);

fn random_graph() -> impl Strategy<Value = RandomGraph> {
    (1..25u32, 1..8usize).prop_flat_map(|(p, n)| {
        let specs: Vec<BoxedStrategy<Spec>> = (1..n).map(|j| spec(j, p)).collect();
        let outputs = proptest::collection::vec((0..n, 0..p), 0..5);
        let order = Just((0..n).collect::<Vec<usize>>()).prop_shuffle();
        (Just(p), specs, outputs, order)
    })
}

proptest! {
    /// Layer-level cull then expansion gives the same tasks and values as
    /// expansion then task-level cull, whatever order the layers were added in.
    #[test]
    fn cull_then_materialize_equals_materialize_then_cull(
        (p, specs, outputs, order) in random_graph()
    ) {
        let mut layers = vec![source("L0", p)];
        for (j, s) in specs.iter().enumerate() {
            layers.push(build_layer(j + 1, s, p));
        }
        let hlg = order
            .iter()
            .fold(HighLevelGraph::new(), |g, &j| g.with_layer(layers[j].clone()));
        let outputs: Vec<Key> = outputs.iter().map(|&(j, i)| k(&format!("L{j}"), i)).collect();
        let culled = assert_cull_matches_oracle(&hlg, &outputs);
        let (small, full) = (culled.to_task_graph().unwrap(), hlg.to_task_graph().unwrap());
        for key in &outputs {
            prop_assert_eq!(eval_i64(&small, key), eval_i64(&full, key));
        }
    }
}
