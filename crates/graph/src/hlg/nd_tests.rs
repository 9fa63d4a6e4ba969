//! Tests of the N-d block layer's arguments and of the tree-reduction
//! layer. Oracles: plain loops over the source values, and
//! [`optimize::cull`](crate::optimize::cull) of the expanded graph for
//! culling.

use std::collections::HashMap;
use std::sync::Arc;

use proptest::prelude::*;

use super::tests::{add, assert_cull_matches_oracle, eval};
use super::*;
use crate::task::{Arg, Task};
use crate::value::Value;

/// A layer `name` over the grid `numblocks` whose block at flat position
/// `f` is the literal `f`.
fn grid_source(name: &str, numblocks: &[u32]) -> HighLevelGraph {
    let total: u64 = numblocks.iter().map(|&n| n as u64).product();
    let mut g = TaskGraph::new();
    for f in 0..total {
        g.insert(
            Key::with_index(name, &unravel(f, numblocks)),
            Task::literal(Value::new(f as i64)),
        );
    }
    HighLevelGraph::from_layer(Arc::new(MaterializedLayer::new(name, g)))
}

fn eval_i64(g: &TaskGraph, key: &Key) -> i64 {
    *eval(g, key, &mut HashMap::new())
        .downcast_ref::<i64>()
        .unwrap()
}

#[test]
fn block_tasks_get_aligned_broadcast_index_and_coordinate_arguments() {
    let layer = BlockLayer::blockwise(
        "y",
        add(),
        vec![
            BlockArg::block("x"),
            BlockArg::broadcast("row", &[3]),
            BlockArg::broadcast("col", &[2, 1]),
            BlockArg::Index,
            BlockArg::Coord(1),
        ],
        vec![2, 3],
    );
    assert_eq!(layer.len(), 6);
    assert_eq!(layer.numblocks(), [2, 3]);
    let deps: Vec<Arc<str>> = ["x", "row", "col"].into_iter().map(Arc::from).collect();
    assert_eq!(layer.dependencies(), deps);
    let task = layer.task(&[1, 2]);
    match task.args.as_slice() {
        [
            Arg::Key(x),
            Arg::Key(row),
            Arg::Key(col),
            Arg::Value(idx),
            Arg::Value(j),
        ] => {
            assert_eq!(x, &Key::with_index("x", &[1, 2]));
            assert_eq!(row, &Key::with_index("row", &[2]));
            assert_eq!(col, &Key::with_index("col", &[1, 0]));
            assert_eq!(idx.downcast_ref::<Vec<u32>>().unwrap(), &vec![1, 2]);
            assert_eq!(*j.downcast_ref::<u32>().unwrap(), 2);
        }
        other => panic!("unexpected args {other:?}"),
    }
    assert!(layer.contains(&Key::with_index("y", &[1, 2])));
    assert!(!layer.contains(&Key::with_index("y", &[2, 0])));
    assert!(!layer.contains(&Key::with_index("y", &[1])));
    let culled = layer.cull(&[Key::with_index("y", &[0, 1])]).unwrap();
    assert_eq!(culled.layer.len(), 1);
    let mut external = culled.external.clone();
    external.sort();
    assert_eq!(
        external,
        [
            Key::with_index("col", &[0, 0]),
            Key::with_index("row", &[1]),
            Key::with_index("x", &[0, 1]),
        ]
    );
}

#[test]
fn a_1d_block_layer_is_a_partition_aligned_map() {
    let x = grid_source("x", &[7]);
    let y = HighLevelGraph::from_inputs(
        Arc::new(BlockLayer::blockwise(
            "y",
            add(),
            vec![BlockArg::block("x"), BlockArg::literal(Value::new(100i64))],
            vec![7],
        )),
        [&x],
    );
    let culled = assert_cull_matches_oracle(&y, &[Key::with_index("y", &[5])]);
    let g = culled.to_task_graph().unwrap();
    assert_eq!(eval_i64(&g, &Key::with_index("y", &[5])), 105);
}

#[test]
fn split_factors_take_a_root_of_split_every_per_reduced_axis() {
    assert_eq!(split_factors(&[10, 10], &[0, 1], 16), [4, 4]);
    assert_eq!(split_factors(&[10, 1], &[0, 1], 16), [16, 16]);
    assert_eq!(split_factors(&[10, 10], &[1], 8), [1, 8]);
    assert_eq!(split_factors(&[10, 10], &[0, 1], 3), [2, 2], "at least 2");
    assert_eq!(split_factors(&[9], &[0], 8), [8]);
}

fn tree(numblocks: &[u32], factor: &[u32], keepdims: bool) -> TreeLayer {
    TreeLayer::new(
        "t",
        "x",
        numblocks.to_vec(),
        factor.to_vec(),
        keepdims,
        false,
        add(),
        add(),
    )
    .unwrap()
}

