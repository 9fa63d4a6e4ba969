//! `accumulate`: a running fold across the bag, like Dask's
//! `Bag.accumulate(binop, initial)`.
//!
//! Partition `i` is folded with `binop`, every intermediate value kept,
//! seeded by the running value after partition `i - 1`. The graph is
//! Dask's chain, with the running value ("carry") as its own small task
//! so that the next partition does not wait on, or copy, a whole
//! partition:
//!
//! ```text
//! part 0 ──► carry 0 ──► part 1 ──► carry 1 ──► part 2 …
//!              (last of part 0)       (last of part 1, else carry 0)
//! ```
//!
//! - `part i` (args: the partition's base value, its index, `carry i-1`
//!   except for partition 0) runs the bag's pipeline and pushes each running
//!   value into the output partition — a stored `Vec<A>`;
//! - `carry i` (args: `part i`, `carry i-1`) is a stored `Vec<A>` of at most
//!   one value: the last of `part i`, or `carry i-1` when the partition is
//!   empty (so an empty partition passes the running value on).
//!
//! With an initial value it is the first record of the output (as toolz's
//! and Dask's `accumulate(binop, seq, initial)` yield it), so the output
//! holds one record more than the input; without one, the first record
//! starts the fold (`accumulate_from_first`).
//!
//! With `binop` a `#[oxidask::remote]` function (and `initial`, if any, of
//! a type with a registered codec) the ops are data: a decoded part calls
//! `binop` through its registry entry with records as task values (one
//! boxed value per record, as the decoded folds do); the output type's
//! registry entry turns the values back into a stored partition.

use std::sync::Arc;

use oxidask_graph::push::PushFeed;
use oxidask_graph::{
    Arg, Key, MaterializedLayer, Op, OpDecoder, OpError, Task, TaskGraph, Tokenizer, Value, remote,
    unique_token,
};
use serde::{Deserialize, Serialize};

use crate::agg::ValuesFn;
use crate::bag::{Bag, Feed, Record, layer_name, part};
use crate::fold::Encoded;
use crate::pipeline::Pipeline;
use crate::records;
use crate::stage_op::{StageOp, decode_stage};
use crate::transform::guarded;

/// `accumulate` as data: the registered `binop`, the initial value's bytes
/// and the output record type.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct AccumulateSpec {
    binop: String,
    initial: Option<Encoded>,
    /// `type_name` of the accumulator type `A`.
    output: String,
}

/// What both ops of one accumulate share when they are data.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct AccumulateDesc {
    pipeline: Pipeline,
    /// `type_name` of the input record type.
    record: String,
    spec: AccumulateSpec,
}

/// Which task of the chain an op runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Role {
    Part,
    Carry,
}

/// The registry name of accumulate's ops.
const ACCUMULATE: &str = "oxidask.bag.accumulate";

fn decode_accumulate(bytes: &[u8]) -> Result<Arc<dyn Op>, String> {
    let (role, label, desc): (Role, String, AccumulateDesc) = decode_stage(bytes)?;
    let output = records::lookup(&desc.spec.output)?;
    let run = match role {
        Role::Carry => {
            let carry = output.carry;
            Arc::new(move |args: Vec<Value>| carry(args)) as ValuesFn
        }
        Role::Part => decoded_part(&desc)?,
    };
    Ok(Arc::new(StageOp {
        name: ACCUMULATE,
        role,
        label,
        desc: Some(Arc::new(desc)),
        run,
    }))
}

oxidask_graph::inventory::submit! {
    OpDecoder { name: ACCUMULATE, decode: decode_accumulate }
}

/// A part task's arguments: the base value, the partition index and the
/// previous carry (absent for partition 0).
fn part_args(mut args: Vec<Value>) -> Result<(Value, u32, Option<Value>), OpError> {
    let carry = if args.len() == 3 { args.pop() } else { None };
    let (Some(index), Some(base), None) = (args.pop(), args.pop(), args.pop()) else {
        return Err("an accumulate part takes the base value, the index and the carry".into());
    };
    Ok((base, *index.downcast_ref::<u32>()?, carry))
}

