//! The disk-backed hash shuffle bags' `groupby` runs on. It is generic
//! (frames shuffle through it too), so it lives in
//! [`oxidask_store::shuffle`]; this module re-exports it where bag users
//! have always found it.

pub use oxidask_store::shuffle::{
    CombineFn, Pieces, PiecesCodec, ShuffleSpec, ShuffleTasks, SplitFn, Transport, TransportSpec,
    hash_shuffle, shuffle_tasks, transport,
};
