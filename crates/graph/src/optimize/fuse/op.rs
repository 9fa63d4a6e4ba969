//! [`FusedOp`]: several ops run in sequence inside one task.
//!
//! A fused op holds its steps, each an inner op with arguments that are the
//! fused task's inputs, earlier steps' results, or literals. Calling it runs
//! the steps in order and returns the last step's result.
//!
//! # Ownership
//!
//! A value is handed over by move at its last read and cloned (a handle
//! copy) at earlier ones; which read is the last is worked out once, in
//! [`FusedOp::new`]. So a step whose input was produced by the step before
//! and read by no one else holds the only handle and can unwrap it and
//! mutate in place, exactly as if the two ran as separate tasks. Inputs no
//! step reads are dropped on entry, results no step reads right after their
//! step.
//!
//! # Errors and panics
//!
//! The op's [`name`](Op::name) is the fixed registry name
//! [`FusedOp::NAME`], so graphs of fused tasks encode; its
//! [`label`](Op::label) lists the steps (`inc→parse→inc`), and an inner
//! failure is wrapped as "in `parse` (fused step 2 of 3)" with the inner
//! error as its `source()`, so [`TaskError`](crate::TaskError) messages
//! read "task K (op inc→parse→inc) failed: in `parse` (fused step 2 of 3):
//! …" — the failing function first. Panics are
//! not caught here: they unwind to the scheduler, which catches them around
//! the whole task.
//!
//! # Encoding
//!
//! [`Op::encode`] writes each step's op name, op parameters and arguments,
//! literals as their codec id (`type@codec`) and bytes; it returns `None` if any inner op
//! or literal cannot be encoded. The decoder is registered under
//! [`FusedOp::NAME`] and validates everything it reads.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::OpError;
use crate::op::{Op, decode_op};
use crate::value::Value;

/// Where a step's argument comes from.
#[derive(Clone, Debug)]
pub enum StepArg {
    /// The fused task's argument at this position.
    Input(u32),
    /// The result of an earlier step (by position in the step list).
    Step(u32),
    /// A literal value.
    Literal(Value),
}

/// One step of a [`FusedOp`]: an op and where its arguments come from.
#[derive(Clone, Debug)]
pub struct FusedStep {
    /// The inner op.
    pub op: Arc<dyn Op>,
    /// Its arguments, in the order it receives them.
    pub args: Vec<StepArg>,
}

/// Runs several ops in sequence as one task; built by
/// [`fuse_linear`](super::fuse_linear). See the module docs.
///
/// Steps are stored flat (one vector of ops, one of arguments) so that a
/// chain of a million steps costs a handful of allocations, not millions.
#[derive(Debug)]
pub struct FusedOp {
    inputs: usize,
    ops: Vec<Arc<dyn Op>>,
    /// Every step's arguments, step after step: step `s` reads
    /// `args[starts[s]..starts[s + 1]]`.
    args: Vec<StepArg>,
    starts: Vec<u32>,
    /// Per argument: whether this read is the value's last, so it is moved
    /// instead of cloned.
    last_read: Vec<bool>,
    /// Per input: whether any step reads it.
    input_read: Vec<bool>,
    /// Per step: whether any later step reads its result.
    step_read: Vec<bool>,
    /// The steps' labels, for errors and diagnostics (`load→stat`).
    label: String,
}

impl FusedOp {
    /// The registry name every fused op reports.
    pub const NAME: &'static str = "oxidask.fused";

    /// A fused op taking `inputs` arguments and running `steps` in order;
    /// fails if there are no steps or an argument refers to a missing input
    /// or to a step that is not earlier.
    pub fn new(inputs: usize, steps: Vec<FusedStep>) -> Result<FusedOp, String> {
        let mut b = Builder::with_capacity(inputs, steps.len(), 0);
        for step in steps {
            b.step(step.op, step.args);
        }
        b.finish()
    }

