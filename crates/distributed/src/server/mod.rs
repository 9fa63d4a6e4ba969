//! The scheduler process: a tokio shell around [`ClusterState`].
//!
//! One task accepts connections and runs each handshake; per connection a
//! reader task turns frames into events and a writer task drains a queue of
//! messages (flushing once per burst, so small messages are batched). One
//! actor owns the state and handles events in order: no locks around the
//! task states.
//!
//! With a dashboard ([`Scheduler::start_with_dashboard`]) the actor also
//! shows every message in and out to an [`observe::Observer`], which feeds
//! the dashboard; workers are then asked to send their task events
//! (batched), and each client is told the dashboard's address.

mod observe;
mod state;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

pub use state::{ClusterState, SchedulerOptions};
use state::{ConnId, Out};

use crate::error::{Error, Result};
use crate::messages::{MemoryReport, Msg, Role};
use crate::wire::{self, FrameWriter};
use observe::Observer;

enum Event {
    Connected {
        conn: ConnId,
        role: Role,
        tx: mpsc::UnboundedSender<(Msg, Vec<Bytes>)>,
        kill: oneshot::Sender<()>,
    },
    Message {
        conn: ConnId,
        msg: Msg,
        data: Vec<Bytes>,
    },
    Closed {
        conn: ConnId,
    },
}

/// What the scheduler shows of itself while it runs.
#[derive(Clone, Debug, Default)]
pub struct SchedulerInfo {
    /// Names and memory of the connected workers.
    pub workers: Vec<(String, MemoryReport)>,
}

