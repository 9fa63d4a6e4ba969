//! Cull and fuse on hand-built shapes, each under two key namings and
//! insertion orders: which nodes survive, and how chains merge, must depend
//! only on the graph's structure.

use std::collections::BTreeSet;

use super::testutil::{NAMINGS, Shape, int_op, lower};
use super::{cull, fuse_linear};

/// Nodes (by shape index) that are still tasks after a pass, found through
/// their keys.
fn surviving(
    shape: &Shape,
    naming: super::testutil::Naming,
    pass: impl Fn(crate::TaskGraph, &[crate::Key]) -> crate::TaskGraph,
) -> BTreeSet<usize> {
    let (g, ids) = lower(
        shape,
        naming,
        &int_op("sum", |xs| xs.iter().sum::<i64>() + 1),
    );
    let keys: Vec<crate::Key> = ids.iter().map(|&i| g.key(i).clone()).collect();
    let outputs: Vec<crate::Key> = shape.outputs.iter().map(|&o| keys[o].clone()).collect();
    let after = pass(g, &outputs);
    (0..shape.len())
        .filter(|&i| after.contains(&keys[i]))
        .collect()
}

#[test]
fn cull_keeps_exactly_what_the_outputs_need() {
    let mut s = Shape::default();
    let wanted = s.sum_tree(16, 4); // nodes 0..=20
    let other = s.sum_tree(8, 2);
    let tail = s.chain(Some(wanted), 3);
    s.outputs = vec![tail];
    let _ = other;
    for naming in NAMINGS {
        let kept = surviving(&s, naming, |g, outs| cull(g, outs).unwrap().graph);
        let expect: BTreeSet<usize> = (0..=wanted).chain(tail - 2..=tail).collect();
        assert_eq!(kept, expect, "{naming:?}");
    }
}

#[test]
fn cull_with_two_outputs_keeps_the_union_and_shared_parts_once() {
    let mut s = Shape::default();
    let root = s.add(&[]);
    let a = s.chain(Some(root), 2);
    let b = s.chain(Some(root), 2);
    let _unused = s.chain(Some(root), 4);
    s.outputs = vec![a, b, a];
    for naming in NAMINGS {
        let kept = surviving(&s, naming, |g, outs| cull(g, outs).unwrap().graph);
        let expect: BTreeSet<usize> = [root, a - 1, a, b - 1, b].into_iter().collect();
        assert_eq!(kept, expect, "{naming:?}");
    }
}

#[test]
fn fuse_merges_chains_but_not_across_branches_or_outputs() {
    let mut s = Shape::default();
    let leaf = s.add(&[]);
    let trunk = s.chain(Some(leaf), 3); // leaf → t1 → t2 → t3
    let left = s.chain(Some(trunk), 2); // branch: trunk has two readers
    let right = s.chain(Some(trunk), 2);
    let mid_output = s.chain(Some(left), 1);
    let joined = s.add(&[mid_output, right]);
    let tail = s.chain(Some(joined), 2);
    s.outputs = vec![tail, mid_output];
    for naming in NAMINGS {
        let kept = surviving(&s, naming, |g, outs| {
            let deps = g.validate(outs).unwrap();
            fuse_linear(g, &deps, outs).graph
        });
        // Each maximal chain survives as its last task: the trunk (ending at
        // the branch point), the left branch merged into the output that
        // reads it (an output ends a chain but is never fused away), the
        // right branch, and the join's chain (ending at the last output).
        let _ = left;
        let expect: BTreeSet<usize> = [trunk, mid_output, right, tail].into_iter().collect();
        assert_eq!(kept, expect, "{naming:?}");
    }
}
