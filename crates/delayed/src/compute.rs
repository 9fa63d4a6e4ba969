//! Computing one or many delayed values in one graph.

use oxidask_graph::{Key, TaskGraph, Value};
use oxidask_scheduler::{ComputeOptions, Result, compute_with as run};

use crate::node::add_to_graph;
use crate::{Data, Delayed};

/// Things [`compute`] accepts: one `Delayed`, a tuple of them (of different
/// types), or a slice/`Vec` of them (of one type).
pub trait Computable {
    /// What computing gives back.
    type Output;
    #[doc(hidden)]
    fn collect(&self, graph: &mut TaskGraph, keys: &mut Vec<Key>);
    #[doc(hidden)]
    fn finish(&self, values: &mut std::vec::IntoIter<Value>) -> Result<Self::Output>;
}

fn take<T: Data>(values: &mut std::vec::IntoIter<Value>) -> Result<T> {
    let v = values
        .next()
        .ok_or_else(|| oxidask_scheduler::Error::Internal("fewer results than requested".into()))?;
    Ok(v.take::<T>()?)
}

impl<T: Data> Computable for Delayed<T> {
    type Output = T;
    fn collect(&self, graph: &mut TaskGraph, keys: &mut Vec<Key>) {
        add_to_graph(graph, &self.node);
        keys.push(self.node.key.clone());
    }
    fn finish(&self, values: &mut std::vec::IntoIter<Value>) -> Result<T> {
        take(values)
    }
}

impl<C: Computable> Computable for &C {
    type Output = C::Output;
    fn collect(&self, graph: &mut TaskGraph, keys: &mut Vec<Key>) {
        (**self).collect(graph, keys)
    }
    fn finish(&self, values: &mut std::vec::IntoIter<Value>) -> Result<C::Output> {
        (**self).finish(values)
    }
}

/// Many values of one type; one task each, computed in one graph.
impl<T: Data> Computable for [Delayed<T>] {
    type Output = Vec<T>;
    fn collect(&self, graph: &mut TaskGraph, keys: &mut Vec<Key>) {
        for d in self {
            d.collect(graph, keys);
        }
    }
    fn finish(&self, values: &mut std::vec::IntoIter<Value>) -> Result<Vec<T>> {
        (0..self.len()).map(|_| take(values)).collect()
    }
}

impl<T: Data> Computable for Vec<Delayed<T>> {
    type Output = Vec<T>;
    fn collect(&self, graph: &mut TaskGraph, keys: &mut Vec<Key>) {
        self.as_slice().collect(graph, keys)
    }
    fn finish(&self, values: &mut std::vec::IntoIter<Value>) -> Result<Vec<T>> {
        self.as_slice().finish(values)
    }
}

macro_rules! tuples {
    ($($T:ident $i:tt),+) => {
        impl<$($T: Computable),+> Computable for ($($T,)+) {
            type Output = ($($T::Output,)+);
            fn collect(&self, graph: &mut TaskGraph, keys: &mut Vec<Key>) {
                $(self.$i.collect(graph, keys);)+
            }
            fn finish(&self, values: &mut std::vec::IntoIter<Value>) -> Result<Self::Output> {
                Ok(($(self.$i.finish(values)?,)+))
            }
        }
    };
}
tuples!(A 0, B 1);
tuples!(A 0, B 1, C 2);
tuples!(A 0, B 1, C 2, D 3);

/// Computes several delayed values in one graph, so shared inputs are
/// computed once: `compute(&(a, b))`, `compute(&vec_of_delayed)`.
pub fn compute<C: Computable + ?Sized>(what: &C) -> Result<C::Output> {
    compute_with(what, &ComputeOptions::default())
}

/// [`compute`] with per-call options (scheduler, workers, callbacks).
pub fn compute_with<C: Computable + ?Sized>(
    what: &C,
    options: &ComputeOptions,
) -> Result<C::Output> {
    let mut graph = TaskGraph::new();
    let mut keys = Vec::new();
    what.collect(&mut graph, &mut keys);
    let values = run(graph, &keys, options)?;
    what.finish(&mut values.into_iter())
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
