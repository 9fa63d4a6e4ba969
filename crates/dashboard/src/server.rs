//! The HTTP server: axum on a current-thread tokio runtime on one
//! background thread.

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use oxidask_scheduler::events::{self, Callback, Registration};

use crate::cluster::ClusterStatus;
use crate::state::Collector;

/// The environment variable [`Dashboard::from_env`] reads.
pub const ENV_VAR: &str = "OXIDASK_DASHBOARD";

/// The address used when none is given: Dask's dashboard port, local only.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8787";

/// How many finished tasks the live task stream keeps (the most recent).
const LIVE_WINDOW: usize = 20_000;

/// Why the dashboard could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DashboardError {
    /// The address is taken by another program (or another dashboard).
    #[error(
        "dashboard: port {port} on {host} is already in use; choose another port (e.g. {host}:0 for any free one)"
    )]
    PortInUse {
        /// The host part of the address.
        host: String,
        /// The port asked for.
        port: u16,
    },
    /// The address does not parse or resolve.
    #[error(
        "dashboard: {addr:?} is not an address to listen on (expected host:port, e.g. 127.0.0.1:8787)"
    )]
    BadAddress {
        /// What was given.
        addr: String,
    },
    /// Any other failure to listen.
    #[error("dashboard: cannot listen on {addr}: {source}")]
    Io {
        /// Where.
        addr: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// A running dashboard: serves pages about every computation in this
/// process until dropped.
pub struct Dashboard {
    addr: SocketAddr,
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) collector: Arc<Collector>,
    _registration: Option<Registration>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Dashboard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dashboard")
            .field("addr", &self.addr)
            .finish()
    }
}

impl Dashboard {
    /// Starts the dashboard on `addr` (`"127.0.0.1:8787"`; port 0 picks a
    /// free port, see [`addr`](Dashboard::addr)). A bare port
    /// (`"8787"`) listens on 127.0.0.1. Returns once the port is bound: a
    /// port in use is [`DashboardError::PortInUse`] naming it.
    pub fn serve(addr: &str) -> Result<Dashboard, DashboardError> {
        Dashboard::start(addr, true)
    }

    /// Like [`serve`](Dashboard::serve), but shows only what is given to
    /// its [`feed`](Dashboard::feed), not this process's computations: what
    /// a cluster's scheduler serves (its computations run elsewhere).
    pub fn serve_detached(addr: &str) -> Result<Dashboard, DashboardError> {
        Dashboard::start(addr, false)
    }

    fn start(addr: &str, global: bool) -> Result<Dashboard, DashboardError> {
        let addr = resolve(addr)?;
        let listener = TcpListener::bind(addr).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AddrInUse {
                DashboardError::PortInUse {
                    host: addr.ip().to_string(),
                    port: addr.port(),
                }
            } else {
                DashboardError::Io {
                    addr: addr.to_string(),
                    source: e,
                }
            }
        })?;
        let io = |e| DashboardError::Io {
            addr: addr.to_string(),
            source: e,
        };
        listener.set_nonblocking(true).map_err(io)?;
        let local = listener.local_addr().map_err(io)?;
        let collector = Arc::new(Collector::new(LIVE_WINDOW, false));
        let registration = global.then(|| events::register(collector.clone()));
        let served = collector.clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(io)?;
        let thread = std::thread::Builder::new()
            .name("oxidask-dashboard".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            eprintln!("oxidask dashboard: {e}");
                            return;
                        }
                    };
                    let served = axum::serve(listener, router(served))
                        .with_graceful_shutdown(async {
                            let _ = rx.await;
                        })
                        .await;
                    if let Err(e) = served {
                        eprintln!("oxidask dashboard stopped: {e}");
                    }
                });
            })
            .map_err(io)?;
        Ok(Dashboard {
            addr: local,
            collector,
            _registration: registration,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// Starts the dashboard at the address in `OXIDASK_DASHBOARD` (e.g.
    /// `127.0.0.1:8787`, or a bare port for 127.0.0.1); `Ok(None)` when the
    /// variable is unset or empty.
    pub fn from_env() -> Result<Option<Dashboard>, DashboardError> {
        Dashboard::from_env_value(std::env::var(ENV_VAR).ok().as_deref())
    }

    pub(crate) fn from_env_value(value: Option<&str>) -> Result<Option<Dashboard>, DashboardError> {
        match value.map(str::trim) {
            Some(v) if !v.is_empty() => Dashboard::serve(v).map(Some),
            _ => Ok(None),
        }
    }

    /// Where it listens (with the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The status page's URL.
    pub fn url(&self) -> String {
        format!("http://{}/status", self.addr)
    }

    /// The callback that feeds this dashboard: events given to it show on
    /// the pages as if a local scheduler had emitted them.
    pub fn feed(&self) -> Arc<dyn Callback> {
        self.collector.clone()
    }

    /// Shows a cluster's worker processes and counters (`/api/cluster`,
    /// the workers page, `/metrics`); replaces what was shown before.
    pub fn set_cluster(&self, status: ClusterStatus) {
        *self.collector.cluster.lock() = Some(status);
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn resolve(addr: &str) -> Result<SocketAddr, DashboardError> {
    let bad = || DashboardError::BadAddress {
        addr: addr.to_string(),
    };
    let with_host = if addr.parse::<u16>().is_ok() {
        format!("127.0.0.1:{addr}")
    } else {
        addr.to_string()
    };
    with_host
        .to_socket_addrs()
        .map_err(|_| bad())?
        .next()
        .ok_or_else(bad)
}

const STATUS_HTML: &str = include_str!("../assets/status.html");
const WORKERS_HTML: &str = include_str!("../assets/workers.html");
const GRAPH_HTML: &str = include_str!("../assets/graph.html");
pub(crate) const DASH_JS: &str = include_str!("../assets/dash.js");
pub(crate) const DASH_CSS: &str = include_str!("../assets/dash.css");

fn router(collector: Arc<Collector>) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/status") }))
        .route("/status", get(page_status))
        .route("/workers", get(page_workers))
        .route("/graph", get(page_graph))
        .route("/api/graph", get(api_graph))
        .route(
            "/dash.js",
            get(|| async { asset("text/javascript", DASH_JS) }),
        )
        .route("/dash.css", get(|| async { asset("text/css", DASH_CSS) }))
        .route("/api/status", get(api_status))
        .route("/api/workers", get(api_workers))
        .route("/api/tasks", get(api_tasks))
        .route("/api/cluster", get(api_cluster))
        .route("/api/stream/{view}", get(api_stream))
        .route("/metrics", get(metrics))
        .fallback(|| async { (StatusCode::NOT_FOUND, "404 not found\n") })
        .with_state(collector)
}

/// A page with the data it shows first put in its script, so it renders
/// on arrival instead of after the first live update.
fn page(template: &'static str, snapshot: serde_json::Value) -> Response {
    // Inside a <script>, "</script>" in a string (an error message) would
    // end the script: JSON may escape '<' as \u003c.
    let data = snapshot.to_string().replace('<', "\\u003c");
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        template.replacen("/*SNAPSHOT*/null", &data, 1),
    )
        .into_response()
}

async fn page_status(State(c): State<Arc<Collector>>) -> Response {
    page(STATUS_HTML, status_update(&c, 0).0)
}

async fn page_workers(State(c): State<Arc<Collector>>) -> Response {
    page(WORKERS_HTML, c.workers_json())
}

async fn page_graph(State(c): State<Arc<Collector>>) -> Response {
    page(GRAPH_HTML, c.graph_json())
}

/// The status view's update: status and the tasks finished after `since`;
/// also where the next update starts.
fn status_update(c: &Collector, since: u64) -> (serde_json::Value, u64) {
    c.status_requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tasks = c.tasks_json(since, 5000);
    let next = tasks["next"].as_u64().unwrap_or(since);
    (
        serde_json::json!({ "status": c.status_json(), "tasks": tasks }),
        next,
    )
}

fn asset(kind: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, kind)], body).into_response()
}

