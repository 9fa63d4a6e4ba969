//! Errors of graph construction, validation, encoding and task execution.

use std::fmt;

use crate::Key;

/// What can go wrong while building, checking, encoding or running a graph.
///
/// User errors name the key, op, or types at fault; `Internal` marks a bug.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A task refers to a key that is neither in the graph nor supplied.
    #[error("task {key} depends on {missing}, which is not in the graph")]
    MissingDependency {
        /// The task holding the dangling reference.
        key: Key,
        /// The key it refers to.
        missing: Key,
    },
    /// A requested output is not in the graph.
    #[error("requested output {key} is not in the graph")]
    MissingOutput {
        /// The key asked for.
        key: Key,
    },
    /// The graph has a cycle through this key.
    #[error("the graph has a cycle through task {key}")]
    Cycle {
        /// A key on the cycle.
        key: Key,
    },
    /// A value of one type was found where another was expected.
    #[error(
        "type mismatch{}: expected {expected}, found {found}",
        fmt_context(context)
    )]
    TypeMismatch {
        /// The Rust type that was expected.
        expected: &'static str,
        /// The Rust type the value has.
        found: &'static str,
        /// Where (an argument position, a key); empty when unknown.
        context: String,
    },
    /// A task's op or literal argument cannot be written to bytes.
    #[error("cannot encode task {key}: {reason}")]
    NotEncodable {
        /// The task at fault.
        key: Key,
        /// What could not be encoded and how to fix it.
        reason: String,
    },
    /// Bytes could not be decoded into a graph or value.
    #[error("cannot decode {what}: {message}")]
    Decode {
        /// What was being decoded (a graph, a value of a codec, an op's parameters).
        what: String,
        /// The decoder's message.
        message: String,
    },
    /// A task failed; see [`TaskError`].
    #[error(transparent)]
    Task(#[from] TaskError),
    /// An invariant of the library was broken: a bug, please report it.
    #[error("internal error (a bug in oxidask): {0}")]
    Internal(String),
}

fn fmt_context(context: &str) -> String {
    if context.is_empty() {
        String::new()
    } else {
        format!(" in {context}")
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The error type ops return: any error, boxed. The scheduler wraps it in a
/// [`TaskError`] with the task's key and op name.
pub type OpError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A task that did not produce a value: which task, which op, and why.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TaskError {
    /// The key of the failed task.
    pub key: Key,
    /// The name of the op the task ran.
    pub op: String,
    /// How it failed.
    pub kind: TaskErrorKind,
}

/// How a task failed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum TaskErrorKind {
    /// The op returned an error; the message is the error's display chain.
    Failed(String),
    /// The op panicked; the message is the panic payload.
    Panicked(String),
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            TaskErrorKind::Failed(m) => write!(f, "task {} (op {}) failed: {m}", self.key, self.op),
            TaskErrorKind::Panicked(m) => {
                write!(f, "task {} (op {}) panicked: {m}", self.key, self.op)
            }
        }
    }
}

impl std::error::Error for TaskError {}

impl TaskError {
    /// Wraps an op's error, keeping its whole `source()` chain in the message.
    pub fn failed(key: Key, op: &str, error: &(dyn std::error::Error + 'static)) -> TaskError {
        let mut msg = error.to_string();
        let mut source = error.source();
        while let Some(s) = source {
            // Many errors print their cause in their own message *and* chain
            // it as `source()`; append a cause only if not already said.
            let text = s.to_string();
            if !msg.contains(&text) {
                msg.push_str(": ");
                msg.push_str(&text);
            }
            source = s.source();
        }
        TaskError {
            key,
            op: op.to_string(),
            kind: TaskErrorKind::Failed(msg),
        }
    }

    /// Wraps a caught panic payload.
    pub fn panicked(key: Key, op: &str, payload: &(dyn std::any::Any + Send)) -> TaskError {
        let msg = if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_string()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "a panic with a non-string payload".to_string()
        };
        TaskError {
            key,
            op: op.to_string(),
            kind: TaskErrorKind::Panicked(msg),
        }
    }
}
