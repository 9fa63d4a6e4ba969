//! Fused elementwise expressions: a whole chain of elementwise operations
//! runs as one task per chunk.
//!
//! An elementwise array does not only add a layer to its graph: it also
//! keeps its per-chunk computation as an [`Expr`], a closure over the chunks
//! of its *leaves* (the materialized arrays it reads). The next elementwise
//! operation composes closures instead of reading the previous layer's keys,
//! so `x * x * x + 1` is one layer of one task per chunk whose only input is
//! `x`, and the intermediate layers never enter its graph. Dask reaches the
//! same result afterwards with its blockwise-fusion pass; composing at build
//! time needs no pass and no graph rewriting.
//!
//! # Invariants
//!
//! - A leaf is identified by its layer name; within one expression a name
//!   always maps to one block pattern (it depends only on the leaf's grid and
//!   the output grid), so composing expressions just merges leaf lists.
//! - Each leaf records how often the closure reads it ([`LeafRef::uses`]).
//!   [`Env::get`] hands out shared handles until the last read, which gets
//!   the task's own handle: when the scheduler passed the only one, kernels
//!   update that chunk in place instead of allocating.
//! - Leaf blocks are padded with leading axes to the output's dimensions, so
//!   NumPy broadcasting inside a chunk is plain `ndarray` broadcasting.
//! - Next to its closure, an expression keeps the same steps as data (a
//!   [`Node`], see the `steps` module): the closure runs here, the node is
//!   what an [`ExprOp`] writes to bytes and compiles back in another process.

use std::sync::Arc;

use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn, Zip};
use oxidask_graph::{HighLevelGraph, NdarrayCodec, Op, OpError, Tokenize, Value, tokenize};
use serde::{Deserialize, Serialize};

use crate::element::{DType, Element, with_dtype};
use crate::grid::Grid;
use crate::steps::{Node, compile};
use crate::stream::Stream;

/// A chunk during the evaluation of an expression: owned (free to update in
/// place) or a shared handle to a task input.
pub(crate) enum Blk<T> {
    Owned(ArrayD<T>),
    /// A value holding an `ArrayD<T>` (checked when fetched), to be seen with
    /// this many leading axes of length 1 added.
    Shared(Value, usize),
}

/// `a` with `n` leading axes of length 1.
pub(crate) fn pad<T>(mut a: ArrayD<T>, n: usize) -> ArrayD<T> {
    for _ in 0..n {
        a = a.insert_axis(Axis(0));
    }
    a
}

impl<T: Element> Blk<T> {
    pub fn view(&self) -> ArrayViewD<'_, T> {
        match self {
            Blk::Owned(a) => a.view(),
            Blk::Shared(v, n) => {
                let mut a = v
                    .downcast_ref::<ArrayD<T>>()
                    .expect("the type of a shared block is checked when it is fetched")
                    .view();
                for _ in 0..*n {
                    a = a.insert_axis(Axis(0));
                }
                a
            }
        }
    }

    pub fn shape(&self) -> Vec<usize> {
        self.view().shape().to_vec()
    }

    /// The block as an owned array, without copying when it is the only handle.
    pub fn into_owned(self) -> ArrayD<T> {
        match self.try_owned() {
            Ok(a) => a,
            Err(b) => b.view().to_owned(),
        }
    }

    /// The owned array if no copy is needed, else the block back.
    pub fn try_owned(self) -> Result<ArrayD<T>, Blk<T>> {
        match self {
            Blk::Owned(a) => Ok(a),
            Blk::Shared(v, n) => match v.try_unwrap::<ArrayD<T>>() {
                Ok(a) => Ok(pad(a, n)),
                Err(v) => Err(Blk::Shared(v, n)),
            },
        }
    }
}

/// The leaf values of one task, handed out by name.
pub(crate) struct Env {
    ids: Arc<[u64]>,
    vals: Vec<Option<Value>>,
    left: Vec<u32>,
    ndim: usize,
}

impl Env {
    pub fn new(ids: Arc<[u64]>, vals: Vec<Value>, left: Vec<u32>, ndim: usize) -> Env {
        Env {
            ids,
            vals: vals.into_iter().map(Some).collect(),
            left,
            ndim,
        }
    }

    pub fn get<T: Element>(&mut self, id: u64) -> Result<Blk<T>, OpError> {
        let i = self
            .ids
            .iter()
            .position(|&x| x == id)
            .ok_or("internal: an expression read a leaf it does not have")?;
        self.left[i] = self.left[i].saturating_sub(1);
        let v = if self.left[i] == 0 {
            self.vals[i].take()
        } else {
            self.vals[i].clone()
        }
        .ok_or("internal: an expression read a leaf more often than counted")?;
        let nd = v.downcast_ref::<ArrayD<T>>()?.ndim();
        Ok(Blk::Shared(v, self.ndim.saturating_sub(nd)))
    }
}