/// A scheduler running on a thread of this process (what
/// [`LocalCluster`](crate::LocalCluster) starts, and what `oxidask
/// scheduler` runs); stops when dropped, telling its workers to stop.
pub struct Scheduler {
    addr: SocketAddr,
    dashboard: Option<String>,
    info: Arc<Mutex<SchedulerInfo>>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Scheduler {
    /// Listens on `addr` (`host:port`; port 0 for any free one) with the
    /// shared `token` ("" for none).
    pub fn start(addr: &str, token: &str, options: SchedulerOptions) -> Result<Scheduler> {
        Scheduler::start_inner(addr, token, options, None)
    }

    /// Like [`start`](Scheduler::start), and serves the dashboard on
    /// `dashboard` (`host:port`, a bare port for 127.0.0.1, port 0 for any
    /// free one): the same pages as a local run's, fed by the cluster —
    /// each task's worker, thread and timing, each worker's memory — plus
    /// `/api/cluster` and the cluster's Prometheus metrics on `/metrics`.
    pub fn start_with_dashboard(
        addr: &str,
        token: &str,
        options: SchedulerOptions,
        dashboard: &str,
    ) -> Result<Scheduler> {
        let d = oxidask_dashboard::Dashboard::serve_detached(dashboard)
            .map_err(|e| Error::Start(e.to_string()))?;
        Scheduler::start_inner(addr, token, options, Some(d))
    }

    fn start_inner(
        addr: &str,
        token: &str,
        options: SchedulerOptions,
        dashboard: Option<oxidask_dashboard::Dashboard>,
    ) -> Result<Scheduler> {
        let tls = options
            .tls
            .as_ref()
            .map(crate::TlsFiles::load)
            .transpose()?;
        let tls_on = tls.is_some();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io("starting the scheduler's runtime", e))?;
        let listener = runtime
            .block_on(TcpListener::bind(addr))
            .map_err(|e| Error::Listen {
                addr: addr.to_string(),
                message: e.to_string(),
            })?;
        let local = listener
            .local_addr()
            .map_err(|e| Error::io("reading the listening address", e))?;
        let info = Arc::new(Mutex::new(SchedulerInfo::default()));
        let (stop, stopped) = oneshot::channel();
        let token = token.to_string();
        let shared = info.clone();
        let link = dashboard.as_ref().map(|d| d.url());
        let observer = dashboard.map(|d| Observer::new(d, local.to_string()));
        let thread = std::thread::Builder::new()
            .name("oxidask-scheduler".into())
            .spawn(move || {
                runtime.block_on(serve(
                    listener, token, tls, options, shared, stopped, observer,
                ))
            })
            .map_err(|e| Error::io("starting the scheduler thread", e))?;
        tracing::info!(addr = %local, tls = tls_on, "scheduler listening");
        Ok(Scheduler {
            addr: local,
            dashboard: link,
            info,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The dashboard's status page, if this scheduler serves one.
    pub fn dashboard_link(&self) -> Option<&str> {
        self.dashboard.as_deref()
    }

    /// Workers and their memory now.
    pub fn info(&self) -> SchedulerInfo {
        self.info.lock().clone()
    }

    /// Blocks until the scheduler stops (it stops only when dropped, so this
    /// is for a process that is nothing but a scheduler).
    pub fn join(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve(
    listener: TcpListener,
    token: String,
    tls: Option<crate::Tls>,
    options: SchedulerOptions,
    info: Arc<Mutex<SchedulerInfo>>,
    mut stopped: oneshot::Receiver<()>,
    mut observer: Option<Observer>,
) {
    let (events, mut inbox) = mpsc::unbounded_channel::<Event>();
    let token: Arc<str> = token.into();
    let accept = {
        let events = events.clone();
        tokio::spawn(async move {
            let mut next: ConnId = 1;
            loop {
                let Ok((stream, peer)) = listener.accept().await else {
                    continue;
                };
                let conn = next;
                next += 1;
                tokio::spawn(connection(
                    stream,
                    peer,
                    conn,
                    token.clone(),
                    tls.clone(),
                    events.clone(),
                ));
            }
        })
    };
    let mut state = ClusterState::new(options);
    let mut conns: HashMap<ConnId, Conn> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    // The dashboard's cluster rows are pushed at most this often, and at
    // the latest this long after they changed.
    let mut push = tokio::time::interval(observe::PUSH_EVERY);
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            _ = tick.tick() => state.tick(Instant::now()),
            _ = push.tick(), if observer.is_some() => {
                if let Some(o) = observer.as_mut() {
                    o.push(true);
                }
            }
            e = inbox.recv() => match e {
                None => break,
                Some(Event::Connected { conn, role, tx, kill }) => {
                    if let Some(o) = observer.as_mut() {
                        greet(o, conn, &role, &tx);
                    } else if matches!(role, Role::Client) {
                        let _ = tx.send((Msg::SchedulerInfo { dashboard: None }, vec![]));
                    }
                    conns.insert(conn, (tx, kill));
                    state.connected(conn, role);
                }
                Some(Event::Message { conn, msg: Msg::TaskEvents { events, sent_us, fetched_bytes }, data }) => {
                    // Only the observer reads these; the scheduler's state
                    // never sees them.
                    let msg = Msg::TaskEvents { events, sent_us, fetched_bytes };
                    if let Some(o) = observer.as_mut() {
                        o.incoming(conn, &msg, &data);
                    }
                }
                Some(Event::Message { conn, msg, data }) => {
                    if let Some(o) = observer.as_mut() {
                        o.incoming(conn, &msg, &data);
                    }
                    let kind = msg.kind();
                    if let Err(reason) = state.message(conn, msg, data) {
                        tracing::warn!(conn, kind, %reason, "dropping a connection that broke the protocol");
                        state.to_close.push(conn);
                        state.closed(conn);
                    }
                }
                Some(Event::Closed { conn }) => {
                    conns.remove(&conn);
                    state.closed(conn);
                    if let Some(o) = observer.as_mut() {
                        o.closed(conn);
                    }
                }
            }
        }
        for c in std::mem::take(&mut state.to_close) {
            if let Some((_, kill)) = conns.remove(&c) {
                let _ = kill.send(());
            }
        }
        let out = state.take_out();
        if let Some(o) = observer.as_mut() {
            for m in &out {
                o.outgoing(m.to, &m.msg, &m.data);
            }
            o.push(false);
        }
        deliver(&mut conns, out);
        info.lock().workers = state.workers();
    }
    state.shutdown();
    deliver(&mut conns, state.take_out());
    accept.abort();
    // Dropping the queues lets each writer flush and close its socket.
    for (_, (tx, kill)) in conns.drain() {
        drop(tx);
        let _ = kill.send(());
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// Tells a new client where the dashboard is and asks a new worker for its
/// task events.
fn greet(
    observer: &mut Observer,
    conn: ConnId,
    role: &Role,
    tx: &mpsc::UnboundedSender<(Msg, Vec<Bytes>)>,
) {
    observer.connected(conn, role);
    let msg = match role {
        Role::Client => Msg::SchedulerInfo {
            dashboard: Some(observer.link()),
        },
        Role::Worker { .. } => Msg::Observe { on: true },
        Role::Peer => return,
    };
    let _ = tx.send((msg, vec![]));
}

/// A connection's outgoing queue and the switch that stops its reader.
type Conn = (
    mpsc::UnboundedSender<(Msg, Vec<Bytes>)>,
    oneshot::Sender<()>,
);

fn deliver(conns: &mut HashMap<ConnId, Conn>, out: Vec<Out>) {
    for Out { to, msg, data } in out {
        if let Some((tx, _)) = conns.get(&to) {
            let _ = tx.send((msg, data));
        }
    }
}

async fn connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    conn: ConnId,
    token: Arc<str>,
    tls: Option<crate::Tls>,
    events: mpsc::UnboundedSender<Event>,
) {
    let accepted = match wire::accept(stream, &token, wire::DEFAULT_FRAME_LIMIT, tls.as_ref()).await
    {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(%peer, reason = %e, "refused a connection");
            return;
        }
    };
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(writer(accepted.writer, rx));
    let (kill, mut killed) = oneshot::channel();
    // Connected goes first, so the actor knows the connection before any
    // of its messages.
    if events
        .send(Event::Connected {
            conn,
            role: accepted.role,
            tx,
            kill,
        })
        .is_err()
    {
        return;
    }
    let mut reader = accepted.reader;
    loop {
        tokio::select! {
            _ = &mut killed => return,
            m = reader.msg() => match m {
                Ok(Some((msg, data))) => {
                    if events.send(Event::Message { conn, msg, data }).is_err() {
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(%peer, reason = %e, "dropping a connection");
                    break;
                }
            }
        }
    }
    let _ = events.send(Event::Closed { conn });
}

/// Drains a connection's queue: writes every message waiting, then flushes
/// once.
pub(crate) async fn writer(mut w: FrameWriter, mut rx: mpsc::UnboundedReceiver<(Msg, Vec<Bytes>)>) {
    while let Some((msg, data)) = rx.recv().await {
        if w.msg(&msg, &data).await.is_err() {
            return;
        }
        while let Ok((msg, data)) = rx.try_recv() {
            if w.msg(&msg, &data).await.is_err() {
                return;
            }
        }
        if w.flush().await.is_err() {
            return;
        }
    }
}
