//! Ordering tests in the style of Dask's `test_order.py`: every graph runs
//! under two key namings (and insertion orders), every result must be a valid
//! topological order, and each test asserts the property it is about —
//! usually the peak number of results held when running in priority order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use super::order;
use crate::graph::Deps;
use crate::op::{FnOp, Op};
use crate::optimize::testutil::{NAMINGS, Naming, Shape, lower};
use crate::value::Value;

fn noop() -> Arc<dyn Op> {
    FnOp::arc("f", |_| Ok(Value::new(())))
}

/// Priorities per node of `shape` under `naming`, after checking they are
/// exactly `0..n` and a topological order.
fn priorities(shape: &Shape, naming: Naming) -> Vec<u32> {
    let (g, ids) = lower(shape, naming, &noop());
    let deps = g.dependencies().unwrap();
    let outputs: Vec<u32> = shape.outputs.iter().map(|&o| ids[o]).collect();
    let by_id = order(&g, &deps, &outputs);
    let p: Vec<u32> = ids.iter().map(|&i| by_id[i as usize]).collect();
    let mut seen = vec![false; p.len()];
    for &x in &p {
        assert!(!seen[x as usize], "priority {x} given twice ({naming:?})");
        seen[x as usize] = true;
    }
    for (i, ds) in shape.deps.iter().enumerate() {
        for &d in ds {
            assert!(
                p[d] < p[i],
                "node {i} runs before its dependency {d} ({naming:?})"
            );
        }
    }
    p
}

/// Priorities under both namings.
fn both(shape: &Shape) -> [Vec<u32>; 2] {
    NAMINGS.map(|n| priorities(shape, n))
}

/// Peak count of results held when `workers` workers run unit-time tasks,
/// each taking the ready task of lowest priority. A result is held from its
/// task's end until its last dependent ends; outputs are held to the end.
fn peak_held(shape: &Shape, p: &[u32], workers: usize) -> usize {
    let n = shape.len();
    let dependents = shape.dependents();
    let deps: Vec<Vec<usize>> = shape
        .deps
        .iter()
        .map(|ds| {
            let mut u = ds.clone();
            u.sort_unstable();
            u.dedup();
            u
        })
        .collect();
    let mut waiting: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut remaining: Vec<usize> = dependents.iter().map(Vec::len).collect();
    let mut is_output = vec![false; n];
    for &o in &shape.outputs {
        is_output[o] = true;
    }
    let mut ready: BinaryHeap<Reverse<(u32, usize)>> = (0..n)
        .filter(|&i| waiting[i] == 0)
        .map(|i| Reverse((p[i], i)))
        .collect();
    let (mut held, mut peak, mut done) = (0usize, 0usize, 0usize);
    while done < n {
        let batch: Vec<usize> = (0..workers)
            .filter_map(|_| ready.pop())
            .map(|r| r.0.1)
            .collect();
        assert!(!batch.is_empty(), "nothing ready: the shape has a cycle");
        for &t in &batch {
            done += 1;
            held += 1;
            if dependents[t].is_empty() && !is_output[t] {
                held -= 1;
            }
            for &j in &deps[t] {
                remaining[j] -= 1;
                if remaining[j] == 0 && !is_output[j] {
                    held -= 1;
                }
            }
            for &d in &dependents[t] {
                waiting[d] -= 1;
                if waiting[d] == 0 {
                    ready.push(Reverse((p[d], d)));
                }
            }
        }
        peak = peak.max(held);
    }
    peak
}

fn tree(leaves: usize, fan_in: usize) -> Shape {
    let mut s = Shape::default();
    let root = s.sum_tree(leaves, fan_in);
    s.outputs = vec![root];
    s
}

/// The fewest results any order finishing one subtree before starting the
/// next can hold while computing a tree (its Sethi–Ullman number), worked
/// out by sorting, independently of `order`. Nodes must come after their
/// dependencies, as `Shape` builds them.
fn tree_need(shape: &Shape) -> usize {
    let mut need = vec![1usize; shape.len()];
    for i in 0..shape.len() {
        let mut kids: Vec<usize> = shape.deps[i].iter().map(|&d| need[d]).collect();
        kids.sort_unstable_by(|a, b| b.cmp(a));
        need[i] = kids
            .iter()
            .enumerate()
            .map(|(j, n)| n + j)
            .max()
            .unwrap_or(1);
    }
    need[shape.outputs[0]]
}

