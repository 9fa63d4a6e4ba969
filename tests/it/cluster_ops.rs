//! Running a cluster for real: the dashboard fed by the cluster and its
//! Prometheus metrics, with real worker processes on 127.0.0.1 (the
//! `cluster_worker` binary), checked against what ran.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use oxidask::distributed::LocalCluster;
use oxidask::prelude::*;
use oxidask_tests::cluster_fns::{checked_sqrt, inc, pairwise_sum, slow_square};

use crate::distributed::within;

const WORKER: &str = env!("CARGO_BIN_EXE_cluster_worker");

fn cluster_with_dashboard(n: usize) -> LocalCluster {
    LocalCluster::builder()
        .n_workers(n)
        .threads_per_worker(1)
        .program(WORKER)
        .dashboard("127.0.0.1:0")
        .start()
        .expect("starting a local cluster with a dashboard")
}

/// `http://host:port/status` → `host:port`.
fn host_of(link: &str) -> String {
    link.trim_start_matches("http://")
        .trim_end_matches("/status")
        .to_string()
}

/// GET over plain HTTP/1.1: (status, body).
fn get(host: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(host).expect("connects to the dashboard");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("reads the response");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a full response");
    (
        head.split(' ').nth(1).unwrap().parse().unwrap(),
        body.to_string(),
    )
}

fn json(host: &str, path: &str) -> serde_json::Value {
    let (status, body) = get(host, path);
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).expect("valid JSON")
}

/// The value of the metric line `name` (exactly, labels included).
fn metric(text: &str, name: &str) -> f64 {
    try_metric(text, name).unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

fn try_metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .map(|v| v.parse().unwrap())
}

