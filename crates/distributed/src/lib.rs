//! oxidask on a cluster: a scheduler process, worker processes, and a
//! client with typed futures, over TCP.
//!
//! - [`Scheduler`] keeps every computation's task states (the scheduler
//!   crate's [`TaskState`](oxidask_scheduler::TaskState)), places tasks near
//!   their inputs, notices dead workers and recomputes lost results from
//!   the graph's lineage.
//! - [`run_worker`] runs tasks with [`oxidask_scheduler::execute`] on a
//!   thread pool, holds results in a spill buffer, and exchanges them with
//!   other workers directly.
//! - [`Client`] submits graphs ([`TaskGraph::to_bytes`](oxidask_graph::TaskGraph::to_bytes)):
//!   `submit`, `map`, `gather`, `as_completed`, `wait`, `cancel`,
//!   `scatter`, `persist`, `with_retries`; futures are arguments of later
//!   tasks; and it acts as a [`Scheduler`](oxidask_scheduler::Scheduler) of
//!   the local API.
//! - [`LocalCluster`] runs a scheduler in this process and workers as
//!   copies of this program (see [`worker_main`]).
//!
//! No code crosses the network: a graph names registered ops and
//! `#[oxidask::remote]` functions, which the workers have compiled in.
//! The [`wire`] module describes the frames and the handshake.

#![deny(missing_docs)]

mod args;
mod client;
mod data;
mod error;
mod future_ref;
mod local;
mod local_steps;
pub mod messages;
mod server;
pub mod tls;
pub mod wire;
mod worker;
mod worker_events;
pub mod worker_memory;

pub use args::MapItem;
pub use client::{AsCompleted, Client, Future};
pub use error::{Error, Result};
pub use local::{LocalCluster, LocalClusterBuilder, WORKER_ENV, worker_main};
pub use local_steps::IN_CALLER_OPS;
pub use server::{Scheduler, SchedulerInfo, SchedulerOptions};
pub use tls::{Tls, TlsFiles};
pub use worker::{TERMINATED_FOR_MEMORY, WorkerOptions, run_worker};
pub use worker_memory::MemoryFractions;
