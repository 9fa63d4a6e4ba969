//! Lazy calls of plain Rust functions, computed in parallel.
//!
//! [`delayed!`] turns a call `f(a, b)` into a [`Delayed<R>`]: a handle to the
//! not-yet-computed result. Arguments may be plain values or other `Delayed`
//! values, so a loop of ordinary calls becomes a task graph; nothing runs
//! until [`Delayed::compute`] (or [`compute`] of many), which hands the graph
//! to the configured scheduler — all cores by default.
//!
//! ```
//! use oxidask_delayed::{compute, delayed};
//!
//! fn load(i: u32) -> Vec<f64> { (0..100).map(|x| (x * i) as f64).collect() }
//! fn total(v: Vec<f64>) -> f64 { v.iter().sum() }
//! fn add(a: f64, b: f64) -> f64 { a + b }
//!
//! let parts: Vec<_> = (0..4).map(|i| delayed!(total(delayed!(load(i))))).collect();
//! let sum = delayed!(add(parts[0].clone(), parts[1].clone()));
//! assert_eq!(sum.compute()?, 4950.0);
//! assert_eq!(compute(&parts)?, vec![0.0, 4950.0, 9900.0, 14850.0]);
//! # Ok::<(), oxidask_delayed::Error>(())
//! ```
//!
//! Typing is end to end: `Delayed<T>::compute()` returns `T`, and passing a
//! `Delayed<String>` where the function takes `f64` does not compile:
//!
//! ```compile_fail
//! use oxidask_delayed::delayed;
//! fn name() -> String { "x".into() }
//! fn double(x: f64) -> f64 { 2.0 * x }
//! let bad = delayed!(double(delayed!(name())));
//! ```
//!
//! A function returning `Result` is written with `?` inside the macro —
//! `delayed!(parse(path)?)` — and its error fails the computation with the
//! task's key and the function's name. Shared inputs are computed once: a
//! `Delayed` used by several calls is one task.
//!
//! Keys are unique per call (like Dask's default `pure=False`): building the
//! same call twice gives two tasks. Values a function receives are moved to
//! it when no other task needs them, and cloned otherwise (hence `Clone`).

#![deny(missing_docs)]

mod call;
mod compute;
mod node;

pub use call::{IntoArg, short_name};
pub use compute::{Computable, compute, compute_with};
pub use node::Delayed;
pub use oxidask_scheduler::{ComputeOptions, Error, Result};

/// Data that can flow between delayed calls: any owned, thread-safe,
/// clonable value (clones happen only when several tasks read one value)
/// that knows its size in memory ([`DataSize`], implemented for numbers,
/// strings, std containers and tuples, and derived for your own types with
/// `#[derive(oxidask::DataSize)]`), so the memory limit holds for it.
///
/// To let such values spill to disk when the limit needs it, register a
/// codec for the type: `oxidask::graph::register_value!(MyType)` (serde).
/// Without one, a computation that must spill a value of the type fails
/// with an error naming it.
pub trait Data: std::any::Any + Send + Sync + Clone + DataSize {}
impl<T: std::any::Any + Send + Sync + Clone + DataSize> Data for T {}

pub use oxidask_graph::DataSize;

#[doc(hidden)]
pub mod __private {
    pub use crate::call::*;
}

