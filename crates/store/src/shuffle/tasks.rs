//! A hash shuffle's tasks: N input partitions become M output partitions,
//! as a graph building block whose tasks are data and whose transport is
//! pluggable (the parent module; it only moves bytes). Collections (bag
//! groupby, frame join/sort/groupby) supply the split and combine ops.
//!
//! [`shuffle_tasks`] returns the tasks of three stages:
//!
//! 1. **split** `(name-split, i)`: runs the collection's split op on input
//!    partition `i` (its arguments: the partition, `i`, and `m`), giving
//!    one piece per output partition ([`Pieces`]), and hands them to the
//!    shuffle's [`Transport`], which returns a small receipt. Only one
//!    input partition and its pieces are in memory per worker.
//! 2. **barrier** `name-barrier`: gathers the N receipts, so each output
//!    depends on one task instead of N.
//! 3. **combine** `(name, j)`: asks the transport for piece `j` of every
//!    input, in input order, and calls the collection's combine op with
//!    them; the local transport's pieces are lazy values, read from disk
//!    and decoded on first access, so combining by value reads one piece at
//!    a time.
//!
//! With [`TransportSpec::Tasks`] there is no transport and no barrier:
//! split `(name-split, i)` returns its [`Pieces`] as its result; a task
//! `(name-piece, i, j)` per input and output picks piece `j` of it; combine
//! `(name, j)` reads the N pieces `(name-piece, ·, j)` as its arguments.
//! The scheduler keeps and moves the pieces like any other values, so on a
//! cluster they go worker to worker and under a memory limit they spill.
//!
//! The ops name their transport by a [`TransportSpec`] (data) and find the
//! transport itself at run time ([`transport`]): the split and combine ops
//! of a graph decoded from bytes reach the same transport. The collection's
//! own split and combine are ops too, so a shuffle whose collection ops are
//! registered can be written to bytes as a whole. [`hash_shuffle`] keeps
//! the closure form ([`ShuffleSpec`]) for callers that run locally.

use std::path::PathBuf;
use std::sync::Arc;

use super::{Transport, TransportSpec, transport};
use std::io::Write;

use oxidask_graph::{
    Arg, Codec, FnOp, Key, Op, OpDecoder, OpError, Task, TaskGraph, Value, decode_op,
};

/// Splits input partition number `i` (the first argument) into `m` pieces
/// (the third; piece `j` goes to output `j`); each piece must have a codec
/// (`Value::with_codec` or a recognised type).
pub type SplitFn = dyn Fn(usize, Value, u32) -> Result<Vec<Value>, OpError> + Send + Sync;

/// Builds one output partition from its pieces, one per input partition,
/// in input order. Iterate the pieces by value so each is read, used and
/// dropped in turn.
pub type CombineFn = dyn Fn(Vec<Value>) -> Result<Value, OpError> + Send + Sync;

/// What to shuffle and how, with the split and combine as closures (the
/// shuffle then runs in this process only; see [`shuffle_tasks`] for ops).
pub struct ShuffleSpec {
    /// Token for the shuffle's keys (unique per shuffle; collections derive it
    /// with `tokenize`).
    pub name: String,
    /// The input partitions' keys, in order.
    pub inputs: Vec<Key>,
    /// Number of output partitions.
    pub npartitions: u32,
    /// Splits an input partition.
    pub split: Arc<SplitFn>,
    /// Combines the pieces of an output partition.
    pub combine: Arc<CombineFn>,
    /// Where to put shuffle files (a fresh directory is made under it; the
    /// system temp dir when `None`).
    pub dir: Option<PathBuf>,
}

