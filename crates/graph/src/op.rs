//! Ops: what a task does, and the registry that rebuilds ops by name.
//!
//! An [`Op`] is called with the values of its task's arguments, in order, and
//! returns one value. Ops written as closures ([`FnOp`]) run on the local
//! schedulers only. Ops that can name themselves and encode their parameters
//! ([`Op::encode`]) and that are registered with [`register_op!`] can be
//! written to bytes with their graph and rebuilt in another process of the
//! same program — no code crosses a process boundary, only a name and data.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use crate::error::{Error, OpError, Result};
use crate::value::Value;

/// What a task does: a function of its argument values.
pub trait Op: Send + Sync + 'static {
    /// A stable name: the registry name for registered ops, a descriptive one
    /// for closures. Errors and diagnostics show it.
    fn name(&self) -> &str;

    /// What errors, events and pictures show for this op: its name, unless
    /// the op says more — a fused task shows its steps (`load→stat`), not
    /// its registry name.
    fn label(&self) -> &str {
        self.name()
    }

    /// Runs the op. `args` holds one value per task argument, in order; a
    /// value is passed by handle, and is the only handle when no other task
    /// still needs it, so ops may take ownership without copying.
    fn call(&self, args: Vec<Value>) -> Result<Value, OpError>;

    /// The op's parameters as bytes, for ops registered with
    /// [`register_op!`](crate::register_op) under [`Op::name`]. `None` (the
    /// default) means the op cannot leave this process.
    fn encode(&self) -> Option<Vec<u8>> {
        None
    }

    /// Whether the op is so cheap that the optimizer may inline it into its
    /// dependents (e.g. returning a constant). Default: no.
    fn is_cheap(&self) -> bool {
        false
    }

    /// Whether the task stands for a value held elsewhere (a future of a
    /// cluster) rather than computing one: the optimizer never fuses such
    /// a task into another, so the scheduler that knows where the value is
    /// still finds it by its op. Default: no.
    fn is_placeholder(&self) -> bool {
        false
    }

    /// Why this op's result cannot leave the process that made it, if it
    /// cannot (e.g. a handle of files on this machine): a cluster refuses a
    /// graph holding such an op before anything runs, saying why. Default:
    /// it can.
    fn in_process_only(&self) -> Option<&str> {
        None
    }

    /// The fused op this is, if it is one: graph encoding writes a fused
    /// op's steps as references into the graph's op table, so inner ops
    /// shared by many fused tasks are written once.
    fn as_fused(&self) -> Option<&crate::optimize::FusedOp> {
        None
    }

    /// What a collection's own graph pass may read of this op (its concrete
    /// parameters), for rewrites the generic optimizer cannot make — arrays
    /// merge reductions that stream the same source. `None` by default.
    fn as_any(&self) -> Option<&(dyn std::any::Any + Send + Sync)> {
        None
    }
}

impl fmt::Debug for dyn Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Op({})", self.name())
    }
}

type OpFn = dyn Fn(Vec<Value>) -> Result<Value, OpError> + Send + Sync;

/// An op made from a closure; runs on the local schedulers only.
pub struct FnOp {
    name: Arc<str>,
    f: Box<OpFn>,
}

impl FnOp {
    /// Wraps `f` under a descriptive `name` (shown in errors and diagnostics).
    pub fn new(
        name: impl Into<Arc<str>>,
        f: impl Fn(Vec<Value>) -> Result<Value, OpError> + Send + Sync + 'static,
    ) -> FnOp {
        FnOp {
            name: name.into(),
            f: Box::new(f),
        }
    }

    /// The same as [`FnOp::new`], already in an `Arc<dyn Op>`.
    pub fn arc(
        name: impl Into<Arc<str>>,
        f: impl Fn(Vec<Value>) -> Result<Value, OpError> + Send + Sync + 'static,
    ) -> Arc<dyn Op> {
        Arc::new(FnOp::new(name, f))
    }
}

impl Op for FnOp {
    fn name(&self) -> &str {
        &self.name
    }

    fn call(&self, args: Vec<Value>) -> Result<Value, OpError> {
        (self.f)(args)
    }
}

/// Returns its single argument. Used for aliases and for literal values placed
/// in the graph as tasks.
#[derive(Debug, Clone, Copy, Default)]
pub struct Identity;

impl Identity {
    /// The registry name.
    pub const NAME: &'static str = "oxidask.identity";
}

impl Op for Identity {
    fn name(&self) -> &str {
        Identity::NAME
    }

    fn call(&self, mut args: Vec<Value>) -> Result<Value, OpError> {
        if args.len() != 1 {
            return Err(format!("identity takes 1 argument, got {}", args.len()).into());
        }
        Ok(args.pop().expect("length checked"))
    }

    fn encode(&self) -> Option<Vec<u8>> {
        Some(Vec::new())
    }

    fn is_cheap(&self) -> bool {
        true
    }
}

