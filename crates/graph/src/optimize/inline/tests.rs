use super::inline;
use crate::graph::TaskGraph;
use crate::key::Key;
use crate::optimize::testutil::{int_op, ints};
use crate::task::{Arg, Task};
use crate::value::Value;

fn k(name: &str) -> Key {
    Key::new(name)
}

fn lit(x: i64) -> Task {
    Task::literal(Value::new(x))
}

fn call(name: &str, f: fn(&[i64]) -> i64, args: &[&str]) -> Task {
    Task::new(
        int_op(name, f),
        args.iter().map(|a| Arg::Key(k(a))).collect(),
    )
}

fn add(args: &[&str]) -> Task {
    call("add", |x| x.iter().sum(), args)
}

/// Inlines, checks the returned deps are the graph's own, and that every
/// output still evaluates to what it did before.
fn inline_checked(g: TaskGraph, outputs: &[Key]) -> TaskGraph {
    let before: Vec<i64> = ints(&g, outputs);
    let deps = g.validate(outputs).unwrap();
    let (g, deps) = inline(g, &deps, outputs);
    assert_eq!(deps, g.validate(outputs).unwrap(), "stale dependency lists");
    assert_eq!(ints(&g, outputs), before);
    g
}

fn keys(g: &TaskGraph) -> Vec<&str> {
    g.keys().map(|k| k.name()).collect()
}

fn arg_value(t: &Task, i: usize) -> Option<i64> {
    match &t.args[i] {
        Arg::Value(v) => Some(*v.downcast_ref::<i64>().unwrap()),
        Arg::Key(_) => None,
    }
}

#[test]
fn literals_are_folded_into_every_dependent() {
    let mut g = TaskGraph::new();
    g.insert(k("x"), lit(2));
    g.insert(k("y"), lit(3));
    g.insert(k("z"), add(&["x", "y"]));
    g.insert(k("out"), call("mul", |a| a[0] * a[1], &["z", "x"]));
    let g = inline_checked(g, &[k("out")]);
    assert_eq!(keys(&g), ["z", "out"]);
    let z = g.get(&k("z")).unwrap();
    assert_eq!((arg_value(z, 0), arg_value(z, 1)), (Some(2), Some(3)));
    let out = g.get(&k("out")).unwrap();
    assert!(matches!(&out.args[0], Arg::Key(key) if key == &k("z")));
    assert_eq!(arg_value(out, 1), Some(2));
}

#[test]
fn outputs_and_unread_literals_stay_tasks() {
    let mut g = TaskGraph::new();
    g.insert(k("x"), lit(2));
    g.insert(k("unread"), lit(7));
    g.insert(k("z"), add(&["x", "x"]));
    let outputs = [k("x"), k("z")];
    let g = inline_checked(g, &outputs);
    assert_eq!(keys(&g), ["x", "unread", "z"]);
    assert!(matches!(&g.get(&k("z")).unwrap().args[0], Arg::Key(_)));
}

#[test]
fn aliases_are_resolved_through_chains() {
    let mut g = TaskGraph::new();
    g.insert(k("a"), call("seven", |_| 7, &[]));
    g.insert(k("b"), Task::alias(k("a")));
    g.insert(k("c"), Task::alias(k("b")));
    g.insert(k("d"), add(&["c", "b", "a"]));
    let g = inline_checked(g, &[k("d")]);
    assert_eq!(keys(&g), ["a", "d"]);
    let d = g.get(&k("d")).unwrap();
    assert!(
        d.args
            .iter()
            .all(|a| matches!(a, Arg::Key(key) if key == &k("a")))
    );
}

#[test]
fn aliases_of_literals_become_literals() {
    let mut g = TaskGraph::new();
    g.insert(k("five"), lit(5));
    g.insert(k("alias"), Task::alias(k("five")));
    g.insert(k("inc"), call("inc", |a| a[0] + 1, &["alias"]));
    g.insert(k("named"), Task::alias(k("alias")));
    let outputs = [k("inc"), k("named")];
    let g = inline_checked(g, &outputs);
    assert_eq!(keys(&g), ["inc", "named"]);
    assert_eq!(arg_value(g.get(&k("inc")).unwrap(), 0), Some(5));
    // The output alias stays, and now holds the literal itself.
    assert!(g.get(&k("named")).unwrap().is_literal());
}

#[test]
fn output_aliases_are_kept_and_read_through_by_others() {
    let mut g = TaskGraph::new();
    g.insert(k("a"), call("seven", |_| 7, &[]));
    g.insert(k("b"), Task::alias(k("a")));
    g.insert(k("c"), Task::alias(k("b")));
    g.insert(k("d"), add(&["c"]));
    let outputs = [k("d"), k("b")];
    let g = inline_checked(g, &outputs);
    assert_eq!(keys(&g), ["a", "b", "d"]);
    assert!(matches!(&g.get(&k("d")).unwrap().args[0], Arg::Key(key) if key == &k("b")));
}

#[test]
fn a_graph_without_literals_or_aliases_is_unchanged() {
    let mut g = TaskGraph::new();
    g.insert(k("a"), call("seven", |_| 7, &[]));
    g.insert(k("b"), add(&["a", "a"]));
    let g = inline_checked(g, &[k("b")]);
    assert_eq!(keys(&g), ["a", "b"]);
}

#[test]
fn a_cycle_of_aliases_is_kept_not_looped_on() {
    // Validation rejects this graph; inlining it must still end.
    let mut g = TaskGraph::new();
    g.insert(k("a"), Task::alias(k("b")));
    g.insert(k("b"), Task::alias(k("a")));
    g.insert(k("c"), add(&["a"]));
    let deps = g.dependencies().unwrap();
    let (g, deps) = inline(g, &deps, &[k("c")]);
    assert_eq!(keys(&g), ["a", "b", "c"]);
    assert_eq!(deps, g.dependencies().unwrap());
}
