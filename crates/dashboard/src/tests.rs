//! The server over real sockets, during real computations on 2 threads,
//! and the pages in headless Chromium.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use oxidask_delayed::{ComputeOptions, Delayed, compute_with, delayed};
use oxidask_scheduler::SchedulerChoice;
use parking_lot::Mutex;

use crate::{Dashboard, DashboardError, performance_report};

/// Dashboards see every computation in the process: one test at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn slow_square(x: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(2));
    x * x
}

fn add_all(xs: Vec<u64>) -> u64 {
    xs.iter().sum()
}

/// `n` sleeping tasks and one sum, on 2 threads.
fn run(n: u64) -> u64 {
    let squares: Vec<Delayed<u64>> = (0..n).map(|i| delayed!(slow_square(i))).collect();
    let total = delayed!(add_all(squares));
    let options = ComputeOptions::new()
        .scheduler(SchedulerChoice::Threaded)
        .num_workers(2);
    compute_with(&total, &options).expect("the computation runs")
}

/// GET over plain HTTP/1.1: (status, headers, body).
fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    request(addr, "GET", path)
}

fn request(addr: SocketAddr, method: &str, path: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).expect("connects");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("reads the response");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a full response");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_string(), body.to_string())
}

fn json(addr: SocketAddr, path: &str) -> serde_json::Value {
    let (status, _, body) = get(addr, path);
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).expect("valid JSON")
}