pub(crate) type ExprFn<T> = Arc<dyn Fn(&mut Env) -> Result<Blk<T>, OpError> + Send + Sync>;

/// A materialized array an expression reads.
#[derive(Clone)]
pub(crate) struct LeafRef {
    pub id: u64,
    pub name: Arc<str>,
    pub grid: Arc<Grid>,
    pub uses: u32,
    /// The leaf's blocks piece by piece, when it is a streaming source.
    pub stream: Option<Arc<dyn Stream>>,
}

/// What a step of an expression is, as data (see [`Node`]).
pub(crate) enum Step {
    /// A step of the `steps` tables, by name and postcard parameters.
    Named { op: String, params: Vec<u8> },
    /// A function registered with `#[oxidask::remote]`: its path, the
    /// dimensions of the blocks it sees and its output dtype.
    Remote {
        name: &'static str,
        ndim: usize,
        out: DType,
    },
    /// A closure, described for the error that encoding it gives.
    Closure(String),
}

impl Step {
    /// A named step with parameters.
    pub fn named(op: &str, params: &impl Serialize) -> Step {
        Step::Named {
            op: op.to_string(),
            params: crate::steps::params_of(params),
        }
    }

    fn node(self, args: Vec<Arc<Node>>) -> Node {
        match self {
            Step::Named { op, params } => {
                let mut args = args.into_iter();
                let a = args.next().expect("a step has an operand");
                match args.next() {
                    None => Node::Map { op, params, a },
                    Some(b) => Node::Zip { op, a, b },
                }
            }
            Step::Remote { name, ndim, out } => Node::Remote {
                name: name.to_string(),
                ndim,
                out,
                args,
            },
            Step::Closure(what) => Node::Closure { what },
        }
    }
}

/// A per-chunk computation over leaves; see the module docs.
pub(crate) struct Expr<T> {
    pub leaves: Vec<LeafRef>,
    pub f: ExprFn<T>,
    /// Identifies the computation (ops, parameters, leaf names).
    pub token: String,
    /// The graphs of the leaves, merged.
    pub graph: HighLevelGraph,
    /// Whether this is just a leaf's blocks, unchanged.
    pub bare: bool,
    /// Whether every step is elementwise: the value at a position depends
    /// only on the leaves' values at that position, whatever the shape the
    /// leaves are seen in. Only such an expression may run on streamed
    /// pieces of blocks; a user's block function ([`Expr::opaque`]) must see
    /// exactly its block.
    pub pointwise: bool,
    /// The same computation as data.
    pub node: Arc<Node>,
}

impl<T> Clone for Expr<T> {
    fn clone(&self) -> Self {
        Expr {
            leaves: self.leaves.clone(),
            f: self.f.clone(),
            node: self.node.clone(),
            token: self.token.clone(),
            graph: self.graph.clone(),
            bare: self.bare,
            pointwise: self.pointwise,
        }
    }
}

pub(crate) fn leaf_id(name: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(name.as_bytes())
}

fn merge_leaves(a: &[LeafRef], b: &[LeafRef]) -> Vec<LeafRef> {
    let mut out = a.to_vec();
    for l in b {
        match out.iter_mut().find(|x| x.id == l.id) {
            Some(x) => x.uses += l.uses,
            None => out.push(l.clone()),
        }
    }
    out
}

impl<T: Element> Expr<T> {
    pub fn leaf(
        name: Arc<str>,
        grid: Arc<Grid>,
        graph: HighLevelGraph,
        stream: Option<Arc<dyn Stream>>,
    ) -> Expr<T> {
        let id = leaf_id(&name);
        let token = tokenize(&("leaf", &*name));
        Expr {
            leaves: vec![LeafRef {
                id,
                name,
                grid,
                uses: 1,
                stream,
            }],
            f: Arc::new(move |env: &mut Env| env.get::<T>(id)),
            node: Arc::new(Node::Leaf {
                id,
                dtype: T::DTYPE,
            }),
            token,
            graph,
            bare: true,
            pointwise: true,
        }
    }

    /// Marks the expression as not elementwise (it contains a function of
    /// whole blocks), so it is never evaluated on pieces of blocks.
    pub fn opaque(mut self) -> Expr<T> {
        self.pointwise = false;
        self
    }

    pub fn map<U: Element>(
        self,
        op: &str,
        params: &impl Tokenize,
        step: Step,
        g: impl Fn(Blk<T>) -> Result<Blk<U>, OpError> + Send + Sync + 'static,
    ) -> Expr<U> {
        let f = self.f;
        Expr {
            node: Arc::new(step.node(vec![self.node])),
            leaves: self.leaves,
            token: tokenize(&(op, params, &self.token)),
            f: Arc::new(move |env: &mut Env| g(f(env)?)),
            graph: self.graph,
            bare: false,
            pointwise: self.pointwise,
        }
    }