#[test]
fn perfect_sum_trees_hold_fan_in_minus_one_per_level() {
    // Depth-first on one worker holds the finished siblings on the path to
    // the current leaf: (fan_in - 1) per level, plus the leaf just finished.
    for (leaves, fan_in, levels) in [(1 << 12, 2, 12), (8 * 8 * 8 * 8, 8, 4)] {
        let s = tree(leaves, fan_in);
        let [a, b] = both(&s);
        assert_eq!(a, b, "a tree has no ties for names to break");
        assert_eq!(peak_held(&s, &a, 1), (fan_in - 1) * levels + 1);
    }
}

#[test]
fn sum_tree_over_100_000_leaves_stays_small() {
    for (fan_in, levels) in [(2usize, 17usize), (8, 6)] {
        let s = tree(100_000, fan_in);
        let bound = (fan_in - 1) * levels + 1;
        let optimal = tree_need(&s);
        for p in both(&s) {
            let one = peak_held(&s, &p, 1);
            let two = peak_held(&s, &p, 2);
            assert_eq!(
                one, optimal,
                "fan-in {fan_in}: not the tree's Sethi-Ullman number"
            );
            eprintln!(
                "sum tree, 100000 leaves, fan-in {fan_in}: peak held {one} (1 worker), {two} (2 workers)"
            );
            assert!(
                one <= bound,
                "fan-in {fan_in}: one worker held {one} > {bound}"
            );
            assert!(
                two <= 2 * bound,
                "fan-in {fan_in}: two workers held {two} > {}",
                2 * bound
            );
        }
    }
}

#[test]
fn both_consumers_of_a_shared_input_run_right_after_it() {
    // x feeds a and b; out = h(a, b).
    let mut s = Shape::default();
    let x = s.add(&[]);
    let a = s.add(&[x]);
    let b = s.add(&[x]);
    let out = s.add(&[a, b]);
    s.outputs = vec![out];
    for p in both(&s) {
        assert_eq!([p[x], p[a], p[b], p[out]], [0, 1, 2, 3]);
    }

    // out = h(a, z, b): plain depth-first would run the unrelated leaf z
    // between a and b, keeping x; b runs first so x is released.
    let mut s = Shape::default();
    let x = s.add(&[]);
    let y = s.add(&[]);
    let a = s.add(&[x, y]);
    let z = s.add(&[]);
    let b = s.add(&[x, y]);
    let out = s.add(&[a, z, b]);
    s.outputs = vec![out];
    let [p, q] = both(&s);
    assert_eq!(p, q);
    assert_eq!(p[b], p[a] + 1, "{p:?}");
    assert!(p[z] > p[b]);
    // x, y, a, b (x and y released), z: three held at most, not four.
    assert_eq!(peak_held(&s, &p, 1), 3);
}

#[test]
fn independent_chains_finish_one_at_a_time() {
    let mut s = Shape::default();
    let lens = [10, 3, 25, 1, 7];
    let chains: Vec<(usize, usize)> = lens
        .iter()
        .map(|&len| {
            let start = s.len();
            let end = s.chain(None, len);
            (start, end)
        })
        .collect();
    let ends: Vec<usize> = chains.iter().map(|c| c.1).collect();
    let combine = s.add(&ends);
    s.outputs = vec![combine];
    let [p, q] = both(&s);
    assert_eq!(p, q);
    // Chains run whole and in argument order: node i of chain c gets the
    // next number after the previous chains.
    let mut expected = 0;
    for &(start, end) in &chains {
        for (i, node) in (start..=end).enumerate() {
            assert_eq!(p[node], expected + i as u32);
        }
        expected += (end - start + 1) as u32;
    }
    // One finished end per chain, plus the current one.
    assert_eq!(peak_held(&s, &p, 1), lens.len());
}

