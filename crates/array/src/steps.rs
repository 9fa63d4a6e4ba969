//! Elementwise expressions as data: the [`Node`] tree an [`Expr`] carries
//! next to its closure, and [`compile`], which turns a tree back into the
//! closure in a process that only has the bytes.
//!
//! Building an expression composes closures (see the `expr` module), which
//! is what runs locally; the node records the same steps by name and
//! parameters. A graph that leaves the process carries the node; the
//! decoding side compiles it, once per op, through the tables here, which
//! reach the same generic kernels the builders used (`unary`, `binary`,
//! `Number::add`, …) monomorphized per dtype. One table per step kind keeps
//! the names in one place: a builder whose step is missing here fails the
//! round-trip tests, never a local run.
//!
//! [`Expr`]: crate::expr::Expr

use std::any::Any;
use std::sync::Arc;

use ndarray::ArrayD;
use oxidask_graph::{OpError, Value};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::element::{DType, Element, Number, Real, with_dtype};
use crate::expr::{Blk, Env, ExprFn, binary, binary_to, chunk_value, select, unary, unary_to};

/// One elementwise computation, as data. Leaves are named by the id of
/// their layer (see `expr::leaf_id`); parameters of a step are its postcard
/// bytes, read by the step's table entry.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum Node {
    /// The block of a leaf, of this dtype.
    Leaf { id: u64, dtype: DType },
    /// A step on one operand (`negative`, `astype`, `x + 2`, …).
    Map {
        op: String,
        params: Vec<u8>,
        a: Arc<Node>,
    },
    /// A step on two operands of one dtype, broadcast (`add`, `less`, …).
    Zip {
        op: String,
        a: Arc<Node>,
        b: Arc<Node>,
    },
    /// `where(c, a, b)`.
    Where {
        c: Arc<Node>,
        a: Arc<Node>,
        b: Arc<Node>,
    },
    /// A user function registered with `#[oxidask::remote]`, called with
    /// the operands' blocks (owned, without fusion padding, broadcast to
    /// the output block) and returning a block of `out`.
    Remote {
        name: String,
        /// The dimensions of the block the function sees.
        ndim: usize,
        out: DType,
        args: Vec<Arc<Node>>,
    },
    /// A closure: runs in this process only.
    Closure { what: String },
}

impl Node {
    /// The first closure in the tree, if any: what keeps it from leaving
    /// the process.
    pub fn closure(&self) -> Option<&str> {
        match self {
            Node::Leaf { .. } => None,
            Node::Map { a, .. } => a.closure(),
            Node::Zip { a, b, .. } => a.closure().or_else(|| b.closure()),
            Node::Where { c, a, b } => c.closure().or_else(|| a.closure()).or_else(|| b.closure()),
            Node::Remote { args, .. } => args.iter().find_map(|n| n.closure()),
            Node::Closure { what } => Some(what),
        }
    }
}

/// The postcard bytes of a step's parameters.
pub(crate) fn params_of(p: &impl Serialize) -> Vec<u8> {
    postcard::to_stdvec(p).expect("step parameters are plain data")
}

fn read<P: DeserializeOwned>(op: &str, params: &[u8]) -> Result<P, String> {
    postcard::from_bytes(params).map_err(|e| format!("parameters of elementwise step {op}: {e}"))
}

/// A compiled expression of some dtype: an `ExprFn<T>` for `T` of `dtype`.
pub(crate) struct Compiled {
    pub dtype: DType,
    f: Box<dyn Any + Send + Sync>,
}

impl Compiled {
    pub fn new<T: Element>(f: ExprFn<T>) -> Compiled {
        Compiled {
            dtype: T::DTYPE,
            f: Box::new(f),
        }
    }

    /// The closure, if it computes `T`s.
    pub fn get<T: Element>(self) -> Result<ExprFn<T>, String> {
        let dtype = self.dtype;
        self.f
            .downcast::<ExprFn<T>>()
            .map(|f| *f)
            .map_err(|_| format!("an expression of {dtype} where {} was expected", T::DTYPE))
    }
}

