//! The control messages of the cluster (postcard-encoded), one enum for
//! every connection kind: who sends each is in its doc. A message that
//! carries values announces how many raw data frames follow it
//! ([`Msg::data_frames`]); the values themselves are never inside the
//! message.

use oxidask_graph::TaskError;
use serde::{Deserialize, Serialize};

/// Who opens a connection.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Role {
    /// A client submitting work.
    Client,
    /// A worker joining the scheduler.
    Worker {
        /// Its name (shown in errors such as `KilledWorker`).
        name: String,
        /// Threads running tasks.
        nthreads: u32,
        /// Its memory limit in bytes, if any.
        memory_limit: Option<u64>,
        /// Where other workers fetch its results (`host:port`).
        peer_addr: String,
    },
    /// A worker (or client) fetching results from a worker.
    Peer,
}

/// One task sent to a worker.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunTask {
    /// Task id within its computation.
    pub id: u32,
    /// Static priority (lower first).
    pub priority: u32,
    /// Each dependency and where its result is.
    pub deps: Vec<DepAt>,
    /// Whether the result stays on the worker for later tasks.
    pub keep: bool,
    /// Whether the result goes to the client (sent with the report).
    pub output: bool,
}

/// Where a task's input is.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DepAt {
    /// The input's task id in the task's computation.
    pub id: u32,
    /// The address of the worker holding it, or `None` if the worker
    /// running the task holds it.
    pub at: Option<String>,
    /// For an input that is another computation's result (a future passed
    /// as an argument, scattered or persisted data): that computation and
    /// task id, under which the holder keeps it.
    pub from: Option<(u64, u32)>,
}

/// A future of an earlier computation standing for one task of a new one.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct External {
    /// The placeholder task in the new computation.
    pub id: u32,
    /// The client's id of the computation holding the result.
    pub comp: u64,
    /// The task of that computation.
    pub task: u32,
}

/// A worker's memory, reported on each heartbeat.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct MemoryReport {
    /// Resident set size of the worker process.
    pub process_bytes: u64,
    /// Bytes of results held in memory.
    pub held_bytes: u64,
    /// Bytes of results spilled to disk.
    pub on_disk_bytes: u64,
    /// Results held.
    pub held: u64,
    /// Whether the worker is paused: over its pause threshold it starts no
    /// task, so the scheduler sends it none.
    pub paused: bool,
}

/// Why the cluster failed a computation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Failure {
    /// A task returned an error or panicked.
    Task(TaskError),
    /// A task was running on `failures` workers that died.
    KilledWorker {
        /// Task id.
        task: u32,
        /// The last worker that died running it.
        worker: String,
        /// How many workers died running it.
        failures: u32,
    },
    /// The submitted graph is not valid (or not decodable on a worker).
    BadGraph(String),
    /// A result this computation needs is gone: an input future that was
    /// released or failed, or scattered data on a worker that died.
    Lost {
        /// Task id (the placeholder of the future, or the scattered item).
        task: u32,
        /// What happened.
        reason: String,
    },
}

