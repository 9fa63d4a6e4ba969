//! Computing one or many delayed values in one graph.

use oxidask_graph::{Key, TaskGraph, Value};
use oxidask_scheduler::{Computable, ComputeOptions, Result, compute_many, next_value};

use crate::node::add_to_graph;
use crate::{Data, Delayed};

fn take<T: Data>(values: &mut std::vec::IntoIter<Value>) -> Result<T> {
    Ok(next_value(values)?.take::<T>()?)
}

impl<T: Data> Computable for Delayed<T> {
    type Output = T;
    fn collect(&self, graph: &mut TaskGraph, keys: &mut Vec<Key>) -> Result<()> {
        add_to_graph(graph, &self.node);
        keys.push(self.node.key.clone());
        Ok(())
    }
    fn finish(&self, values: &mut std::vec::IntoIter<Value>) -> Result<T> {
        take(values)
    }
}

/// Computes one or several things in one graph, so work they share runs
/// once: `compute(&(a, b))`, `compute(&vec_of_delayed)`, and any mix of
/// delayed values, arrays and bags (everything [`Computable`]).
pub fn compute<C: Computable + ?Sized>(what: &C) -> Result<C::Output> {
    compute_with(what, &ComputeOptions::default())
}

/// [`compute`] with per-call options (scheduler, workers, callbacks).
pub fn compute_with<C: Computable + ?Sized>(
    what: &C,
    options: &ComputeOptions,
) -> Result<C::Output> {
    compute_many(what, options)
}

impl<T: Data> Delayed<T> {
    /// Computes this value with the configuration in force.
    pub fn compute(&self) -> Result<T> {
        compute(self)
    }

    /// Computes this value with per-call options.
    pub fn compute_with(&self, options: &ComputeOptions) -> Result<T> {
        compute_with(self, options)
    }
}
