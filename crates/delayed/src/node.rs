//! The lazy value: a node of a graph of calls, shared by `Arc`.

use std::marker::PhantomData;
use std::sync::Arc;

use oxidask_graph::{Arg, Key, Op, Task, TaskGraph, Value};

use crate::Data;

/// One call: its key, its op, and its arguments (earlier calls or values).
pub(crate) struct Node {
    pub key: Key,
    pub op: Arc<dyn Op>,
    pub args: Vec<NodeArg>,
}

/// An argument of a call.
pub(crate) enum NodeArg {
    Node(Arc<Node>),
    Value(Value),
}

impl Drop for Node {
    // A chain of 100,000 calls would overflow the stack if dropped
    // recursively; unlink uniquely-owned children into a work list instead.
    fn drop(&mut self) {
        let mut stack: Vec<Arc<Node>> = Vec::new();
        for a in self.args.drain(..) {
            if let NodeArg::Node(n) = a {
                stack.push(n);
            }
        }
        while let Some(n) = stack.pop() {
            if let Ok(mut node) = Arc::try_unwrap(n) {
                for a in node.args.drain(..) {
                    if let NodeArg::Node(n) = a {
                        stack.push(n);
                    }
                }
            }
        }
    }
}

/// A value of type `T` that will be computed later: the result of a
/// [`delayed!`](crate::delayed) call, or a value wrapped with
/// [`Delayed::value`]. Cheap to clone (a shared handle to the call graph).
pub struct Delayed<T> {
    pub(crate) node: Arc<Node>,
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for Delayed<T> {
    fn clone(&self) -> Self {
        Delayed {
            node: self.node.clone(),
            _type: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Delayed<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Delayed<{}>({})",
            std::any::type_name::<T>(),
            self.node.key
        )
    }
}

impl<T> Delayed<T> {
    pub(crate) fn from_node(node: Node) -> Delayed<T> {
        Delayed {
            node: Arc::new(node),
            _type: PhantomData,
        }
    }

    /// The key of the task computing this value.
    pub fn key(&self) -> &Key {
        &self.node.key
    }

    /// The task graph computing this value (every call it depends on, each
    /// once).
    pub fn to_graph(&self) -> TaskGraph {
        let mut g = TaskGraph::new();
        add_to_graph(&mut g, &self.node);
        g
    }

    /// Draws the task graph computing this value to an SVG file (with
    /// Graphviz `dot` when installed, else a built-in layout); says which
    /// was used.
    pub fn visualize(
        &self,
        path: impl AsRef<std::path::Path>,
    ) -> oxidask_scheduler::Result<oxidask_graph::VisualizeBackend> {
        Ok(self.to_graph().visualize(path)?)
    }
}

impl<T: Data> Delayed<T> {
    /// Wraps a plain value so it can be passed around like a computed one.
    pub fn value(value: T) -> Delayed<T> {
        let key = crate::call::unique_key("value");
        Delayed::from_node(Node {
            key,
            op: Arc::new(oxidask_graph::Identity),
            args: vec![NodeArg::Value(Value::new(value))],
        })
    }
}

/// Adds `root` and everything it depends on, iteratively (graphs can be
/// deep) and each node once.
pub(crate) fn add_to_graph(g: &mut TaskGraph, root: &Arc<Node>) {
    let mut stack = vec![root.clone()];
    while let Some(node) = stack.pop() {
        g.insert_new_with(&node.key, || {
            let args = node
                .args
                .iter()
                .map(|a| match a {
                    NodeArg::Node(n) => {
                        stack.push(n.clone());
                        Arg::Key(n.key.clone())
                    }
                    NodeArg::Value(v) => Arg::Value(v.clone()),
                })
                .collect();
            Task::new(node.op.clone(), args)
        });
    }
}
