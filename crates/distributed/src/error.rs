//! Errors of the cluster.

/// Why a cluster operation failed. Messages name the address, task or
/// worker at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An address could not be reached.
    #[error("cannot reach {addr}: {message}")]
    Unreachable {
        /// The address.
        addr: String,
        /// The system's reason.
        message: String,
    },
    /// An address could not be listened on (already in use, not local, …).
    #[error("cannot listen on {addr}: {message}")]
    Listen {
        /// The address.
        addr: String,
        /// The system's reason.
        message: String,
    },
    /// The other side refused the handshake.
    #[error("{addr} refused the connection: {reason}")]
    Refused {
        /// The address.
        addr: String,
        /// Its reason.
        reason: String,
    },
    /// Input or output failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A worker holds a value another needs, but the value has no codec.
    #[error(
        "{addr} holds it as a {type_name}, which has no codec, so it cannot be sent to another worker"
    )]
    NotSendable {
        /// The holder.
        addr: String,
        /// The value's type.
        type_name: String,
    },
    /// A peer broke the protocol (garbage, an oversized frame, …).
    #[error("protocol error: {0}")]
    Protocol(String),
    /// A task was running on `failures` workers that died; it is not tried
    /// again (`allowed_failures`).
    #[error(
        "KilledWorker: task {key} was running on {failures} workers that died, the last one {worker}; it is not tried again (allowed_failures)"
    )]
    KilledWorker {
        /// The task's key.
        key: String,
        /// The last worker that died running it.
        worker: String,
        /// How many died.
        failures: u32,
    },
    /// TLS material could not be loaded (names the file and why).
    #[error("{0}")]
    Tls(String),
    /// The graph cannot go to the cluster or was refused by it.
    #[error("the cluster cannot run this graph: {0}")]
    Graph(String),
    /// The connection to the scheduler is gone.
    #[error("lost the connection to the scheduler at {addr}: {reason}")]
    Lost {
        /// The scheduler's address.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The future was cancelled.
    #[error("the future of {key} was cancelled")]
    Cancelled {
        /// Its key.
        key: String,
    },
    /// A result a computation needs is gone: a future passed as an
    /// argument that was released or failed, or scattered data whose
    /// worker died.
    #[error("the result of {key} is gone: {reason}")]
    FutureLost {
        /// The future's (or scattered value's) key.
        key: String,
        /// What happened.
        reason: String,
    },
    /// A wait ran out of time.
    #[error("timed out after {0:?}")]
    Timeout(std::time::Duration),
    /// A worker or cluster could not be started.
    #[error("{0}")]
    Start(String),
    /// A task failed; names its key and op.
    #[error(transparent)]
    Task(#[from] oxidask_graph::TaskError),
    /// A result could not be decoded or has another type.
    #[error(transparent)]
    Value(#[from] oxidask_graph::Error),
    /// Turning results into the collection's output failed.
    #[error(transparent)]
    Collection(#[from] oxidask_scheduler::Error),
}

impl Error {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