fn json(v: serde_json::Value) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        v.to_string(),
    )
        .into_response()
}

async fn api_status(State(c): State<Arc<Collector>>) -> Response {
    c.status_requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    json(c.status_json())
}

async fn api_graph(State(c): State<Arc<Collector>>) -> Response {
    json(c.graph_json())
}

/// `/api/cluster`: the cluster's worker processes and counters (`null` on
/// a local run's dashboard).
async fn api_cluster(State(c): State<Arc<Collector>>) -> Response {
    json(serde_json::json!(*c.cluster.lock()))
}

async fn api_workers(State(c): State<Arc<Collector>>) -> Response {
    json(c.workers_json())
}

#[derive(serde::Deserialize)]
struct Since {
    since: Option<u64>,
}

async fn api_tasks(State(c): State<Arc<Collector>>, Query(q): Query<Since>) -> Response {
    json(c.tasks_json(q.since.unwrap_or(0), 5000))
}

/// What a page subscribes to with `EventSource("/api/stream/{view}")`.
#[derive(Clone, Copy)]
enum View {
    /// The status page: status and the tasks finished since the last event.
    Status,
    Workers,
    Graph,
}

impl View {
    fn parse(s: &str) -> Option<View> {
        match s {
            "status" => Some(View::Status),
            "workers" => Some(View::Workers),
            "graph" => Some(View::Graph),
            _ => None,
        }
    }

    /// How often an open page gets an update: the status page's task
    /// stream moves, the others change slowly.
    fn period(self) -> std::time::Duration {
        std::time::Duration::from_millis(match self {
            View::Status => 300,
            View::Workers | View::Graph => 500,
        })
    }
}

/// Live updates by server-sent events: one `update` event per period with
/// the view's JSON (already aggregated by task group, so its size does not
/// grow with the graph), for as long as the page stays open. The status
/// view sends each finished task once: the connection remembers how far it
/// has sent, starting from `?since=N`.
async fn api_stream(
    State(c): State<Arc<Collector>>,
    axum::extract::Path(view): axum::extract::Path<String>,
    Query(q): Query<Since>,
) -> Response {
    use axum::response::sse::{Event, KeepAlive, Sse};
    let Some(view) = View::parse(&view) else {
        return (StatusCode::NOT_FOUND, "404 not found: no such stream\n").into_response();
    };
    let mut interval = tokio::time::interval(view.period());
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let state = (c, interval, q.since.unwrap_or(0));
    let stream = futures_util::stream::unfold(state, move |(c, mut interval, since)| async move {
        interval.tick().await;
        let (data, since) = match view {
            View::Status => status_update(&c, since),
            View::Workers => (c.workers_json(), since),
            View::Graph => (c.graph_json(), since),
        };
        let event = Event::default().event("update").data(data.to_string());
        Some((
            Ok::<_, std::convert::Infallible>(event),
            (c, interval, since),
        ))
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

async fn metrics(State(c): State<Arc<Collector>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        c.metrics(),
    )
        .into_response()
}