/// The closure computing `node` (see the module docs).
pub(crate) fn compile(node: &Node) -> Result<Compiled, String> {
    match node {
        Node::Leaf { id, dtype } => {
            let id = *id;
            with_dtype!(*dtype, T => {
                let f: ExprFn<T> = Arc::new(move |env: &mut Env| env.get::<T>(id));
                Ok(Compiled::new(f))
            })
        }
        Node::Map { op, params, a } => {
            let a = compile(a)?;
            with_dtype!(a.dtype, T => <T as Steps>::map(a.get::<T>()?, op, params))
        }
        Node::Zip { op, a, b } => {
            let (a, b) = (compile(a)?, compile(b)?);
            with_dtype!(a.dtype, T => <T as Steps>::zip(a.get::<T>()?, b.get::<T>()?, op))
        }
        Node::Where { c, a, b } => {
            let c = compile(c)?.get::<bool>()?;
            let (a, b) = (compile(a)?, compile(b)?);
            with_dtype!(a.dtype, T => {
                let (fa, fb) = (a.get::<T>()?, b.get::<T>()?);
                let f: ExprFn<T> = Arc::new(move |env: &mut Env| {
                    let x = c(env)?;
                    let y = fa(env)?;
                    let z = fb(env)?;
                    select(x, y, z)
                });
                Ok(Compiled::new(f))
            })
        }
        Node::Remote {
            name,
            ndim,
            out,
            args,
        } => remote(name, *ndim, *out, args),
        Node::Closure { what } => Err(format!(
            "{what} holds a closure; register the function with #[oxidask::remote] to run it \
             in another process"
        )),
    }
}

/// A remote call: each argument compiled into a function giving its block
/// as a value (unpadded, broadcast to the output block).
fn remote(name: &str, ndim: usize, out: DType, args: &[Arc<Node>]) -> Result<Compiled, String> {
    let f = oxidask_graph::remote::lookup(name)
        .ok_or_else(|| format!("no function {name} is registered with #[oxidask::remote]"))?;
    let getters = args
        .iter()
        .map(|a| {
            let c = compile(a)?;
            Ok(with_dtype!(c.dtype, T => block_getter::<T>(c.get::<T>()?)))
        })
        .collect::<Result<Vec<_>, String>>()?;
    with_dtype!(out, U => {
        let g: ExprFn<U> = Arc::new(move |env: &mut Env| {
            let blocks = getters.iter().map(|g| g(env)).collect::<Result<Vec<_>, _>>()?;
            call_remote::<U>(f, ndim, blocks)
        });
        Ok(Compiled::new(g))
    })
}

/// A block evaluated, with its shape.
type Getter = Box<dyn Fn(&mut Env) -> Result<(Value, Vec<usize>), OpError> + Send + Sync>;

fn block_getter<T: Element>(f: ExprFn<T>) -> Getter {
    Box::new(move |env: &mut Env| {
        let b = f(env)?.into_owned();
        let shape = b.shape().to_vec();
        Ok((chunk_value(b), shape))
    })
}

/// Calls `f` with blocks broadcast to their common shape and without the
/// leading axes fusion added; checks the result has that shape.
pub(crate) fn call_remote<U: Element>(
    f: &oxidask_graph::remote::RemoteFn,
    ndim: usize,
    blocks: Vec<(Value, Vec<usize>)>,
) -> Result<Blk<U>, OpError> {
    let mut full: Vec<usize> = Vec::new();
    for (_, s) in &blocks {
        full = crate::expr::broadcast_shapes(&full, s)
            .ok_or_else(|| format!("{}: blocks do not broadcast", f.name))?;
    }
    let pad = full.len().saturating_sub(ndim);
    let shape = full[pad..].to_vec();
    let vals = blocks
        .into_iter()
        .map(|(v, s)| {
            with_dtype!(value_dtype(&v)?, T => {
                // The value was made for this call: taking it does not copy.
                let a = crate::expr::pad(v.take::<ArrayD<T>>()?, full.len() - s.len());
                let mut a = if a.shape() == full.as_slice() {
                    a
                } else {
                    // Only a broadcast operand is copied, to the block it
                    // stands for.
                    a.broadcast(ndarray::IxDyn(&full))
                        .ok_or("blocks do not broadcast")?
                        .to_owned()
                };
                // Leading axes from fusion into more dimensions have length 1.
                for _ in 0..pad {
                    a = a.index_axis_move(ndarray::Axis(0), 0);
                }
                Ok(chunk_value(a))
            })
        })
        .collect::<Result<Vec<_>, OpError>>()?;
    let out = (f.call)(vals)?;
    let out = out
        .take::<ArrayD<U>>()
        .map_err(|e| format!("{}: {e}", f.name))?;
    if out.shape() != shape.as_slice() {
        return Err(format!(
            "{}: the function returned a block of shape {:?} for a block of shape {shape:?}; it \
             must keep the shape",
            f.name,
            out.shape()
        )
        .into());
    }
    Ok(Blk::Owned(crate::expr::pad(out, pad)))
}

