//! The aggregate the pages show, kept up to date by one event callback.
//!
//! Every event takes one short lock and touches a few counters: per task
//! group (`Key::prefix`), per worker, and a bounded window of recent task
//! rectangles for the task stream. Nothing grows with the number of tasks
//! except the window, which is capped, so a graph of 1,000,000 tasks costs
//! the same to show as one of 100.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::time::Instant;

use oxidask_graph::Key;
use oxidask_scheduler::events::{Callback, ComputationId, Event};
use oxidask_store::MemoryStats;
use parking_lot::Mutex;
use serde_json::{Value as Json, json};

/// Counts of one task group in the current computation.
#[derive(Default, Clone)]
pub(crate) struct Counts {
    total: u64,
    processing: u64,
    finished: u64,
    erred: u64,
    busy_us: u64,
    nbytes: u64,
}

#[derive(Default, Clone)]
struct Worker {
    /// Group id and start (µs) of the task it runs now.
    current: Option<(u32, u64)>,
    done: u64,
    busy_us: u64,
}

/// One finished task, for the task stream.
struct Rect {
    seq: u64,
    worker: u32,
    group: u32,
    start_us: u64,
    end_us: u64,
    key: Key,
}

#[derive(Default)]
struct State {
    /// Computations seen so far.
    runs: u64,
    scheduler: String,
    nworkers: usize,
    ntasks: u64,
    running: bool,
    ok: Option<bool>,
    run_start_us: u64,
    run_end_us: Option<u64>,
    /// Task group names; a group's id is its position (never reused).
    names: Vec<String>,
    index: HashMap<String, u32, foldhash::fast::RandomState>,
    /// Per group id; zeroed at each computation unless accumulating.
    counts: Vec<Counts>,
    workers: Vec<Worker>,
    rects: VecDeque<Rect>,
    next_seq: u64,
    /// Task group dependencies `(from, to)` by group id, of the current
    /// computation (of all of them when accumulating).
    edges: Vec<(u32, u32)>,
    memory: MemoryStats,
    memory_limit: Option<usize>,
    peak_held_bytes: usize,
    /// `(µs, held bytes, bytes on disk)`, thinned when long.
    memory_samples: Vec<(u64, usize, usize)>,
    last_sample_us: u64,
    /// `(µs, bytes)`: results spilled to disk as a task finished (the
    /// store's spilled-bytes total grew), the most recent ones.
    spills: VecDeque<(u64, usize)>,
    /// The spilled-bytes total of the current computation so far.
    spilled_so_far: usize,
    errors: Vec<String>,
    /// The computation the counts are about: the one that started last
    /// (live mode). Tasks of others still draw in the task stream.
    current: Option<ComputationId>,
}

const MAX_SPILL_MARKS: usize = 2000;

/// Collects events into the dashboard's aggregate.
pub(crate) struct Collector {
    epoch: Instant,
    max_rects: usize,
    /// Keep counts across computations (a report over many `compute`s)
    /// instead of starting each computation afresh (the live dashboard).
    accumulate: bool,
    state: Mutex<State>,
    /// `/api/status` answers served (pages polling).
    pub(crate) status_requests: std::sync::atomic::AtomicU64,
    /// A cluster's workers and counters, when a cluster's scheduler feeds
    /// this dashboard.
    pub(crate) cluster: Mutex<Option<crate::cluster::ClusterStatus>>,
}

const MAX_MEMORY_SAMPLES: usize = 4000;
const SAMPLE_EVERY_US: u64 = 10_000;

impl Collector {
    pub(crate) fn new(max_rects: usize, accumulate: bool) -> Collector {
        Collector {
            epoch: Instant::now(),
            max_rects,
            accumulate,
            state: Mutex::new(State::default()),
            status_requests: std::sync::atomic::AtomicU64::new(0),
            cluster: Mutex::new(None),
        }
    }

    fn us(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.epoch).as_micros() as u64
    }

    /// Microseconds since this collector was made.
    pub(crate) fn now_us(&self) -> u64 {
        self.us(Instant::now())
    }
}

impl State {
    /// Adds a finished task to the task stream, dropping the oldest past
    /// `max` tasks.
    fn push_rect(&mut self, max: usize, worker: u32, group: u32, t0: u64, t1: u64, key: Key) {
        let seq = self.next_seq;
        self.next_seq += 1;
        if self.rects.len() >= max {
            self.rects.pop_front();
        }
        self.rects.push_back(Rect {
            seq,
            worker,
            group,
            start_us: t0,
            end_us: t1,
            key,
        });
    }

    fn group(&mut self, name: &str) -> u32 {
        if let Some(&g) = self.index.get(name) {
            return g;
        }
        self.new_group(name)
    }