/// Makes a lazy call: `delayed!(f(a, b))` is a [`Delayed`] of what `f(a, b)`
/// returns; `delayed!(f(a, b)?)` for an `f` returning `Result`, whose error
/// fails the computation. `f` is a path to a function (or a closure bound to
/// a name) of up to 12 arguments; each argument is a plain value, a
/// `Delayed`, or a `&Delayed`. Anything else — a method call, say — is a
/// compile error saying what is supported:
///
/// ```compile_fail
/// use oxidask_delayed::{delayed, Delayed};
/// let xs: Vec<u64> = vec![1, 2];
/// let bad = delayed!(xs[0].clone().pow(2));
/// ```
#[macro_export]
macro_rules! delayed {
    ($($f:ident)::+ ( $($arg:expr),* $(,)? ) ?) => {
        $crate::delayed!(@call try_call; $($f)::+; $($arg),*)
    };
    ($($f:ident)::+ ( $($arg:expr),* $(,)? )) => {
        $crate::delayed!(@call call; $($f)::+; $($arg),*)
    };
    (@call $kind:ident; $f:path; ) => {
        $crate::__private::$kind::call0($f)
    };
    (@call $kind:ident; $f:path; $a:expr) => {
        $crate::__private::$kind::call1($f, $a)
    };
    (@call $kind:ident; $f:path; $a:expr, $b:expr) => {
        $crate::__private::$kind::call2($f, $a, $b)
    };
    (@call $kind:ident; $f:path; $a:expr, $b:expr, $c:expr) => {
        $crate::__private::$kind::call3($f, $a, $b, $c)
    };
    (@call $kind:ident; $f:path; $a:expr, $b:expr, $c:expr, $d:expr) => {
        $crate::__private::$kind::call4($f, $a, $b, $c, $d)
    };
    (@call $kind:ident; $f:path; $a:expr, $b:expr, $c:expr, $d:expr, $e:expr) => {
        $crate::__private::$kind::call5($f, $a, $b, $c, $d, $e)
    };
    (@call $kind:ident; $f:path; $a:expr, $b:expr, $c:expr, $d:expr, $e:expr, $g:expr) => {
        $crate::__private::$kind::call6($f, $a, $b, $c, $d, $e, $g)
    };
    (@call $kind:ident; $f:path; $a:expr, $b:expr, $c:expr, $d:expr, $e:expr, $g:expr, $h:expr) => {
        $crate::__private::$kind::call7($f, $a, $b, $c, $d, $e, $g, $h)
    };
    (@call $kind:ident; $f:path; $a:expr, $b:expr, $c:expr, $d:expr, $e:expr, $g:expr, $h:expr,
     $i:expr) => {
        $crate::__private::$kind::call8($f, $a, $b, $c, $d, $e, $g, $h, $i)
    };
    (@call $kind:ident; $f:path; $a:expr, $b:expr, $c:expr, $d:expr, $e:expr, $g:expr, $h:expr,
     $i:expr, $j:expr) => {
        $crate::__private::$kind::call9($f, $a, $b, $c, $d, $e, $g, $h, $i, $j)
    };
    (@call $kind:ident; $f:path; $a:expr, $b:expr, $c:expr, $d:expr, $e:expr, $g:expr, $h:expr,
     $i:expr, $j:expr, $k:expr) => {
        $crate::__private::$kind::call10($f, $a, $b, $c, $d, $e, $g, $h, $i, $j, $k)
    };
    (@call $kind:ident; $f:path; $a:expr, $b:expr, $c:expr, $d:expr, $e:expr, $g:expr, $h:expr,
     $i:expr, $j:expr, $k:expr, $l:expr) => {
        $crate::__private::$kind::call11($f, $a, $b, $c, $d, $e, $g, $h, $i, $j, $k, $l)
    };
    (@call $kind:ident; $f:path; $a:expr, $b:expr, $c:expr, $d:expr, $e:expr, $g:expr, $h:expr,
     $i:expr, $j:expr, $k:expr, $l:expr, $m:expr) => {
        $crate::__private::$kind::call12($f, $a, $b, $c, $d, $e, $g, $h, $i, $j, $k, $l, $m)
    };
    (@call $kind:ident; $f:path; $($arg:expr),*) => {
        compile_error!(
            "delayed! calls functions of up to 12 arguments: pass a tuple or a struct \
             to a function with more"
        )
    };
    ($($anything:tt)*) => {
        compile_error!(
            "delayed! takes a call of a function by its path: `delayed!(f(a, b))`, \
             `delayed!(module::f(x)?)` for a function returning Result. For a method \
             call or any other expression, put it in a function (or a closure bound \
             to a name) and call that"
        )
    };
}

#[cfg(test)]
mod tests;
