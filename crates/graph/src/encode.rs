//! Graphs as bytes.
//!
//! A graph whose ops are registered ([`register_op!`](crate::register_op))
//! and whose literal arguments have codecs can be written to bytes and read
//! back — in another process of the same program, which is how the cluster
//! ships work without shipping code. The format is the compact serde form of
//! [`EncodedGraph`]: per task, its key, its op's name and parameters, and its
//! arguments (keys, or values with their codec name).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::graph::TaskGraph;
use crate::key::Key;
use crate::op::decode_op;
use crate::task::{Arg, Task};
use crate::value::Value;

#[derive(Serialize, Deserialize)]
struct EncodedGraph {
    version: u32,
    tasks: Vec<EncodedTask>,
}

#[derive(Serialize, Deserialize)]
struct EncodedTask {
    key: Key,
    op: String,
    params: Vec<u8>,
    args: Vec<EncodedArg>,
}

#[derive(Serialize, Deserialize)]
enum EncodedArg {
    Key(Key),
    Value { codec: String, bytes: Vec<u8> },
}

const VERSION: u32 = 1;

impl TaskGraph {
    /// Writes the graph to bytes; fails naming the first task whose op is not
    /// registered or whose literal argument has no codec.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut tasks = Vec::with_capacity(self.len());
        for (key, task) in self.iter() {
            let params = task.op.encode().ok_or_else(|| Error::NotEncodable {
                key: key.clone(),
                reason: format!(
                    "its op {} cannot be written to bytes: it is, or contains, a closure rather \
                     than a registered op; register the op (register_op!) to run it in another \
                     process",
                    task.op.name()
                ),
            })?;
            let mut args = Vec::with_capacity(task.args.len());
            for (i, arg) in task.args.iter().enumerate() {
                args.push(match arg {
                    Arg::Key(k) => EncodedArg::Key(k.clone()),
                    Arg::Value(v) => {
                        let mut bytes = Vec::new();
                        v.encode(&mut bytes).map_err(|reason| Error::NotEncodable {
                            key: key.clone(),
                            reason: format!("argument {i}: {reason}"),
                        })?;
                        let codec = v.codec().expect("encoded, so it has a codec").id();
                        EncodedArg::Value { codec, bytes }
                    }
                });
            }
            tasks.push(EncodedTask {
                key: key.clone(),
                op: task.op.name().to_string(),
                params,
                args,
            });
        }
        postcard::to_stdvec(&EncodedGraph {
            version: VERSION,
            tasks,
        })
        .map_err(|e| Error::Internal(format!("serializing a graph: {e}")))
    }

    /// Reads a graph written by [`TaskGraph::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<TaskGraph> {
        let g: EncodedGraph = postcard::from_bytes(bytes).map_err(|e| Error::Decode {
            what: "a task graph".into(),
            message: e.to_string(),
        })?;
        if g.version != VERSION {
            return Err(Error::Decode {
                what: "a task graph".into(),
                message: format!("format version {} (this build reads {VERSION})", g.version),
            });
        }
        let mut graph = TaskGraph::with_capacity(g.tasks.len());
        for t in g.tasks {
            let op = decode_op(&t.op, &t.params)?;
            let args = t
                .args
                .into_iter()
                .map(|a| {
                    Ok(match a {
                        EncodedArg::Key(k) => Arg::Key(k),
                        EncodedArg::Value { codec, bytes } => {
                            Arg::Value(Value::decode(&codec, &bytes)?)
                        }
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            graph.insert(t.key, Task::new(op, args));
        }
        Ok(graph)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::{FnOp, Identity};

    #[test]
    fn round_trip_keeps_keys_ops_and_literals() {
        let mut g = TaskGraph::new();
        g.insert(
            Key::with_index("x", &[0]),
            Task::literal(Value::new(vec![1.0f64, 2.0])),
        );
        g.insert(Key::new("y"), Task::alias(Key::with_index("x", &[0])));
        let back = TaskGraph::from_bytes(&g.to_bytes().unwrap()).unwrap();
        assert_eq!(back.len(), 2);
        let (k, t) = back.by_id(0);
        assert_eq!(k, &Key::with_index("x", &[0]));
        assert_eq!(t.op.name(), Identity::NAME);
        match &t.args[0] {
            Arg::Value(v) => assert_eq!(v.downcast_ref::<Vec<f64>>().unwrap(), &vec![1.0, 2.0]),
            Arg::Key(_) => panic!("literal became a key"),
        }
        assert!(back.validate(&[Key::new("y")]).is_ok());
    }

    #[test]
    fn closures_are_refused_with_the_key() {
        let mut g = TaskGraph::new();
        g.insert(
            Key::new("f"),
            Task::new(FnOp::arc("my_closure", |a| Ok(a[0].clone())), vec![]),
        );
        let e = g.to_bytes().unwrap_err().to_string();
        assert!(e.contains("'f'") && e.contains("my_closure"), "{e}");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(TaskGraph::from_bytes(&[1, 2, 3, 4, 5]).is_err());
    }
}