    #[cold]
    fn new_group(&mut self, name: &str) -> u32 {
        let g = self.names.len() as u32;
        self.names.push(name.to_string());
        self.index.insert(name.to_string(), g);
        self.counts.push(Counts::default());
        g
    }

    fn worker(&mut self, w: usize) -> &mut Worker {
        if w >= self.workers.len() {
            self.workers.resize(w + 1, Worker::default());
        }
        &mut self.workers[w]
    }

    #[cold]
    fn mark_spill(&mut self, t: u64, bytes: usize) {
        if self.spills.len() >= MAX_SPILL_MARKS {
            self.spills.pop_front();
        }
        self.spills.push_back((t, bytes));
    }

    fn sample_memory(&mut self, t: u64, force: bool) {
        if !force && t < self.last_sample_us + SAMPLE_EVERY_US {
            return;
        }
        self.last_sample_us = t;
        self.memory_samples
            .push((t, self.memory.held_bytes, self.memory.on_disk_bytes));
        if self.memory_samples.len() > MAX_MEMORY_SAMPLES {
            let mut i = 0;
            self.memory_samples.retain(|_| {
                i += 1;
                i % 2 == 1
            });
        }
    }
}

impl Collector {
    /// Whether an event of `computation` updates the counts: always when
    /// accumulating (a report), else only for the computation that started
    /// last — so a second computation running at the same time does not
    /// mix its tasks into the first one's progress.
    fn counts(&self, s: &State, computation: ComputationId) -> bool {
        self.accumulate || s.current.is_none_or(|c| c == computation)
    }
}

impl Callback for Collector {
    fn on_event(&self, event: &Event<'_>) {
        match event {
            Event::TaskStarted {
                computation,
                key,
                worker,
                at,
                ..
            } => {
                let t = self.us(*at);
                let mut s = self.state.lock();
                if !self.counts(&s, *computation) {
                    return;
                }
                let g = s.group(key.prefix());
                s.counts[g as usize].processing += 1;
                s.worker(*worker).current = Some((g, t));
            }
            Event::TaskFinished {
                computation,
                key,
                worker,
                start,
                end,
                nbytes,
                memory,
                ..
            } => {
                let (t0, t1) = (self.us(*start), self.us(*end));
                let key = (*key).clone();
                let mut s = self.state.lock();
                if !self.counts(&s, *computation) {
                    // Another computation's task: in the stream only.
                    let g = s.group(key.prefix());
                    s.push_rect(self.max_rects, *worker as u32, g, t0, t1, key);
                    return;
                }
                // The worker's current task is normally this one (its
                // TaskStarted came first on this thread): reuse its group
                // after a string compare instead of a second hash.
                let prefix = key.prefix();
                let g = match s.workers.get(*worker).and_then(|w| w.current) {
                    Some((g, _)) if s.names[g as usize] == prefix => g,
                    _ => s.group(prefix),
                };
                let c = &mut s.counts[g as usize];
                c.processing = c.processing.saturating_sub(1);
                c.finished += 1;
                c.busy_us += t1 - t0;
                c.nbytes += *nbytes as u64;
                let w = s.worker(*worker);
                w.current = None;
                w.done += 1;
                w.busy_us += t1 - t0;
                if memory.spilled_bytes > s.spilled_so_far {
                    let grew = memory.spilled_bytes - s.spilled_so_far;
                    s.mark_spill(t1, grew);
                    s.spilled_so_far = memory.spilled_bytes;
                }
                s.memory = *memory;
                s.sample_memory(t1, false);
                s.push_rect(self.max_rects, *worker as u32, g, t0, t1, key);
            }
            Event::TaskFailed {
                computation,
                error,
                worker,
                ..
            } => {
                let mut s = self.state.lock();
                if !self.counts(&s, *computation) {
                    return;
                }
                let g = s.group(error.key.prefix());
                let c = &mut s.counts[g as usize];
                c.processing = c.processing.saturating_sub(1);
                c.erred += 1;
                s.worker(*worker).current = None;
                if s.errors.len() < 20 {
                    s.errors.push(error.to_string());
                }
            }
            Event::Started {
                computation,
                ntasks,
                workers,
                scheduler,
                ..
            } => {
                let t = self.now_us();
                let mut s = self.state.lock();
                s.current = Some(*computation);
                if !self.accumulate {
                    s.counts.iter_mut().for_each(|c| *c = Counts::default());
                    s.errors.clear();
                    s.ntasks = 0;
                    s.run_start_us = t;
                    s.peak_held_bytes = 0;
                    s.workers.clear();
                } else if s.runs == 0 {
                    s.run_start_us = t;
                }
                s.runs += 1;
                s.spilled_so_far = 0;
                s.scheduler = scheduler.to_string();
                s.nworkers = s.nworkers.max(*workers);
                if !self.accumulate {
                    s.nworkers = *workers;
                }
                let n = s.nworkers;
                s.workers.resize(n, Worker::default());
                s.workers.iter_mut().for_each(|w| w.current = None);
                s.ntasks += *ntasks as u64;
                s.running = true;
                s.ok = None;
                s.run_end_us = None;
                s.sample_memory(t, true);
            }
            Event::TaskGroups {
                computation,
                groups,
                edges,
                memory_limit,
            } => {
                let mut s = self.state.lock();
                if !self.counts(&s, *computation) {
                    return;
                }
                let mut ids = Vec::with_capacity(groups.len());
                for (name, n) in groups.iter() {
                    let g = s.group(name);
                    s.counts[g as usize].total += *n as u64;
                    ids.push(g);
                }
                if !self.accumulate {
                    s.edges.clear();
                }
                for &(from, to) in edges.iter() {
                    let edge = (ids[from as usize], ids[to as usize]);
                    if !s.edges.contains(&edge) {
                        s.edges.push(edge);
                    }
                }
                s.memory_limit = *memory_limit;
            }
            Event::Finished {
                computation,
                ok,
                memory,
                peak_held_bytes,
                ..
            } => {
                let t = self.now_us();
                let mut s = self.state.lock();
                if !self.counts(&s, *computation) {
                    return;
                }
                s.running = false;
                s.ok = Some(*ok && s.ok != Some(false));
                s.run_end_us = Some(t);
                s.memory = *memory;
                s.peak_held_bytes = s.peak_held_bytes.max(*peak_held_bytes);
                s.workers.iter_mut().for_each(|w| w.current = None);
                s.sample_memory(t, true);
            }
            _ => {}
        }
    }
}

