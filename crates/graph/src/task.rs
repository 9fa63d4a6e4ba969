//! Tasks: an op applied to arguments.

use std::sync::Arc;

use crate::key::Key;
use crate::op::{Identity, Op};
use crate::value::Value;

/// One argument of a task: the result of another task, or a literal value.
#[derive(Clone, Debug)]
pub enum Arg {
    /// The value another task produces.
    Key(Key),
    /// A value known when the graph is built.
    Value(Value),
}

impl From<Key> for Arg {
    fn from(k: Key) -> Arg {
        Arg::Key(k)
    }
}

impl From<Value> for Arg {
    fn from(v: Value) -> Arg {
        Arg::Value(v)
    }
}

/// An op with its arguments: one node of a [`TaskGraph`](crate::TaskGraph).
#[derive(Clone, Debug)]
pub struct Task {
    /// What to run.
    pub op: Arc<dyn Op>,
    /// Its arguments, passed to [`Op::call`] in this order.
    pub args: Vec<Arg>,
}

impl Task {
    /// A task running `op` on `args`.
    pub fn new(op: Arc<dyn Op>, args: Vec<Arg>) -> Task {
        Task { op, args }
    }

    /// A task whose result is a literal value.
    pub fn literal(value: Value) -> Task {
        Task {
            op: Arc::new(Identity),
            args: vec![Arg::Value(value)],
        }
    }

    /// A task whose result is another task's result.
    pub fn alias(of: Key) -> Task {
        Task {
            op: Arc::new(Identity),
            args: vec![Arg::Key(of)],
        }
    }

    /// The keys this task reads, in argument order (repeats included).
    pub fn dependencies(&self) -> impl Iterator<Item = &Key> + '_ {
        self.args.iter().filter_map(|a| match a {
            Arg::Key(k) => Some(k),
            Arg::Value(_) => None,
        })
    }

    /// Whether this task just returns a literal value.
    pub fn is_literal(&self) -> bool {
        self.op.name() == Identity::NAME && matches!(self.args.as_slice(), [Arg::Value(_)])
    }
}