fn value_dtype(v: &Value) -> Result<DType, OpError> {
    for d in DType::ALL {
        if with_dtype!(d, T => v.downcast_ref::<ArrayD<T>>().is_ok()) {
            return Ok(d);
        }
    }
    Err(format!("expected an array block, got {}", v.type_name()).into())
}

/// The dtype whose `as u8` is `x`.
pub(crate) fn dtype_from_u8(x: u8) -> Result<DType, String> {
    DType::ALL
        .into_iter()
        .find(|d| *d as u8 == x)
        .ok_or_else(|| format!("no dtype has code {x}"))
}

/// The step tables of one element type (see the module docs).
pub(crate) trait Steps: Element {
    /// A one-operand step on `a`.
    fn map(a: ExprFn<Self>, op: &str, params: &[u8]) -> Result<Compiled, String>;
    /// A two-operand step.
    fn zip(a: ExprFn<Self>, b: ExprFn<Self>, op: &str) -> Result<Compiled, String>;
}

fn map_with<T: Element, U: Element>(
    a: ExprFn<T>,
    g: impl Fn(Blk<T>) -> Result<Blk<U>, OpError> + Send + Sync + 'static,
) -> Compiled {
    let f: ExprFn<U> = Arc::new(move |env: &mut Env| g(a(env)?));
    Compiled::new(f)
}

fn zip_with<T: Element, U: Element>(
    a: ExprFn<T>,
    b: ExprFn<T>,
    g: impl Fn(Blk<T>, Blk<T>) -> Result<Blk<U>, OpError> + Send + Sync + 'static,
) -> Compiled {
    let f: ExprFn<U> = Arc::new(move |env: &mut Env| {
        let x = a(env)?;
        let y = b(env)?;
        g(x, y)
    });
    Compiled::new(f)
}

/// Steps of every element type: comparisons, casts, NaN tests.
fn any_map<T: Element>(a: ExprFn<T>, op: &str, params: &[u8]) -> Option<Result<Compiled, String>> {
    if let Some(f) = compare_fn::<T>(op.strip_prefix("scalar:").unwrap_or("")) {
        return Some(
            read::<(T, bool)>(op, params)
                .map(|(s, _)| map_with(a, move |b| Ok(unary_to(b, move |x| f(x, s))))),
        );
    }
    Some(match op {
        "astype" => (|| {
            let to = dtype_from_u8(read::<u8>(op, params)?)?;
            Ok(with_dtype!(to, U => map_with(a, |b| Ok(unary_to(b, |x: T| x.cast::<U>())))))
        })(),
        "isnan" => Ok(map_with(a, |b| Ok(unary_to(b, |x: T| x.is_nan())))),
        _ => return None,
    })
}

fn compare_fn<T: Element>(op: &str) -> Option<fn(T, T) -> bool> {
    Some(match op {
        "equal" => |a, b| a == b,
        "not_equal" => |a, b| a != b,
        "less" => |a, b| a < b,
        "less_equal" => |a, b| a <= b,
        "greater" => |a, b| a > b,
        "greater_equal" => |a, b| a >= b,
        _ => return None,
    })
}

fn any_zip<T: Element>(a: ExprFn<T>, b: ExprFn<T>, op: &str) -> Option<Compiled> {
    let f = compare_fn::<T>(op)?;
    Some(zip_with(a, b, move |x, y| binary_to(x, y, f)))
}

/// `(s, left)`: `s op x` when `left`, else `x op s`.
fn scalar_step<T: Element>(
    a: ExprFn<T>,
    op: &str,
    params: &[u8],
    f: fn(T, T) -> T,
) -> Result<Compiled, String> {
    let (s, left) = read::<(T, bool)>(op, params)?;
    Ok(if left {
        map_with(a, move |b| Ok(unary(b, |x| f(s, x))))
    } else {
        map_with(a, move |b| Ok(unary(b, |x| f(x, s))))
    })
}