    pub fn zip<U: Element, V: Element>(
        self,
        other: Expr<U>,
        op: &str,
        params: &impl Tokenize,
        step: Step,
        g: impl Fn(Blk<T>, Blk<U>) -> Result<Blk<V>, OpError> + Send + Sync + 'static,
    ) -> Expr<V> {
        let (fa, fb) = (self.f, other.f);
        Expr {
            node: Arc::new(step.node(vec![self.node, other.node])),
            leaves: merge_leaves(&self.leaves, &other.leaves),
            token: tokenize(&(op, params, &self.token, &other.token)),
            f: Arc::new(move |env: &mut Env| {
                let a = fa(env)?;
                let b = fb(env)?;
                g(a, b)
            }),
            graph: self.graph.merge(&other.graph),
            bare: false,
            pointwise: self.pointwise && other.pointwise,
        }
    }
}

impl Expr<bool> {
    pub fn zip3<T: Element, U: Element, V: Element>(
        self,
        b: Expr<T>,
        c: Expr<U>,
        op: &str,
        params: &impl Tokenize,
        g: impl Fn(Blk<bool>, Blk<T>, Blk<U>) -> Result<Blk<V>, OpError> + Send + Sync + 'static,
    ) -> Expr<V> {
        let (fa, fb, fc) = (self.f, b.f, c.f);
        Expr {
            node: Arc::new(Node::Where {
                c: self.node,
                a: b.node,
                b: c.node,
            }),
            leaves: merge_leaves(&merge_leaves(&self.leaves, &b.leaves), &c.leaves),
            token: tokenize(&(op, params, &self.token, &b.token, &c.token)),
            f: Arc::new(move |env: &mut Env| {
                let x = fa(env)?;
                let y = fb(env)?;
                let z = fc(env)?;
                g(x, y, z)
            }),
            graph: self.graph.merge(&b.graph).merge(&c.graph),
            bare: false,
            pointwise: self.pointwise && b.pointwise && c.pointwise,
        }
    }
}

/// Runs an expression as a task: arguments are the leaf blocks in leaf order.
pub(crate) struct ExprOp<T> {
    pub spec: ExprSpec,
    pub f: ExprFn<T>,
}

/// What an [`ExprOp`] is as data: all a process needs to rebuild it.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct ExprSpec {
    /// What errors and pictures show (`add`, `where`, …).
    pub label: String,
    pub dtype: DType,
    pub node: Arc<Node>,
    pub ids: Arc<[u64]>,
    pub uses: Arc<[u32]>,
    pub ndim: usize,
}

/// The registry name of [`ExprOp`].
pub(crate) const EXPR_OP: &str = "oxidask.array.expr";

impl<T: Element> ExprOp<T> {
    /// The op running `expr` on blocks of `ndim` dimensions.
    pub fn new(label: &str, expr: &Expr<T>, ndim: usize) -> ExprOp<T> {
        ExprOp {
            spec: ExprSpec {
                label: label.to_string(),
                dtype: T::DTYPE,
                node: expr.node.clone(),
                ids: expr.leaves.iter().map(|l| l.id).collect(),
                uses: expr.leaves.iter().map(|l| l.uses).collect(),
                ndim,
            },
            f: expr.f.clone(),
        }
    }
}

impl<T: Element> Op for ExprOp<T> {
    fn name(&self) -> &str {
        EXPR_OP
    }

    fn label(&self) -> &str {
        &self.spec.label
    }

    fn call(&self, args: Vec<Value>) -> Result<Value, OpError> {
        let mut env = Env::new(
            self.spec.ids.clone(),
            args,
            self.spec.uses.to_vec(),
            self.spec.ndim,
        );
        let out = (self.f)(&mut env)?.into_owned();
        Ok(chunk_value(out))
    }

    fn encode(&self) -> Option<Vec<u8>> {
        encode_spec(&self.spec.node, &self.spec)
    }
}

/// The postcard bytes of an op's spec, or `None` when its expression holds
/// a closure (the graph encoder then names the task and says how to
/// register the function).
pub(crate) fn encode_spec(node: &Node, spec: &impl Serialize) -> Option<Vec<u8>> {
    if node.closure().is_some() {
        return None;
    }
    postcard::to_stdvec(spec).ok()
}