#[test]
fn pages_json_and_metrics_after_a_run_on_two_threads() {
    let _serial = SERIAL.lock();
    let dashboard = Dashboard::serve("127.0.0.1:0").unwrap();
    let addr = dashboard.addr();
    assert!(addr.ip().is_loopback());
    assert_ne!(addr.port(), 0);
    assert_eq!(run(100), (0..100u64).map(|x| x * x).sum::<u64>());

    let s = json(addr, "/api/status");
    assert_eq!(s["nworkers"], 2, "{s}");
    assert_eq!(s["ntasks"], 101);
    assert_eq!(s["finished"], 101);
    assert_eq!(s["running"], false);
    assert_eq!(s["ok"], true);
    let groups = s["groups"].as_array().unwrap();
    let square = groups
        .iter()
        .find(|g| g["name"] == "slow_square")
        .expect("a slow_square group");
    assert_eq!(square["total"], 100);
    assert_eq!(square["finished"], 100);
    assert_eq!(square["waiting"], 0);
    assert_eq!(square["processing"], 0);
    assert!(square["busy_s"].as_f64().unwrap() >= 0.2, "{square}");
    assert!(
        groups
            .iter()
            .any(|g| g["name"] == "add_all" && g["finished"] == 1)
    );
    let workers = s["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 2);
    let done: u64 = workers.iter().map(|w| w["done"].as_u64().unwrap()).sum();
    assert_eq!(done, 101);
    assert!(s["memory"]["limit"].as_u64().is_some(), "{s}");

    let t = json(addr, "/api/tasks?since=0");
    let tasks = t["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 101);
    let names = t["groups"].as_array().unwrap();
    for task in tasks {
        let (w, g, start, end) = (&task[1], &task[2], &task[3], &task[4]);
        assert!(w.as_u64().unwrap() < 2);
        assert!(start.as_u64().unwrap() <= end.as_u64().unwrap());
        let group = names[g.as_u64().unwrap() as usize].as_str().unwrap();
        assert!(task[5].as_str().unwrap().contains(group), "{task}");
    }
    let next = t["next"].as_u64().unwrap();
    let later = json(addr, &format!("/api/tasks?since={next}"));
    assert!(later["tasks"].as_array().unwrap().is_empty());

    let g = json(addr, "/api/graph");
    let id = |name: &str| {
        g["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == name)
            .unwrap()["id"]
            .clone()
    };
    assert_eq!(
        g["edges"],
        serde_json::json!([[id("slow_square"), id("add_all")]]),
        "{g}"
    );

    let w = json(addr, "/api/workers");
    assert_eq!(w["workers"].as_array().unwrap().len(), 2);

    let (status, head, body) = get(addr, "/metrics");
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain")
    );
    assert!(body.contains("oxidask_workers 2\n"), "{body}");
    assert!(
        body.contains("oxidask_tasks{group=\"slow_square\",state=\"finished\"} 100\n"),
        "{body}"
    );
    assert!(body.contains("# TYPE oxidask_memory_held_bytes gauge"));
    assert!(body.contains("oxidask_worker_busy_seconds_total{worker=\"1\"}"));

    for page in ["/status", "/workers", "/graph"] {
        let (status, head, body) = get(addr, page);
        assert_eq!(status, 200);
        assert!(head.contains("text/html"));
        assert!(body.contains("<script src=\"/dash.js\"></script>"));
    }
    let (status, _, body) = get(addr, "/dash.js");
    assert_eq!(status, 200);
    assert!(body.contains("OX.drawStream"));
    let (status, head, _) = get(addr, "/");
    assert_eq!(status, 303, "{head}");
}

fn chunk(i: u32) -> Vec<f64> {
    vec![f64::from(i); 100_000] // 800 kB
}

fn sum_chunks(chunks: Vec<Vec<f64>>) -> f64 {
    chunks.iter().flatten().sum()
}

#[test]
fn spills_show_as_marks_and_in_the_memory_numbers() {
    let _serial = SERIAL.lock();
    let dashboard = Dashboard::serve("127.0.0.1:0").unwrap();
    let addr = dashboard.addr();
    let chunks: Vec<Delayed<Vec<f64>>> = (0..20).map(|i| delayed!(chunk(i))).collect();
    let total = delayed!(sum_chunks(chunks));
    let options = ComputeOptions::new()
        .scheduler(SchedulerChoice::Threaded)
        .num_workers(2)
        .memory_limit(Some(2_000_000));
    let sum = compute_with(&total, &options).unwrap();
    assert_eq!(sum, 100_000.0 * (0..20).sum::<u32>() as f64);
    let s = json(addr, "/api/status");
    assert_eq!(s["memory"]["limit"], 2_000_000);
    let spilled = s["memory"]["spilled_bytes"].as_u64().unwrap();
    assert!(spilled > 0, "{s}");
    let marks = s["spills"].as_array().unwrap();
    assert!(!marks.is_empty(), "{s}");
    let marked: u64 = marks.iter().map(|m| m[1].as_u64().unwrap()).sum();
    assert_eq!(marked, spilled, "every spilled byte is marked once");
    let (_, _, metrics) = get(addr, "/metrics");
    assert!(
        metrics.contains(&format!("oxidask_memory_spilled_bytes_total {spilled}\n")),
        "{metrics}"
    );
    assert!(
        metrics.contains("oxidask_memory_limit_bytes 2000000\n"),
        "{metrics}"
    );
}

fn fail_on_7(x: u64) -> Result<u64, String> {
    if x == 7 {
        Err(format!("star {x}: file is truncated"))
    } else {
        Ok(x)
    }
}

#[test]
fn a_failed_task_shows_as_erred_with_its_message() {
    let _serial = SERIAL.lock();
    let dashboard = Dashboard::serve("127.0.0.1:0").unwrap();
    let xs: Vec<Delayed<u64>> = (0..20).map(|i| delayed!(fail_on_7(i)?)).collect();
    let options = ComputeOptions::new().scheduler(SchedulerChoice::Sync);
    let err = compute_with(&xs, &options).unwrap_err();
    assert!(err.to_string().contains("file is truncated"), "{err}");
    let s = json(dashboard.addr(), "/api/status");
    assert_eq!(s["ok"], false, "{s}");
    assert_eq!(s["erred"], 1, "{s}");
    let group = &s["groups"].as_array().unwrap()[0];
    assert_eq!(group["name"], "fail_on_7");
    assert_eq!(group["erred"], 1);
    assert_eq!(group["processing"], 0);
    assert!(
        s["errors"][0]
            .as_str()
            .unwrap()
            .contains("star 7: file is truncated"),
        "{s}"
    );
    let (_, _, metrics) = get(dashboard.addr(), "/metrics");
    assert!(
        metrics.contains("oxidask_tasks{group=\"fail_on_7\",state=\"erred\"} 1\n"),
        "{metrics}"
    );
}

#[test]
fn unknown_paths_are_404_and_writes_are_refused() {
    let _serial = SERIAL.lock();
    let dashboard = Dashboard::serve("127.0.0.1:0").unwrap();
    let addr = dashboard.addr();
    assert_eq!(get(addr, "/nope").0, 404);
    assert_eq!(get(addr, "/api/nope").0, 404);
    assert_eq!(request(addr, "POST", "/api/status").0, 405);
    assert_eq!(request(addr, "DELETE", "/status").0, 405);
    assert_eq!(request(addr, "PUT", "/metrics").0, 405);
}

/// Reads server-sent events from `path` until `n` `update` events came;
/// returns their data.
fn sse_updates(addr: SocketAddr, path: &str, n: usize) -> Vec<serde_json::Value> {
    use std::io::{BufRead, BufReader, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    reader.read_line(&mut head).unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let mut updates = Vec::new();
    let mut event = String::new();
    let mut line = String::new();
    while updates.len() < n {
        line.clear();
        if reader.read_line(&mut line).unwrap() == 0 {
            break;
        }
        // Chunked transfer: size lines and blank lines carry no field.
        if let Some(e) = line.strip_prefix("event: ") {
            event = e.trim().to_string();
        } else if let Some(d) = line.strip_prefix("data: ") {
            if event == "update" {
                updates.push(serde_json::from_str(d.trim()).unwrap());
            }
        }
    }
    updates
}

#[test]
fn live_updates_arrive_by_server_sent_events() {
    let _serial = SERIAL.lock();
    let dashboard = Dashboard::serve("127.0.0.1:0").unwrap();
    let addr = dashboard.addr();
    assert_eq!(run(40), (0..40u64).map(|x| x * x).sum::<u64>());
    let updates = sse_updates(addr, "/api/stream/status?since=0", 2);
    assert_eq!(updates.len(), 2);
    let first = &updates[0];
    assert_eq!(first["status"]["running"], false, "{first}");
    // Every task once: the first update has them, the second only newer ones.
    let sent: usize = updates
        .iter()
        .map(|u| u["tasks"]["tasks"].as_array().unwrap().len())
        .sum();
    assert_eq!(sent, first["tasks"]["tasks"].as_array().unwrap().len());
    assert!(sent >= 40, "{first}");
    let workers = sse_updates(addr, "/api/stream/workers", 1);
    assert!(workers[0]["workers"].is_array(), "{:?}", workers[0]);
    let graph = sse_updates(addr, "/api/stream/graph", 1);
    assert!(graph[0]["groups"].is_array(), "{:?}", graph[0]);
    assert_eq!(get(addr, "/api/stream/nothing").0, 404);
}

static HOLD: AtomicBool = AtomicBool::new(false);

fn held_square(x: u64) -> u64 {
    let t = std::time::Instant::now();
    while !HOLD.load(Ordering::Acquire) && t.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(5));
    }
    x * x
}

#[test]
fn a_second_computation_at_the_same_time_does_not_mix_into_the_counts() {
    let _serial = SERIAL.lock();
    let dashboard = Dashboard::serve("127.0.0.1:0").unwrap();
    let addr = dashboard.addr();
    // The first computation: one task held open on another thread.
    let first = std::thread::spawn(|| {
        let x = delayed!(held_square(7));
        compute_with(&x, &ComputeOptions::new().num_workers(1)).unwrap()
    });
    let started = std::time::Instant::now();
    while dashboard.collector.status_json()["groups"]
        .as_array()
        .is_none_or(|g| g.is_empty())
        && started.elapsed() < Duration::from_secs(30)
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    // The second starts and finishes while the first still runs; then the
    // first finishes: its task must not count into the second's progress.
    assert_eq!(run(20), (0..20u64).map(|x| x * x).sum::<u64>());
    HOLD.store(true, Ordering::Release);
    assert_eq!(first.join().unwrap(), 49);
    let s = json(addr, "/api/status");
    let groups = s["groups"].as_array().unwrap();
    let names: Vec<&str> = groups.iter().map(|g| g["name"].as_str().unwrap()).collect();
    let held = groups.iter().find(|g| g["name"] == "held_square");
    assert!(
        held.is_none_or(|g| g["finished"] == 0 && g["total"] == 0),
        "the first computation's task counted into the second: {names:?} {s}"
    );
    assert_eq!(s["finished"], 21, "{s}");
    assert_eq!(s["running"], false, "{s}");
    // It still shows in the task stream.
    let t = json(addr, "/api/tasks?since=0");
    assert!(t.to_string().contains("held_square"), "{t}");
}

#[test]
fn a_port_in_use_is_an_error_naming_the_port() {
    let _serial = SERIAL.lock();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let err = Dashboard::serve(&format!("127.0.0.1:{port}")).unwrap_err();
    assert!(matches!(err, DashboardError::PortInUse { port: p, .. } if p == port));
    let message = err.to_string();
    assert!(message.contains(&format!("port {port}")), "{message}");
    assert!(message.contains("already in use"), "{message}");

    let err = Dashboard::serve("no such host:x").unwrap_err();
    assert!(matches!(err, DashboardError::BadAddress { .. }), "{err}");
}

#[test]
fn a_bare_port_listens_on_localhost_and_stops_when_dropped() {
    let _serial = SERIAL.lock();
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = probe.local_addr().unwrap().port();
    drop(probe);
    let dashboard = Dashboard::serve(&port.to_string()).unwrap();
    assert_eq!(dashboard.addr().to_string(), format!("127.0.0.1:{port}"));
    assert_eq!(dashboard.url(), format!("http://127.0.0.1:{port}/status"));
    assert_eq!(get(dashboard.addr(), "/status").0, 200);
    drop(dashboard);
    // The port is free again.
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("the port was released");
}

#[test]
fn from_env_reads_oxidask_dashboard() {
    let _serial = SERIAL.lock();
    // The variable's value goes through `from_env_value` (setting the
    // variable itself is unsafe in a multi-threaded test binary).
    assert!(Dashboard::from_env_value(None).unwrap().is_none());
    assert!(Dashboard::from_env_value(Some(" ")).unwrap().is_none());
    let d = Dashboard::from_env_value(Some("127.0.0.1:0"))
        .unwrap()
        .unwrap();
    assert_eq!(get(d.addr(), "/status").0, 200);
    let port = d.addr().port();
    let err = Dashboard::from_env_value(Some(&port.to_string())).unwrap_err();
    assert!(err.to_string().contains(&format!("port {port}")), "{err}");
}

#[test]
fn a_performance_report_is_one_self_contained_file() {
    let _serial = SERIAL.lock();
    let dir = oxidask_testing::TempDir::new("report");
    let path = dir.join("report.html");
    let total = performance_report(&path, || run(60) + run(40)).unwrap();
    assert_eq!(
        total,
        (0..60u64).map(|x| x * x).sum::<u64>() + (0..40u64).map(|x| x * x).sum::<u64>()
    );
    let html = std::fs::read_to_string(&path).unwrap();
    assert!(!html.contains("src=\"/"), "no external script or style");
    assert!(!html.contains("/*REPORT_DATA*/"));
    let data = html
        .split("const R = ")
        .nth(1)
        .and_then(|rest| rest.split(";\nOX.summary").next())
        .expect("the embedded data");
    let r: serde_json::Value = serde_json::from_str(data).expect("the data is JSON");
    assert_eq!(r["runs"], 2);
    assert_eq!(r["ntasks"], 102);
    assert_eq!(r["finished"], 102);
    assert_eq!(r["tasks"].as_array().unwrap().len(), 102);
    assert!(r["memory_samples"].as_array().unwrap().len() >= 2);
    let square = r["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "slow_square")
        .unwrap()
        .clone();
    assert_eq!(square["finished"], 100);

    if let Some(chrome) = chromium() {
        let dom = dump_dom(&chrome, &format!("file://{}", path.display()), 4000);
        assert!(
            dom.contains("data-state=\"report\""),
            "the report's script ran: {dom}"
        );
        assert!(bars(&dom) >= 100, "a task stream in the report");
        assert!(dom.contains(">slow_square<"));
        assert!(dom.contains("data-edges=\"1\""), "the group graph: {dom}");
        screenshot(&chrome, &format!("file://{}", path.display()), "report.png");
    }
}

/// Opened by the test once the page has polled; the gated task waits for it.
static GATE: AtomicBool = AtomicBool::new(false);

fn gated_square(x: u64) -> u64 {
    let t = std::time::Instant::now();
    while !GATE.load(Ordering::Acquire) && t.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(5));
    }
    x * x
}