/// A control message.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Msg {
    /// First frame of every connection.
    Hello {
        /// [`crate::wire::PROTOCOL_VERSION`] of the sender.
        protocol: u32,
        /// The shared token ("" for none).
        token: String,
        /// Who connects.
        role: Role,
    },
    /// The handshake was accepted.
    Welcome,
    /// The handshake was refused, and why.
    Refused {
        /// The reason.
        reason: String,
    },

    // client → scheduler
    /// A computation: its graph bytes follow as one data frame.
    Submit {
        /// The client's id for it.
        comp: u64,
        /// Dependency ids of each task.
        deps: Vec<Vec<u32>>,
        /// Static priority of each task.
        priority: Vec<u32>,
        /// Requested task ids.
        outputs: Vec<u32>,
        /// Tasks that stand for results of earlier computations.
        externals: Vec<External>,
        /// Keep the requested results on the workers until the client
        /// cancels the computation (so later computations can read them).
        hold: bool,
        /// Send requested results to the client as they finish.
        send: bool,
        /// Times a failing task is run again before the computation fails.
        retries: u32,
    },
    /// Values to keep on the workers as a computation of its own (one task
    /// per value, ids in order); one data frame each.
    Scatter {
        /// The client's id for it.
        comp: u64,
        /// Codec id of each following frame.
        codecs: Vec<String>,
        /// Every worker gets every value (else each goes to one worker).
        broadcast: bool,
    },
    /// The client no longer wants a computation.
    Cancel {
        /// The client's id for it.
        comp: u64,
    },

    // scheduler → client
    /// Results of outputs; one data frame each.
    Results {
        /// The client's id for the computation.
        comp: u64,
        /// Task id and codec id of each following frame.
        items: Vec<(u32, String)>,
    },
    /// Every output was sent.
    Finished {
        /// The client's id.
        comp: u64,
    },
    /// The computation failed.
    Failed {
        /// The client's id.
        comp: u64,
        /// Why.
        failure: Failure,
    },

    // scheduler → worker
    /// The graph of a computation; its bytes follow as one data frame.
    Graph {
        /// Computation id.
        comp: u64,
    },
    /// Tasks to run.
    Run {
        /// Computation id.
        comp: u64,
        /// The tasks.
        tasks: Vec<RunTask>,
    },
    /// Scattered values to hold; one data frame each.
    Store {
        /// Computation id.
        comp: u64,
        /// Values in the computation (the slots to allocate).
        n: u32,
        /// Task id and codec id of each following frame.
        items: Vec<(u32, String)>,
    },
    /// Results no task needs any more.
    Release {
        /// Computation id.
        comp: u64,
        /// Task ids.
        ids: Vec<u32>,
    },
    /// Work stealing: give back those of these tasks not started yet
    /// (answered with `Stolen`).
    Steal {
        /// Computation id.
        comp: u64,
        /// Task ids.
        ids: Vec<u32>,
    },
    /// A computation is over: drop its graph, tasks and results.
    Forget {
        /// Computation id.
        comp: u64,
    },
    /// Stop the worker process.
    Shutdown,

    // worker → scheduler
    /// A worker is alive, and its memory.
    Heartbeat {
        /// Memory now.
        memory: MemoryReport,
    },
    /// The tasks of a `Steal` that were still queued, taken off the
    /// worker's queue: they will not run there.
    Stolen {
        /// Computation id.
        comp: u64,
        /// Task ids.
        ids: Vec<u32>,
    },
    /// A task finished; if `codec` is set its encoded result follows.
    Done {
        /// Computation id.
        comp: u64,
        /// Task id.
        id: u32,
        /// Bytes of the result.
        nbytes: u64,
        /// Codec id of the result sent along (outputs only).
        codec: Option<String>,
    },
    /// Scattered values are held (task id and bytes of each).
    Stored {
        /// Computation id.
        comp: u64,
        /// Task id and size of each value.
        items: Vec<(u32, u64)>,
    },
    /// A task failed.
    Erred {
        /// Computation id.
        comp: u64,
        /// Task id.
        id: u32,
        /// The error.
        error: TaskError,
    },
    /// A task's input could not be fetched from the worker said to hold it.
    Missing {
        /// Computation id.
        comp: u64,
        /// Task id.
        id: u32,
        /// The dependency not found.
        dep: u32,
    },
    /// A graph could not be decoded on the worker.
    GraphErred {
        /// Computation id.
        comp: u64,
        /// Why.
        message: String,
    },

    // peer ↔ worker
    /// Asks for a held result.
    GetData {
        /// Computation id.
        comp: u64,
        /// Task id.
        id: u32,
    },
    /// The result asked for; one data frame follows.
    Data {
        /// Its codec id.
        codec: String,
    },
    /// The result asked for is not here.
    NoData,
    /// The value asked for is held, but it has no codec: it cannot leave
    /// the worker holding it.
    NotSendable {
        /// Its Rust type.
        type_name: String,
    },

    // scheduler → worker, worker → scheduler, scheduler → client:
    // observation (the dashboard)
    /// Whether the worker records its tasks' events and sends them in
    /// batches ([`Msg::TaskEvents`]); off until the scheduler, having a
    /// dashboard, asks.
    Observe {
        /// Record (true) or stop (false).
        on: bool,
    },
    /// A batch of task events of one worker, sent every 100 ms while there
    /// are any (never one message per task).
    TaskEvents {
        /// The events, oldest first.
        events: Vec<TaskEvent>,
        /// Microseconds on the worker's clock when the batch was sent: the
        /// receiver places each event at its arrival minus
        /// `sent_us - event time`, so no clocks need to agree.
        sent_us: u64,
        /// Bytes of inputs this worker fetched from other workers since
        /// the last batch.
        fetched_bytes: u64,
    },
    /// What a client may want to know of the scheduler; sent once, right
    /// after a client connects.
    SchedulerInfo {
        /// The dashboard's status page, if the scheduler serves one.
        dashboard: Option<String>,
    },
}