/// The tasks of the shuffle (to be merged into the caller's graph) and the
/// keys of the M output partitions.
pub fn hash_shuffle(spec: ShuffleSpec) -> (TaskGraph, Vec<Key>) {
    let ShuffleSpec {
        name,
        inputs,
        npartitions,
        split,
        combine,
        dir,
    } = spec;
    let split = FnOp::arc("shuffle-split", move |mut args: Vec<Value>| {
        let (Some(m), Some(i), Some(part)) = (args.pop(), args.pop(), args.pop()) else {
            return Err("a shuffle split takes a partition, its index and m".into());
        };
        let (i, m) = (*i.downcast_ref::<u32>()?, *m.downcast_ref::<u32>()?);
        Ok(Pieces::value(split(i as usize, part, m)?))
    });
    let combine = FnOp::arc("shuffle-combine", move |pieces: Vec<Value>| combine(pieces));
    let transport = TransportSpec::LocalFiles {
        parent: dir.unwrap_or_else(std::env::temp_dir),
        name: name.clone(),
    };
    shuffle_tasks(ShuffleTasks {
        name,
        inputs,
        npartitions,
        split,
        combine,
        transport,
    })
}

/// A shuffle's stages as ops: see the module docs.
pub struct ShuffleTasks {
    /// Token for the shuffle's keys (unique per shuffle).
    pub name: String,
    /// The input partitions' keys, in order.
    pub inputs: Vec<Key>,
    /// Number of output partitions.
    pub npartitions: u32,
    /// Called with (input partition, its index `i: u32`, `m: u32`); returns
    /// [`Pieces`] of `m` values, each with a codec.
    pub split: Arc<dyn Op>,
    /// Called with the pieces of one output, one per input in order.
    pub combine: Arc<dyn Op>,
    /// How pieces travel from split to combine.
    pub transport: TransportSpec,
}

/// The tasks of a shuffle (to be merged into the caller's graph) and the
/// keys of its M output partitions. One op per stage is shared by all its
/// tasks; a task's input or output number is a literal argument.
pub fn shuffle_tasks(spec: ShuffleTasks) -> (TaskGraph, Vec<Key>) {
    if spec.transport == TransportSpec::Tasks {
        return piece_tasks(spec);
    }
    let ShuffleTasks {
        name,
        inputs,
        npartitions: m,
        split,
        combine,
        transport: spec,
    } = spec;
    let found = transport(&spec).expect("a transport for every spec but Tasks");
    let split: Arc<dyn Op> = Arc::new(ShuffleSplit {
        inner: split,
        m,
        spec: spec.clone(),
        transport: found.clone(),
    });
    let combine: Arc<dyn Op> = Arc::new(ShuffleCombine {
        inner: combine,
        spec,
        transport: found,
    });
    let mut g = TaskGraph::with_capacity(inputs.len() + 1 + m as usize);
    let split_name = format!("{name}-split");
    let split_keys: Vec<Key> = inputs
        .iter()
        .enumerate()
        .map(|(i, input)| {
            let key = Key::with_index(split_name.as_str(), &[i as u32]);
            let args = vec![Arg::Key(input.clone()), Arg::Value(Value::new(i as u32))];
            g.insert(key.clone(), Task::new(split.clone(), args));
            key
        })
        .collect();
    let barrier = Key::new(format!("{name}-barrier"));
    g.insert(
        barrier.clone(),
        Task::new(
            Arc::new(ShuffleBarrier),
            split_keys.into_iter().map(Arg::Key).collect(),
        ),
    );
    let outputs = (0..m)
        .map(|j| {
            let key = Key::with_index(name.as_str(), &[j]);
            let args = vec![Arg::Key(barrier.clone()), Arg::Value(Value::new(j))];
            g.insert(key.clone(), Task::new(combine.clone(), args));
            key
        })
        .collect();
    (g, outputs)
}