fn number_binary<T: Number>(op: &str) -> Option<fn(T, T) -> T> {
    Some(match op {
        "add" => Number::add,
        "subtract" | "sub" => Number::sub,
        "multiply" | "mul" => Number::mul,
        "divide" | "div" => Number::div,
        "remainder" | "rem" => Number::rem,
        "maximum" => crate::ops::max_nan,
        "minimum" => crate::ops::min_nan,
        "fmax" => crate::ops::fmax,
        "fmin" => crate::ops::fmin,
        "floor_divide" => crate::ops::floor_divide,
        _ => return None,
    })
}

fn number_map<T: Number>(
    a: ExprFn<T>,
    op: &str,
    params: &[u8],
    binary_fn: impl Fn(&str) -> Option<fn(T, T) -> T>,
) -> Option<Result<Compiled, String>> {
    if let Some(f) = op.strip_prefix("scalar:").and_then(&binary_fn) {
        return Some(scalar_step(a, op, params, f));
    }
    Some(match op {
        "negative" => Ok(map_with(a, |b| Ok(unary(b, Number::neg)))),
        "sign" => Ok(map_with(a, |b| Ok(unary(b, crate::ops::sign)))),
        "absolute" => Ok(map_with(a, |b| Ok(unary(b, Number::abs)))),
        "powi" => {
            read::<u32>(op, params).map(|n| map_with(a, move |b| Ok(unary(b, |x: T| x.powi(n)))))
        }
        "clip" => read::<(T, T)>(op, params).map(|(lo, hi)| {
            map_with(a, move |b| {
                Ok(unary(b, |x| {
                    let y = if x < lo { lo } else { x };
                    if y > hi { hi } else { y }
                }))
            })
        }),
        _ => return None,
    })
}

fn real_binary<T: Real>(op: &str) -> Option<fn(T, T) -> T> {
    number_binary::<T>(op).or_else(|| {
        Some(match op {
            "power" => num_traits::Float::powf,
            "arctan2" => num_traits::Float::atan2,
            _ => return None,
        })
    })
}

fn real_unary<T: Real>(op: &str) -> Option<fn(T) -> T> {
    use num_traits::Float;
    Some(match op {
        "sqrt" => Float::sqrt,
        "exp" => Float::exp,
        "expm1" => Float::exp_m1,
        "log" => Float::ln,
        "log1p" => Float::ln_1p,
        "log2" => Float::log2,
        "log10" => Float::log10,
        "sin" => Float::sin,
        "cos" => Float::cos,
        "tan" => Float::tan,
        "arcsin" => Float::asin,
        "arccos" => Float::acos,
        "arctan" => Float::atan,
        "sinh" => Float::sinh,
        "cosh" => Float::cosh,
        "tanh" => Float::tanh,
        "floor" => Float::floor,
        "ceil" => Float::ceil,
        "round" => crate::ops::round_half_even,
        _ => return None,
    })
}

fn real_map<T: Real>(a: ExprFn<T>, op: &str, params: &[u8]) -> Result<Compiled, String> {
    if let Some(f) = real_unary::<T>(op) {
        return Ok(map_with(a, move |b| Ok(unary(b, f))));
    }
    let bool_to = |f: fn(T) -> bool| Ok(map_with(a.clone(), move |b| Ok(unary_to(b, f))));
    match op {
        "isfinite" => return bool_to(num_traits::Float::is_finite),
        "isinf" => return bool_to(num_traits::Float::is_infinite),
        _ => {}
    }
    number_map(a.clone(), op, params, real_binary::<T>)
        .or_else(|| any_map(a, op, params))
        .unwrap_or_else(|| Err(unknown(op, T::DTYPE)))
}

fn unknown(op: &str, dtype: DType) -> String {
    format!("no elementwise step {op} for {dtype} is registered")
}

