//! Task graphs for oxidask: the data structures every collection builds and
//! every scheduler runs.
//!
//! A [`TaskGraph`] maps each [`Key`] to a [`Task`]: an [`Op`] applied to
//! [`Arg`]s (other keys, or literal [`Value`]s). Collections name their keys
//! with [`tokenize()`], so equal computations get equal keys. Graphs of
//! registered ops encode to bytes ([`TaskGraph::to_bytes`]) so another
//! process of the same program can run them. The [`optimize`] module holds
//! the passes (cull, inline, fuse, order) that run before scheduling.
//!
//! This crate does no threading and no I/O beyond writing a picture of a graph.
//!
//! ```
//! use oxidask_graph::{FnOp, Key, Task, TaskGraph, Value};
//!
//! let mut g = TaskGraph::new();
//! g.insert(Key::new("x"), Task::literal(Value::new(20i64)));
//! let double = FnOp::arc("double", |args| Ok(Value::new(2 * *args[0].downcast_ref::<i64>()?)));
//! g.insert(Key::new("y"), Task::new(double, vec![Key::new("x").into()]));
//! g.validate(&[Key::new("y")])?;
//! # Ok::<(), oxidask_graph::Error>(())
//! ```

#![deny(missing_docs)]

mod dot;
mod encode;
mod error;
mod graph;
pub mod hlg;
mod key;
mod layout;
mod op;
pub mod optimize;
pub mod push;
pub mod remote;
mod task;
mod tokenize;
mod value;

pub use dot::{
    COLLAPSE_ABOVE, MAX_BUILTIN_NODES, VisualizeBackend, VisualizeError, VisualizeErrorKind,
};
pub use error::{Error, OpError, Result, TaskError, TaskErrorKind};
pub use graph::{Deps, TaskGraph, topological_order};
pub use hlg::{
    BlockArg, BlockLayer, Blockwise, CulledLayer, HighLevelGraph, Layer, MaterializedLayer,
    Pattern, TreeLayer, split_factors,
};
pub use key::Key;
pub use op::{DataOp, FnOp, Identity, Op, OpDecoder, decode_data_op, decode_op, is_registered};
pub use task::{Arg, Task};
pub use tokenize::{Tokenize, Tokenizer, name_for, tokenize, unique_token};
#[cfg(feature = "ndarray")]
pub use value::NdarrayCodec;
pub use value::{
    Codec, CodecVTable, DataSize, Decoder, LoadBytes, RawElement, RawVecCodec, SerdeCodec,
    SourceBytes, Value, ValueDecoder, ValueFamily, ValueMeta, allocation_bytes, codec_of,
    registered_codec,
};

#[doc(hidden)]
pub use inventory;