    /// The number of arguments the fused task passes.
    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// The number of steps.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Always false: a fused op has at least one step.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The steps, in the order they run: each op with its arguments.
    pub fn steps(&self) -> impl ExactSizeIterator<Item = (&Arc<dyn Op>, &[StepArg])> + '_ {
        self.ops
            .iter()
            .enumerate()
            .map(|(s, op)| (op, self.step_args(s)))
    }

    fn step_args(&self, s: usize) -> &[StepArg] {
        &self.args[self.starts[s] as usize..self.starts[s + 1] as usize]
    }

    /// Rebuilds a fused op from the bytes [`Op::encode`] wrote; fails (never
    /// panics) on malformed bytes, unregistered inner ops or literals, and
    /// bad step references.
    pub fn decode(bytes: &[u8]) -> Result<FusedOp, String> {
        let e: Encoded = postcard::from_bytes(bytes).map_err(|e| e.to_string())?;
        let mut b = Builder::with_capacity(e.inputs as usize, e.steps.len(), 0);
        for (s, step) in e.steps.into_iter().enumerate() {
            let op = decode_op(&step.op, &step.params).map_err(|err| format!("step {s}: {err}"))?;
            let args = step
                .args
                .into_iter()
                .map(|a| {
                    Ok(match a {
                        EncodedArg::Input(p) => StepArg::Input(p),
                        EncodedArg::Step(k) => StepArg::Step(k),
                        EncodedArg::Literal { codec, bytes } => StepArg::Literal(
                            Value::decode(&codec, &bytes)
                                .map_err(|err| format!("step {s}: {err}"))?,
                        ),
                    })
                })
                .collect::<Result<Vec<_>, String>>()?;
            b.step(op, args);
        }
        b.finish()
    }
}

/// Builds a [`FusedOp`] step by step into its flat vectors.
pub(crate) struct Builder {
    inputs: usize,
    ops: Vec<Arc<dyn Op>>,
    args: Vec<StepArg>,
    starts: Vec<u32>,
}

impl Builder {
    pub(crate) fn with_capacity(inputs: usize, steps: usize, args: usize) -> Builder {
        let mut starts = Vec::with_capacity(steps + 1);
        starts.push(0);
        Builder {
            inputs,
            ops: Vec::with_capacity(steps),
            args: Vec::with_capacity(args),
            starts,
        }
    }

    /// Appends a step running `op` on `args`.
    pub(crate) fn step(&mut self, op: Arc<dyn Op>, args: impl IntoIterator<Item = StepArg>) {
        self.ops.push(op);
        self.args.extend(args);
        self.starts.push(self.args.len() as u32);
    }

    /// Checks every reference and works out which read of each value is its
    /// last.
    pub(crate) fn finish(self) -> Result<FusedOp, String> {
        let Builder {
            inputs,
            ops,
            args,
            starts,
        } = self;
        if ops.is_empty() {
            return Err("a fused op needs at least one step".into());
        }
        let mut input_read = vec![false; inputs];
        let mut step_read = vec![false; ops.len()];
        let mut last_read = vec![false; args.len()];
        // Walking backwards, the first sighting of a value is its last read.
        for s in (0..ops.len()).rev() {
            for a in (starts[s] as usize..starts[s + 1] as usize).rev() {
                let seen = match args[a] {
                    StepArg::Input(p) if (p as usize) < inputs => &mut input_read[p as usize],
                    StepArg::Step(k) if (k as usize) < s => &mut step_read[k as usize],
                    StepArg::Literal(_) => continue,
                    StepArg::Input(p) => {
                        return Err(format!(
                            "step {s} reads input {p}, but the fused op has {inputs} inputs"
                        ));
                    }
                    StepArg::Step(k) => {
                        return Err(format!(
                            "step {s} reads step {k}, which does not run before it"
                        ));
                    }
                };
                last_read[a] = !*seen;
                *seen = true;
            }
        }
        let label = steps_label(&ops);
        Ok(FusedOp {
            inputs,
            ops,
            args,
            starts,
            last_read,
            input_read,
            step_read,
            label,
        })
    }
}

/// The steps' labels joined by `→`, runs of one op counted (`inc×3`), and
/// long chains shortened to their first two and last groups.
fn steps_label(ops: &[Arc<dyn Op>]) -> String {
    let mut groups: Vec<(&str, usize)> = Vec::new();
    for op in ops {
        match groups.last_mut() {
            Some((l, n)) if *l == op.label() => *n += 1,
            _ => groups.push((op.label(), 1)),
        }
    }
    let show = |(l, n): &(&str, usize)| {
        if *n == 1 {
            l.to_string()
        } else {
            format!("{l}×{n}")
        }
    };
    if groups.len() <= 4 {
        groups.iter().map(show).collect::<Vec<_>>().join("→")
    } else {
        format!(
            "{}→{}→…→{} ({} steps)",
            show(&groups[0]),
            show(&groups[1]),
            show(groups.last().expect("more than four groups")),
            ops.len()
        )
    }
}

