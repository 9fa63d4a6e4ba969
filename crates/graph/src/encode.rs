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
use crate::op::{Op, decode_op};
use crate::optimize::{FusedOp, FusedStep, StepArg};
use crate::task::{Arg, Task};
use crate::value::{CodecVTable, Value};

#[derive(Serialize)]
struct EncodedGraph {
    version: u32,
    /// Key names, each once; keys refer to them by position.
    names: Vec<Arc<str>>,
    /// Codec ids of literal values, each once.
    codecs: Vec<String>,
    ops: Vec<EncodedOp>,
    tasks: Vec<EncodedTask>,
}

#[derive(Serialize)]
enum EncodedOp {
    /// A registered op: its name and parameters.
    Plain { name: String, params: Vec<u8> },
    /// A fused op: its steps refer to earlier entries of the op table, so an
    /// inner op shared by every fused task of a layer is written once.
    Fused {
        inputs: u32,
        steps: Vec<EncodedStep>,
    },
}

#[derive(Serialize)]
struct EncodedStep {
    op: u32,
    args: Vec<EncodedStepArg>,
}

#[derive(Serialize)]
enum EncodedStepArg {
    Input(u32),
    Step(u32),
    Literal { codec: u32, bytes: Vec<u8> },
}

#[derive(Serialize, Deserialize)]
struct EncodedKey {
    name: u32,
    // A boxed slice: decoded at its exact length, it becomes the key's own
    // index without a copy.
    index: Box<[u32]>,
}

#[derive(Serialize)]
struct EncodedTask {
    key: EncodedKey,
    op: u32,
    args: Vec<EncodedArg>,
}

#[derive(Serialize)]
enum EncodedArg {
    Key(EncodedKey),
    Value { codec: u32, bytes: Vec<u8> },
}

// The reading side of the same format, borrowing names and bytes from the
// input instead of allocating per literal: postcard writes a `Vec<u8>` and a
// byte slice alike (a length, then the bytes).
#[derive(Deserialize)]
struct DecodedGraph<'a> {
    version: u32,
    #[serde(borrow)]
    names: Vec<&'a str>,
    #[serde(borrow)]
    codecs: Vec<&'a str>,
    #[serde(borrow)]
    ops: Vec<DecodedOp<'a>>,
    #[serde(borrow)]
    tasks: Vec<DecodedTask<'a>>,
}

#[derive(Deserialize)]
enum DecodedOp<'a> {
    Plain {
        name: &'a str,
        params: &'a [u8],
    },
    Fused {
        inputs: u32,
        #[serde(borrow)]
        steps: Vec<DecodedStep<'a>>,
    },
}

#[derive(Deserialize)]
struct DecodedStep<'a> {
    op: u32,
    #[serde(borrow)]
    args: Vec<DecodedStepArg<'a>>,
}

#[derive(Deserialize)]
enum DecodedStepArg<'a> {
    Input(u32),
    Step(u32),
    Literal { codec: u32, bytes: &'a [u8] },
}

#[derive(Deserialize)]
struct DecodedTask<'a> {
    key: EncodedKey,
    op: u32,
    #[serde(borrow)]
    args: Vec<DecodedArg<'a>>,
}

#[derive(Deserialize)]
enum DecodedArg<'a> {
    Key(EncodedKey),
    Value { codec: u32, bytes: &'a [u8] },
}

const VERSION: u32 = 3;

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
    ops: Vec<EncodedOp>,
    // Keyed by the op's address: tasks of one layer share one `Arc`.
    op_table: foldhash::HashMap<*const (), u32>,
}

impl<'g> Encoder<'g> {
    fn key(&mut self, k: &'g Key) -> EncodedKey {
        let (name, new) = self.name_table.position(k.name());
        if new {
            self.names.push(k.name_arc().clone());
        }
        EncodedKey {
            name,
            index: k.index().into(),
        }
    }