#[test]
fn the_status_page_in_headless_chromium_during_a_run() {
    let _serial = SERIAL.lock();
    let chrome = chromium().unwrap_or_else(|| {
        panic!(
            "this test needs Chromium at /usr/bin/chromium (or $CHROMIUM): \
             apt-get update && apt-get install -y chromium (.ci/run installs it)"
        )
    });
    let dashboard = Dashboard::serve("127.0.0.1:0").unwrap();
    let url = dashboard.url();
    GATE.store(false, Ordering::Release);
    // 300 quick tasks, one that waits until the page has been seen, then the sum.
    let running = std::thread::spawn(|| {
        let mut squares: Vec<Delayed<u64>> = (0..300).map(|i| delayed!(slow_square(i))).collect();
        squares.push(delayed!(gated_square(300)));
        let total = delayed!(add_all(squares));
        let options = ComputeOptions::new()
            .scheduler(SchedulerChoice::Threaded)
            .num_workers(2);
        compute_with(&total, &options).expect("the computation runs")
    });
    // The page loads and polls while the gated task holds the run open.
    let during = {
        let chrome = chrome.clone();
        let url = url.clone();
        std::thread::spawn(move || dump_dom(&chrome, &url, 4000))
    };
    let polled = std::time::Instant::now();
    while dashboard.collector.status_requests.load(Ordering::Relaxed) < 3
        && !during.is_finished()
        && polled.elapsed() < Duration::from_secs(60)
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    let during = during.join().unwrap();
    GATE.store(true, Ordering::Release);
    assert_eq!(
        running.join().unwrap(),
        (0..=300u64).map(|x| x * x).sum::<u64>()
    );
    assert!(
        during.contains("id=\"run-state\">running<"),
        "loaded during the run: {during}"
    );
    assert!(during.contains("id=\"nworkers\">2<"), "2 workers: {during}");
    assert!(bars(&during) > 0, "a non-empty task stream during the run");
    assert!(during.contains(">gated_square<"), "{during}");
    assert!(!during.contains("id=\"progress-pct\">100%<"), "{during}");
    // Once the run ended, the same page (still open, or loaded again) shows
    // every task and progress at 100%.
    let after = dump_dom(&chrome, &url, 4000);
    assert!(after.contains("id=\"nworkers\">2<"), "{after}");
    assert!(after.contains("id=\"run-state\">finished<"), "{after}");
    assert!(
        after.contains("id=\"progress-pct\">100%<"),
        "progress reaches 100%: {after}"
    );
    assert!(after.contains("id=\"ntasks-done\">302<"), "{after}");
    assert!(bars(&after) >= 302, "a bar per task: {after}");
    assert_eq!(
        after.matches("class=\"worker\"").count(),
        2,
        "two rows in the workers table"
    );
    assert!(after.contains(">slow_square<") && after.contains(">gated_square<"));
    screenshot(&chrome, &url, "status.png");

    let workers = dump_dom(&chrome, &url.replace("/status", "/workers"), 3000);
    assert_eq!(workers.matches("class=\"worker\"").count(), 2, "{workers}");

    let graph_url = url.replace("/status", "/graph");
    let graph = dump_dom(&chrome, &graph_url, 3000);
    assert!(
        graph.contains("data-nodes=\"3\""),
        "three task groups: {graph}"
    );
    assert!(
        graph.contains("data-edges=\"2\""),
        "both squares feed the sum: {graph}"
    );
    assert!(graph.contains("data-group=\"gated_square\""), "{graph}");
    screenshot(&chrome, &graph_url, "graph.png");
}

