//! What a cluster's scheduler adds to the dashboard: its worker processes
//! (name, address, threads, memory from their heartbeats) and counters
//! over the cluster's life (tasks completed and erred, bytes moved).
//!
//! The scheduler pushes a [`ClusterStatus`] after it changes
//! ([`Dashboard::set_cluster`](crate::Dashboard::set_cluster)); the task
//! events themselves reach the dashboard as ordinary
//! [`Event`](oxidask_scheduler::events::Event)s through
//! [`Dashboard::feed`](crate::Dashboard::feed), worker threads numbered
//! across the cluster (worker process `w`'s thread `t` is
//! `first_thread + t`).

use std::fmt::Write as _;

use serde::Serialize;

/// One worker process of a cluster.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ClusterWorker {
    /// Its name.
    pub name: String,
    /// Where other workers reach it.
    pub address: String,
    /// Its threads.
    pub nthreads: u32,
    /// The dashboard's index of its first thread (the task stream's row).
    pub first_thread: usize,
    /// Its memory limit in bytes, if any.
    pub memory_limit: Option<u64>,
    /// Resident memory of the process at its last heartbeat.
    pub process_bytes: u64,
    /// Bytes of results it holds in memory.
    pub held_bytes: u64,
    /// Bytes of results it holds spilled to disk.
    pub on_disk_bytes: u64,
    /// Results it holds.
    pub held: u64,
    /// Tasks it is running or has been sent and not yet reported.
    pub processing: u64,
    /// Whether it is paused (over its memory's pause threshold).
    pub paused: bool,
}

/// The cluster as its scheduler sees it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ClusterStatus {
    /// The scheduler's address.
    pub scheduler: String,
    /// The live workers.
    pub workers: Vec<ClusterWorker>,
    /// Tasks completed since the scheduler started (every run counts,
    /// including reruns after a worker died).
    pub tasks_completed: u64,
    /// Tasks that failed since the scheduler started.
    pub tasks_erred: u64,
    /// Bytes of inputs workers fetched from other workers.
    pub transfer_bytes: u64,
    /// Bytes of results sent to clients.
    pub client_bytes: u64,
    /// Computations submitted since the scheduler started.
    pub computations: u64,
    /// Computations under way.
    pub computations_running: u64,
}

impl ClusterStatus {
    /// Appends the cluster's Prometheus metrics to `out`.
    pub(crate) fn write_metrics(&self, out: &mut String) {
        let mut metric = |name: &str, kind: &str, help: &str, rows: &[(String, f64)]| {
            let _ = writeln!(out, "# HELP oxidask_cluster_{name} {help}");
            let _ = writeln!(out, "# TYPE oxidask_cluster_{name} {kind}");
            for (labels, v) in rows {
                let _ = writeln!(out, "oxidask_cluster_{name}{labels} {v}");
            }
        };
        let one = |v: u64| vec![(String::new(), v as f64)];
        let per_worker = |f: &dyn Fn(&ClusterWorker) -> u64| -> Vec<(String, f64)> {
            self.workers
                .iter()
                .map(|w| {
                    (
                        format!("{{worker=\"{}\"}}", crate::state::escape_label(&w.name)),
                        f(w) as f64,
                    )
                })
                .collect()
        };
        metric(
            "workers",
            "gauge",
            "Live worker processes.",
            &one(self.workers.len() as u64),
        );
        metric(
            "worker_threads",
            "gauge",
            "Threads of each worker.",
            &per_worker(&|w| w.nthreads.into()),
        );
        metric(
            "worker_processing_tasks",
            "gauge",
            "Tasks each worker is running or has been sent.",
            &per_worker(&|w| w.processing),
        );
        metric(
            "worker_memory_bytes",
            "gauge",
            "Bytes of results each worker holds in memory.",
            &per_worker(&|w| w.held_bytes),
        );
        metric(
            "worker_spilled_bytes",
            "gauge",
            "Bytes of results each worker holds spilled to disk.",
            &per_worker(&|w| w.on_disk_bytes),
        );
        metric(
            "worker_process_bytes",
            "gauge",
            "Resident memory of each worker process.",
            &per_worker(&|w| w.process_bytes),
        );
        metric(
            "worker_paused",
            "gauge",
            "1 while a worker is paused over its memory's pause threshold.",
            &per_worker(&|w| w.paused.into()),
        );
        metric(
            "tasks_completed_total",
            "counter",
            "Tasks completed on the cluster.",
            &one(self.tasks_completed),
        );
        metric(
            "tasks_erred_total",
            "counter",
            "Tasks that failed on the cluster.",
            &one(self.tasks_erred),
        );
        metric(
            "transfer_bytes_total",
            "counter",
            "Bytes moved, by direction.",
            &[
                (
                    "{direction=\"worker_to_worker\"}".to_string(),
                    self.transfer_bytes as f64,
                ),
                (
                    "{direction=\"to_client\"}".to_string(),
                    self.client_bytes as f64,
                ),
            ],
        );
        metric(
            "computations_total",
            "counter",
            "Computations submitted to the cluster.",
            &one(self.computations),
        );
        metric(
            "computations_running",
            "gauge",
            "Computations under way on the cluster.",
            &one(self.computations_running),
        );
    }
}