    /// The op's position in the op table, writing it (and, for a fused op,
    /// its inner ops first) when it is new; `Err` names what cannot be
    /// written.
    fn op(&mut self, op: &Arc<dyn Op>) -> std::result::Result<u32, String> {
        let addr = Arc::as_ptr(op) as *const ();
        if let Some(&i) = self.op_table.get(&addr) {
            return Ok(i);
        }
        let entry = match op.as_fused() {
            Some(fused) => {
                let mut steps = Vec::with_capacity(fused.len());
                for (s, (inner, args)) in fused.steps().enumerate() {
                    let op = self.op(inner)?;
                    let mut enc = Vec::with_capacity(args.len());
                    for arg in args {
                        enc.push(match arg {
                            StepArg::Input(p) => EncodedStepArg::Input(*p),
                            StepArg::Step(k) => EncodedStepArg::Step(*k),
                            StepArg::Literal(v) => {
                                let mut bytes = Vec::new();
                                v.encode(&mut bytes).map_err(|reason| {
                                    format!("a literal of fused step {}: {reason}", s + 1)
                                })?;
                                let codec =
                                    self.codec(v.codec().expect("encoded, so it has a codec"));
                                EncodedStepArg::Literal { codec, bytes }
                            }
                        });
                    }
                    steps.push(EncodedStep { op, args: enc });
                }
                EncodedOp::Fused {
                    inputs: fused.inputs() as u32,
                    steps,
                }
            }
            None => {
                let params = op.encode().ok_or_else(|| {
                    format!(
                        "its op {} cannot be written to bytes: it is, or contains, a closure \
                         rather than a registered op. Register the function with \
                         #[oxidask::remote] (or the op with register_op!) to run it in another \
                         process",
                        op.label()
                    )
                })?;
                EncodedOp::Plain {
                    name: op.name().to_string(),
                    params,
                }
            }
        };
        let i = self.ops.len() as u32;
        self.ops.push(entry);
        self.op_table.insert(addr, i);
        Ok(i)
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
        let mut enc = Encoder {
            names: Vec::new(),
            name_table: Table::new(),
            codecs: Vec::new(),
            codec_table: Table::new(),
            ops: Vec::new(),
            op_table: Default::default(),
        };
        for (key, task) in self.iter() {
            let op = enc.op(&task.op).map_err(|reason| Error::NotEncodable {
                key: key.clone(),
                reason,
            })?;
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
            ops: enc.ops,
            tasks,
        })
        .map_err(|e| Error::Internal(format!("serializing a graph: {e}")))
    }

    /// Reads a graph written by [`TaskGraph::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<TaskGraph> {
        let g: DecodedGraph<'_> = postcard::from_bytes(bytes).map_err(|e| Error::Decode {
            what: "a task graph".into(),
            message: e.to_string(),
        })?;
        if g.version != VERSION {
            return Err(Error::Decode {
                what: "a task graph".into(),
                message: format!("format version {} (this build reads {VERSION})", g.version),
            });
        }
        let bad = |what: &str, i: u32| Error::Decode {
            what: "a task graph".into(),
            message: format!("{what} {i} is not in the graph's table"),
        };
        // Each table entry is resolved once: names to shared strings, codec
        // ids to their decoders, ops to shared ops.
        let names: Vec<Arc<str>> = g.names.iter().map(|&n| Arc::from(n)).collect();
        let codecs = g
            .codecs
            .iter()
            .map(|&id| Value::decoder(id))
            .collect::<Result<Vec<_>>>()?;
        let codec = |i: u32| codecs.get(i as usize).ok_or_else(|| bad("codec", i));
        let mut ops: Vec<Arc<dyn Op>> = Vec::with_capacity(g.ops.len());
        for (i, o) in g.ops.into_iter().enumerate() {
            let op = match o {
                DecodedOp::Plain { name, params } => decode_op(name, params)?,
                DecodedOp::Fused { inputs, steps } => {
                    let mut fused = Vec::with_capacity(steps.len());
                    for step in steps {
                        // Only earlier entries: a table cannot refer to itself.
                        let op = ops
                            .get(step.op as usize)
                            .ok_or_else(|| bad("op", step.op))?;
                        let args = step
                            .args
                            .into_iter()
                            .map(|a| {
                                Ok(match a {
                                    DecodedStepArg::Input(p) => StepArg::Input(p),
                                    DecodedStepArg::Step(k) => StepArg::Step(k),
                                    DecodedStepArg::Literal { codec: c, bytes } => {
                                        StepArg::Literal(codec(c)?.decode(bytes)?)
                                    }
                                })
                            })
                            .collect::<Result<Vec<_>>>()?;
                        fused.push(FusedStep {
                            op: op.clone(),
                            args,
                        });
                    }
                    let op =
                        FusedOp::new(inputs as usize, fused).map_err(|message| Error::Decode {
                            what: format!("fused op {i} of a task graph"),
                            message,
                        })?;
                    Arc::new(op) as Arc<dyn Op>
                }
            };
            ops.push(op);
        }
        let key = |k: EncodedKey| -> Result<Key> {
            let name = names
                .get(k.name as usize)
                .ok_or_else(|| bad("name", k.name))?;
            Ok(Key::from_parts(name.clone(), k.index))
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
                        DecodedArg::Key(k) => Arg::Key(key(k)?),
                        DecodedArg::Value { codec: c, bytes } => {
                            Arg::Value(codec(c)?.decode(bytes)?)
                        }
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            graph.insert(key(t.key)?, Task::new(op, args));
        }
        Ok(graph)
    }

    /// The keys of a graph written by [`TaskGraph::to_bytes`], in task-id
    /// order, without building its ops or values: a process that only
    /// watches a graph (a cluster's scheduler feeding its dashboard) need
    /// not have the graph's ops or codecs compiled in.
    pub fn keys_from_bytes(bytes: &[u8]) -> Result<Vec<Key>> {
        let g: DecodedGraph<'_> = postcard::from_bytes(bytes).map_err(|e| Error::Decode {
            what: "a task graph".into(),
            message: e.to_string(),
        })?;
        if g.version != VERSION {
            return Err(Error::Decode {
                what: "a task graph".into(),
                message: format!("format version {} (this build reads {VERSION})", g.version),
            });
        }
        let names: Vec<Arc<str>> = g.names.iter().map(|&n| Arc::from(n)).collect();
        g.tasks
            .into_iter()
            .map(|t| {
                let name = names
                    .get(t.key.name as usize)
                    .ok_or_else(|| Error::Decode {
                        what: "a task graph".into(),
                        message: format!("name {} is not in the graph's table", t.key.name),
                    })?;
                Ok(Key::from_parts(name.clone(), t.key.index))
            })
            .collect()
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
    fn keys_from_bytes_are_the_keys_in_id_order() {
        let mut g = TaskGraph::new();
        for i in 0..5u32 {
            g.insert(
                Key::with_index("x", &[i]),
                Task::literal(Value::new(vec![f64::from(i)])),
            );
        }
        g.insert(Key::new("y"), Task::alias(Key::with_index("x", &[3])));
        let keys = TaskGraph::keys_from_bytes(&g.to_bytes().unwrap()).unwrap();
        let want: Vec<Key> = (0..g.len() as u32).map(|i| g.key(i).clone()).collect();
        assert_eq!(keys, want);
        assert!(TaskGraph::keys_from_bytes(b"\x03garbage").is_err());
        assert!(TaskGraph::keys_from_bytes(&[]).is_err());
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
    fn fused_tasks_refer_to_shared_inner_ops_and_keep_their_literals() {
        use crate::optimize::{OptimizeOptions, optimize};
        use crate::register_data_op;
        // A registered op adding its literal second argument.
        #[derive(serde::Serialize, serde::Deserialize)]
        struct AddLit;
        impl crate::DataOp for AddLit {
            const NAME: &'static str = "oxidask.test.add_lit";
            fn run(&self, a: Vec<Value>) -> Result<Value, crate::OpError> {
                Ok(Value::new(
                    a[0].downcast_ref::<i64>()? + a[1].downcast_ref::<i64>()?,
                ))
            }
        }
        register_data_op!(AddLit);
        let add: Arc<dyn crate::Op> = Arc::new(AddLit);
        let mut g = TaskGraph::new();
        let mut outputs = Vec::new();
        for i in 0..500u32 {
            let x = Key::with_index("x-1", &[i]);
            let y = Key::with_index("y-2", &[i]);
            let z = Key::with_index("z-3", &[i]);
            g.insert(x.clone(), Task::literal(Value::new(i as i64)));
            g.insert(
                y.clone(),
                Task::new(add.clone(), vec![x.into(), Arg::Value(Value::new(10i64))]),
            );
            g.insert(
                z.clone(),
                Task::new(
                    add.clone(),
                    vec![y.into(), Arg::Value(Value::new(i as i64))],
                ),
            );
            outputs.push(z);
        }
        let plan = optimize(g, &outputs, OptimizeOptions::default()).unwrap();
        assert_eq!(plan.graph.len(), 500, "one fused task per chain");
        let bytes = plan.graph.to_bytes().unwrap();
        assert!(bytes.len() < 500 * 40, "{} bytes", bytes.len());
        let back = TaskGraph::from_bytes(&bytes).unwrap();
        let (_, first) = back.by_id(0);
        let (_, last) = back.by_id(499);
        let (fa, fb) = (first.op.as_fused().unwrap(), last.op.as_fused().unwrap());
        let inner = |f: &crate::optimize::FusedOp| f.steps().next().unwrap().0.clone();
        assert!(
            Arc::ptr_eq(&inner(fa), &inner(fb)),
            "inner ops decoded once"
        );
        let ids: Vec<Key> = outputs.clone();
        let want = crate::optimize::testutil::evaluate(&plan.graph, &ids).unwrap();
        let got = crate::optimize::testutil::evaluate(&back, &ids).unwrap();
        for (w, g) in want.iter().zip(&got) {
            assert_eq!(
                w.downcast_ref::<i64>().unwrap(),
                g.downcast_ref::<i64>().unwrap()
            );
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(TaskGraph::from_bytes(&[1, 2, 3, 4, 5]).is_err());
    }
}
