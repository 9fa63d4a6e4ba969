//! The sums of `matmul`'s partial products: a tree of `split_every`
//! blocks per task over the contracted block axis (the last), dropping that
//! axis at the top, as a reduction would but in the operands' own type and
//! adding in place. The tree is the graph crate's [`TreeLayer`]; one data
//! op for the inner levels and one for the top carry the dtype.

use std::sync::Arc;

use ndarray::{ArrayD, Axis};
use oxidask_graph::{DataOp, Op, OpError, TreeLayer, Value, name_for, register_data_op};
use serde::{Deserialize, Serialize};

use crate::array::Array;
use crate::dataop::with_number;
use crate::element::{DType, Number};
use crate::error::{Result, invalid};
use crate::expr::chunk_value;
use crate::grid::Grid;

/// The sum of up to `split_every` partial products: blocks of one shape
/// whose last axis has length 1, added elementwise (in `T`: integers wrap
/// as NumPy's do), that axis dropped at the last level (`squeeze`).
/// Arguments: the blocks.
#[derive(Serialize, Deserialize)]
struct SumPartials {
    dtype: DType,
    squeeze: bool,
}

fn sum_blocks<T: Number>(mut args: Vec<Value>, squeeze: bool) -> Result<Value, OpError> {
    if args.is_empty() {
        return Err("matmul-sum: no partial products".into());
    }
    let rest = args.split_off(1);
    let mut acc = args.swap_remove(0).take::<ArrayD<T>>()?;
    for v in &rest {
        let b = v.downcast_ref::<ArrayD<T>>()?;
        if b.shape() != acc.shape() {
            return Err(format!(
                "matmul-sum: partial products of shapes {:?} and {:?}",
                acc.shape(),
                b.shape()
            )
            .into());
        }
        acc.zip_mut_with(b, |a, &x| *a = a.add(x));
    }
    if squeeze {
        let last = acc.ndim().checked_sub(1).filter(|&k| acc.shape()[k] == 1);
        let Some(last) = last else {
            return Err(format!(
                "matmul-sum: a partial product of shape {:?} has no last axis of length 1",
                acc.shape()
            )
            .into());
        };
        acc = acc.index_axis_move(Axis(last), 0);
    }
    Ok(chunk_value(acc))
}

impl DataOp for SumPartials {
    const NAME: &'static str = "oxidask.array.matmul-sum";

    fn label(&self) -> &str {
        "matmul-sum"
    }

    fn run(&self, args: Vec<Value>) -> Result<Value, OpError> {
        with_number!(self.dtype, T => sum_blocks::<T>(args, self.squeeze))
    }
}
register_data_op!(SumPartials);

/// The partial products `p` summed over their last axis, by a tree of
/// `every` blocks per task, as a reduction with `split_every`.
pub(crate) fn sum_partials<T: Number>(p: Array<T>, every: usize) -> Result<Array<T>> {
    if every < 2 {
        return Err(invalid(
            "split_every",
            format!("{every}: each task must merge at least 2 partial products"),
        ));
    }
    let numblocks = p.grid.numblocks();
    let mut factor = vec![1; numblocks.len()];
    if let Some(last) = factor.last_mut() {
        *last = u32::try_from(every).unwrap_or(u32::MAX);
    }
    let mut chunks = p.grid.chunks.clone();
    chunks.pop();
    let name: Arc<str> = name_for("matmul-sum", &(&*p.name, every)).into();
    // Intermediate levels keep the axis (one block per group), the last
    // level drops it.
    let level = |squeeze: bool| -> Arc<dyn Op> {
        Arc::new(SumPartials {
            dtype: T::DTYPE,
            squeeze,
        })
    };
    let tree = TreeLayer::new(
        name.clone(),
        p.name.clone(),
        numblocks,
        factor,
        false,
        false,
        level(false),
        level(true),
    )?;
    Ok(Array::from_any_layer(
        name,
        Grid::new(chunks),
        Arc::new(tree),
        &[&p.graph],
    ))
}
