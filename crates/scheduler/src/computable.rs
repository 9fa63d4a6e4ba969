//! Computing several collections in one graph: the [`Computable`] trait.
//!
//! Every collection (delayed values, arrays, bags and their single values)
//! implements it: it adds the tasks computing it to a shared graph, names
//! its output keys, and turns the computed values back into its result. A
//! tuple or slice of computables is computable, so
//! `compute(&(mean, std))` builds one graph in which work the two share —
//! the same source chunks, keyed by the same tokens — runs once, as
//! `dask.compute(mean, std)` does.
//!
//! [`Collection`] is *the* collection interface (issue 10): everything
//! computable is a collection, and gets `compute`, its task graph and
//! `visualize` from it. `Array`, `Bag` and `Delayed` implement
//! [`Computable`] (hence [`Collection`]) and keep their own inherent
//! `compute`/`persist`/`visualize`, which take precedence and return their
//! own types; `persist` stays inherent because it rebuilds a collection of
//! the same kind around the computed results, which a trait over every
//! computable (tuples, slices) cannot do.

use oxidask_graph::{Key, TaskGraph, Value};

use crate::error::{Error, Result};

/// Something [`compute`](crate::compute_many) can compute: a collection, a
/// reference to one, a tuple of them (of different kinds), or a slice or
/// `Vec` of them (of one kind).
pub trait Computable {
    /// What computing gives back.
    type Output;
    /// Adds the tasks computing this to `graph` (tasks already there, by
    /// key, are shared) and appends the keys of its outputs to `keys`.
    #[doc(hidden)]
    fn collect(&self, graph: &mut TaskGraph, keys: &mut Vec<Key>) -> Result<()>;
    /// Builds the result from the values of the keys `collect` appended,
    /// taken from `values` in order.
    #[doc(hidden)]
    fn finish(&self, values: &mut std::vec::IntoIter<Value>) -> Result<Self::Output>;
}

/// The next computed value, for [`Computable::finish`].
#[doc(hidden)]
pub fn next_value(values: &mut std::vec::IntoIter<Value>) -> Result<Value> {
    values
        .next()
        .ok_or_else(|| Error::Internal("fewer results than requested".into()))
}

impl<C: Computable + ?Sized> Computable for &C {
    type Output = C::Output;
    fn collect(&self, graph: &mut TaskGraph, keys: &mut Vec<Key>) -> Result<()> {
        (**self).collect(graph, keys)
    }
    fn finish(&self, values: &mut std::vec::IntoIter<Value>) -> Result<C::Output> {
        (**self).finish(values)
    }
}

/// Many of one kind, computed in one graph.
impl<C: Computable> Computable for [C] {
    type Output = Vec<C::Output>;
    fn collect(&self, graph: &mut TaskGraph, keys: &mut Vec<Key>) -> Result<()> {
        self.iter().try_for_each(|c| c.collect(graph, keys))
    }
    fn finish(&self, values: &mut std::vec::IntoIter<Value>) -> Result<Vec<C::Output>> {
        self.iter().map(|c| c.finish(values)).collect()
    }
}

impl<C: Computable> Computable for Vec<C> {
    type Output = Vec<C::Output>;
    fn collect(&self, graph: &mut TaskGraph, keys: &mut Vec<Key>) -> Result<()> {
        self.as_slice().collect(graph, keys)
    }
    fn finish(&self, values: &mut std::vec::IntoIter<Value>) -> Result<Vec<C::Output>> {
        self.as_slice().finish(values)
    }
}

macro_rules! tuples {
    ($($T:ident $i:tt),+) => {
        impl<$($T: Computable),+> Computable for ($($T,)+) {
            type Output = ($($T::Output,)+);
            fn collect(&self, graph: &mut TaskGraph, keys: &mut Vec<Key>) -> Result<()> {
                $(self.$i.collect(graph, keys)?;)+
                Ok(())
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
tuples!(A 0, B 1, C 2, D 3, E 4);
tuples!(A 0, B 1, C 2, D 3, E 4, F 5);

/// The interface every collection shares: compute it, see its task graph,
/// draw it. Implemented for every [`Computable`] (a collection, a reference,
/// a tuple or a slice of them), so `(a, b).compute_with(&options)` works
/// like `compute_many(&(a, b), &options)`.
pub trait Collection: Computable {
    /// Computes this with `options`, in one graph.
    fn compute_with(&self, options: &crate::ComputeOptions) -> Result<Self::Output> {
        compute_many(self, options)
    }

    /// The task graph computing this and its output keys, in the order
    /// [`Computable::finish`] reads them.
    fn task_graph(&self) -> Result<(TaskGraph, Vec<Key>)> {
        let mut graph = TaskGraph::new();
        let mut keys = Vec::new();
        self.collect(&mut graph, &mut keys)?;
        Ok((graph, keys))
    }

    /// Draws the task graph computing this to an SVG file at `path`.
    fn visualize(
        &self,
        path: impl AsRef<std::path::Path>,
    ) -> Result<oxidask_graph::VisualizeBackend> {
        Ok(self.task_graph()?.0.visualize(path)?)
    }
}

impl<C: Computable + ?Sized> Collection for C {}

/// Computes several things in one graph, so the work they share runs once:
/// `compute_many(&(a, b), &options)`. (The facade's `compute` is this with
/// the configuration in force.)
pub fn compute_many<C: Computable + ?Sized>(
    what: &C,
    options: &crate::ComputeOptions,
) -> Result<C::Output> {
    let (graph, keys) = what.task_graph()?;
    let values = crate::compute_with(graph, &keys, options)?;
    what.finish(&mut values.into_iter())
}