/// Polls `/api/status` until `done` holds of it (10 s at most).
fn status_until(host: &str, done: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = json(host, "/api/status");
        if done(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "the dashboard never got there: {s}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_cluster_dashboard_shows_every_task_once_with_its_worker() {
    within(120, || {
        let c = cluster_with_dashboard(2);
        let link = c.dashboard_link().expect("a dashboard link");
        let client = c.client().unwrap();
        assert_eq!(client.dashboard_link().as_deref(), Some(link.as_str()));
        let host = host_of(&link);

        // 60 squares of 5 ms each, summed as a binary tree of adds.
        let n = 60i64;
        let squares: Vec<Delayed<i64>> = (0..n).map(|i| delayed!(slow_square(i, 5))).collect();
        let total = pairwise_sum(squares);
        let got = client.submit(&total).unwrap().result().unwrap();
        assert_eq!(got, (0..n).map(|i| i * i).sum::<i64>());

        // The last batch of events arrives up to 100 ms after the result.
        let s = status_until(&host, |s| {
            s["ntasks"].as_u64().is_some() && s["finished"] == s["ntasks"] && s["running"] == false
        });
        assert_eq!(s["scheduler"], "distributed", "{s}");
        assert_eq!(s["ok"], true, "{s}");
        let ntasks = s["ntasks"].as_u64().unwrap();
        // n squares and n - 1 adds (the tree of a binary sum), none fused
        // away: each add has two inputs.
        assert_eq!(ntasks, 2 * n as u64 - 1, "{s}");
        let groups = s["groups"].as_array().unwrap();
        let group = |name: &str| {
            groups
                .iter()
                .find(|g| g["name"] == name)
                .unwrap_or_else(|| panic!("no group {name} in {s}"))
        };
        assert_eq!(group("slow_square")["total"], n);
        assert_eq!(group("slow_square")["finished"], n);
        assert_eq!(group("slow_square")["processing"], 0);
        assert!(group("slow_square")["busy_s"].as_f64().unwrap() >= 0.005 * n as f64);

        // Every task once, on a thread of a live worker.
        let cluster = json(&host, "/api/cluster");
        let workers = cluster["workers"].as_array().unwrap();
        assert_eq!(workers.len(), 2, "{cluster}");
        let mut thread_of: HashMap<u64, String> = HashMap::new();
        for w in workers {
            assert_eq!(w["nthreads"], 1);
            let first = w["first_thread"].as_u64().unwrap();
            thread_of.insert(first, w["name"].as_str().unwrap().to_string());
        }
        let names: HashSet<&str> = thread_of.values().map(String::as_str).collect();
        assert_eq!(names, HashSet::from(["local-0", "local-1"]));
        let t = json(&host, "/api/tasks?since=0");
        let tasks = t["tasks"].as_array().unwrap();
        assert_eq!(tasks.len() as u64, ntasks, "{t}");
        let keys: HashSet<&str> = tasks.iter().map(|r| r[5].as_str().unwrap()).collect();
        assert_eq!(keys.len() as u64, ntasks, "a task shown twice");
        let mut per_worker: HashMap<&str, usize> = HashMap::new();
        for r in tasks {
            let row = r[1].as_u64().unwrap();
            let name = thread_of
                .get(&row)
                .unwrap_or_else(|| panic!("task {r} on row {row}, no worker's thread"));
            *per_worker.entry(name).or_default() += 1;
            assert!(r[3].as_u64().unwrap() <= r[4].as_u64().unwrap(), "{r}");
        }
        assert_eq!(
            per_worker.len(),
            2,
            "both workers ran tasks: {per_worker:?}"
        );
        // The status page's numbers: the dashboard's own workers table
        // counts the same tasks per thread.
        let done: u64 = s["workers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["done"].as_u64().unwrap())
            .sum();
        assert_eq!(done, ntasks);

        // Memory from the heartbeats, per worker (a heartbeat every 500 ms,
        // later on a loaded machine: poll).
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let cluster = json(&host, "/api/cluster");
            let workers = cluster["workers"].as_array().unwrap();
            if workers.len() == 2
                && workers
                    .iter()
                    .all(|w| w["process_bytes"].as_u64().unwrap() > 1 << 20)
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no memory reported by every worker: {cluster}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // The page itself.
        let (status, page) = get(&host, "/status");
        assert_eq!(status, 200);
        assert!(page.contains("\"scheduler\":\"distributed\""));
        let (status, page) = get(&host, "/workers");
        assert_eq!(status, 200);
        assert!(page.contains("OX.cluster(") && page.contains("\"name\":\"local-1\""));
    });
}

#[test]
fn prometheus_metrics_count_what_ran_on_the_cluster() {
    within(120, || {
        let c = cluster_with_dashboard(2);
        let host = host_of(&c.dashboard_link().unwrap());
        let client = c.client().unwrap();

        // During a run: 2 workers, tasks in flight on them.
        let slow = client
            .submit(
                &(0..8)
                    .map(|i| delayed!(slow_square(i, 300)))
                    .collect::<Vec<_>>(),
            )
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (_, m) = get(&host, "/metrics");
            let inflight = ["local-0", "local-1"]
                .iter()
                .map(|w| {
                    let row = format!("oxidask_cluster_worker_processing_tasks{{worker=\"{w}\"}}");
                    try_metric(&m, &row).unwrap_or(0.0)
                })
                .sum::<f64>();
            if inflight > 0.0 {
                assert_eq!(metric(&m, "oxidask_cluster_workers"), 2.0);
                assert_eq!(metric(&m, "oxidask_cluster_computations_running"), 1.0);
                assert!(inflight <= 8.0, "{m}");
                break;
            }
            assert!(Instant::now() < deadline, "no task in flight seen:\n{m}");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(
            slow.result().unwrap(),
            (0..8).map(|i| i * i).collect::<Vec<i64>>()
        );

        // 500 increments (a map: one task each) and one failing task.
        let fs = client.map(inc, 0..500i64).unwrap();
        assert_eq!(client.gather(&fs).unwrap(), (1..=500).collect::<Vec<i64>>());
        let bad = client.submit(&delayed!(checked_sqrt(-1.0)?)).unwrap();
        assert!(bad.result().is_err());

        // After: every count is what ran. The counters are pushed to the
        // dashboard at most every 100 ms, so a scrape right after a result
        // may show the cluster before the last computation was submitted:
        // poll until all three computations are counted and ended.
        let deadline = Instant::now() + Duration::from_secs(10);
        let m = loop {
            let (_, m) = get(&host, "/metrics");
            if metric(&m, "oxidask_cluster_computations_total") >= 3.0
                && metric(&m, "oxidask_cluster_tasks_completed_total") >= 508.0
                && metric(&m, "oxidask_cluster_tasks_erred_total") >= 1.0
                && metric(&m, "oxidask_cluster_computations_running") == 0.0
            {
                break m;
            }
            assert!(Instant::now() < deadline, "metrics never settled:\n{m}");
            std::thread::sleep(Duration::from_millis(50));
        };
        // 8 squares + 500 increments; the failed task is not completed.
        assert_eq!(metric(&m, "oxidask_cluster_tasks_completed_total"), 508.0);
        assert_eq!(metric(&m, "oxidask_cluster_tasks_erred_total"), 1.0);
        assert_eq!(metric(&m, "oxidask_cluster_computations_total"), 3.0);
        // Results to the client: the 8 squares and the 500 increments, each
        // as its codec writes it (the oracle: the same values encoded here).
        let encoded = |x: i64| {
            let mut buf = Vec::new();
            oxidask::graph::Value::new(x).encode(&mut buf).unwrap();
            buf.len() as f64
        };
        let sent: f64 =
            (0..8).map(|i| encoded(i * i)).sum::<f64>() + (1..=500).map(encoded).sum::<f64>();
        assert_eq!(
            metric(
                &m,
                "oxidask_cluster_transfer_bytes_total{direction=\"to_client\"}"
            ),
            sent
        );
        assert!(m.contains("# TYPE oxidask_cluster_tasks_completed_total counter"));
        assert!(m.contains("# TYPE oxidask_cluster_worker_memory_bytes gauge"));
        for w in ["local-0", "local-1"] {
            assert_eq!(
                metric(
                    &m,
                    &format!("oxidask_cluster_worker_threads{{worker=\"{w}\"}}")
                ),
                1.0
            );
            assert_eq!(
                metric(
                    &m,
                    &format!("oxidask_cluster_worker_processing_tasks{{worker=\"{w}\"}}")
                ),
                0.0
            );
        }
        // The dashboard's task view of the last computation: the failed
        // task counts erred.
        let s = status_until(&host, |s| s["erred"] == 1);
        assert_eq!(s["ok"], false, "{s}");
    });
}