/// An op whose parameters are plain serde data, so it can always be written
/// to bytes: the usual way for a library to define the ops its collections
/// put in graphs. Implementing this trait makes the type an [`Op`] (its
/// parameters encode with postcard); [`register_data_op!`](crate::register_data_op)
/// registers its decoder under [`DataOp::NAME`].
///
/// Keep element types as data (an enum field) rather than as type
/// parameters: a registry entry is per concrete type, so `Sum<T>` would need
/// one registration per `T`.
///
/// ```
/// use oxidask_graph::{DataOp, OpError, Value, register_data_op};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct Scale { by: f64 }
///
/// impl DataOp for Scale {
///     const NAME: &'static str = "doc.scale";
///     fn run(&self, args: Vec<Value>) -> Result<Value, OpError> {
///         Ok(Value::new(self.by * *args[0].downcast_ref::<f64>()?))
///     }
/// }
/// register_data_op!(Scale);
/// ```
pub trait DataOp: serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static {
    /// The registry name: unique across the program, stable across builds
    /// (e.g. `oxidask.array.rechunk`).
    const NAME: &'static str;

    /// Runs the op; see [`Op::call`].
    fn run(&self, args: Vec<Value>) -> Result<Value, OpError>;

    /// What errors and pictures show; see [`Op::label`].
    fn label(&self) -> &str {
        Self::NAME
    }

    /// See [`Op::is_cheap`].
    fn is_cheap(&self) -> bool {
        false
    }

    /// See [`Op::is_placeholder`].
    fn is_placeholder(&self) -> bool {
        false
    }

    /// See [`Op::as_any`]: an op a collection's graph pass rewrites
    /// returns `Some(self)`.
    fn as_any(&self) -> Option<&(dyn std::any::Any + Send + Sync)> {
        None
    }
}

impl<T: DataOp> Op for T {
    fn name(&self) -> &str {
        T::NAME
    }

    fn label(&self) -> &str {
        DataOp::label(self)
    }

    fn call(&self, args: Vec<Value>) -> Result<Value, OpError> {
        self.run(args)
    }

    fn encode(&self) -> Option<Vec<u8>> {
        postcard::to_stdvec(self).ok()
    }

    fn is_cheap(&self) -> bool {
        DataOp::is_cheap(self)
    }

    fn is_placeholder(&self) -> bool {
        DataOp::is_placeholder(self)
    }

    fn as_any(&self) -> Option<&(dyn std::any::Any + Send + Sync)> {
        DataOp::as_any(self)
    }
}

/// Rebuilds a [`DataOp`] from the bytes its [`Op::encode`] wrote; the decoder
/// [`register_data_op!`](crate::register_data_op) registers.
pub fn decode_data_op<T: DataOp>(bytes: &[u8]) -> Result<Arc<dyn Op>, String> {
    postcard::from_bytes::<T>(bytes)
        .map(|op| Arc::new(op) as Arc<dyn Op>)
        .map_err(|e| format!("parameters of {}: {e}", T::NAME))
}

/// Registers a [`DataOp`] type's decoder under its [`DataOp::NAME`], at link
/// time: `register_data_op!(Scale);`.
#[macro_export]
macro_rules! register_data_op {
    ($ty:ty) => {
        $crate::inventory::submit! {
            $crate::OpDecoder {
                name: <$ty as $crate::DataOp>::NAME,
                decode: $crate::decode_data_op::<$ty>,
            }
        }
    };
}

/// Builds an op from its encoded parameters.
pub type DecodeOp = fn(&[u8]) -> Result<Arc<dyn Op>, String>;

/// Rebuilds an op of one registered name from its encoded parameters.
pub struct OpDecoder {
    /// The name the op reports from [`Op::name`].
    pub name: &'static str,
    /// Builds the op from the bytes [`Op::encode`] wrote.
    pub decode: DecodeOp,
}

inventory::collect!(OpDecoder);

/// Registers an op decoder under a name, at link time:
/// `register_op!("mylib.scale", |bytes| Ok(Arc::new(Scale::decode(bytes)?)))`.
#[macro_export]
macro_rules! register_op {
    ($name:expr, $decode:expr) => {
        $crate::inventory::submit! {
            $crate::OpDecoder { name: $name, decode: $decode }
        }
    };
}

register_op!(Identity::NAME, |_| Ok(Arc::new(Identity)));

fn op_registry() -> &'static HashMap<&'static str, DecodeOp> {
    static REGISTRY: OnceLock<HashMap<&'static str, DecodeOp>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        inventory::iter::<OpDecoder>
            .into_iter()
            .map(|d| (d.name, d.decode))
            .collect()
    })
}

/// Rebuilds a registered op from its name and encoded parameters.
pub fn decode_op(name: &str, params: &[u8]) -> Result<Arc<dyn Op>> {
    let decode = op_registry().get(name).ok_or_else(|| Error::Decode {
        what: format!("op {name}"),
        message: "no op is registered under this name (is this process running the same \
                  program, and is the op registered with register_op!?)"
            .into(),
    })?;
    decode(params).map_err(|message| Error::Decode {
        what: format!("op {name}"),
        message,
    })
}

/// Whether an op of this name is registered.
pub fn is_registered(name: &str) -> bool {
    op_registry().contains_key(name)
}