macro_rules! real_steps {
    ($($t:ty),*) => {$(
        impl Steps for $t {
            fn map(a: ExprFn<$t>, op: &str, params: &[u8]) -> Result<Compiled, String> {
                real_map(a, op, params)
            }
            fn zip(a: ExprFn<$t>, b: ExprFn<$t>, op: &str) -> Result<Compiled, String> {
                if let Some(f) = real_binary::<$t>(op) {
                    return Ok(zip_with(a, b, move |x, y| binary(x, y, f)));
                }
                any_zip(a, b, op).ok_or_else(|| unknown(op, <$t as Element>::DTYPE))
            }
        }
    )*};
}

macro_rules! int_steps {
    ($($t:ty),*) => {$(
        impl Steps for $t {
            fn map(a: ExprFn<$t>, op: &str, params: &[u8]) -> Result<Compiled, String> {
                number_map(a.clone(), op, params, number_binary::<$t>)
                    .or_else(|| any_map(a, op, params))
                    .unwrap_or_else(|| Err(unknown(op, <$t as Element>::DTYPE)))
            }
            fn zip(a: ExprFn<$t>, b: ExprFn<$t>, op: &str) -> Result<Compiled, String> {
                if let Some(f) = number_binary::<$t>(op) {
                    return Ok(zip_with(a, b, move |x, y| binary(x, y, f)));
                }
                any_zip(a, b, op).ok_or_else(|| unknown(op, <$t as Element>::DTYPE))
            }
        }
    )*};
}

real_steps!(f64, f32);
int_steps!(i64, i32, i16, i8, u64, u32, u16, u8);

fn bool_binary(op: &str) -> Option<fn(bool, bool) -> bool> {
    Some(match op {
        "logical_and" | "bitand" => |a, b| a & b,
        "logical_or" | "bitor" => |a, b| a | b,
        "logical_xor" | "bitxor" => |a, b| a ^ b,
        _ => return None,
    })
}

impl Steps for bool {
    fn map(a: ExprFn<bool>, op: &str, params: &[u8]) -> Result<Compiled, String> {
        if let Some(f) = op.strip_prefix("scalar:").and_then(bool_binary) {
            return scalar_step(a, op, params, f);
        }
        if op == "logical_not" {
            return Ok(map_with(a, |b| Ok(unary(b, |x: bool| !x))));
        }
        any_map(a, op, params).unwrap_or_else(|| Err(unknown(op, DType::Bool)))
    }

    fn zip(a: ExprFn<bool>, b: ExprFn<bool>, op: &str) -> Result<Compiled, String> {
        if let Some(f) = bool_binary(op) {
            return Ok(zip_with(a, b, move |x, y| binary(x, y, f)));
        }
        any_zip(a, b, op).ok_or_else(|| unknown(op, DType::Bool))
    }
}

#[cfg(test)]
mod tests {
    //! Every step the builders make, on every dtype it exists for, compiles
    //! from its node and gives what the builder's closure gives: the tables
    //! here and the builders cannot drift apart unnoticed.

    use ndarray::{ArrayD, IxDyn};
    use oxidask_scheduler::{ComputeOptions, compute_many};

    use crate::{Array, Element, from_array};

    /// Plain and through bytes, printed (NaN equals NaN).
    fn check<T: Element>(what: &str, a: &Array<T>) {
        let plain = compute_many(a, &ComputeOptions::new()).unwrap();
        let back = compute_many(a, &ComputeOptions::new().round_trip(true))
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(format!("{plain:?}"), format!("{back:?}"), "{what}");
    }

    fn arr<T: Element>(v: Vec<T>) -> Array<T> {
        let n = v.len();
        from_array(ArrayD::from_shape_vec(IxDyn(&[n]), v).unwrap(), 3).unwrap()
    }

