//! Integration tests live in `it/`. This library holds what the tests and
//! the `run_graph` binary share: the job format of a graph sent to another
//! process, and the registered functions such graphs call.

use oxidask::graph::{Key, TaskGraph, Value};
use serde::{Deserialize, Serialize};

pub mod cluster_fns;
pub mod frame_fns;
pub mod remote_fns;

/// A graph sent to another process: its bytes and the keys wanted back.
#[derive(Serialize, Deserialize)]
pub struct Job {
    /// [`TaskGraph::to_bytes`] of the graph.
    pub graph: Vec<u8>,
    /// The keys to compute.
    pub outputs: Vec<Key>,
}

/// One computed value as bytes: its codec id and the codec's bytes.
pub type EncodedValue = (String, Vec<u8>);

/// Writes values with their codecs, for comparing runs byte for byte.
pub fn encode_values(values: &[Value]) -> Result<Vec<EncodedValue>, String> {
    values
        .iter()
        .map(|v| {
            let mut bytes = Vec::new();
            v.encode(&mut bytes)?;
            let codec = v
                .codec()
                .ok_or_else(|| format!("a {} has no codec", v.type_name()))?;
            Ok((codec.id(), bytes))
        })
        .collect()
}

/// Decodes a job, runs it on the configured scheduler and encodes the
/// results: what the `run_graph` binary does with its standard input.
pub fn run_job(job: &[u8]) -> Result<Vec<EncodedValue>, String> {
    let job: Job = postcard::from_bytes(job).map_err(|e| format!("reading the job: {e}"))?;
    let graph = TaskGraph::from_bytes(&job.graph).map_err(|e| e.to_string())?;
    let values = oxidask::scheduler::compute(graph, &job.outputs).map_err(|e| e.to_string())?;
    encode_values(&values)
}
