//! Graphs used by tests, benchmarks and examples alike.

use std::sync::Arc;

use oxidask_graph::{DataOp, Key, Op, OpError, Task, TaskGraph, Value, register_data_op};

/// `x + 1` of an `i64`: a registered op, so fixture graphs also encode.
#[derive(serde::Serialize, serde::Deserialize)]
struct Inc;

impl DataOp for Inc {
    const NAME: &'static str = "oxidask.testing.inc";

    fn label(&self) -> &str {
        "inc"
    }

    fn run(&self, a: Vec<Value>) -> Result<Value, OpError> {
        Ok(Value::new(a[0].downcast_ref::<i64>()? + 1))
    }
}
register_data_op!(Inc);

/// The sum of any number of `i64`s.
#[derive(serde::Serialize, serde::Deserialize)]
struct AddAll;

impl DataOp for AddAll {
    const NAME: &'static str = "oxidask.testing.add_all";

    fn label(&self) -> &str {
        "add_all"
    }

    fn run(&self, a: Vec<Value>) -> Result<Value, OpError> {
        let mut s = 0;
        for v in &a {
            s += v.downcast_ref::<i64>()?;
        }
        Ok(Value::new(s))
    }
}
register_data_op!(AddAll);

/// The scheduler-overhead graph of the W6 reference workload: `n` trivial
/// `inc(i)` tasks, then a sum tree of fan-in `fanin` down to one root.
/// The root's value is `n (n + 1) / 2`. Its ops are registered, so it also
/// encodes to bytes.
pub fn sum_tree(n: u32, fanin: usize) -> (TaskGraph, Key) {
    assert!(n > 0 && fanin > 1, "sum_tree needs n > 0 and fanin > 1");
    let inc: Arc<dyn Op> = Arc::new(Inc);
    let add: Arc<dyn Op> = Arc::new(AddAll);
    let mut g = TaskGraph::with_capacity(n as usize + n as usize / (fanin - 1) + 1);
    let mut layer: Vec<Key> = (0..n)
        .map(|i| {
            let k = Key::with_index("inc", &[i]);
            g.insert(
                k.clone(),
                Task::new(inc.clone(), vec![Value::new(i as i64).into()]),
            );
            k
        })
        .collect();
    let mut level = 0u32;
    while layer.len() > 1 {
        layer = layer
            .chunks(fanin)
            .enumerate()
            .map(|(j, c)| {
                let k = Key::with_index("sum", &[level, j as u32]);
                g.insert(
                    k.clone(),
                    Task::new(add.clone(), c.iter().cloned().map(Into::into).collect()),
                );
                k
            })
            .collect();
        level += 1;
    }
    (g, layer.pop().expect("n > 0"))
}

/// A chain `x0 → x1 → … → x(len-1)` of `inc` tasks starting from 0; the
/// last key's value is `len`.
pub fn chain(len: u32) -> (TaskGraph, Key) {
    let inc: Arc<dyn Op> = Arc::new(Inc);
    let mut g = TaskGraph::with_capacity(len as usize);
    g.insert(
        Key::with_index("chain", &[0]),
        Task::new(inc.clone(), vec![Value::new(0i64).into()]),
    );
    for i in 1..len {
        let prev = Key::with_index("chain", &[i - 1]);
        g.insert(
            Key::with_index("chain", &[i]),
            Task::new(inc.clone(), vec![prev.into()]),
        );
    }
    (g, Key::with_index("chain", &[len - 1]))
}

/// A xorshift64* stream of pseudo-random `u64`s: the same numbers for the
/// same seed on every run and machine, for test and benchmark data.
pub fn xorshift(seed: u64) -> impl Iterator<Item = u64> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (seed << 17) ^ seed;
    std::iter::repeat_with(move || {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    })
}