/// Takes the value at its last read, else copies the handle.
fn read(slot: &mut Option<Value>, last: bool) -> Value {
    let v = if last { slot.take() } else { slot.clone() };
    v.expect("FusedOp::new checked every read comes after the write and before the last read")
}

impl Op for FusedOp {
    fn name(&self) -> &str {
        FusedOp::NAME
    }

    fn as_fused(&self) -> Option<&FusedOp> {
        Some(self)
    }

    fn in_process_only(&self) -> Option<&str> {
        self.ops.iter().find_map(|op| op.in_process_only())
    }

    fn label(&self) -> &str {
        &self.label
    }

    fn call(&self, args: Vec<Value>) -> Result<Value, OpError> {
        if args.len() != self.inputs {
            return Err(format!(
                "the fused op expects {} arguments, got {}",
                self.inputs,
                args.len()
            )
            .into());
        }
        let mut inputs: Vec<Option<Value>> = args
            .into_iter()
            .zip(self.input_read.iter())
            .map(|(v, &read)| read.then_some(v))
            .collect();
        let mut results: Vec<Option<Value>> = vec![None; self.ops.len()];
        let last = self.ops.len() - 1;
        for (s, op) in self.ops.iter().enumerate() {
            let range = self.starts[s] as usize..self.starts[s + 1] as usize;
            let mut step_args = Vec::with_capacity(range.len());
            for (arg, &moved) in self.args[range.clone()].iter().zip(&self.last_read[range]) {
                step_args.push(match arg {
                    StepArg::Input(p) => read(&mut inputs[*p as usize], moved),
                    StepArg::Step(k) => read(&mut results[*k as usize], moved),
                    StepArg::Literal(v) => v.clone(),
                });
            }
            let value = op.call(step_args).map_err(|source| StepError {
                step: s + 1,
                of: self.ops.len(),
                op: op.label().to_string(),
                source,
            })?;
            if s == last {
                return Ok(value);
            }
            if self.step_read[s] {
                results[s] = Some(value);
            }
        }
        unreachable!("FusedOp::new checked there is at least one step")
    }

    fn encode(&self) -> Option<Vec<u8>> {
        let mut steps = Vec::with_capacity(self.ops.len());
        for (op, args) in self.steps() {
            let params = op.encode()?;
            let args = args
                .iter()
                .map(|a| {
                    Some(match a {
                        StepArg::Input(p) => EncodedArg::Input(*p),
                        StepArg::Step(k) => EncodedArg::Step(*k),
                        StepArg::Literal(v) => {
                            let mut bytes = Vec::new();
                            v.encode(&mut bytes).ok()?;
                            EncodedArg::Literal {
                                codec: v.codec()?.id(),
                                bytes,
                            }
                        }
                    })
                })
                .collect::<Option<_>>()?;
            steps.push(EncodedStep {
                op: op.name().to_string(),
                params,
                args,
            });
        }
        postcard::to_stdvec(&Encoded {
            inputs: self.inputs as u32,
            steps,
        })
        .ok()
    }

    fn is_cheap(&self) -> bool {
        self.ops.iter().all(|op| op.is_cheap())
    }
}

fn decode_fused(bytes: &[u8]) -> Result<Arc<dyn Op>, String> {
    Ok(Arc::new(FusedOp::decode(bytes)?))
}

crate::register_op!(FusedOp::NAME, decode_fused);

#[derive(Serialize, Deserialize)]
struct Encoded {
    inputs: u32,
    steps: Vec<EncodedStep>,
}

#[derive(Serialize, Deserialize)]
struct EncodedStep {
    op: String,
    params: Vec<u8>,
    args: Vec<EncodedArg>,
}

#[derive(Serialize, Deserialize)]
enum EncodedArg {
    Input(u32),
    Step(u32),
    Literal { codec: String, bytes: Vec<u8> },
}

/// An inner step's failure: names the step and its op; the inner error is
/// the `source()`.
#[derive(Debug)]
struct StepError {
    step: usize,
    of: usize,
    op: String,
    source: OpError,
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "in `{}` (fused step {} of {})",
            self.op, self.step, self.of
        )
    }
}

impl std::error::Error for StepError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}
