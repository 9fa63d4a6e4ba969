//! Running one task: the part of a scheduler a worker process repeats.

use std::panic::{AssertUnwindSafe, catch_unwind};

use oxidask_graph::{Key, Task, TaskError, Value};

/// Runs `task` (whose key is `key`) on its argument values, in the order of
/// its arguments, with every dependency already replaced by its result.
///
/// A failure or a panic of the op becomes a [`TaskError`] naming the key and
/// the op, so the caller's thread never unwinds and a worker process can
/// report it. This is all a worker needs besides the decoded graph: the
/// local schedulers call it for every task.
#[inline]
pub fn execute(key: &Key, task: &Task, args: Vec<Value>) -> Result<Value, TaskError> {
    match catch_unwind(AssertUnwindSafe(|| task.op.call(args))) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(TaskError::failed(key.clone(), task.op.label(), &*e)),
        Err(payload) => Err(TaskError::panicked(key.clone(), task.op.label(), &*payload)),
    }
}
