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
        $crate::element::with_dtype!($dtype, $T => $body, bool => Err(
            $crate::dataop::not_numeric($crate::element::DType::Bool)
        ))
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ndarray::{ArrayD, IxDyn, s};
    use oxidask_graph::{Op, Value};

    use crate::expr::chunk_value;
    use crate::{Array, Element, from_array};

    /// The op of the tasks of `a`'s own layer, as a decoded graph has it.
    fn op_of<T: Element>(a: &Array<T>) -> Arc<dyn Op> {
        let g = a.task_graph().unwrap();
        let (_, task) = g.iter().find(|(k, _)| k.name() == a.name()).unwrap();
        let bytes = task.op.encode().expect("a data op");
        oxidask_graph::decode_op(task.op.name(), &bytes).unwrap()
    }

    fn block(shape: &[usize]) -> Value {
        chunk_value(ArrayD::<f64>::zeros(IxDyn(shape)))
    }

    fn fails(op: &Arc<dyn Op>, args: Vec<Value>, says: &str) {
        let e = op.call(args).unwrap_err().to_string();
        assert!(e.contains(says), "{}: {e}", op.name());
    }

    #[test]
    fn ops_given_arguments_that_do_not_fit_fail_their_task_without_panicking() {
        let x = from_array(ArrayD::<f64>::zeros(IxDyn(&[6, 4])), [3, 2])
            .unwrap()
            .persist()
            .unwrap();
        let rechunk = op_of(&x.rechunk([2, 4]).unwrap());
        fails(&rechunk, vec![Value::new(vec![9u32, 0])], "not in a grid");
        fails(
            &rechunk,
            vec![Value::new(vec![0u32, 0])],
            "reads 2 input blocks",
        );
        fails(
            &rechunk,
            vec![Value::new(vec![0u32, 0]), block(&[1, 1]), block(&[1, 1])],
            "smaller than the grid says",
        );
        fails(&rechunk, vec![], "reads argument 0");

        let getitem = op_of(&x.slice(s![1..5, ..]).unwrap());
        fails(
            &getitem,
            vec![block(&[3, 2]), Value::new(vec![7u32, 0])],
            "does not fit",
        );
        fails(
            &getitem,
            vec![block(&[3]), Value::new(vec![0u32, 0])],
            "block of 1 dimensions",
        );

        let take = op_of(&x.take(&[0, 1], 0).unwrap());
        fails(
            &take,
            vec![block(&[3, 2]), Value::new(vec![5u64])],
            "index 5",
        );
        let transpose = op_of(&x.t().unwrap());
        fails(&transpose, vec![block(&[3, 2, 1])], "not a permutation");
        let rows = x.rechunk(vec![vec![3, 3], vec![4]]).unwrap();
        let reshape = op_of(&rows.reshape(&[12, 2]).unwrap());
        fails(
            &reshape,
            vec![block(&[3, 4]), Value::new(vec![4u32, 0])],
            "not in a grid",
        );

        let cum = x.cumsum(0).unwrap();
        fails(
            &op_of(&cum),
            vec![block(&[3, 2]), block(&[1, 3])],
            "a carry of shape [1, 3]",
        );
        let mm = x.products(&x.t().unwrap()).unwrap();
        fails(
            &op_of(&mm),
            vec![block(&[3, 2]), block(&[3, 2])],
            "matmul: blocks",
        );
        fails(
            &op_of(&mm),
            vec![block(&[2, 3, 2]), block(&[4, 2, 2])],
            "matmul: blocks",
        );
        let summed = x.matmul(&x.t().unwrap()).unwrap();
        fails(
            &op_of(&summed),
            vec![block(&[3, 3, 1]), block(&[3, 2, 1])],
            "partial products of shapes",
        );
        fails(
            &op_of(&summed),
            vec![block(&[3, 3])],
            "no last axis of length 1",
        );
        fails(&op_of(&summed), vec![], "no partial products");

        let m = from_array(ArrayD::from_elem(IxDyn(&[6]), true), 3)
            .unwrap()
            .persist()
            .unwrap();
        let masked = x.mask_axis(&m, 0).unwrap();
        fails(&op_of(&masked), vec![block(&[3, 2])], "reads argument 1");
    }
}