fn decode_expr_op(bytes: &[u8]) -> Result<Arc<dyn Op>, String> {
    let spec: ExprSpec =
        postcard::from_bytes(bytes).map_err(|e| format!("parameters of {}: {e}", EXPR_OP))?;
    let c = compile(&spec.node)?;
    with_dtype!(spec.dtype, T => {
        let f = c.get::<T>()?;
        Ok(Arc::new(ExprOp::<T> { spec, f }) as Arc<dyn Op>)
    })
}

oxidask_graph::register_op!(EXPR_OP, decode_expr_op);

/// Wraps a chunk so it can be measured, spilled and sent.
pub(crate) fn chunk_value<T: Element>(a: ArrayD<T>) -> Value {
    let nbytes = std::mem::size_of::<ArrayD<T>>() + a.len() * std::mem::size_of::<T>();
    Value::with_codec::<_, NdarrayCodec>(a, nbytes)
}

/// The NumPy broadcast of two shapes, or `None`.
pub(crate) fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for k in 0..n {
        let x = if k + a.len() >= n {
            a[k + a.len() - n]
        } else {
            1
        };
        let y = if k + b.len() >= n {
            b[k + b.len() - n]
        } else {
            1
        };
        out[k] = match (x, y) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(out)
}

fn shape_of<T: Element>(a: &Blk<T>, b_shape: &[usize]) -> Result<Vec<usize>, OpError> {
    let s = a.shape();
    broadcast_shapes(&s, b_shape)
        .ok_or_else(|| format!("blocks of shapes {s:?} and {b_shape:?} do not broadcast").into())
}

/// `f` applied to every element, in place when the block is owned.
pub(crate) fn unary<T: Element>(a: Blk<T>, f: impl Fn(T) -> T) -> Blk<T> {
    match a.try_owned() {
        Ok(mut o) => {
            o.mapv_inplace(f);
            Blk::Owned(o)
        }
        Err(s) => Blk::Owned(s.view().mapv(f)),
    }
}

/// `f` applied to every element, into a new block of another type.
pub(crate) fn unary_to<T: Element, U: Element>(a: Blk<T>, f: impl Fn(T) -> U) -> Blk<U> {
    Blk::Owned(a.view().mapv(f))
}

/// `f(a, b)` with broadcasting, reusing an owned operand of the output
/// shape when there is one.
pub(crate) fn binary<T: Element>(
    a: Blk<T>,
    b: Blk<T>,
    f: impl Fn(T, T) -> T,
) -> Result<Blk<T>, OpError> {
    let shape = shape_of(&a, &b.shape())?;
    let a = match a.try_owned() {
        Ok(mut o) if o.shape() == shape.as_slice() => {
            o.zip_mut_with(&b.view(), |x, &y| *x = f(*x, y));
            return Ok(Blk::Owned(o));
        }
        Ok(o) => Blk::Owned(o),
        Err(s) => s,
    };
    let b = match b.try_owned() {
        Ok(mut o) if o.shape() == shape.as_slice() => {
            let av = a.view();
            Zip::from(&mut o)
                .and_broadcast(&av)
                .for_each(|y, &x| *y = f(x, *y));
            return Ok(Blk::Owned(o));
        }
        Ok(o) => Blk::Owned(o),
        Err(s) => s,
    };
    binary_to(a, b, f)
}

/// `f(a, b)` with broadcasting, into a new block.
pub(crate) fn binary_to<T: Element, U: Element, V: Element>(
    a: Blk<T>,
    b: Blk<U>,
    f: impl Fn(T, U) -> V,
) -> Result<Blk<V>, OpError> {
    let shape = shape_of(&a, &b.shape())?;
    let (av, bv) = (a.view(), b.view());
    let sh = IxDyn(&shape);
    let (Some(av), Some(bv)) = (av.broadcast(sh.clone()), bv.broadcast(sh)) else {
        return Err("internal: blocks do not broadcast".into());
    };
    Ok(Blk::Owned(
        Zip::from(&av).and(&bv).map_collect(|&x, &y| f(x, y)),
    ))
}

/// `if c { a } else { b }` with broadcasting.
pub(crate) fn select<T: Element>(c: Blk<bool>, a: Blk<T>, b: Blk<T>) -> Result<Blk<T>, OpError> {
    let s = shape_of(&c, &a.shape())?;
    let s = broadcast_shapes(&s, &b.shape()).ok_or("blocks do not broadcast")?;
    let sh = IxDyn(&s);
    let (cv, av, bv) = (c.view(), a.view(), b.view());
    let (Some(cv), Some(av), Some(bv)) = (
        cv.broadcast(sh.clone()),
        av.broadcast(sh.clone()),
        bv.broadcast(sh),
    ) else {
        return Err("internal: blocks do not broadcast".into());
    };
    Ok(Blk::Owned(
        Zip::from(&cv)
            .and(&av)
            .and(&bv)
            .map_collect(|&c, &x, &y| if c { x } else { y }),
    ))
}
