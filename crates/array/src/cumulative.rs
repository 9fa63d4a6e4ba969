//! Cumulative sums and products along an axis.
//!
//! Three layers, as in Dask: each block's own running total along the axis;
//! a chain of carries (carry `j` = carry `j − 1` combined with the last slice
//! of block `j − 1`'s running total), one per block after the first along
//! the axis; and each block combined with its carry, broadcast along the
//! axis. The chain is sequential along the axis and parallel across the
//! other axes.

use std::sync::Arc;

use ndarray::{ArrayD, Axis, IxDyn};
use oxidask_graph::{Arg, FnOp, Key, Op, Task, Value, name_for};

use crate::array::Array;
use crate::element::Number;
use crate::error::Result;
use crate::expr::chunk_value;
use crate::grid::{Grid, normalize_axis};
use crate::layer::Pattern;

/// A block's keys shifted along `axis`: task `idx` reads
/// `inputs[k]` at `idx + offsets[k]` (along the axis).
struct Shifted {
    inputs: Vec<(Arc<str>, i64)>,
    axis: usize,
    op: Arc<dyn Op>,
}

impl Pattern for Shifted {
    fn task(&self, idx: &[u32]) -> Task {
        let args = self
            .inputs
            .iter()
            .map(|(name, off)| {
                let mut i = idx.to_vec();
                i[self.axis] = (i[self.axis] as i64 + off) as u32;
                Arg::Key(Key::with_index(name.clone(), &i))
            })
            .collect();
        Task::new(self.op.clone(), args)
    }

    fn inputs(&self) -> Vec<Arc<str>> {
        self.inputs.iter().map(|i| i.0.clone()).collect()
    }
}

fn last_slice<S: Number>(a: &ArrayD<S>, axis: usize, identity: S) -> ArrayD<S> {
    let n = a.shape()[axis];
    if n == 0 {
        let mut shape = a.shape().to_vec();
        shape[axis] = 1;
        return ArrayD::from_elem(IxDyn(&shape), identity);
    }
    a.index_axis(Axis(axis), n - 1)
        .insert_axis(Axis(axis))
        .to_owned()
}

impl<T: Number> Array<T> {
    fn cumulative(&self, axis: isize, prod: bool) -> Result<Array<T::Sum>> {
        self.check()?;
        let axis = normalize_axis(axis, self.ndim(), "axis")?;
        let what = if prod { "cumprod" } else { "cumsum" };
        let f = move |a: T::Sum, b: T::Sum| if prod { a.mul(b) } else { a.add(b) };
        let identity = if prod { T::Sum::one() } else { T::Sum::zero() };
        let grid: Grid = (*self.grid).clone();
        let nb = grid.numblocks();

        // 1. Running totals within each block.
        let local: Arc<str> = name_for(what, &("local", &*self.name, axis)).into();
        let op = FnOp::arc(format!("{what}-block"), move |args: Vec<Value>| {
            let block = args[0].downcast_ref::<ArrayD<T>>()?;
            let mut out = block.mapv(|x| x.to_sum());
            out.accumulate_axis_inplace(Axis(axis), |&prev, cur| *cur = f(prev, *cur));
            Ok(chunk_value(out))
        });
        let l = Array::<T::Sum>::from_layer(
            local.clone(),
            what,
            grid.clone(),
            Arc::new(Shifted {
                inputs: vec![(self.name.clone(), 0)],
                axis,
                op,
            }),
            &[&self.graph],
        );
        if nb[axis] <= 1 {
            return Ok(l);
        }

        // 2. Carries: carry k (for block k + 1) = carry k − 1 ⊕ last slice of block k.
        let carry: Arc<str> = name_for(what, &("carry", &*self.name, axis)).into();
        let mut cgrid = grid.chunks.clone();
        cgrid[axis] = vec![1; nb[axis] as usize - 1];
        let first = FnOp::arc(format!("{what}-carry"), move |args: Vec<Value>| {
            let block = args[0].downcast_ref::<ArrayD<T::Sum>>()?;
            Ok(chunk_value(last_slice(block, axis, identity)))
        });
        let next = FnOp::arc(format!("{what}-carry"), move |args: Vec<Value>| {
            let prev = args[0].downcast_ref::<ArrayD<T::Sum>>()?;
            let block = args[1].downcast_ref::<ArrayD<T::Sum>>()?;
            let mut out = last_slice(block, axis, identity);
            out.zip_mut_with(prev, |o, &p| *o = f(p, *o));
            Ok(chunk_value(out))
        });
        let pattern = CarryPattern {
            carry: carry.clone(),
            local: local.clone(),
            axis,
            first,
            next,
        };
        let c = Array::<T::Sum>::from_layer(
            carry.clone(),
            what,
            Grid::new(cgrid),
            Arc::new(pattern),
            &[&l.graph],
        );

        // 3. Each block after the first combined with its carry.
        let out_name: Arc<str> = name_for(what, &(&*self.name, axis)).into();
        let add = FnOp::arc(what.to_string(), move |mut args: Vec<Value>| {
            if args.len() == 1 {
                return Ok(args.swap_remove(0));
            }
            let carry = args.pop().ok_or("missing carry")?;
            let block = args.pop().ok_or("missing block")?;
            let mut out = block.take::<ArrayD<T::Sum>>()?;
            let carry = carry.downcast_ref::<ArrayD<T::Sum>>()?;
            out.zip_mut_with(carry, |o, &c| *o = f(c, *o));
            Ok(chunk_value(out))
        });
        let pattern = FinishPattern {
            local,
            carry,
            axis,
            op: add,
        };
        Ok(Array::from_layer(
            out_name,
            what,
            grid,
            Arc::new(pattern),
            &[&c.graph],
        ))
    }

    /// Cumulative sum along `axis` (integers accumulate in `i64`).
    pub fn cumsum(&self, axis: isize) -> Result<Array<T::Sum>> {
        self.cumulative(axis, false)
    }

    /// Cumulative product along `axis`.
    pub fn cumprod(&self, axis: isize) -> Result<Array<T::Sum>> {
        self.cumulative(axis, true)
    }
}

struct CarryPattern {
    carry: Arc<str>,
    local: Arc<str>,
    axis: usize,
    first: Arc<dyn Op>,
    next: Arc<dyn Op>,
}

impl Pattern for CarryPattern {
    fn task(&self, idx: &[u32]) -> Task {
        let k = idx[self.axis];
        let block = Arg::Key(Key::with_index(self.local.clone(), idx));
        if k == 0 {
            return Task::new(self.first.clone(), vec![block]);
        }
        let mut p = idx.to_vec();
        p[self.axis] = k - 1;
        Task::new(
            self.next.clone(),
            vec![Arg::Key(Key::with_index(self.carry.clone(), &p)), block],
        )
    }

    fn inputs(&self) -> Vec<Arc<str>> {
        vec![self.local.clone(), self.carry.clone()]
    }
}

struct FinishPattern {
    local: Arc<str>,
    carry: Arc<str>,
    axis: usize,
    op: Arc<dyn Op>,
}

impl Pattern for FinishPattern {
    fn task(&self, idx: &[u32]) -> Task {
        let mut args = vec![Arg::Key(Key::with_index(self.local.clone(), idx))];
        let k = idx[self.axis];
        if k > 0 {
            let mut p = idx.to_vec();
            p[self.axis] = k - 1;
            args.push(Arg::Key(Key::with_index(self.carry.clone(), &p)));
        }
        Task::new(self.op.clone(), args)
    }

    fn inputs(&self) -> Vec<Arc<str>> {
        vec![self.local.clone(), self.carry.clone()]
    }
}
