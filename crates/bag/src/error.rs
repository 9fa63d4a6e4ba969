//! The crate's one error type.
//!
//! Errors found while building a bag (a glob matching nothing, a missing
//! file, an invalid argument) are returned directly. Errors found while a
//! task runs (a bad JSON line, invalid UTF-8, a missing key) are values of
//! this same type returned by the task; the scheduler wraps them with the
//! task's key and op, and `compute` returns them as [`Error::Compute`] with
//! the original message intact.

use std::path::PathBuf;

/// What can go wrong building or computing a bag. Messages name the file,
/// line, byte offset, key or record at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A glob pattern matched no file.
    #[error("no files match the pattern {pattern:?}")]
    NoMatch {
        /// The pattern as given.
        pattern: String,
    },
    /// A glob pattern is malformed.
    #[error("invalid glob pattern {pattern:?}: {message}")]
    BadPattern {
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        message: String,
    },
    /// Reading or writing a file failed.
    // The OS error is part of the message, not also a `source()`: an
    // error chain printed in full would show it twice.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        error: std::io::Error,
    },
    /// A line of a JSON-lines file is not valid JSON, or is JSON of another
    /// shape than the record type (a missing field, a wrong type).
    #[error("{}:{line}:{column}: {what}: {message}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The 1-based line number in the (decompressed) file.
        line: u64,
        /// The 1-based column within the line, as the parser reports it.
        column: usize,
        /// `invalid JSON`, or `record does not match its type`.
        what: &'static str,
        /// The parser's message.
        message: String,
    },
    /// A line of a file is not valid UTF-8.
    #[error(
        "{}:{line}: invalid UTF-8 at byte offset {offset} (use the `lossy` option to \
         replace invalid bytes with U+FFFD)",
        path.display()
    )]
    Utf8 {
        /// The file.
        path: PathBuf,
        /// The 1-based line number in the (decompressed) file.
        line: u64,
        /// The offset of the first invalid byte in the (decompressed) file.
        offset: u64,
    },
    /// `pluck` found no value at the path, and no default was given.
    #[error("pluck {path}: {reason} in {record}")]
    Pluck {
        /// The whole path asked for, e.g. `["address"]["city"]`.
        path: String,
        /// Which step failed: `key "city" not found`, `index 3 out of range`, …
        reason: String,
        /// The record: `people_00.jsonl:17`, or `record 5 of partition 2`.
        record: String,
    },
    /// A user function failed on one record.
    #[error("{record}: {message}")]
    Record {
        /// The record: `file:line` when known, else its position.
        record: String,
        /// The function's error message.
        message: String,
    },
    /// An aggregation that needs at least one element got none.
    #[error("{what} of an empty bag")]
    Empty {
        /// The aggregation, e.g. `min`.
        what: &'static str,
    },
    /// An argument is out of its domain (zero partitions, `split_every < 2`, …).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The computation failed: a task's error (with its key and op and one
    /// of the messages above), or an invalid graph.
    #[error(transparent)]
    Compute(#[from] oxidask_scheduler::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            error: source,
        }
    }
}

impl From<oxidask_graph::Error> for Error {
    fn from(e: oxidask_graph::Error) -> Error {
        Error::Compute(e.into())
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
