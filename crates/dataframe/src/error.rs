//! The dataframe crate's error: user errors (bad files, unknown columns,
//! unsupported aggregations) apart from failures of polars, the graph and
//! the scheduler, each naming what is at fault.

use std::path::PathBuf;

/// Everything that can go wrong building or computing a
/// [`DataFrame`](crate::DataFrame).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A glob pattern matched no file.
    #[error("no files match the pattern {pattern:?}")]
    NoFiles {
        /// The pattern as given.
        pattern: String,
    },
    /// A glob pattern could not be parsed.
    #[error("invalid glob pattern {pattern:?}: {message}")]
    Pattern {
        /// The pattern as given.
        pattern: String,
        /// What the glob parser said.
        message: String,
    },
    /// A file could not be opened or read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// Two input files do not have the same header.
    #[error("{} and {} have different headers: {detail}", first.display(), second.display())]
    HeaderMismatch {
        /// The file whose header defines the frame.
        first: PathBuf,
        /// The file that disagrees.
        second: PathBuf,
        /// How they differ.
        detail: String,
    },
    /// An operation names a column the frame does not have.
    #[error("{op}: no column {column:?}; the columns are {columns:?}")]
    UnknownColumn {
        /// The operation (`select`, `group_by`, `read_csv dtypes`, …).
        op: &'static str,
        /// The missing column.
        column: String,
        /// The columns there are.
        columns: Vec<String>,
    },
    /// An operation's expressions do not fit the frame's schema (wrong
    /// types, …); polars' message names the column and the types.
    #[error("{op}: {message} (the columns are {columns:?})")]
    Plan {
        /// The operation.
        op: &'static str,
        /// What polars said.
        message: String,
        /// The frame's columns and types, `name: type`.
        columns: Vec<String>,
    },
    /// An aggregation `group_by(..).agg(..)` cannot compute exactly in
    /// parts.
    #[error("group_by aggregation {expr}: {message}")]
    UnsupportedAgg {
        /// The expression as polars prints it.
        expr: String,
        /// Why, and what is supported.
        message: String,
    },
    /// A bad argument value.
    #[error("invalid argument {argument}: {message}")]
    Argument {
        /// The argument's name.
        argument: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// Polars failed outside any task (reading a header, inferring a schema).
    #[error("polars: {0}")]
    Polars(#[from] polars::error::PolarsError),
    /// The computation failed: a task's error (naming its key, its op and
    /// the file and line at fault), or an invalid graph.
    #[error(transparent)]
    Compute(#[from] oxidask_scheduler::Error),
    /// A join key column is not in its frame.
    #[error("join: no column {column:?} in the {side} frame; its columns are {columns:?}")]
    JoinKey {
        /// `"left"` or `"right"`.
        side: &'static str,
        /// The missing key column.
        column: String,
        /// The columns that frame has.
        columns: Vec<String>,
    },
    /// A pair of join key columns have different types.
    #[error("join: key columns of different types: left {left}, right {right}")]
    JoinKeyTypes {
        /// The left key, `name: type`.
        left: String,
        /// The right key, `name: type`.
        right: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

impl From<oxidask_graph::Error> for Error {
    fn from(e: oxidask_graph::Error) -> Error {
        Error::Compute(e.into())
    }
}

/// Into the scheduler's error, for computing several collections in one
/// graph: a computation's own error as it was, any other as a
/// [`Collection`](oxidask_scheduler::Error::Collection) error.
impl From<Error> for oxidask_scheduler::Error {
    fn from(e: Error) -> oxidask_scheduler::Error {
        match e {
            Error::Compute(c) => c,
            other => oxidask_scheduler::Error::Collection(Box::new(other)),
        }
    }
}
