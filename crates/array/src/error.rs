//! Errors of building and computing arrays.

use std::sync::Arc;

/// What can go wrong with an array: bad input found while the graph is built
/// (shapes, chunks, axes, indices — each message names the argument at
/// fault), or a failure while computing it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A chunk specification does not fit the shape.
    #[error("invalid chunks for argument `{arg}`: {message}")]
    Chunks {
        /// The argument holding the chunk specification.
        arg: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// Two shapes cannot be broadcast together.
    #[error(
        "operands of `{op}` could not be broadcast together with shapes {left:?} and {right:?}"
    )]
    Broadcast {
        /// The operation.
        op: String,
        /// Shape of the left operand.
        left: Vec<usize>,
        /// Shape of the right operand.
        right: Vec<usize>,
    },
    /// An axis is out of range or repeated.
    #[error("axis {axis} is out of range for an array of {ndim} dimensions (argument `{arg}`)")]
    Axis {
        /// The argument naming the axis.
        arg: &'static str,
        /// The axis as given.
        axis: isize,
        /// Dimensions of the array.
        ndim: usize,
    },
    /// An index or slice does not fit the shape.
    #[error("index out of bounds in `{arg}`: {message}")]
    Index {
        /// The argument at fault.
        arg: &'static str,
        /// What is wrong.
        message: String,
    },
    /// Any other invalid argument.
    #[error("invalid argument `{arg}`: {message}")]
    Invalid {
        /// The argument at fault.
        arg: &'static str,
        /// What is wrong.
        message: String,
    },
    /// An error found when an earlier operation was built, surfacing at
    /// this (fallible) one: array operators such as `&a + &b` cannot return
    /// a `Result`, so a shape mismatch is kept in the result array and
    /// returned by the next method that can fail, before anything runs.
    #[error(transparent)]
    Earlier(Arc<Error>),
    /// The computation failed; names the task and op.
    #[error(transparent)]
    Compute(#[from] oxidask_scheduler::Error),
    /// The graph could not be built or drawn.
    #[error(transparent)]
    Graph(#[from] oxidask_graph::Error),
    /// A picture of the graph could not be drawn.
    #[error(transparent)]
    Visualize(#[from] oxidask_graph::VisualizeError),
    /// Reading or writing a file failed.
    // The OS error is part of the message, not also a `source()`: an
    // error chain printed in full would show it twice.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        error: std::io::Error,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn invalid(arg: &'static str, message: impl Into<String>) -> Error {
    Error::Invalid {
        arg,
        message: message.into(),
    }
}

/// Into the scheduler's error, for computing several collections in one
/// graph (`compute(&(a, b))`): a computation's own error as it was, any
/// other as a [`Collection`](oxidask_scheduler::Error::Collection) error.
impl From<Error> for oxidask_scheduler::Error {
    fn from(e: Error) -> oxidask_scheduler::Error {
        match e {
            Error::Compute(c) => c,
            other => oxidask_scheduler::Error::Collection(Box::new(other)),
        }
    }
}