#[test]
fn wide_fan_out_finishes_each_branch_before_the_next() {
    // x → y_i → z_i, out = h(z_0, …, z_{n-1}).
    let n = 1000;
    let mut s = Shape::default();
    let x = s.add(&[]);
    let ys: Vec<usize> = (0..n).map(|_| s.add(&[x])).collect();
    let zs: Vec<usize> = ys.iter().map(|&y| s.add(&[y])).collect();
    let out = s.add(&zs);
    s.outputs = vec![out];
    let [p, q] = both(&s);
    assert_eq!(p, q);
    assert_eq!(p[x], 0);
    for i in 0..n - 2 {
        assert_eq!(p[zs[i]], p[ys[i]] + 1, "branch {i} not finished at once");
    }
    // Once x has one consumer left, that consumer runs at once to release x.
    assert_eq!(p[ys[n - 1]], p[ys[n - 2]] + 1);
    // x plus one finished z per branch so far, plus the current y: n at most.
    assert_eq!(peak_held(&s, &p, 1), n);
    assert!(peak_held(&s, &p, 2) <= n + 1);
}

#[test]
fn the_most_demanding_dependency_goes_first() {
    // out = h(l0, …, l4, T) where T is a sum tree of 8 leaves (needs 4).
    // Argument order would hold the five leaves while T runs: 5 + 4 = 9.
    let mut s = Shape::default();
    let mut args: Vec<usize> = (0..5).map(|_| s.add(&[])).collect();
    let t = s.sum_tree(8, 2);
    args.push(t);
    let out = s.add(&args);
    s.outputs = vec![out];
    let [p, q] = both(&s);
    assert_eq!(p, q);
    assert!(p[t] < p[args[0]]);
    assert_eq!(peak_held(&s, &p, 1), 6);
}

#[test]
fn outputs_finish_in_the_order_given() {
    let mut s = Shape::default();
    let shared = s.add(&[]);
    let t1 = s.sum_tree(16, 2);
    let t2 = s.sum_tree(16, 2);
    let o1 = s.add(&[t1, shared]);
    let o2 = s.add(&[t2, shared]);
    s.outputs = vec![o2, o1];
    let [p, q] = both(&s);
    assert_eq!(p, q);
    assert!(p[o2] < p[t1], "o1's subtree started before o2 finished");
    assert_eq!(p[o1] as usize, s.len() - 1);
}

#[test]
fn long_chains_do_not_recurse() {
    let mut s = Shape::default();
    let end = s.chain(None, 200_000);
    s.outputs = vec![end];
    let p = priorities(&s, Naming::Scrambled);
    assert!(p.iter().enumerate().all(|(i, &x)| x as usize == i));
}

#[test]
fn unreached_tasks_come_after_everything_the_outputs_need() {
    let mut s = Shape::default();
    let out = s.sum_tree(8, 2);
    let stray_leaf = s.add(&[]);
    let stray = s.chain(Some(stray_leaf), 3);
    let dead_end = s.add(&[out]);
    s.outputs = vec![out];
    for p in both(&s) {
        for i in 0..=out {
            assert!(p[i] <= p[out]);
        }
        assert!(p[stray_leaf] > p[out] && p[dead_end] > p[out]);
        // The stray chain still runs depth-first, as one block.
        assert_eq!(p[stray] - p[stray_leaf], 3);
    }
}

#[test]
fn cycles_and_bad_outputs_do_not_hang_or_panic() {
    // Validation rejects cycles before order runs; order must still end.
    let deps = Deps::from_lists(vec![vec![2], vec![0], vec![1], vec![]]);
    let g = {
        let mut s = Shape::default();
        for _ in 0..4 {
            s.add(&[]);
        }
        lower(&s, Naming::Plain, &noop()).0
    };
    let mut p = order(&g, &deps, &[2, 99]);
    p.sort_unstable();
    assert_eq!(p, vec![0, 1, 2, 3]);
}

#[test]
fn empty_graph() {
    let g = crate::graph::TaskGraph::new();
    assert!(order(&g, &Deps::from_lists(Vec::<Vec<u32>>::new()), &[]).is_empty());
}

/// Run with `cargo test --release -p oxidask-graph -- --ignored --nocapture order_timing`.
#[test]
#[ignore = "timing; run in release"]
fn order_timing_2_000_000_tasks() {
    let s = tree(1 << 20, 2);
    let (g, ids) = lower(&s, Naming::Plain, &noop());
    let deps = g.dependencies().unwrap();
    let t = std::time::Instant::now();
    let p = order(&g, &deps, &[ids[s.outputs[0]]]);
    eprintln!("order: sum tree of {} tasks in {:?}", p.len(), t.elapsed());
}