/// Read side: JSON for the pages and the API, text for Prometheus.
impl Collector {
    /// `/api/status`: the run, progress per task group, memory, workers.
    pub(crate) fn status_json(&self) -> Json {
        let now = self.now_us();
        let s = self.state.lock();
        let mut groups = Vec::new();
        let (mut finished, mut erred, mut processing) = (0, 0, 0);
        for (g, c) in s.counts.iter().enumerate() {
            if c.total == 0 && c.finished == 0 && c.processing == 0 && c.erred == 0 {
                continue;
            }
            finished += c.finished;
            erred += c.erred;
            processing += c.processing;
            let total = c.total.max(c.finished + c.processing + c.erred);
            groups.push(json!({
                "id": g,
                "name": s.names[g],
                "total": total,
                "waiting": total - c.finished - c.processing - c.erred,
                "processing": c.processing,
                "finished": c.finished,
                "erred": c.erred,
                "busy_s": c.busy_us as f64 / 1e6,
                "nbytes": c.nbytes,
            }));
        }
        let end = s.run_end_us.unwrap_or(now);
        json!({
            "runs": s.runs,
            "scheduler": s.scheduler,
            "nworkers": s.nworkers,
            "ntasks": s.ntasks,
            "finished": finished,
            "processing": processing,
            "erred": erred,
            "running": s.running,
            "ok": s.ok,
            "elapsed_s": end.saturating_sub(s.run_start_us) as f64 / 1e6,
            "now_us": now,
            "groups": groups,
            "memory": memory_json(&s),
            "workers": workers_json(&s, now),
            "errors": s.errors,
            "spills": s.spills,
            "last_seq": s.next_seq,
            "cluster": *self.cluster.lock(),
        })
    }

    /// `/api/graph`: the task groups (as in `/api/status`) and which feed
    /// which.
    pub(crate) fn graph_json(&self) -> Json {
        let status = self.status_json();
        let s = self.state.lock();
        json!({
            "groups": status["groups"],
            "edges": s.edges,
            "running": status["running"],
        })
    }

    /// `/api/workers`: one row per worker thread.
    pub(crate) fn workers_json(&self) -> Json {
        let now = self.now_us();
        let s = self.state.lock();
        json!({
            "workers": workers_json(&s, now),
            "memory": memory_json(&s),
            "cluster": *self.cluster.lock(),
        })
    }

    /// `/api/tasks?since=N`: finished tasks with a sequence number ≥ `since`,
    /// at most `limit` (the most recent ones).
    pub(crate) fn tasks_json(&self, since: u64, limit: usize) -> Json {
        let s = self.state.lock();
        let first = s.rects.front().map_or(0, |r| r.seq);
        let skip = since.saturating_sub(first) as usize;
        let n = s.rects.len().saturating_sub(skip);
        let skip = skip + n.saturating_sub(limit);
        let tasks: Vec<Json> = s
            .rects
            .iter()
            .skip(skip)
            .map(|r| {
                json!([
                    r.seq,
                    r.worker,
                    r.group,
                    r.start_us,
                    r.end_us,
                    r.key.to_string()
                ])
            })
            .collect();
        json!({
            "groups": s.names,
            "tasks": tasks,
            "next": s.next_seq,
            "now_us": self.now_us(),
        })
    }