/// The carry after a partition: its last value, else the previous carry
/// (else nothing: no initial value and no record yet). Arguments: the
/// partition, then the previous carry when there is one.
pub(crate) fn carry<A: Record>(args: Vec<Value>) -> Result<Value, OpError> {
    let mut it = args.into_iter();
    let this = it
        .next()
        .ok_or("an accumulate carry takes the partition it follows")?;
    if let Some(last) = this.downcast_ref::<Vec<A>>()?.last() {
        return Ok(part(vec![last.clone()]));
    }
    Ok(it.next().unwrap_or_else(|| part(Vec::<A>::new())))
}

/// The local part task: typed closures all the way.
fn local_part<T: Record, A: Record>(
    bag: &Bag<T>,
    initial: Option<A>,
    start: Arc<dyn Fn(T) -> A + Send + Sync>,
    binop: Arc<dyn Fn(A, T) -> A + Send + Sync>,
) -> ValuesFn {
    let feed: Feed<T> = bag.feed.clone();
    let origin = bag.origin.clone();
    Arc::new(move |args: Vec<Value>| {
        let (base, i, carry) = part_args(args)?;
        let (mut acc, mut out) = match carry {
            Some(c) => (c.downcast_ref::<Vec<A>>()?.last().cloned(), Vec::new()),
            // Partition 0 starts from the initial value, and yields it.
            None => (initial.clone(), initial.iter().cloned().collect()),
        };
        let mut j = 0usize;
        feed.run(i, base, &mut |x| {
            let next = guarded(origin.as_ref(), i, j, || match acc.take() {
                Some(a) => binop(a, x),
                None => start(x),
            })?;
            j += 1;
            out.push(next.clone());
            acc = Some(next);
            Ok(())
        })?;
        Ok(part(out))
    })
}

/// The part task rebuilt from bytes: records as values through `binop`'s
/// registry entry; the output type's entry stores them.
fn decoded_part(desc: &AccumulateDesc) -> Result<ValuesFn, String> {
    let spec = &desc.spec;
    let binop = remote::lookup(&spec.binop).ok_or_else(|| {
        format!(
            "no function {} is registered in this program (mark it #[oxidask::remote]; \
             a worker must run the same binary as the client)",
            spec.binop
        )
    })?;
    let initial = spec
        .initial
        .as_ref()
        .map(Encoded::decode_value)
        .transpose()?;
    let input = records::lookup(&desc.record)?;
    let records_in = (input.values)(desc.pipeline.build()?)?;
    let output = records::lookup(&spec.output)?;
    // The values of a stored partition of the output type (the carry).
    let stored_out = (output.values)((output.stored)())?;
    Ok(Arc::new(move |args: Vec<Value>| {
        let (base, i, carry) = part_args(args)?;
        let (seed, first) = match carry {
            Some(c) => {
                let mut last = None;
                stored_out(i, c, &mut |v| {
                    last = Some(v);
                    Ok(())
                })?;
                (last, Vec::new())
            }
            None => (initial.clone(), initial.iter().cloned().collect::<Vec<_>>()),
        };
        let records_in = records_in.clone();
        let running: Arc<PushFeed<Value>> = Arc::new(move |i, base, sink| {
            for v in &first {
                sink(v.clone())?;
            }
            let mut acc = seed.clone();
            records_in(i, base, &mut |x| {
                let next = match acc.take() {
                    Some(a) => (binop.call)(vec![a, x])?,
                    None => x,
                };
                acc = Some(next.clone());
                sink(next)
            })
        });
        let collect = (output.collect)((output.from_values)(running))?;
        collect(i, base)
    }))
}