    macro_rules! common {
        ($x:expr, $y:expr, $s:expr, $t:ty) => {{
            let (x, y, s): (&Array<$t>, &Array<$t>, $t) = ($x, $y, $s);
            check("add", &x.add(y).unwrap());
            check("add s", &x.add(s).unwrap());
            check("s + x", &(s + x));
            check("s - x", &(s - x));
            check("s * x", &(s * x));
            check("s / x", &(s / x));
            check("s % x", &(s % x));
            check("subtract", &x.subtract(y).unwrap());
            check("multiply s", &x.multiply(s).unwrap());
            check("divide", &x.divide(y).unwrap());
            check("remainder s", &x.remainder(s).unwrap());
            check("maximum", &x.maximum(y).unwrap());
            check("fmax", &x.fmax(y).unwrap());
            check("fmin s", &x.fmin(s).unwrap());
            check("floor_divide", &x.floor_divide(y).unwrap());
            check("floor_divide s", &x.floor_divide(s).unwrap());
            check("sign", &x.sign());
            check("minimum s", &x.minimum(s).unwrap());
            check("negative", &x.negative());
            check("abs", &x.abs());
            check("powi", &x.powi(3));
            check("clip", &x.clip(s, s));
            check("equal", &x.equal(y).unwrap());
            check("not_equal s", &x.not_equal(s).unwrap());
            check("less", &x.less(y).unwrap());
            check("less_equal s", &x.less_equal(s).unwrap());
            check("greater", &x.greater(s).unwrap());
            check("greater_equal", &x.greater_equal(y).unwrap());
            check("isnan", &x.isnan());
            check("where", &crate::where_(&x.less(y).unwrap(), x, s).unwrap());
            check("astype f64", &x.astype::<f64>());
            check("astype f32", &x.astype::<f32>());
            check("astype i64", &x.astype::<i64>());
            check("astype i32", &x.astype::<i32>());
            check("astype u8", &x.astype::<u8>());
            check("astype bool", &x.astype::<bool>());
        }};
    }

    macro_rules! real {
        ($t:ty) => {{
            let x = arr::<$t>(vec![-2.5, -1.0, -0.5, 0.0, 0.5, 1.5, 2.5, 3.0]);
            let y = arr::<$t>(vec![1.0, -2.0, 0.25, 3.0, -0.5, 2.0, 0.0, 1.0]);
            common!(&x, &y, 1.5 as $t, $t);
            for (what, a) in [
                ("sqrt", x.sqrt()),
                ("exp", x.exp()),
                ("expm1", x.expm1()),
                ("log", x.log()),
                ("log1p", x.log1p()),
                ("log2", x.log2()),
                ("log10", x.log10()),
                ("sin", x.sin()),
                ("cos", x.cos()),
                ("tan", x.tan()),
                ("arcsin", x.arcsin()),
                ("arccos", x.arccos()),
                ("arctan", x.arctan()),
                ("sinh", x.sinh()),
                ("cosh", x.cosh()),
                ("tanh", x.tanh()),
                ("floor", x.floor()),
                ("ceil", x.ceil()),
                ("round", x.round()),
                ("powf", x.powf(&y).unwrap()),
                ("powf s", x.powf(2.0 as $t).unwrap()),
                ("arctan2", x.arctan2(&y).unwrap()),
            ] {
                check(what, &a);
            }
            check("isfinite", &x.isfinite());
            check("isinf", &x.isinf());
        }};
    }

    macro_rules! int {
        ($t:ty, $v:expr, $w:expr) => {{
            let (x, y) = (arr::<$t>($v), arr::<$t>($w));
            common!(&x, &y, 2 as $t, $t);
        }};
    }

    #[test]
    fn every_step_compiles_from_its_node_for_every_dtype() {
        real!(f64);
        real!(f32);
        int!(
            i64,
            vec![-7, -1, 0, 3, 9, 12, 5],
            vec![2, -3, 1, 0, 4, -5, 5]
        );
        int!(
            i32,
            vec![-7, -1, 0, 3, 9, 12, 5],
            vec![2, -3, 1, 0, 4, -5, 5]
        );
        int!(u8, vec![0, 1, 3, 9, 200, 255, 7], vec![2, 3, 1, 0, 4, 5, 7]);
        let p = arr(vec![true, false, true, true, false]);
        let q = arr(vec![false, false, true, false, true]);
        for (what, a) in [
            ("and", p.logical_and(&q).unwrap()),
            ("or s", p.logical_or(true).unwrap()),
            ("xor", p.logical_xor(&q).unwrap()),
            ("not", p.logical_not()),
            ("&", &p & &q),
            ("|", &p | &q),
            ("^", &p ^ &q),
            ("!", !&p),
            ("equal", p.equal(&q).unwrap()),
            ("less s", p.less(true).unwrap()),
            ("where", crate::where_(&p, &q, false).unwrap()),
            ("isnan", p.isnan()),
        ] {
            check(what, &a);
        }
        check("astype", &p.astype::<u8>());
    }
}
