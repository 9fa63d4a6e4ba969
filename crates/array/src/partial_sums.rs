//! The sums of `matmul`'s partial products: a tree of `split_every`
//! blocks per task over the contracted block axis (the last), dropping that
//! axis at the top, as a reduction would but in the operands' own type and
//! adding in place. One data op per level carries the dtype.

use std::sync::Arc;

use ndarray::{ArrayD, Axis};
use oxidask_graph::{Arg, DataOp, Key, Op, OpError, Task, Value, name_for, register_data_op};
use serde::{Deserialize, Serialize};

use crate::array::Array;
use crate::dataop::with_number;
use crate::element::{DType, Number};
use crate::error::{Result, invalid};
use crate::expr::chunk_value;
use crate::grid::Grid;
use crate::layer::Pattern;

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

/// Output block `idx` (the last axis dropped when `squeeze`) sums the
/// input blocks `g·every .. (g+1)·every` along the input's last axis,
/// `g` being `idx`'s last index (0 when `squeeze`).
struct SumLevel {
    input: Arc<str>,
    every: usize,
    /// Blocks of the input along its last axis.
    n: usize,
    squeeze: bool,
    op: Arc<dyn Op>,
}

impl Pattern for SumLevel {
    fn task(&self, idx: &[u32]) -> Task {
        let (head, g) = if self.squeeze {
            (idx, 0)
        } else {
            (&idx[..idx.len() - 1], idx[idx.len() - 1] as usize)
        };
        let lo = g * self.every;
        let hi = (lo + self.every).min(self.n);
        let args = (lo..hi)
            .map(|l| {
                let mut k = head.to_vec();
                k.push(l as u32);
                Arg::Key(Key::with_index(self.input.clone(), &k))
            })
            .collect();
        Task::new(self.op.clone(), args)
    }

    fn inputs(&self) -> Vec<Arc<str>> {
        vec![self.input.clone()]
    }
}

/// The partial products `p` summed over their last axis, by a tree of
/// `every` blocks per task, as a reduction with `split_every`.
pub(crate) fn sum_partials<T: Number>(mut p: Array<T>, every: usize) -> Result<Array<T>> {
    if every < 2 {
        return Err(invalid(
            "split_every",
            format!("{every}: each task must merge at least 2 partial products"),
        ));
    }
    loop {
        let last = p.ndim() - 1;
        let n = p.grid.chunks[last].len();
        let squeeze = n <= every;
        let mut chunks = p.grid.chunks.clone();
        if squeeze {
            chunks.pop();
        } else {
            chunks[last] = vec![1; n.div_ceil(every)];
        }
        let name: Arc<str> = name_for("matmul-sum", &(&*p.name, every)).into();
        let pattern = SumLevel {
            input: p.name.clone(),
            every,
            n,
            squeeze,
            op: Arc::new(SumPartials {
                dtype: T::DTYPE,
                squeeze,
            }),
        };
        p = Array::from_layer(
            name,
            "matmul-sum",
            Grid::new(chunks),
            Arc::new(pattern),
            &[&p.graph],
        );
        if squeeze {
            return Ok(p);
        }
    }
}