#[test]
fn a_tree_sums_columns_level_by_level_with_deterministic_keys() {
    // 5 × 3 blocks, reducing axis 0 two at a time: 5 → 3 → 2 → 1.
    let t = tree(&[5, 3], &[2, 1], false);
    assert_eq!(t.depth(), 3);
    assert_eq!(t.out_numblocks(), [3]);
    assert_eq!(t.len(), 3 * 3 + 2 * 3 + 3);
    let keys = t.output_keys();
    assert_eq!(keys[0], Key::with_index("t-partial", &[1, 0, 0]));
    assert_eq!(keys.last().unwrap(), &Key::with_index("t", &[2]));
    let hlg = HighLevelGraph::from_inputs(Arc::new(t.clone()), [&grid_source("x", &[5, 3])]);
    let g = hlg.to_task_graph().unwrap();
    for j in 0..3u32 {
        let want: i64 = (0..5).map(|i| (i * 3 + j) as i64).sum();
        assert_eq!(eval_i64(&g, &Key::with_index("t", &[j])), want);
    }
    // Every task merges at most `factor` blocks of the level below.
    for (_, task) in g.iter() {
        assert!(task.args.len() <= 2);
    }
    let culled = assert_cull_matches_oracle(&hlg, &[Key::with_index("t", &[1])]);
    assert_eq!(culled.len(), 5 + 3 + 2 + 1);
    let one = culled.to_task_graph().unwrap();
    assert_eq!(
        eval_i64(&one, &Key::with_index("t", &[1])),
        1 + 4 + 7 + 10 + 13
    );
}

#[test]
fn a_tree_keeps_reduced_axes_and_passes_indices_on_request() {
    let t = TreeLayer::new("t", "x", vec![4, 2], vec![2, 2], true, true, add(), add()).unwrap();
    assert_eq!(t.out_numblocks(), [1, 1]);
    let mut g = TaskGraph::new();
    t.materialize(&mut g).unwrap();
    let top = g.get(&Key::with_index("t", &[0, 0])).expect("kept axes");
    match top.args.as_slice() {
        [Arg::Value(idx), Arg::Key(a), Arg::Key(b)] => {
            assert_eq!(idx.downcast_ref::<Vec<u32>>().unwrap(), &vec![0, 0]);
            assert_eq!(a, &Key::with_index("t-partial", &[1, 0, 0]));
            assert_eq!(b, &Key::with_index("t-partial", &[1, 1, 0]));
        }
        other => panic!("unexpected args {other:?}"),
    }
    let first = g.get(&Key::with_index("t-partial", &[1, 1, 0])).unwrap();
    let inputs: Vec<Key> = first.dependencies().cloned().collect();
    let want: Vec<Key> = [[2, 0], [2, 1], [3, 0], [3, 1]]
        .iter()
        .map(|i| Key::with_index("x", i))
        .collect();
    assert_eq!(inputs, want, "row-major group");
}

#[test]
fn a_tree_over_one_block_or_none_still_has_its_finish_task() {
    let one = tree(&[1], &[8], false);
    assert_eq!(one.output_keys(), [Key::new("t")]);
    let none = tree(&[0], &[8], true);
    assert_eq!(none.output_keys(), [Key::with_index("t", &[0])]);
    let mut g = TaskGraph::new();
    none.materialize(&mut g).unwrap();
    assert_eq!(eval_i64(&g, &Key::with_index("t", &[0])), 0, "empty sum");
}

#[test]
fn a_tree_rejects_keys_it_does_not_have_and_bad_factors() {
    let t = tree(&[9], &[3], false);
    for bad in [
        Key::with_index("t", &[0]),
        Key::with_index("t-partial", &[0, 0]),
        Key::with_index("t-partial", &[2, 0]),
        Key::with_index("t-partial", &[1, 3]),
        Key::new("x"),
    ] {
        assert!(!t.contains(&bad), "{bad}");
        assert!(t.cull(std::slice::from_ref(&bad)).is_err(), "{bad}");
    }
    assert!(t.contains(&Key::with_index("t-partial", &[1, 2])));
    let e = TreeLayer::new("t", "x", vec![3, 3], vec![2], false, false, add(), add());
    assert!(e.unwrap_err().to_string().contains("2 axes"));
}

proptest! {
    /// Whatever the grid, the reduced axes and the split, each output
    /// block is the sum of the input blocks it covers, and culling to some
    /// outputs keeps exactly what the task-level cull keeps.
    #[test]
    fn tree_sums_and_culls_like_the_oracle(
        numblocks in proptest::collection::vec(1..6u32, 1..4),
        reduce in proptest::collection::vec(any::<bool>(), 3),
        split_every in 2..9usize,
        keepdims in any::<bool>(),
        pick in any::<proptest::sample::Index>(),
    ) {
        let ndim = numblocks.len();
        let mut axes: Vec<usize> = (0..ndim).filter(|&a| reduce[a]).collect();
        if axes.is_empty() {
            axes.push(0);
        }
        let factor = split_factors(&numblocks, &axes, split_every);
        let t = tree(&numblocks, &factor, keepdims);
        let hlg = HighLevelGraph::from_inputs(Arc::new(t.clone()), [&grid_source("x", &numblocks)]);
        let g = hlg.to_task_graph().unwrap();
        let total: u64 = numblocks.iter().map(|&n| n as u64).product();
        let mut want: HashMap<Key, i64> = HashMap::new();
        for f in 0..total {
            let idx = unravel(f, &numblocks);
            let out: Vec<u32> = (0..ndim)
                .filter(|a| keepdims || !axes.contains(a))
                .map(|a| if axes.contains(&a) { 0 } else { idx[a] })
                .collect();
            *want.entry(Key::with_index("t", &out)).or_default() += f as i64;
        }
        let outs: Vec<Key> = t.output_keys().into_iter().filter(|k| k.name() == "t").collect();
        prop_assert_eq!(outs.len(), want.len());
        for (key, sum) in &want {
            prop_assert_eq!(eval_i64(&g, key), *sum);
        }
        let chosen = outs[pick.index(outs.len())].clone();
        assert_cull_matches_oracle(&hlg, &[chosen]);
    }
}