/// One task event of a worker, times in microseconds on its own clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskEvent {
    /// A task began on thread `thread` and had not finished when the batch
    /// was sent.
    Started {
        /// Computation id.
        comp: u64,
        /// Task id.
        id: u32,
        /// The worker's thread (0-based).
        thread: u32,
        /// When it began.
        at_us: u64,
    },
    /// A task ran from `start_us` to `end_us` and made `nbytes` of result.
    Finished {
        /// Computation id.
        comp: u64,
        /// Task id.
        id: u32,
        /// The worker's thread (0-based).
        thread: u32,
        /// When it began.
        start_us: u64,
        /// When it ended.
        end_us: u64,
        /// Bytes of its result.
        nbytes: u64,
    },
}

impl Msg {
    /// The number of raw data frames that follow this message.
    pub fn data_frames(&self) -> usize {
        match self {
            Msg::Submit { .. } | Msg::Graph { .. } | Msg::Data { .. } => 1,
            Msg::Results { items, .. } | Msg::Store { items, .. } => items.len(),
            Msg::Scatter { codecs, .. } => codecs.len(),
            Msg::Done { codec, .. } => usize::from(codec.is_some()),
            _ => 0,
        }
    }

    /// The variant's name, for logs and errors.
    pub fn kind(&self) -> &'static str {
        match self {
            Msg::Hello { .. } => "Hello",
            Msg::Welcome => "Welcome",
            Msg::Refused { .. } => "Refused",
            Msg::Submit { .. } => "Submit",
            Msg::Scatter { .. } => "Scatter",
            Msg::Cancel { .. } => "Cancel",
            Msg::Results { .. } => "Results",
            Msg::Finished { .. } => "Finished",
            Msg::Failed { .. } => "Failed",
            Msg::Graph { .. } => "Graph",
            Msg::Run { .. } => "Run",
            Msg::Store { .. } => "Store",
            Msg::Release { .. } => "Release",
            Msg::Steal { .. } => "Steal",
            Msg::Stolen { .. } => "Stolen",
            Msg::Forget { .. } => "Forget",
            Msg::Shutdown => "Shutdown",
            Msg::Heartbeat { .. } => "Heartbeat",
            Msg::Done { .. } => "Done",
            Msg::Stored { .. } => "Stored",
            Msg::Erred { .. } => "Erred",
            Msg::Missing { .. } => "Missing",
            Msg::GraphErred { .. } => "GraphErred",
            Msg::GetData { .. } => "GetData",
            Msg::Data { .. } => "Data",
            Msg::NoData => "NoData",
            Msg::NotSendable { .. } => "NotSendable",
            Msg::Observe { .. } => "Observe",
            Msg::TaskEvents { .. } => "TaskEvents",
            Msg::SchedulerInfo { .. } => "SchedulerInfo",
        }
    }
}