/// The tasks of a shuffle by [`TransportSpec::Tasks`]: see the module docs.
fn piece_tasks(spec: ShuffleTasks) -> (TaskGraph, Vec<Key>) {
    let ShuffleTasks {
        name,
        inputs,
        npartitions: m,
        split,
        combine,
        transport: _,
    } = spec;
    let n = inputs.len();
    let mut g = TaskGraph::with_capacity(n * (1 + m as usize) + m as usize);
    let split_name = format!("{name}-split");
    let piece_name = format!("{name}-piece");
    let pick: Arc<dyn Op> = Arc::new(PieceOf { m });
    let mut pieces: Vec<Vec<Arg>> = vec![Vec::with_capacity(n); m as usize];
    for (i, input) in inputs.iter().enumerate() {
        let i = i as u32;
        let split_key = Key::with_index(split_name.as_str(), &[i]);
        let args = vec![
            Arg::Key(input.clone()),
            Arg::Value(Value::new(i)),
            Arg::Value(Value::new(m)),
        ];
        g.insert(split_key.clone(), Task::new(split.clone(), args));
        for (j, of_j) in pieces.iter_mut().enumerate() {
            let key = Key::with_index(piece_name.as_str(), &[i, j as u32]);
            let args = vec![
                Arg::Key(split_key.clone()),
                Arg::Value(Value::new(j as u32)),
            ];
            g.insert(key.clone(), Task::new(pick.clone(), args));
            of_j.push(Arg::Key(key));
        }
    }
    let outputs = pieces
        .into_iter()
        .enumerate()
        .map(|(j, args)| {
            let key = Key::with_index(name.as_str(), &[j as u32]);
            g.insert(key.clone(), Task::new(combine.clone(), args));
            key
        })
        .collect();
    (g, outputs)
}

/// Piece `j` (the second argument) of a split's [`Pieces`] (the first).
struct PieceOf {
    /// The number of pieces every split must give.
    m: u32,
}

impl PieceOf {
    const NAME: &'static str = "oxidask.shuffle.piece";
}

impl Op for PieceOf {
    fn name(&self) -> &str {
        PieceOf::NAME
    }

    fn label(&self) -> &str {
        "shuffle-piece"
    }

    fn call(&self, mut args: Vec<Value>) -> Result<Value, OpError> {
        let (Some(j), Some(pieces), None) = (args.pop(), args.pop(), args.pop()) else {
            return Err("a shuffle piece takes the split's pieces and an output number".into());
        };
        let j = *j.downcast_ref::<u32>()?;
        let pieces = &pieces.downcast_ref::<Pieces>()?.0;
        check_count(pieces, self.m)?;
        pieces
            .get(j as usize)
            .cloned()
            .ok_or_else(|| format!("no piece {j} of a split into {} pieces", self.m).into())
    }

    fn encode(&self) -> Option<Vec<u8>> {
        Some(self.m.to_le_bytes().to_vec())
    }
}

/// An error unless a split gave one piece per output partition.
fn check_count(pieces: &[Value], m: u32) -> Result<(), OpError> {
    if pieces.len() != m as usize {
        return Err(format!(
            "split returned {} pieces for {m} output partitions",
            pieces.len()
        )
        .into());
    }
    Ok(())
}

fn decode_piece_of(bytes: &[u8]) -> Result<Arc<dyn Op>, String> {
    let m: [u8; 4] = bytes
        .try_into()
        .map_err(|_| "shuffle piece parameters are not one u32")?;
    Ok(Arc::new(PieceOf {
        m: u32::from_le_bytes(m),
    }))
}

/// The pieces a split op returns, one per output partition.
#[derive(Clone)]
pub struct Pieces(pub Vec<Value>);

impl Pieces {
    /// `pieces` as the value a split op returns. It can be written to bytes
    /// when every piece can ([`PiecesCodec`]): a split's result of the tasks
    /// method may spill or travel between workers as a whole.
    pub fn value(pieces: Vec<Value>) -> Value {
        let nbytes = pieces.iter().map(Value::nbytes).sum();
        Value::with_codec::<Pieces, PiecesCodec>(Pieces(pieces), nbytes)
    }
}

/// The bytes of [`Pieces`]: the count, then each piece as its codec's id
/// and its bytes, each length-prefixed.
pub struct PiecesCodec;

