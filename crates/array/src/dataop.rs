//! What the array ops that are data share: reaching a numeric kernel from
//! a dtype carried as data, and reading task arguments with errors instead
//! of panics.
//!
//! Ops of a graph decoded from bytes get their arguments from that graph,
//! so an op checks what it reads (argument count, block index in range) and
//! fails its task with a message naming itself rather than panicking.

use oxidask_graph::{OpError, Value};

use crate::element::DType;
use crate::grid::Grid;

/// Runs `$body` (a `Result<_, OpError>`) with `$T` bound to the numeric
/// element type of `$dtype`; booleans give an error, since the kernels
/// behind it (running sums, matrix products) need arithmetic.
macro_rules! with_number {
    ($dtype:expr, $T:ident => $body:expr) => {
        match $dtype {
            $crate::element::DType::Float64 => {
                type $T = f64;
                $body
            }
            $crate::element::DType::Float32 => {
                type $T = f32;
                $body
            }
            $crate::element::DType::Int64 => {
                type $T = i64;
                $body
            }
            $crate::element::DType::Int32 => {
                type $T = i32;
                $body
            }
            $crate::element::DType::UInt8 => {
                type $T = u8;
                $body
            }
            d @ $crate::element::DType::Bool => Err($crate::dataop::not_numeric(d)),
        }
    };
}
pub(crate) use with_number;

/// The error of a numeric op given a non-numeric dtype (only a hand-made or
/// corrupted graph can do that: the typed API does not compile it).
pub(crate) fn not_numeric(d: DType) -> OpError {
    format!("this op needs a numeric dtype, the graph says {d}").into()
}

/// Argument `i` of a task of op `op`.
pub(crate) fn arg<'a>(args: &'a [Value], i: usize, op: &str) -> Result<&'a Value, OpError> {
    args.get(i).ok_or_else(|| {
        format!(
            "{op} reads argument {i} but its task has {} arguments",
            args.len()
        )
        .into()
    })
}

/// Argument `i` of a task of op `op` as a block index of `grid`.
pub(crate) fn block_index<'a>(
    args: &'a [Value],
    i: usize,
    grid: &Grid,
    op: &str,
) -> Result<&'a [u32], OpError> {
    let idx = arg(args, i, op)?.downcast_ref::<Vec<u32>>()?;
    grid.check_index(idx)
        .map_err(|e| OpError::from(format!("{op}: {e}")))?;
    Ok(idx)
}
