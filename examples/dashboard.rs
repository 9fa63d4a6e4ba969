//! The dashboard's cost, measured: the light-curve workload with and without
//! the dashboard open (a poller fetching what the status page fetches, every
//! 300 ms), side by side; then the status page's requests with 1,000,000
//! tasks in the graph.
//!
//! ```text
//! cargo run --release --example dashboard                    # ~1-2 minutes on 2 cores
//! cargo run --release --example dashboard -- --stars 400 --nfreq 100000 --rounds 5 --tasks 1000000
//! cargo run --release --example dashboard -- --serve 127.0.0.1:8787   # look at it
//! ```

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use oxidask::diagnostics::Dashboard;
use oxidask::prelude::*;
use oxidask_workloads::lightcurve::{self, Features, ReadError, features_for_file};

fn features_of(path: PathBuf, nfreq: usize) -> Result<Features, ReadError> {
    features_for_file(&path, nfreq)
}

fn inc(x: u64) -> u64 {
    x + 1
}

fn total(xs: Vec<u64>) -> u64 {
    xs.iter().sum()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut stars = 400u32;
    let mut rounds = 5usize;
    let mut tasks = 1_000_000u64;
    let mut nfreq = 100_000usize;
    let mut serve: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--stars" => stars = value()?.parse()?,
            "--rounds" => rounds = value()?.parse()?,
            "--tasks" => tasks = value()?.parse()?,
            "--nfreq" => nfreq = value()?.parse()?,
            "--serve" => serve = Some(value()?),
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }

    if let Some(addr) = serve {
        // Show the workload on a dashboard, again and again, until killed.
        let d = Dashboard::serve(&addr)?;
        println!("dashboard at {}", d.url());
        let paths = generate(stars)?;
        loop {
            light_curves(&paths, nfreq)?;
            std::thread::sleep(Duration::from_secs(2));
        }
    }

    let paths = generate(stars)?;
    light_curves(&paths, nfreq)?; // warm the page cache and the allocator
    println!("light curves: {stars} stars × {nfreq} trial frequencies, one delayed task per star");
    let (mut without, mut with) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        without.push(light_curves(&paths, nfreq)?);
        let d = Dashboard::serve("127.0.0.1:0")?;
        let poller = Poller::start(d.addr());
        with.push(light_curves(&paths, nfreq)?);
        let polls = poller.stop();
        assert!(polls > 0, "the poller fetched the page's data");
        drop(d);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!("  rounds (s), alternating:  without {without:.3?}  with {with:.3?}");
    let (a, b) = (median(&mut without), median(&mut with));
    println!(
        "  median: without {a:.3} s, with the dashboard open {b:.3} s: {:+.1}%",
        100.0 * (b / a - 1.0)
    );

    // The status page with a big graph: `tasks` increments summed in groups of 1,000.
    let t = Instant::now();
    let incs: Vec<Delayed<u64>> = (0..tasks).map(|i| delayed!(inc(i))).collect();
    let sums: Vec<Delayed<u64>> = incs
        .chunks(1000)
        .map(|c| delayed!(total(c.to_vec())))
        .collect();
    drop(incs);
    println!(
        "{} tasks in the graph (built in {:.2} s)",
        tasks + sums.len() as u64,
        t.elapsed().as_secs_f64()
    );
    // Tiny tasks are where a per-task callback costs most: time the whole
    // compute (optimize + run) without and with the dashboard, alternating.
    let (mut bare, mut watched) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let t = Instant::now();
        compute(&sums)?;
        bare.push(t.elapsed().as_secs_f64());
        let d = Dashboard::serve("127.0.0.1:0")?;
        let t = Instant::now();
        compute(&sums)?;
        watched.push(t.elapsed().as_secs_f64());
        drop(d);
    }
    // What any callback costs the scheduler (timestamps, memory numbers and
    // task groups are only made when somebody listens), for comparison.
    let mut noop = Vec::new();
    for _ in 0..3 {
        let _on = oxidask::scheduler::events::register(Arc::new(NoOp));
        let t = Instant::now();
        compute(&sums)?;
        noop.push(t.elapsed().as_secs_f64());
    }
    let c = median(&mut noop);
    let (a, b) = (median(&mut bare), median(&mut watched));
    println!(
        "  compute of the tiny tasks, medians of 3: no callback {a:.2} s, an empty callback {c:.2} s ({:+.0}%), the dashboard {b:.2} s ({:+.0}%)",
        100.0 * (c / a - 1.0),
        100.0 * (b / a - 1.0)
    );
    let d = Dashboard::serve("127.0.0.1:0")?;
    let addr = d.addr();
    let running = std::thread::spawn(move || compute(&sums).map(|v| v.iter().sum::<u64>()));
    let mut during = Vec::new();
    while !running.is_finished() {
        during.push(page_load(addr));
        std::thread::sleep(Duration::from_millis(200));
    }
    let result = running.join().expect("no panic")?;
    assert_eq!(result, (1..=tasks).sum::<u64>());
    let after = page_load(addr);
    if let Some(max) = during.iter().copied().reduce(f64::max) {
        println!(
            "  status page requests during the run: {} loads, slowest {:.1} ms",
            during.len(),
            max * 1e3
        );
    }
    println!(
        "  status page requests after the run (every task finished): {:.1} ms",
        after * 1e3
    );
    if std::path::Path::new(CHROMIUM).exists() {
        // Headless Chromium renders the page; its start-up alone is timed on
        // an empty dashboard for comparison.
        let (secs, dom) = chromium_render(&d.url());
        assert!(
            dom.contains("id=\"progress-pct\">100%<"),
            "the page rendered the run"
        );
        let empty = Dashboard::serve("127.0.0.1:0")?;
        let (baseline, _) = chromium_render(&empty.url());
        println!(
            "  headless Chromium, status page rendered with 100%: {:.2} s (the same page with no run: {:.2} s)",
            secs, baseline
        );
    }
    Ok(())
}