impl Codec<Pieces> for PiecesCodec {
    fn encode(pieces: &Pieces, out: &mut dyn Write) -> Result<(), String> {
        let mut head = Vec::new();
        let mut body = Vec::new();
        out.write_all(&(pieces.0.len() as u32).to_le_bytes())
            .map_err(|e| e.to_string())?;
        for (j, piece) in pieces.0.iter().enumerate() {
            let codec = piece.codec().ok_or_else(|| {
                format!(
                    "piece {j} of a shuffle split is a {}, which has no byte encoding",
                    piece.type_name()
                )
            })?;
            body.clear();
            piece.encode(&mut body)?;
            head.clear();
            put_bytes(&mut head, codec.id().as_bytes());
            head.extend_from_slice(&(body.len() as u64).to_le_bytes());
            out.write_all(&head).map_err(|e| e.to_string())?;
            out.write_all(&body).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn decode(mut bytes: &[u8]) -> Result<Pieces, String> {
        let n = take_bytes(&mut bytes, 4)?;
        let n = u32::from_le_bytes([n[0], n[1], n[2], n[3]]) as usize;
        let mut pieces = Vec::with_capacity(n.min(bytes.len() / 12));
        for _ in 0..n {
            let id = take_str(&mut bytes)?;
            let len = take_bytes(&mut bytes, 8)?;
            let len = u64::from_le_bytes(len.try_into().expect("8 bytes"));
            let len = usize::try_from(len).map_err(|_| "a shuffle piece too large to decode")?;
            let body = take_bytes(&mut bytes, len)?;
            pieces.push(Value::decode(id, body).map_err(|e| e.to_string())?);
        }
        if !bytes.is_empty() {
            return Err(format!(
                "{} bytes after the last shuffle piece",
                bytes.len()
            ));
        }
        Ok(Pieces(pieces))
    }
}

oxidask_graph::register_value!(Pieces, PiecesCodec);

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

fn take_bytes<'a>(bytes: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
    if bytes.len() < n {
        return Err("shuffle op parameters are truncated".into());
    }
    let (head, rest) = bytes.split_at(n);
    *bytes = rest;
    Ok(head)
}

fn take_len_prefixed<'a>(bytes: &mut &'a [u8]) -> Result<&'a [u8], String> {
    let len = take_bytes(bytes, 4)?;
    let n = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
    take_bytes(bytes, n)
}

fn take_str<'a>(bytes: &mut &'a [u8]) -> Result<&'a str, String> {
    std::str::from_utf8(take_len_prefixed(bytes)?).map_err(|e| e.to_string())
}

/// Writes an inner op as its name and parameters; `None` if it cannot be.
fn encode_inner(op: &dyn Op, out: &mut Vec<u8>) -> Option<()> {
    let params = op.encode()?;
    put_bytes(out, op.name().as_bytes());
    put_bytes(out, &params);
    Some(())
}

fn decode_inner(bytes: &mut &[u8]) -> Result<Arc<dyn Op>, String> {
    let name = take_str(bytes)?;
    let params = take_len_prefixed(bytes)?;
    decode_op(name, params).map_err(|e| e.to_string())
}

/// Why the disk method's split hands on nothing another process can use.
const LOCAL_FILES: &str = "a shuffle of the disk method (a join, sort, split_out group_by or bag \
     groupby built while a local scheduler was in force) hands its pieces on by an index of \
     files on this machine; build it while the cluster's client is the scheduler in force, or \
     with OXIDASK_SHUFFLE=tasks, and its pieces move between workers as task results";

/// The split stage: the collection's split, then the transport's `put`.
struct ShuffleSplit {
    inner: Arc<dyn Op>,
    m: u32,
    spec: TransportSpec,
    transport: Arc<dyn Transport>,
}

impl ShuffleSplit {
    const NAME: &'static str = "oxidask.shuffle.split";
}

impl Op for ShuffleSplit {
    fn name(&self) -> &str {
        ShuffleSplit::NAME
    }

    fn label(&self) -> &str {
        self.inner.label()
    }

    fn in_process_only(&self) -> Option<&str> {
        Some(LOCAL_FILES)
    }

