//! A live dashboard for oxidask computations, and self-contained
//! performance reports — both fed by the scheduler's event stream only.
//!
//! ```no_run
//! use oxidask_dashboard::Dashboard;
//!
//! // Serves http://127.0.0.1:8787/status until `dashboard` is dropped;
//! // every computation in this process shows on it.
//! let dashboard = Dashboard::serve("127.0.0.1:8787")?;
//! println!("dashboard at {}", dashboard.url());
//! # Ok::<(), oxidask_dashboard::DashboardError>(())
//! ```
//!
//! Pages: `/status` (task stream, progress per task group, memory),
//! `/workers` (a table per worker thread), the JSON API (`/api/status`,
//! `/api/workers`, `/api/tasks?since=N`) and Prometheus `/metrics`. The
//! server is read-only (GET only; anything else is 405, unknown paths 404)
//! and listens where it is told — `127.0.0.1` unless an address says
//! otherwise.
//!
//! [`performance_report`] writes one HTML file with the task stream, the
//! time per task group and memory over time of everything a closure
//! computed.

mod cluster;
mod report;
mod server;
mod state;

pub use cluster::{ClusterStatus, ClusterWorker};
pub use report::performance_report;
pub use server::{DEFAULT_ADDR, Dashboard, DashboardError, ENV_VAR};

#[cfg(test)]
mod tests;