impl<T: Record> Bag<T> {
    /// The running fold of the records, like Dask's
    /// `Bag.accumulate(binop, initial)`: `initial`, then `binop(initial,
    /// x0)`, `binop(binop(initial, x0), x1)`, … — one record more than the
    /// bag, in as many partitions (the first holds `initial` too). Partitions
    /// run in order, each seeded by the previous one's last value; an empty
    /// partition passes it on.
    ///
    /// With `binop` a `#[oxidask::remote] fn(A, T) -> A`, `initial` of a
    /// type with a registered codec and `A` registered as a record
    /// (`register_record!`; built in for numbers, `String`, …), the bag is
    /// data.
    pub fn accumulate<A, B>(&self, binop: B, initial: A) -> Bag<A>
    where
        A: Record,
        B: Fn(A, T) -> A + Send + Sync + 'static,
    {
        let spec = remote::lookup_by_type::<B>().and_then(|f| {
            Some(AccumulateSpec {
                binop: f.name.to_string(),
                initial: Some(Encoded::of(&initial)?),
                output: std::any::type_name::<A>().to_string(),
            })
        });
        let binop: Arc<dyn Fn(A, T) -> A + Send + Sync> = Arc::new(binop);
        let first = binop.clone();
        let init = initial.clone();
        // Never called: partition 0 starts from `initial`, the others from
        // the carry, which always holds a value when there is an initial.
        let start = Arc::new(move |x| first(init.clone(), x));
        self.accumulate_with(Some(initial), start, binop, spec)
    }

    /// [`accumulate`](Bag::accumulate) without an initial value, as Dask's
    /// `accumulate(binop)`: the first record starts the fold, so the output
    /// has exactly the bag's records' count. Data when `binop` is a
    /// `#[oxidask::remote] fn(T, T) -> T`.
    pub fn accumulate_from_first<B>(&self, binop: B) -> Bag<T>
    where
        B: Fn(T, T) -> T + Send + Sync + 'static,
    {
        let spec = remote::lookup_by_type::<B>().map(|f| AccumulateSpec {
            binop: f.name.to_string(),
            initial: None,
            output: std::any::type_name::<T>().to_string(),
        });
        self.accumulate_with(None, Arc::new(|x| x), Arc::new(binop), spec)
    }

    fn accumulate_with<A: Record>(
        &self,
        initial: Option<A>,
        start: Arc<dyn Fn(T) -> A + Send + Sync>,
        binop: Arc<dyn Fn(A, T) -> A + Send + Sync>,
        spec: Option<AccumulateSpec>,
    ) -> Bag<A> {
        let mut t = Tokenizer::new();
        match &spec {
            // Registered functions name the computation.
            Some(s) => t.add(&format!("{s:?}")),
            None => t.add(&unique_token()),
        };
        let name = layer_name("accumulate", &self.chain, t);
        let carry_name: Arc<str> =
            Arc::from(format!("accumulate-carry{}", &name["accumulate".len()..]));
        let desc = match (&self.spec, spec) {
            (Some(p), Some(spec)) => Some(Arc::new(AccumulateDesc {
                pipeline: (**p).clone(),
                record: std::any::type_name::<T>().to_string(),
                spec,
            })),
            _ => None,
        };
        let part_op: Arc<dyn Op> = Arc::new(StageOp {
            name: ACCUMULATE,
            role: Role::Part,
            label: format!("{}+accumulate", self.label),
            desc: desc.clone(),
            run: local_part(self, initial, start, binop),
        });
        let carry_op: Arc<dyn Op> = Arc::new(StageOp {
            name: ACCUMULATE,
            role: Role::Carry,
            label: "accumulate-carry".to_string(),
            desc,
            run: Arc::new(carry::<A>),
        });
        let n = self.npartitions;
        let mut g = TaskGraph::with_capacity(2 * n as usize);
        for i in 0..n {
            let previous = (i > 0).then(|| Arg::Key(Key::with_index(carry_name.clone(), &[i - 1])));
            let mut args = vec![
                Arg::Key(Key::with_index(self.base.clone(), &[i])),
                Arg::Value(Value::new(i)),
            ];
            args.extend(previous.clone());
            let part_key = Key::with_index(name.clone(), &[i]);
            g.insert(part_key.clone(), Task::new(part_op.clone(), args));
            let mut carry_args = vec![Arg::Key(part_key)];
            carry_args.extend(previous);
            g.insert(
                Key::with_index(carry_name.clone(), &[i]),
                Task::new(carry_op.clone(), carry_args),
            );
        }
        let graph = self
            .graph
            .clone()
            .with_layer(Arc::new(MaterializedLayer::new(name.clone(), g)));
        Bag::stored_in(graph, name, n, None)
    }
}
