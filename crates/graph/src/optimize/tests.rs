//! The whole pipeline against its oracle: random graphs of literals, aliases
//! and integer ops evaluate to the same outputs with every combination of
//! passes, and the plan's priorities are a valid topological order.

use proptest::prelude::*;
use proptest::sample::Index;

use super::{OptimizeOptions, optimize};
use crate::graph::TaskGraph;
use crate::key::Key;
use crate::optimize::testutil::{int_op, ints};
use crate::task::{Arg, Task};
use crate::value::Value;

/// One node of a random graph: what it is, the earlier nodes it reads and a
/// number (a literal, or an extra literal argument).
type NodeSpec = (u8, Vec<Index>, i64);

fn build(nodes: &[NodeSpec], outputs: &[Index]) -> (TaskGraph, Vec<Key>) {
    let key = |i: usize| Key::with_index("n", &[i as u32]);
    let mix = int_op("mix", |xs| {
        xs.iter()
            .fold(17i64, |acc, &x| acc.wrapping_mul(31).wrapping_add(x))
    });
    let mut g = TaskGraph::new();
    for (i, (kind, reads, lit)) in nodes.iter().enumerate() {
        let reads: Vec<Arg> = if i == 0 {
            Vec::new()
        } else {
            reads.iter().map(|r| Arg::Key(key(r.index(i)))).collect()
        };
        let task = match kind % 4 {
            0 => Task::literal(Value::new(*lit)),
            1 if i > 0 => Task::alias(key(nodes[i].1.first().map_or(i - 1, |r| r.index(i)))),
            2 => Task::new(mix.clone(), reads),
            _ => {
                let mut args = reads;
                args.push(Value::new(*lit).into());
                Task::new(mix.clone(), args)
            }
        };
        g.insert(key(i), task);
    }
    let outputs = outputs.iter().map(|o| key(o.index(nodes.len()))).collect();
    (g, outputs)
}

proptest! {
    #[test]
    fn every_pass_combination_computes_the_same_outputs(
        nodes in prop::collection::vec(
            (0u8..4, prop::collection::vec(any::<Index>(), 0..4), -5i64..5),
            1..40,
        ),
        outputs in prop::collection::vec(any::<Index>(), 1..4),
    ) {
        let (g, outputs) = build(&nodes, &outputs);
        let expected = ints(&g, &outputs);
        for (inline, fuse) in [(false, false), (true, false), (false, true), (true, true)] {
            let plan = optimize(g.clone(), &outputs, OptimizeOptions {
                inline,
                fuse,
                rename_fused_keys: fuse && inline,
            }).unwrap();
            prop_assert_eq!(&plan.deps, &plan.graph.dependencies().unwrap());
            prop_assert_eq!(ints(&plan.graph, &outputs), expected.clone());
            for i in 0..plan.len() as u32 {
                for &d in plan.deps.of(i) {
                    prop_assert!(plan.priority[d as usize] < plan.priority[i as usize]);
                }
            }
            let mut sorted = plan.priority.clone();
            sorted.sort_unstable();
            prop_assert!(sorted.iter().enumerate().all(|(i, &p)| p as usize == i));
        }
    }
}