    fn call(&self, mut args: Vec<Value>) -> Result<Value, OpError> {
        let (Some(index), Some(part), None) = (args.pop(), args.pop(), args.pop()) else {
            return Err("a shuffle split takes a partition and its index".into());
        };
        let i = *index.downcast_ref::<u32>()?;
        let m = self.m;
        let pieces = self.inner.call(vec![part, index, Value::new(m)])?;
        let pieces = match pieces.try_unwrap::<Pieces>() {
            Ok(p) => p.0,
            Err(shared) => shared.downcast_ref::<Pieces>()?.0.clone(),
        };
        check_count(&pieces, m)?;
        self.transport.put(i as usize, pieces)
    }

    fn encode(&self) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        self.spec.encode(&mut out);
        out.extend_from_slice(&self.m.to_le_bytes());
        encode_inner(&*self.inner, &mut out)?;
        Some(out)
    }
}

fn decode_split(mut bytes: &[u8]) -> Result<Arc<dyn Op>, String> {
    let spec = TransportSpec::decode(&mut bytes)?;
    let m = take_bytes(&mut bytes, 4)?;
    let m = u32::from_le_bytes([m[0], m[1], m[2], m[3]]);
    let inner = decode_inner(&mut bytes)?;
    Ok(Arc::new(ShuffleSplit {
        inner,
        m,
        transport: transport(&spec)?,
        spec,
    }))
}

/// The barrier: the receipts of every split, in input order.
struct ShuffleBarrier;

impl ShuffleBarrier {
    const NAME: &'static str = "oxidask.shuffle.barrier";
}

impl Op for ShuffleBarrier {
    fn name(&self) -> &str {
        ShuffleBarrier::NAME
    }

    fn label(&self) -> &str {
        "shuffle-barrier"
    }

    fn call(&self, args: Vec<Value>) -> Result<Value, OpError> {
        let nbytes = args.iter().map(Value::nbytes).sum();
        Ok(Value::sized(Arc::new(args), nbytes))
    }

    fn encode(&self) -> Option<Vec<u8>> {
        Some(Vec::new())
    }
}

/// The combine stage: the transport's pieces for output `j`, then the
/// collection's combine.
struct ShuffleCombine {
    inner: Arc<dyn Op>,
    spec: TransportSpec,
    transport: Arc<dyn Transport>,
}

impl ShuffleCombine {
    const NAME: &'static str = "oxidask.shuffle.combine";
}

impl Op for ShuffleCombine {
    fn name(&self) -> &str {
        ShuffleCombine::NAME
    }

    fn label(&self) -> &str {
        self.inner.label()
    }

    fn call(&self, mut args: Vec<Value>) -> Result<Value, OpError> {
        let (Some(j), Some(receipts), None) = (args.pop(), args.pop(), args.pop()) else {
            return Err("a shuffle combine takes the barrier and its output number".into());
        };
        let j = *j.downcast_ref::<u32>()?;
        let pieces = {
            let receipts = receipts.downcast_ref::<Arc<Vec<Value>>>()?;
            self.transport.get(receipts, j as usize)?
        };
        // The receipts go before the pieces are read: each piece's file is
        // then held by the pieces alone.
        drop(receipts);
        self.inner.call(pieces)
    }

    fn encode(&self) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        self.spec.encode(&mut out);
        encode_inner(&*self.inner, &mut out)?;
        Some(out)
    }
}

fn decode_combine(mut bytes: &[u8]) -> Result<Arc<dyn Op>, String> {
    let spec = TransportSpec::decode(&mut bytes)?;
    let inner = decode_inner(&mut bytes)?;
    Ok(Arc::new(ShuffleCombine {
        inner,
        transport: transport(&spec)?,
        spec,
    }))
}

oxidask_graph::inventory::submit! {
    OpDecoder { name: ShuffleSplit::NAME, decode: decode_split }
}
oxidask_graph::inventory::submit! {
    OpDecoder { name: ShuffleBarrier::NAME, decode: |_| Ok(Arc::new(ShuffleBarrier)) }
}
oxidask_graph::inventory::submit! {
    OpDecoder { name: ShuffleCombine::NAME, decode: decode_combine }
}
oxidask_graph::inventory::submit! {
    OpDecoder { name: PieceOf::NAME, decode: decode_piece_of }
}
