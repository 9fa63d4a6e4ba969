//! Random task graphs with a sequential oracle.

use std::sync::Arc;

use oxidask_graph::{Arg, DataOp, Key, Op, OpError, Task, TaskGraph, Value, register_data_op};
use proptest::prelude::*;

/// A random DAG: node `i` reads the nodes in `deps[i]` (all `< i`, repeats
/// allowed) and computes `salt[i] + Σ (k+1)·dep_k` with wrapping `u64`
/// arithmetic. `outputs` are the nodes requested.
#[derive(Clone, Debug)]
pub struct RandomDag {
    /// Per node, the earlier nodes it reads, in argument order.
    pub deps: Vec<Vec<usize>>,
    /// Per node, a constant mixed into its value.
    pub salt: Vec<u64>,
    /// Requested nodes (repeats allowed).
    pub outputs: Vec<usize>,
}

/// Random DAGs of 1..=`max_nodes` nodes, each with up to 4 dependencies.
pub fn random_dag(max_nodes: usize) -> impl Strategy<Value = RandomDag> {
    (1..=max_nodes).prop_flat_map(|n| {
        let deps = (0..n)
            .map(|i| {
                if i == 0 {
                    Just(Vec::new()).boxed()
                } else {
                    proptest::collection::vec(0..i, 0..=4.min(i)).boxed()
                }
            })
            .collect::<Vec<_>>();
        let salt = proptest::collection::vec(any::<u64>(), n);
        let outputs = proptest::collection::vec(0..n, 1..=4.min(n));
        (deps, salt, outputs).prop_map(|(deps, salt, outputs)| RandomDag {
            deps,
            salt,
            outputs,
        })
    })
}

fn mix(salt: u64, inputs: impl Iterator<Item = u64>) -> u64 {
    inputs.enumerate().fold(salt, |acc, (k, x)| {
        acc.wrapping_add((k as u64 + 1).wrapping_mul(x))
    })
}

/// A node of [`RandomDag::to_graph`]: `salt + Σ (k+1)·input_k`. A
/// registered op, so random graphs can also run through bytes.
#[derive(serde::Serialize, serde::Deserialize)]
struct Mix;

impl DataOp for Mix {
    const NAME: &'static str = "oxidask.testing.mix";

    fn label(&self) -> &str {
        "mix"
    }

    fn run(&self, args: Vec<Value>) -> Result<Value, OpError> {
        let salt = *args[0].downcast_ref::<u64>()?;
        let mut xs = Vec::with_capacity(args.len() - 1);
        for a in &args[1..] {
            xs.push(*a.downcast_ref::<u64>()?);
        }
        Ok(Value::new(mix(salt, xs.into_iter())))
    }
}
register_data_op!(Mix);

/// A node of [`RandomDag::to_padded_graph`]: [`Mix`] padded to `len`.
#[derive(serde::Serialize, serde::Deserialize)]
struct MixPadded {
    len: usize,
}

impl DataOp for MixPadded {
    const NAME: &'static str = "oxidask.testing.mix-padded";

    fn label(&self) -> &str {
        "mix-padded"
    }

    fn run(&self, args: Vec<Value>) -> Result<Value, OpError> {
        let salt = *args[0].downcast_ref::<u64>()?;
        let mut xs = Vec::with_capacity(args.len() - 1);
        // By value: a spilled input is read, used and dropped in turn.
        for a in args.into_iter().skip(1) {
            xs.push(a.downcast_ref::<Vec<u64>>()?[0]);
        }
        let mut out = vec![0u64; self.len];
        out[0] = mix(salt, xs.into_iter());
        Ok(Value::new(out))
    }
}
register_data_op!(MixPadded);

impl RandomDag {
    /// The values of the requested outputs, computed directly.
    pub fn oracle(&self) -> Vec<u64> {
        let mut v = Vec::with_capacity(self.deps.len());
        for (i, d) in self.deps.iter().enumerate() {
            let x = mix(self.salt[i], d.iter().map(|&j| v[j]));
            v.push(x);
        }
        self.outputs.iter().map(|&o| v[o]).collect()
    }

    /// The graph, with keys named `{prefix}-{i}` and tasks inserted in the
    /// order `insertion` gives (a permutation of node indices; identity if
    /// empty), so tests can check nothing depends on names or order.
    pub fn to_graph(&self, prefix: &str, insertion: &[usize]) -> (TaskGraph, Vec<Key>) {
        self.build(prefix, insertion, Arc::new(Mix))
    }

    /// Like [`to_graph`](RandomDag::to_graph), but every node's value is a
    /// `Vec<u64>` of `len` elements (at least one) whose first is the node's
    /// value — results large enough to spill under a small limit. Read
    /// outputs with [`read_padded`].
    pub fn to_padded_graph(&self, prefix: &str, len: usize) -> (TaskGraph, Vec<Key>) {
        self.build(prefix, &[], Arc::new(MixPadded { len: len.max(1) }))
    }

    fn build(&self, prefix: &str, insertion: &[usize], op: Arc<dyn Op>) -> (TaskGraph, Vec<Key>) {
        let key = |i: usize| Key::with_index(prefix, &[i as u32]);
        let order: Vec<usize> = if insertion.is_empty() {
            (0..self.deps.len()).collect()
        } else {
            insertion.to_vec()
        };
        let mut g = TaskGraph::with_capacity(order.len());
        for i in order {
            let mut args = vec![Arg::Value(Value::new(self.salt[i]))];
            args.extend(self.deps[i].iter().map(|&j| Arg::Key(key(j))));
            g.insert(key(i), Task::new(op.clone(), args));
        }
        (g, self.outputs.iter().map(|&o| key(o)).collect())
    }
}

/// The node value of an output of [`RandomDag::to_padded_graph`].
pub fn read_padded(v: &Value) -> u64 {
    v.downcast_ref::<Vec<u64>>()
        .expect("padded nodes are Vec<u64>")[0]
}
