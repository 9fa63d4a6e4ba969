//! Data that stays on the workers: [`Client::scatter`] sends values there,
//! [`Client::persist`] computes results and leaves them there. Both hand
//! back handles (futures, delayed values) that later computations read
//! where the data is, and that release it when dropped.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use oxidask_delayed::__private::build;
use oxidask_delayed::{Data, Delayed};
use oxidask_graph::{DataSize, Key, Value};

use crate::client::{Client, Comp, Extra, Finish, Future};
use crate::error::{Error, Result};
use crate::future_ref::{FutureRef, Hold};
use crate::messages::Msg;

impl Client {
    /// Sends `value` to a worker of the cluster and returns a future of
    /// it: passed as an argument (`delayed!(f(&future))`,
    /// `client.map(f, &futures)`), tasks read it on that worker or fetch
    /// it from there, so a large input crosses the network once. The value
    /// needs a codec (numbers, strings, vectors, or `register_value!`).
    /// Released when the future is dropped; lost (an error naming it) if
    /// its worker dies, since there is nothing to compute it again from.
    pub fn scatter<T>(&self, value: T) -> Result<Future<T>>
    where
        T: std::any::Any + Send + Sync + DataSize + Clone,
    {
        let mut f = self.scatter_values(vec![value], false)?;
        Ok(f.pop().expect("one value scattered"))
    }

    /// Sends each value to a worker, in turn over the workers (Dask's
    /// round robin); a future per value.
    pub fn scatter_many<T>(&self, values: Vec<T>) -> Result<Vec<Future<T>>>
    where
        T: std::any::Any + Send + Sync + DataSize + Clone,
    {
        self.scatter_values(values, false)
    }

    /// Sends `value` to every worker (Dask's `scatter(…, broadcast=True)`):
    /// every task reading it reads it where it runs; it survives the death
    /// of all but one of its workers.
    pub fn broadcast<T>(&self, value: T) -> Result<Future<T>>
    where
        T: std::any::Any + Send + Sync + DataSize + Clone,
    {
        let mut f = self.scatter_values(vec![value], true)?;
        Ok(f.pop().expect("one value scattered"))
    }

    fn scatter_values<T>(&self, values: Vec<T>, broadcast: bool) -> Result<Vec<Future<T>>>
    where
        T: std::any::Any + Send + Sync + DataSize + Clone,
    {
        if values.is_empty() {
            return Ok(Vec::new());
        }
        let name: Arc<str> = oxidask_graph::name_for(
            &format!("scatter-{}", short(std::any::type_name::<T>())),
            &oxidask_graph::unique_token(),
        )
        .into();
        let n = values.len();
        let mut codecs = Vec::with_capacity(n);
        let mut frames = Vec::with_capacity(n);
        let mut held = Vec::with_capacity(n);
        let keys: Vec<Key> = (0..n as u32)
            .map(|i| Key::with_index(name.clone(), &[i]))
            .collect();
        for (v, key) in values.into_iter().zip(&keys) {
            let v = Value::new(v);
            let codec = v.codec().ok_or_else(|| {
                Error::Graph(format!(
                    "{key}: a {} has no byte encoding and cannot be sent to a worker; register \
                     the type with oxidask::graph::register_value!",
                    v.type_name()
                ))
            })?;
            let mut buf = Vec::with_capacity(v.nbytes().min(1 << 30));
            v.encode(&mut buf)
                .map_err(|e| Error::Graph(format!("{key}: encoding it: {e}")))?;
            codecs.push(codec.id());
            frames.push(Bytes::from(buf));
            held.push(Some(v));
        }
        let comp = self.inner.next.fetch_add(1, Ordering::Relaxed);
        {
            let mut s = self.inner.state.lock();
            if let Some(reason) = &s.lost {
                return Err(Error::Lost {
                    addr: self.address().to_string(),
                    reason: reason.clone(),
                });
            }
            // The values are here already: the futures are done at once.
            s.comps.insert(
                comp,
                Comp {
                    keys: Arc::new(keys.clone()),
                    positions: (0..n)
                        .map(|i| (i as u32, vec![i]))
                        .collect::<HashMap<_, _>>(),
                    outputs: (0..n as u32).collect(),
                    values: held,
                    failed: None,
                    finished: true,
                    handles: 0,
                    held: true,
                    _holds: Vec::new(),
                },
            );
        }
        let msg = Msg::Scatter {
            comp,
            codecs,
            broadcast,
        };
        if self.inner.tx.send((msg, frames)).is_err() {
            return Err(Error::Lost {
                addr: self.address().to_string(),
                reason: "the client's connection thread ended".into(),
            });
        }
        let take: Finish<T> =
            Arc::new(|values| Ok(oxidask_scheduler::next_value(values)?.take::<T>()?));
        Ok(keys
            .into_iter()
            .enumerate()
            .map(|(i, k)| Future::new(self.clone(), comp, i..i + 1, k.to_string(), take.clone()))
            .collect())
    }

    /// Computes `what` on the cluster and leaves the result on the workers:
    /// the returned `Delayed` reads it there, so computations built on it
    /// start from it instead of computing it again. The result is held
    /// while the returned value (or anything built on it) lives, and
    /// released when the last is dropped. Unlike Dask, `persist` waits for
    /// nothing: the computation runs while you build on it.
    pub fn persist<T: Data>(&self, what: &Delayed<T>) -> Result<Delayed<T>> {
        let mut d = self.persist_many(std::slice::from_ref(what))?;
        Ok(d.pop().expect("one persisted"))
    }

    /// [`persist`](Client::persist) of many values in one computation
    /// (work they share runs once); e.g. a bag's partitions as delayed
    /// values, rebuilt with `bag::from_delayed`.
    pub fn persist_many<T: Data>(&self, what: &[Delayed<T>]) -> Result<Vec<Delayed<T>>> {
        let extra = Extra {
            hold: true,
            send: false,
            ..Extra::default()
        };
        let (comp, n, _) = self.submit_computable(what, extra)?;
        // One hold for the computation, shared by every part.
        self.inner.retain(comp);
        let hold = Arc::new(Hold::adopt(self, comp));
        Ok(what
            .iter()
            .take(n)
            .enumerate()
            .map(|(i, d)| {
                let r = FutureRef::held(&hold, i, d.key().to_string());
                build("persisted", Arc::new(r), Vec::new())
            })
            .collect())
    }
}

fn short(type_name: &str) -> &str {
    let base = type_name.split('<').next().unwrap_or(type_name);
    base.rsplit("::").next().unwrap_or(base)
}
