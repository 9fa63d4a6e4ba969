//! A future standing in a graph: the op of a placeholder task.
//!
//! A [`Future`](crate::Future) passed where a task takes an argument
//! (`delayed!(f(&future))`, `client.map(f, &futures)`) becomes one task
//! whose op is a [`FutureRef`]: it names the client, the computation and
//! the position of the result. [`Client::submit`](crate::Client::submit)
//! finds these tasks and sends them as externals of the new computation;
//! the scheduler never runs them — the reading task is placed near the
//! result and fetches it from the worker holding it. Run anywhere else (a
//! local scheduler), the op fails saying so.
//!
//! A `FutureRef` built on the client also holds the result alive
//! ([`Hold`]): a `Delayed` made from a future keeps the future's
//! computation on the cluster as long as the `Delayed` lives, which is how
//! [`Client::persist`](crate::Client::persist) hands back data that stays
//! on the workers. The hold is not encoded: on a worker the op is plain
//! data.

use std::sync::Arc;

use oxidask_graph::{DataOp, OpError, Value, register_data_op};
use serde::{Deserialize, Serialize};

use crate::client::Client;

/// The op of a task standing for a future's result.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct FutureRef {
    /// The id of the client that owns the future.
    pub client: u64,
    /// The client's id of the future's computation.
    pub comp: u64,
    /// The future's first position among the computation's outputs.
    pub position: u32,
    /// How many outputs the future reads (1 for a single value).
    pub parts: u32,
    /// The future's key, for errors.
    pub key: String,
    /// Keeps the computation alive while this op (and so any graph or
    /// `Delayed` holding it) lives; never encoded.
    #[serde(skip)]
    pub hold: Option<Arc<Hold>>,
}

impl FutureRef {
    /// The placeholder of output `position` (key `key`) of the computation
    /// `hold` keeps on the cluster: a persisted result.
    pub(crate) fn held(hold: &Arc<Hold>, position: usize, key: String) -> FutureRef {
        FutureRef {
            client: hold.client.inner.id,
            comp: hold.comp,
            position: position as u32,
            parts: 1,
            key,
            hold: Some(hold.clone()),
        }
    }
}

impl DataOp for FutureRef {
    const NAME: &'static str = "oxidask.distributed.future";

    fn run(&self, _args: Vec<Value>) -> Result<Value, OpError> {
        Err(format!(
            "{} is a future of a cluster: a graph reading it runs only on that cluster, \
             submitted with the same client's submit",
            self.key
        )
        .into())
    }

    fn label(&self) -> &str {
        "future"
    }

    fn is_placeholder(&self) -> bool {
        true
    }
}

register_data_op!(FutureRef);

/// A computation of a client held on the cluster: while a `Hold` lives the
/// client does not cancel it.
pub(crate) struct Hold {
    client: Client,
    comp: u64,
}

impl Hold {
    /// Holds computation `comp` of `client`.
    pub fn new(client: &Client, comp: u64) -> Hold {
        client.inner.retain(comp);
        Hold::adopt(client, comp)
    }

    /// Takes over a hold on `comp` already counted (retained).
    pub fn adopt(client: &Client, comp: u64) -> Hold {
        Hold {
            client: client.clone(),
            comp,
        }
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.client.inner.release(self.comp);
    }
}
