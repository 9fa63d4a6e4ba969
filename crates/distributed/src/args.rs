//! Futures where arguments go: `delayed!(f(&future))` and
//! `client.map(f, &futures)`.
//!
//! A future becomes a placeholder task ([`FutureRef`]) in the graph; the
//! client turns each placeholder into an external of the computation it
//! sends, and the scheduler makes the reading task fetch the result from
//! the worker holding it.

use std::collections::HashMap;
use std::sync::Arc;

use oxidask_delayed::__private::{NodeArgHandle, build};
use oxidask_delayed::{Delayed, IntoArg};
use oxidask_graph::{Arg, DataOp, DataSize, Key, Task, TaskGraph, Value};

use crate::client::{Client, Extra, Future, failure_error};
use crate::error::{Error, Result};
use crate::future_ref::{FutureRef, Hold};
use crate::messages::External;

/// The placeholder tasks of `graph`: key and the future each stands for.
pub(crate) fn futures_in(graph: &TaskGraph) -> Vec<(Key, FutureRef)> {
    graph
        .iter()
        .filter(|(_, t)| t.op.name() == FutureRef::NAME)
        .filter_map(|(k, t)| {
            let r = postcard::from_bytes::<FutureRef>(&t.op.encode()?).ok()?;
            Some((k.clone(), r))
        })
        .collect()
}

impl Client {
    /// Checks that `r` is a live future of this client and makes task `id`
    /// stand for it (holding its computation meanwhile).
    pub(crate) fn add_external(&self, extra: &mut Extra, id: u32, r: &FutureRef) -> Result<()> {
        if r.client != self.inner.id {
            return Err(Error::Graph(format!(
                "the future {} belongs to another client; pass a future only to the client \
                 that made it",
                r.key
            )));
        }
        let task = {
            let mut s = self.inner.state.lock();
            let Some(c) = s.comps.get_mut(&r.comp) else {
                return Err(Error::Graph(format!(
                    "the future {} was released (dropped or cancelled) before this \
                     computation was submitted",
                    r.key
                )));
            };
            if let Some(f) = &c.failed {
                return Err(Error::Graph(format!(
                    "the future {} failed: {}",
                    r.key,
                    failure_error(f, &c.keys)
                )));
            }
            if r.parts != 1 {
                return Err(Error::Graph(format!(
                    "the future {} is a collection of {} parts; only a future of one value \
                     (of a delayed value, map or scatter) can be an argument",
                    r.key, r.parts
                )));
            }
            let Some(&task) = c.outputs.get(r.position as usize) else {
                return Err(Error::Graph(format!("the future {} has no result", r.key)));
            };
            // Held under the same lock it was checked under.
            c.handles += 1;
            task
        };
        extra.holds.push(Arc::new(Hold::adopt(self, r.comp)));
        extra.externals.push(External {
            id,
            comp: r.comp,
            task,
        });
        extra.names.push((id, r.key.clone()));
        Ok(())
    }
}

impl<T> Future<T> {
    /// This future's result as a reference (no hold).
    fn reference(&self) -> FutureRef {
        FutureRef {
            client: self.client.inner.id,
            comp: self.comp,
            position: self.positions.start as u32,
            parts: self.positions.len() as u32,
            key: self.key.clone(),
            hold: None,
        }
    }

    /// This future's result as a [`Delayed`] for building further calls
    /// (`delayed!(f(future.delayed()))`; `&future` as an argument does the
    /// same). The `Delayed` holds the result on the cluster while it
    /// lives; a graph holding it computes only on this client's cluster.
    pub fn delayed(&self) -> Delayed<T> {
        let mut r = self.reference();
        r.hold = Some(Arc::new(Hold::new(&self.client, self.comp)));
        build("future", Arc::new(r), Vec::new())
    }
}

/// A future is an argument of a delayed call: its result, read on the
/// cluster where it is.
impl<T> IntoArg<T> for &Future<T> {
    fn into_arg(self) -> NodeArgHandle {
        self.delayed().into_arg()
    }
}

/// See `impl IntoArg for &Future`.
impl<T> IntoArg<T> for Future<T> {
    fn into_arg(self) -> NodeArgHandle {
        self.delayed().into_arg()
    }
}

/// An item of [`Client::map`](crate::Client::map): a value, or a `&Future`
/// of this client whose result is the argument.
pub trait MapItem<A> {
    #[doc(hidden)]
    fn into_item(self) -> MapArg;
}

/// A map item on its way into a task (opaque).
#[doc(hidden)]
pub struct MapArg(Item);

enum Item {
    Value(Value),
    Future(FutureRef),
}

impl<A: std::any::Any + Send + Sync + DataSize> MapItem<A> for A {
    fn into_item(self) -> MapArg {
        MapArg(Item::Value(Value::new(self)))
    }
}

impl<A> MapItem<A> for &Future<A> {
    fn into_item(self) -> MapArg {
        MapArg(Item::Future(self.reference()))
    }
}

/// The placeholders of a map: one per distinct future among the items.
pub(crate) struct Refs {
    name: Arc<str>,
    seen: HashMap<(u64, u32), Key>,
    list: Vec<(Key, FutureRef)>,
}

impl Refs {
    /// Placeholders keyed after the map's `name`.
    pub fn new(name: Arc<str>) -> Refs {
        Refs {
            name: format!("{name}-arg").into(),
            seen: HashMap::new(),
            list: Vec::new(),
        }
    }

    /// The task argument for `item`.
    pub fn arg(&mut self, item: MapArg) -> Arg {
        match item.0 {
            Item::Value(v) => Arg::Value(v),
            Item::Future(r) => {
                let next = self.list.len() as u32;
                let key = self
                    .seen
                    .entry((r.comp, r.position))
                    .or_insert_with(|| {
                        let k = Key::with_index(self.name.clone(), &[next]);
                        self.list.push((k.clone(), r));
                        k
                    })
                    .clone();
                Arg::Key(key)
            }
        }
    }

    /// The placeholder tasks, in order.
    pub fn into_tasks(self) -> Vec<(Key, Task, FutureRef)> {
        self.list
            .into_iter()
            .map(|(k, r)| (k, Task::new(Arc::new(r.clone()), Vec::new()), r))
            .collect()
    }
}