/// The `data-bars` count of the task-stream canvas.
fn bars(dom: &str) -> usize {
    dom.split("data-bars=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The browser for the end-to-end tests. A developer machine without it
/// skips them; in CI (`CI` set), where `.ci/run` installs it, a missing
/// browser fails the test instead of passing it unseen.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if !path.exists() && std::env::var_os("CI").is_some() {
        panic!(
            "{} is missing in CI: .ci/run installs Debian's chromium package",
            path.display()
        );
    }
    path.exists().then_some(path)
}

fn chromium_command(chrome: &PathBuf) -> (Command, oxidask_testing::TempDir) {
    let profile = oxidask_testing::TempDir::new("chromium");
    let mut cmd = Command::new(chrome);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
    ]);
    cmd.arg(format!("--user-data-dir={}", profile.display()));
    (cmd, profile)
}

/// Runs chromium, killing it if it has not finished within a minute: a
/// test fails, it never hangs.
fn output_within_a_minute(cmd: &mut Command) -> std::process::Output {
    use std::process::Stdio;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium runs");
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("chromium did not finish within a minute");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

// Pages hold a server-sent-event stream open, so chromium's virtual time
// (which waits for the network to go quiet) would never run out: wall-clock
// `--timeout` stops loading after the budget and then dumps or shoots. The
// budget includes chromium's start (about a second on a busy machine).
fn dump_dom(chrome: &PathBuf, url: &str, budget_ms: u32) -> String {
    let (mut cmd, _profile) = chromium_command(chrome);
    let out = output_within_a_minute(
        cmd.arg(format!("--timeout={budget_ms}"))
            .arg("--dump-dom")
            .arg(url),
    );
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Writes `target/screenshots/<name>` of the workspace.
fn screenshot(chrome: &PathBuf, url: &str, name: &str) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(name);
    let _ = std::fs::remove_file(&file);
    let (mut cmd, _profile) = chromium_command(chrome);
    let out = output_within_a_minute(
        cmd.arg("--timeout=4000")
            .arg("--window-size=1280,800")
            .arg(format!("--screenshot={}", file.display()))
            .arg(url),
    );
    assert!(
        out.status.success() && file.exists(),
        "no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
