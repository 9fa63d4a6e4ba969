//! Graphs as bytes.
//!
//! A graph whose ops are registered ([`register_op!`](crate::register_op))
//! and whose literal arguments have codecs can be written to bytes and read
//! back — in another process of the same program, which is how the cluster
//! ships work without shipping code. The format is the compact serde form of
//! [`EncodedGraph`]: an op table (each distinct op once: its registry name
//! and parameters), then per task its key, the index of its op in the table,
//! and its arguments (keys, or values with their codec id). An op shared by
//! many tasks (one `Arc` behind every task of a layer) is written and
//! rebuilt once, so a 10,000-task layer costs one op plus 10,000 keys.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::graph::TaskGraph;
use crate::key::Key;
use crate::op::decode_op;
use crate::task::{Arg, Task};
use crate::value::{CodecVTable, Value};

#[derive(Serialize, Deserialize)]
struct EncodedGraph {
    version: u32,
    /// Key names, each once; keys refer to them by position.
    names: Vec<Arc<str>>,
    /// Codec ids of literal values, each once.
    codecs: Vec<String>,
    ops: Vec<EncodedOp>,
    tasks: Vec<EncodedTask>,
}

#[derive(Serialize, Deserialize)]
struct EncodedOp {
    name: String,
    params: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct EncodedKey {
    name: u32,
    index: Vec<u32>,
}

#[derive(Serialize, Deserialize)]
struct EncodedTask {
    key: EncodedKey,
    op: u32,
    args: Vec<EncodedArg>,
}

#[derive(Serialize, Deserialize)]
enum EncodedArg {
    Key(EncodedKey),
    Value { codec: u32, bytes: Vec<u8> },
}

const VERSION: u32 = 2;

/// Positions of things written once and referred to by index.
struct Table<K> {
    index: foldhash::HashMap<K, u32>,
    len: u32,
}

impl<K: std::hash::Hash + Eq> Table<K> {
    fn new() -> Self {
        Table {
            index: Default::default(),
            len: 0,
        }
    }

    /// The position of `k`, and whether it is new (to be written).
    fn position(&mut self, k: K) -> (u32, bool) {
        let next = self.len;
        let i = *self.index.entry(k).or_insert(next);
        let new = i == next;
        if new {
            self.len += 1;
        }
        (i, new)
    }
}

struct Encoder<'g> {
    names: Vec<Arc<str>>,
    name_table: Table<&'g str>,
    codecs: Vec<String>,
    codec_table: Table<*const CodecVTable>,
}

impl<'g> Encoder<'g> {
    fn key(&mut self, k: &'g Key) -> EncodedKey {
        let (name, new) = self.name_table.position(k.name());
        if new {
            self.names.push(k.name_arc().clone());
        }
        EncodedKey {
            name,
            index: k.index().to_vec(),
        }
    }

    fn codec(&mut self, c: &'static CodecVTable) -> u32 {
        let (i, new) = self.codec_table.position(c as *const CodecVTable);
        if new {
            self.codecs.push(c.id());
        }
        i
    }
}

impl TaskGraph {
    /// Writes the graph to bytes; fails naming the first task whose op is not
    /// registered or whose literal argument has no codec.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut tasks = Vec::with_capacity(self.len());
        let mut ops: Vec<EncodedOp> = Vec::new();
        // Keyed by the op's address: tasks of one layer share one `Arc`.
        let mut op_table: Table<*const ()> = Table::new();
        let mut enc = Encoder {
            names: Vec::new(),
            name_table: Table::new(),
            codecs: Vec::new(),
            codec_table: Table::new(),
        };
        for (key, task) in self.iter() {
            let (op, new) = op_table.position(Arc::as_ptr(&task.op) as *const ());
            if new {
                let params = task.op.encode().ok_or_else(|| Error::NotEncodable {
                    key: key.clone(),
                    reason: format!(
                        "its op {} cannot be written to bytes: it is, or contains, a closure \
                         rather than a registered op. Register the function with \
                         #[oxidask::remote] (or the op with register_op!) to run it in another \
                         process",
                        task.op.label()
                    ),
                })?;
                ops.push(EncodedOp {
                    name: task.op.name().to_string(),
                    params,
                });
            }
            let mut args = Vec::with_capacity(task.args.len());
            for (i, arg) in task.args.iter().enumerate() {
                args.push(match arg {
                    Arg::Key(k) => EncodedArg::Key(enc.key(k)),
                    Arg::Value(v) => {
                        let mut bytes = Vec::new();
                        v.encode(&mut bytes).map_err(|reason| Error::NotEncodable {
                            key: key.clone(),
                            reason: format!("argument {i}: {reason}"),
                        })?;
                        let codec = enc.codec(v.codec().expect("encoded, so it has a codec"));
                        EncodedArg::Value { codec, bytes }
                    }
                });
            }
            tasks.push(EncodedTask {
                key: enc.key(key),
                op,
                args,
            });
        }
        postcard::to_stdvec(&EncodedGraph {
            version: VERSION,
            names: enc.names,
            codecs: enc.codecs,
            ops,
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
        let ops = g
            .ops
            .iter()
            .map(|o| decode_op(&o.name, &o.params))
            .collect::<Result<Vec<_>>>()?;
        let bad = |what: &str, i: u32| Error::Decode {
            what: "a task graph".into(),
            message: format!("{what} {i} is not in the graph's table"),
        };
        let key = |k: EncodedKey| -> Result<Key> {
            let name = g
                .names
                .get(k.name as usize)
                .ok_or_else(|| bad("name", k.name))?;
            Ok(Key::with_index(name.clone(), &k.index))
        };
        let mut graph = TaskGraph::with_capacity(g.tasks.len());
        for t in g.tasks {
            let op = ops
                .get(t.op as usize)
                .ok_or_else(|| bad("op", t.op))?
                .clone();
            let args = t
                .args
                .into_iter()
                .map(|a| {
                    Ok(match a {
                        EncodedArg::Key(k) => Arg::Key(key(k)?),
                        EncodedArg::Value { codec, bytes } => {
                            let id = g
                                .codecs
                                .get(codec as usize)
                                .ok_or_else(|| bad("codec", codec))?;
                            Arg::Value(Value::decode(id, &bytes)?)
                        }
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            graph.insert(key(t.key)?, Task::new(op, args));
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
    fn a_shared_op_is_written_once() {
        let mut g = TaskGraph::new();
        let id: Arc<dyn crate::Op> = Arc::new(Identity);
        for i in 0..1000u32 {
            g.insert(
                Key::with_index("x", &[i]),
                Task::new(id.clone(), vec![Arg::Value(Value::new(i as f64))]),
            );
        }
        let bytes = g.to_bytes().unwrap();
        let back = TaskGraph::from_bytes(&bytes).unwrap();
        let (_, first) = back.by_id(0);
        let (_, last) = back.by_id(999);
        assert!(
            Arc::ptr_eq(&first.op, &last.op),
            "decoded tasks share one op"
        );
        assert!(
            bytes.len() < 1000 * 20,
            "{} bytes for 1000 one-argument tasks",
            bytes.len()
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(TaskGraph::from_bytes(&[1, 2, 3, 4, 5]).is_err());
    }
}