const CHROMIUM: &str = "/usr/bin/chromium";

/// Wall seconds for headless Chromium to load, run and dump the page. The
/// page holds a server-sent-event stream open, so Chromium's virtual-time
/// budget would never run out: it dumps the DOM when the page has loaded
/// (the page arrives with its data, so that is when it shows it), with a
/// wall-clock `--timeout` as the bound.
fn chromium_render(url: &str) -> (f64, String) {
    let profile = std::env::temp_dir().join(format!("oxidask-chromium-{}", std::process::id()));
    let t = Instant::now();
    let out = std::process::Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--timeout=5000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .output()
        .expect("chromium runs");
    let secs = t.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&profile);
    (secs, String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Writes `n` synthetic stars once (kept in the temp dir between runs).
fn generate(n: u32) -> std::io::Result<Vec<PathBuf>> {
    let dir = std::env::temp_dir().join("oxidask-dashboard-example");
    std::fs::create_dir_all(&dir)?;
    (0..n)
        .map(|id| {
            let path = dir.join(lightcurve::star_file_name(id));
            if !path.exists() {
                let (lc, _) = lightcurve::generate_star(42, id);
                lightcurve::write_csv(&path, &lc)?;
            }
            Ok(path)
        })
        .collect()
}

/// Seconds for one computation of every star's features.
fn light_curves(paths: &[PathBuf], nfreq: usize) -> Result<f64, oxidask::Error> {
    let per_file: Vec<Delayed<Features>> = paths
        .iter()
        .map(|p| delayed!(features_of(p.clone(), nfreq)?))
        .collect();
    let t = Instant::now();
    let out = compute(&per_file)?;
    assert_eq!(out.len(), paths.len());
    Ok(t.elapsed().as_secs_f64())
}

/// Fetches what an open status page fetches, every 300 ms, on its own thread.
struct Poller {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<usize>,
}

impl Poller {
    fn start(addr: SocketAddr) -> Poller {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut polls = 0;
            let mut next = 0u64;
            while !flag.load(Ordering::Relaxed) {
                let _ = get(addr, "/api/status");
                let tasks = get(addr, &format!("/api/tasks?since={next}"));
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&tasks) {
                    next = v["next"].as_u64().unwrap_or(next);
                }
                polls += 1;
                std::thread::sleep(Duration::from_millis(300));
            }
            polls
        });
        Poller { stop, thread }
    }

    fn stop(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the poller ends")
    }
}

/// Seconds to fetch everything the status page loads on first view.
fn page_load(addr: SocketAddr) -> f64 {
    let t = Instant::now();
    for path in [
        "/status",
        "/dash.css",
        "/dash.js",
        "/api/status",
        "/api/tasks?since=0",
    ] {
        let body = get(addr, path);
        assert!(!body.is_empty(), "{path} answered");
    }
    t.elapsed().as_secs_f64()
}

/// The body of a GET over plain HTTP/1.1.
fn get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connects");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("sends");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("reads");
    raw.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

/// A callback that does nothing: what listening alone costs.
struct NoOp;

impl oxidask::scheduler::Callback for NoOp {
    fn on_event(&self, _: &oxidask::scheduler::Event<'_>) {}
}
