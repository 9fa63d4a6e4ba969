//! Errors of computing a graph.

use oxidask_graph::TaskError;

/// Why a computation produced no result.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The graph is invalid (dangling key, missing output, cycle) or a value
    /// has the wrong type; the message names the key or types.
    #[error(transparent)]
    Graph(oxidask_graph::Error),
    /// A task returned an error or panicked; names its key and op.
    #[error(transparent)]
    Task(#[from] TaskError),
    /// A picture of the graph could not be drawn (`visualize`).
    #[error(transparent)]
    Visualize(#[from] oxidask_graph::VisualizeError),
    /// A result could not be kept within the memory limit (too large, not
    /// spillable, or the spill directory failed); names the task's key.
    #[error("memory limit, at task {key}: {error}")]
    Memory {
        /// The key of the task whose result is at fault.
        key: oxidask_graph::Key,
        /// What went wrong (in the message, so not also a `source()`:
        /// printing the chain would repeat it).
        error: oxidask_store::StoreError,
    },
    /// An event callback panicked. It was switched off for the rest of the
    /// computation, whose result is not returned: a diagnostic's failure
    /// (often an assertion in a test) must not pass unnoticed.
    #[error("an event callback panicked on {event}: {message}")]
    Callback {
        /// The event being delivered (`Started`, `TaskFinished`, …).
        event: &'static str,
        /// The panic's message.
        message: String,
    },
    /// A collection in the computation could not be turned into tasks or
    /// its result could not be built (e.g. an array made from bad
    /// arguments): the collection's own error.
    #[error(transparent)]
    Collection(Box<dyn std::error::Error + Send + Sync>),
    /// The cluster running the computation failed it (a worker kept dying
    /// on a task, the connection to the scheduler was lost, …): the
    /// cluster's own error, which names the task, worker or address.
    #[error(transparent)]
    Cluster(Box<dyn std::error::Error + Send + Sync>),
    /// A configuration value (an environment variable, an option) is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// An invariant of the library was broken: a bug, please report it.
    #[error("internal error (a bug in oxidask): {0}")]
    Internal(String),
}

impl From<oxidask_graph::Error> for Error {
    fn from(e: oxidask_graph::Error) -> Error {
        match e {
            oxidask_graph::Error::Task(t) => Error::Task(t),
            other => Error::Graph(other),
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
