//! Test helpers shared by the optimizer passes: abstract graph shapes lowered
//! under two key namings, and a tiny sequential evaluator used as the oracle
//! for passes that rewrite tasks.

use std::collections::HashMap;
use std::sync::Arc;

use crate::error::TaskError;
use crate::graph::TaskGraph;
use crate::key::Key;
use crate::op::{FnOp, Op};
use crate::task::{Arg, Task};
use crate::value::Value;

/// A graph's structure without names: node `i` reads `deps[i]`, in argument
/// order (repeats allowed).
#[derive(Clone, Debug, Default)]
pub struct Shape {
    pub deps: Vec<Vec<usize>>,
    pub outputs: Vec<usize>,
}

impl Shape {
    /// Adds a node reading `deps`; returns its index.
    pub fn add(&mut self, deps: &[usize]) -> usize {
        self.deps.push(deps.to_vec());
        self.deps.len() - 1
    }

    pub fn len(&self) -> usize {
        self.deps.len()
    }

    /// Dependents of each node, each once.
    pub fn dependents(&self) -> Vec<Vec<usize>> {
        let mut out = vec![Vec::new(); self.len()];
        for (i, ds) in self.deps.iter().enumerate() {
            for &d in ds {
                if out[d].last() != Some(&i) {
                    out[d].push(i);
                }
            }
        }
        out
    }

    /// A reduction tree over `leaves` new leaves with the given fan-in;
    /// returns the root. Each level groups consecutive nodes; a short last
    /// group is reduced as it is.
    pub fn sum_tree(&mut self, leaves: usize, fan_in: usize) -> usize {
        let mut level: Vec<usize> = (0..leaves).map(|_| self.add(&[])).collect();
        while level.len() > 1 {
            level = level.chunks(fan_in).map(|c| self.add(c)).collect();
        }
        level[0]
    }

    /// A chain of `len` nodes hanging from `from` (or from a new leaf when
    /// `None`); returns its last node.
    pub fn chain(&mut self, from: Option<usize>, len: usize) -> usize {
        let mut last = from.unwrap_or_else(|| self.add(&[]));
        for _ in 0..len {
            last = self.add(&[last]);
        }
        last
    }
}

/// Two ways to name and insert the same shape, so no test can pass because
/// of names or insertion order.
#[derive(Clone, Copy, Debug)]
pub enum Naming {
    /// Keys `("a-0",)`, `("a-1",)`, … inserted in node order.
    Plain,
    /// Names scrambled and reversed in sort order, inserted in a scrambled
    /// order.
    Scrambled,
}

pub const NAMINGS: [Naming; 2] = [Naming::Plain, Naming::Scrambled];

/// A fixed pseudo-random permutation of `0..n` (xorshift-driven shuffle).
pub fn permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    let mut s = seed | 1;
    for i in (1..n).rev() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        p.swap(i, (s % (i as u64 + 1)) as usize);
    }
    p
}

/// Builds a graph of `shape` whose tasks all run `op`; returns it with the
/// dense id of each node.
pub fn lower(shape: &Shape, naming: Naming, op: &Arc<dyn Op>) -> (TaskGraph, Vec<u32>) {
    let n = shape.len();
    let keys: Vec<Key> = match naming {
        Naming::Plain => (0..n).map(|i| Key::with_index("a", &[i as u32])).collect(),
        Naming::Scrambled => {
            let p = permutation(n, 0x9e37_79b9);
            (0..n)
                .map(|i| Key::new(format!("z-{:08}", n - p[i])))
                .collect()
        }
    };
    let insertion: Vec<usize> = match naming {
        Naming::Plain => (0..n).collect(),
        Naming::Scrambled => permutation(n, 0x2545_f491),
    };
    let mut g = TaskGraph::with_capacity(n);
    for &i in &insertion {
        let args = shape.deps[i]
            .iter()
            .map(|&d| Arg::Key(keys[d].clone()))
            .collect();
        g.insert(keys[i].clone(), Task::new(op.clone(), args));
    }
    let ids = keys.iter().map(|k| g.id_of(k).expect("inserted")).collect();
    (g, ids)
}

/// An op on `i64`s made from a plain function, for evaluator-checked tests.
pub fn int_op(name: &str, f: fn(&[i64]) -> i64) -> Arc<dyn Op> {
    FnOp::arc(name.to_string(), move |args| {
        let xs = args
            .iter()
            .map(|a| a.downcast_ref::<i64>().copied())
            .collect::<crate::Result<Vec<i64>>>()?;
        Ok(Value::new(f(&xs)))
    })
}

/// Runs `graph` sequentially in topological order and returns the outputs.
/// Each result is dropped after its last use, and the last use receives the
/// handle itself, as the schedulers do.
pub fn evaluate(graph: &TaskGraph, outputs: &[Key]) -> Result<Vec<Value>, TaskError> {
    let deps = graph.validate(outputs).expect("a valid graph");
    let mut uses: HashMap<&Key, usize> = HashMap::new();
    for (_, t) in graph.iter() {
        for k in t.dependencies() {
            *uses.entry(k).or_default() += 1;
        }
    }
    for k in outputs {
        *uses.entry(k).or_default() += 1;
    }
    let mut results: HashMap<&Key, Value> = HashMap::new();
    for i in graph.topological_order(&deps).expect("acyclic") {
        let (key, task) = graph.by_id(i);
        let mut args = Vec::with_capacity(task.args.len());
        for a in &task.args {
            args.push(match a {
                Arg::Value(v) => v.clone(),
                Arg::Key(k) => {
                    let left = uses.get_mut(k).expect("counted");
                    *left -= 1;
                    if *left == 0 {
                        results.remove(k).expect("computed")
                    } else {
                        results[k].clone()
                    }
                }
            });
        }
        let v = task
            .op
            .call(args)
            .map_err(|e| TaskError::failed(key.clone(), task.op.label(), &*e))?;
        if uses.get(key).copied().unwrap_or(0) > 0 {
            results.insert(key, v);
        }
    }
    Ok(outputs.iter().map(|k| results[k].clone()).collect())
}

/// The outputs of `graph`, run by [`evaluate`], as `i64`s.
pub fn ints(graph: &TaskGraph, outputs: &[Key]) -> Vec<i64> {
    evaluate(graph, outputs)
        .unwrap()
        .iter()
        .map(|v| *v.downcast_ref::<i64>().unwrap())
        .collect()
}
