//! Chunked N-dimensional arrays over `ndarray`, computed in parallel by
//! oxidask — Dask's `dask.array` for Rust.
//!
//! An [`Array<T>`] is a grid of `ndarray` blocks described by a task graph:
//! its shape, chunks and dtype are known at once, its values when you call
//! [`compute`](Array::compute). Create one from data ([`from_array`]), from
//! a formula ([`zeros`], [`arange`], [`linspace`], …) or at random
//! ([`random`]); combine arrays elementwise with NumPy broadcasting (chains
//! of elementwise operations run as one task per chunk); reduce them with
//! tree reductions ([`Array::sum`], [`Array::mean_with`], …) and the
//! [`stats`] module.
//!
//! An operation a dtype does not support does not compile:
//!
//! ```compile_fail
//! let b = oxidask_array::full(&[3], true, 1).unwrap();
//! let _ = b.sqrt(); // no square roots of booleans
//! ```
//!
//! Bad input — shapes that do not broadcast, an axis out of range, chunks
//! that do not fit the shape — is an error when the graph is built, naming
//! the argument, never a panic at compute time.
//!
//! ```
//! use oxidask_array as da;
//!
//! let x = da::random::standard_normal(&[1_000_000], 100_000, 42)?;
//! let y = (&x * &x + 1.0).mean().compute()?;      // one task per chunk + a sum tree
//! assert!((y - 2.0).abs() < 0.01);
//! let g1 = da::stats::skew(&x, true)?.compute()?;
//! assert!(g1.abs() < 0.01);
//! # Ok::<(), da::Error>(())
//! ```

#![deny(missing_docs)]

mod array;
mod assemble;
mod creation;
mod cumulative;
mod dataop;
mod element;
mod elementwise;
mod error;
mod expr;
mod grid;
mod linalg;
mod map_blocks;
mod mask;
mod npy;
mod npy_write;
mod ops;
mod partial_sums;
pub mod random;
mod rechunk;
mod reduce;
mod reshape;
mod shape;
mod shape_ops;
mod source;
pub mod stats;
mod steps;
mod stream;
mod tensordot;
#[cfg(test)]
mod tests;
mod topk;
mod wire;

pub use array::{Array, Scalar};
pub use creation::{
    arange, block_value, from_array, from_block_graph, full, linspace, ones, zeros,
};
pub use element::{DType, Element, Number, Real};
pub use elementwise::{Operand, blockwise, blockwise_owned, where_};
pub use error::{Error, Result};
pub use grid::{AxisChunks, Chunks, MAX_BLOCKS, MAX_ELEMENTS};
pub use map_blocks::{BlockInfo, MapBlocks};
pub use npy::{from_npy, from_npy_stack};
pub use reduce::Reduce;
pub use reshape::ReshapeDims;
pub use shape::{concatenate, stack};
pub use tensordot::{TensordotAxes, tensordot};

/// `ndarray`, re-exported so users get the same version.
pub use ndarray;