    /// Everything a performance report shows.
    pub(crate) fn report_json(&self) -> Json {
        let mut status = self.status_json();
        let tasks = self.tasks_json(0, usize::MAX);
        let s = self.state.lock();
        status["tasks"] = tasks["tasks"].clone();
        status["group_names"] = tasks["groups"].clone();
        status["memory_samples"] = json!(s.memory_samples);
        status["edges"] = json!(s.edges);
        status["dropped_tasks"] = json!(s.next_seq - s.rects.len() as u64);
        status["start_us"] = json!(s.run_start_us);
        status["end_us"] = json!(s.run_end_us.unwrap_or_else(|| self.now_us()));
        status
    }

    /// `/metrics` in the Prometheus text format.
    pub(crate) fn metrics(&self) -> String {
        let s = self.state.lock();
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, rows: &[(String, f64)]| {
            let _ = writeln!(out, "# HELP oxidask_{name} {help}");
            let _ = writeln!(out, "# TYPE oxidask_{name} {kind}");
            for (labels, v) in rows {
                let _ = writeln!(out, "oxidask_{name}{labels} {v}");
            }
        };
        let one = |v: f64| vec![(String::new(), v)];
        metric(
            "computations_total",
            "counter",
            "Computations started.",
            &one(s.runs as f64),
        );
        metric(
            "workers",
            "gauge",
            "Worker threads of the current computation.",
            &one(s.nworkers as f64),
        );
        let mut states = Vec::new();
        for (g, c) in s.counts.iter().enumerate() {
            if c.total == 0 && c.finished == 0 && c.processing == 0 && c.erred == 0 {
                continue;
            }
            let name = escape_label(&s.names[g]);
            let total = c.total.max(c.finished + c.processing + c.erred);
            for (state, v) in [
                ("waiting", total - c.finished - c.processing - c.erred),
                ("processing", c.processing),
                ("finished", c.finished),
                ("erred", c.erred),
            ] {
                states.push((format!("{{group=\"{name}\",state=\"{state}\"}}"), v as f64));
            }
        }
        metric(
            "tasks",
            "gauge",
            "Tasks of the current computation by task group and state.",
            &states,
        );
        let busy: Vec<(String, f64)> = s
            .workers
            .iter()
            .enumerate()
            .map(|(i, w)| (format!("{{worker=\"{i}\"}}"), w.busy_us as f64 / 1e6))
            .collect();
        metric(
            "worker_busy_seconds_total",
            "counter",
            "Time each worker thread spent running tasks.",
            &busy,
        );
        let m = &s.memory;
        metric(
            "memory_held_bytes",
            "gauge",
            "Bytes of results held in memory.",
            &one(m.held_bytes as f64),
        );
        metric(
            "memory_on_disk_bytes",
            "gauge",
            "Bytes of results spilled to disk now.",
            &one(m.on_disk_bytes as f64),
        );
        metric(
            "memory_spilled_bytes_total",
            "counter",
            "Bytes spilled so far in the current computation.",
            &one(m.spilled_bytes as f64),
        );
        if let Some(limit) = s.memory_limit {
            metric(
                "memory_limit_bytes",
                "gauge",
                "The memory limit of the results.",
                &one(limit as f64),
            );
        }
        drop(s);
        if let Some(c) = &*self.cluster.lock() {
            c.write_metrics(&mut out);
        }
        out
    }
}

pub(crate) fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn memory_json(s: &State) -> Json {
    json!({
        "held": s.memory.held,
        "held_bytes": s.memory.held_bytes,
        "on_disk_bytes": s.memory.on_disk_bytes,
        "spilled_bytes": s.memory.spilled_bytes,
        "read_back_bytes": s.memory.read_back_bytes,
        "peak_held_bytes": s.peak_held_bytes,
        "limit": s.memory_limit,
    })
}

fn workers_json(s: &State, now: u64) -> Json {
    let wall = s
        .run_end_us
        .unwrap_or(now)
        .saturating_sub(s.run_start_us)
        .max(1);
    let rows: Vec<Json> = s
        .workers
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let (task, running_us) = match w.current {
                Some((g, t)) => (Some(s.names[g as usize].as_str()), now.saturating_sub(t)),
                None => (None, 0),
            };
            let (group_id, started_us) = match w.current {
                Some((g, t)) => (Some(g), Some(t)),
                None => (None, None),
            };
            json!({
                "worker": i,
                "processing": u8::from(task.is_some()),
                "task_group": task,
                "group_id": group_id,
                "started_us": started_us,
                "done": w.done,
                "busy_s": (w.busy_us + running_us) as f64 / 1e6,
                "occupancy": ((w.busy_us + running_us) as f64 / wall as f64).min(1.0),
            })
        })
        .collect();
    json!(rows)
}
