//! The [`Array`] type: metadata, graph, computing and persisting.

use std::marker::PhantomData;
use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ndarray::ArrayD;
use oxidask_graph::{
    BlockArg, BlockLayer, Blockwise, HighLevelGraph, Key, Layer, Op, Pattern, Task, TaskGraph,
    Value, VisualizeBackend, name_for,
};
use oxidask_scheduler::{ComputeOptions, compute_with};

use crate::assemble::{Registered, Sink};
use crate::element::{DType, Element};
use crate::error::{Error, Result};
use crate::expr::{Expr, ExprOp};
use crate::grid::{Chunks, Grid, unravel};
use crate::stream::{Stream, Visit};

/// A lazy N-dimensional array of `T`, cut into chunks that are `ndarray`
/// blocks.
///
/// Shape, chunks and dtype are known without computing; every operation
/// adds to a graph that [`compute`](Array::compute) runs in parallel.
/// Cloning is cheap (the graph is shared).
pub struct Array<T: Element> {
    pub(crate) grid: Arc<Grid>,
    pub(crate) name: Arc<str>,
    pub(crate) graph: HighLevelGraph,
    /// The per-chunk computation when this array is elementwise, so the next
    /// elementwise operation can fuse with it (see the `expr` module).
    pub(crate) fused: Option<Arc<Expr<T>>>,
    /// An error found while building this array (see [`Error::Earlier`]).
    pub(crate) poison: Option<Arc<Error>>,
    /// For sources: their blocks piece by piece (see the `stream` module).
    pub(crate) stream: Option<Arc<dyn Stream>>,
    /// For in-memory sources: their blocks' pieces without copying.
    pub(crate) visit: Option<Visit<T>>,
    pub(crate) _t: PhantomData<T>,
}

impl<T: Element> Clone for Array<T> {
    fn clone(&self) -> Self {
        Array {
            grid: self.grid.clone(),
            name: self.name.clone(),
            graph: self.graph.clone(),
            fused: self.fused.clone(),
            poison: self.poison.clone(),
            stream: self.stream.clone(),
            visit: self.visit.clone(),
            _t: PhantomData,
        }
    }
}

impl<T: Element> std::fmt::Debug for Array<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(e) = &self.poison {
            return write!(f, "Array<invalid: {e}>");
        }
        write!(
            f,
            "Array<{}, shape={:?}, chunks={:?}, name={}>",
            T::DTYPE,
            self.grid.shape,
            self.grid.chunks,
            self.name
        )
    }
}

static UNIQUE: AtomicU64 = AtomicU64::new(0);

/// A token no other computation in this process has (for data and closures
/// that cannot be hashed by content).
pub(crate) fn unique_token() -> (u32, u64) {
    (std::process::id(), UNIQUE.fetch_add(1, Ordering::Relaxed))
}

impl<T: Element> Array<T> {
    pub(crate) fn from_layer(
        name: Arc<str>,
        kind: &'static str,
        grid: Grid,
        pattern: Arc<dyn Pattern>,
        inputs: &[&HighLevelGraph],
    ) -> Array<T> {
        let layer = BlockLayer::new(name.clone(), kind, grid.numblocks(), pattern);
        Array::from_any_layer(name, grid, Arc::new(layer), inputs)
    }

    /// The array whose blocks `(name, i, j, …)` over `grid` are the
    /// outputs of `layer`, read from the graphs `inputs`.
    pub(crate) fn from_any_layer(
        name: Arc<str>,
        grid: Grid,
        layer: Arc<dyn Layer>,
        inputs: &[&HighLevelGraph],
    ) -> Array<T> {
        let graph = HighLevelGraph::from_inputs(layer, inputs.iter().copied());
        Array::from_graph(graph, name, grid)
    }

    /// The array whose blocks over `grid` are the layer `name` of `graph`.
    pub(crate) fn from_graph(graph: HighLevelGraph, name: Arc<str>, grid: Grid) -> Array<T> {
        Array {
            grid: Arc::new(grid),
            name,
            graph,
            fused: None,
            poison: None,
            stream: None,
            visit: None,
            _t: PhantomData,
        }
    }

    pub(crate) fn poisoned(e: Error) -> Array<T> {
        let e = match e {
            Error::Earlier(e) => e,
            e => Arc::new(e),
        };
        Array {
            grid: Arc::new(Grid::new(vec![])),
            name: "invalid".into(),
            graph: HighLevelGraph::new(),
            fused: None,
            poison: Some(e),
            stream: None,
            visit: None,
            _t: PhantomData,
        }
    }

    /// Ok, or the error found when this array was built (an operator such
    /// as `&a + &b` on shapes that do not broadcast).
    pub fn check(&self) -> Result<()> {
        match &self.poison {
            None => Ok(()),
            Some(e) => Err(Error::Earlier(e.clone())),
        }
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.grid.shape
    }

    /// Number of dimensions.
    pub fn ndim(&self) -> usize {
        self.grid.ndim()
    }

    /// Number of elements.
    pub fn size(&self) -> usize {
        self.grid.size()
    }

    /// Chunk lengths per axis, like Dask's `chunks`.
    pub fn chunks(&self) -> &[Vec<usize>] {
        &self.grid.chunks
    }

    /// Number of blocks per axis.
    pub fn numblocks(&self) -> Vec<usize> {
        self.grid.chunks.iter().map(|c| c.len()).collect()
    }

    /// Total number of blocks.
    pub fn nblocks(&self) -> usize {
        self.grid.nblocks()
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        T::DTYPE
    }

    /// Bytes of the whole array.
    pub fn nbytes(&self) -> usize {
        self.size() * std::mem::size_of::<T>()
    }

    /// The name of the layer producing the blocks: the keys are
    /// `(name, i, j, …)`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The high-level graph.
    pub fn graph(&self) -> &HighLevelGraph {
        &self.graph
    }

    /// The keys of all blocks, row-major.
    pub fn keys(&self) -> Vec<Key> {
        let nb = self.grid.numblocks();
        (0..self.grid.nblocks() as u64)
            .map(|f| Key::with_index(self.name.clone(), &unravel(f, &nb)))
            .collect()
    }

    /// The task graph of this array, culled to its blocks (before the
    /// optimizer runs).
    pub fn task_graph(&self) -> Result<TaskGraph> {
        self.check()?;
        Ok(self.graph.cull(&self.keys())?.to_task_graph()?)
    }

    /// Computes the whole array with the configured scheduler.
    pub fn compute(&self) -> Result<ArrayD<T>> {
        self.compute_with(&ComputeOptions::new())
    }

    /// Computes the whole array with per-call options (scheduler, workers,
    /// optimizer passes, callbacks).
    ///
    /// Each block is copied into the result by a task of its own as soon as
    /// it is computed, and released: the blocks are never all held (nor
    /// spilled to disk and read back) next to the whole result.
    pub fn compute_with(&self, options: &ComputeOptions) -> Result<ArrayD<T>> {
        self.check()?;
        if self.grid.nblocks() == 1 {
            // One block: it is the result, moved out without a copy.
            let keys = self.keys();
            let values = compute_with(self.task_graph()?, &keys, options)?;
            return single_block(&self.grid, values);
        }
        // Registered while the computation runs, so a graph decoded in this
        // process (the round-trip mode) finds the sink by its id.
        let sink = Registered::new(Sink::<T>::new(self.grid.clone()));
        let name: Arc<str> = name_for("assemble", &(&*self.name, unique_token())).into();
        self.for_each_block(name, "assemble", sink.op.clone(), options)?;
        sink.sink.take_result()
    }

    /// Runs `op` on every block and its index — one task per block, reading
    /// that block — for its side effect (copying the block into a result,
    /// writing it to its place in a file).
    pub(crate) fn for_each_block(
        &self,
        name: Arc<str>,
        kind: &'static str,
        op: Arc<dyn Op>,
        options: &ComputeOptions,
    ) -> Result<()> {
        // The op sees its block and where it goes.
        let pattern = Blockwise::new(
            op,
            vec![BlockArg::block(self.name.clone()), BlockArg::Index],
        );
        let w: Array<bool> = Array::from_layer(
            name,
            kind,
            (*self.grid).clone(),
            Arc::new(pattern),
            &[&self.graph],
        );
        let keys = w.keys();
        compute_with(w.task_graph()?, &keys, options)?;
        Ok(())
    }

    /// Computes every block and returns an array holding them, so later
    /// computations start from the results (Dask's `persist`): in memory
    /// on the local schedulers; on a cluster (its client the scheduler in
    /// force) the blocks stay on the workers, held while the returned
    /// array (or anything built on it) lives, and this returns at once.
    pub fn persist(&self) -> Result<Array<T>> {
        self.persist_with(&ComputeOptions::new())
    }

    /// [`persist`](Array::persist) with per-call options.
    pub fn persist_with(&self, options: &ComputeOptions) -> Result<Array<T>> {
        let keys = self.keys();
        let tasks = oxidask_scheduler::persist_with(self.task_graph()?, &keys, options)?;
        let name: Arc<str> = name_for("persist", &*self.name).into();
        Ok(Array::from_layer(
            name,
            "persisted",
            (*self.grid).clone(),
            Arc::new(Held {
                tasks,
                numblocks: self.grid.numblocks(),
            }),
            &[],
        ))
    }

    /// Draws the task graph to an SVG file (with Graphviz `dot` when
    /// installed, else a built-in layout for small graphs).
    pub fn visualize(&self, path: impl AsRef<Path>) -> Result<VisualizeBackend> {
        Ok(self.task_graph()?.visualize(path)?)
    }

    /// This array's per-chunk computation on the block grid `out` (which it
    /// must broadcast to): its fused expression, or a read of its blocks,
    /// rechunked first when its chunks differ from `out`'s.
    pub(crate) fn expr(&self, out: &Grid) -> Result<Expr<T>> {
        self.check()?;
        let pad = out.ndim() - self.ndim();
        let mut target = Vec::with_capacity(self.ndim());
        let mut aligned = true;
        for (j, c) in self.grid.chunks.iter().enumerate() {
            let o = &out.chunks[j + pad];
            if self.grid.shape[j] == 1 && out.shape[j + pad] != 1 {
                target.push(c.clone());
            } else {
                aligned &= c == o;
                target.push(o.clone());
            }
        }
        if !aligned {
            return self.rechunk(target)?.expr(out);
        }
        Ok(match &self.fused {
            Some(e) => (**e).clone(),
            None => Expr::leaf(
                self.name.clone(),
                self.grid.clone(),
                self.graph.clone(),
                self.stream.clone(),
            ),
        })
    }

    /// The array computing `expr` on every block of `grid`.
    pub(crate) fn from_expr(prefix: &str, expr: Expr<T>, grid: Grid) -> Array<T> {
        let name: Arc<str> = name_for(prefix, &(&expr.token, &grid.chunks)).into();
        let ndim = grid.ndim();
        // Each leaf's block at the same position, 0 along the axes it
        // broadcasts over; the op carries its expression as data.
        let pattern = Blockwise::new(
            Arc::new(ExprOp::new(prefix, &expr, ndim)),
            expr.leaves
                .iter()
                .map(|l| BlockArg::broadcast(l.name.clone(), &l.grid.numblocks()))
                .collect(),
        );
        let layer = BlockLayer::new(
            name.clone(),
            "elementwise",
            grid.numblocks(),
            Arc::new(pattern),
        );
        let graph = expr.graph.clone().with_layer(Arc::new(layer));
        Array {
            grid: Arc::new(grid),
            name,
            graph,
            fused: Some(Arc::new(expr)),
            poison: None,
            stream: None,
            visit: None,
            _t: PhantomData,
        }
    }
}

/// Blocks already computed.
struct Held {
    /// Per block (row-major), the task that reads it where it is held.
    tasks: Vec<Task>,
    numblocks: Vec<u32>,
}

impl Pattern for Held {
    fn task(&self, idx: &[u32]) -> Task {
        let f = crate::grid::ravel(idx, &self.numblocks) as usize;
        self.tasks[f].clone()
    }

    fn inputs(&self) -> Vec<Arc<str>> {
        Vec::new()
    }
}

pub(crate) fn internal(message: &str) -> Error {
    Error::Compute(oxidask_scheduler::Error::Internal(message.to_string()))
}

/// The whole array when it is one block.
fn single_block<T: Element>(grid: &Grid, values: Vec<Value>) -> Result<ArrayD<T>> {
    let [v] = <[Value; 1]>::try_from(values)
        .map_err(|v| internal(&format!("one block expected, {} computed", v.len())))?;
    let a = v.take::<ArrayD<T>>()?;
    if a.shape() != grid.shape.as_slice() {
        return Err(internal(&format!(
            "the block has shape {:?}, expected {:?}",
            a.shape(),
            grid.shape
        )));
    }
    Ok(a)
}

/// A lazy single value: a full reduction such as `x.sum()`. Dereferences to
/// its 0-d [`Array`], so every array operation applies; its own
/// [`compute`](Scalar::compute) returns the value itself.
pub struct Scalar<T: Element>(pub(crate) Array<T>);

impl<T: Element> Clone for Scalar<T> {
    fn clone(&self) -> Self {
        Scalar(self.0.clone())
    }
}

impl<T: Element> std::fmt::Debug for Scalar<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Scalar({:?})", self.0)
    }
}

impl<T: Element> Deref for Scalar<T> {
    type Target = Array<T>;
    fn deref(&self) -> &Array<T> {
        &self.0
    }
}

impl<T: Element> Scalar<T> {
    /// Computes the value.
    pub fn compute(&self) -> Result<T> {
        self.compute_with(&ComputeOptions::new())
    }

    /// Computes the value with per-call options.
    pub fn compute_with(&self, options: &ComputeOptions) -> Result<T> {
        let a = self.0.compute_with(options)?;
        a.iter().next().copied().ok_or_else(|| {
            Error::Compute(oxidask_scheduler::Error::Internal(
                "a scalar computed to an empty array".into(),
            ))
        })
    }

    /// The 0-d array.
    pub fn into_array(self) -> Array<T> {
        self.0
    }

    pub(crate) fn new(a: Array<T>) -> Scalar<T> {
        debug_assert!(a.poison.is_some() || a.ndim() == 0);
        Scalar(a)
    }
}

impl<T: Element> Array<T> {
    /// This 0-d array as a [`Scalar`]; an error for other shapes.
    pub fn into_scalar(self) -> Result<Scalar<T>> {
        self.check()?;
        if self.ndim() != 0 {
            return Err(crate::error::invalid(
                "self",
                format!("an array of shape {:?} is not a scalar", self.shape()),
            ));
        }
        Ok(Scalar(self))
    }
}

/// Resolves `chunks` for `shape`, naming the argument on error.
pub(crate) fn grid_for(shape: &[usize], chunks: &Chunks, arg: &'static str) -> Result<Grid> {
    Ok(Grid::new(chunks.resolve(shape, arg)?))
}

/// Arrays compute together with other collections in one graph
/// (`compute(&(x.mean(..)?, x.std(..)?))`): shared blocks run once. The
/// blocks come back as outputs and are copied into the result at the end,
/// so unlike [`Array::compute`] they are all held at once.
impl<T: Element> oxidask_scheduler::Computable for Array<T> {
    type Output = ArrayD<T>;

    fn collect(&self, graph: &mut TaskGraph, keys: &mut Vec<Key>) -> oxidask_scheduler::Result<()> {
        graph.merge(self.task_graph()?);
        keys.extend(self.keys());
        // A full reduction (one block) may stream a source another one in
        // this graph streams too: let them share it.
        if self.grid.nblocks() == 1 {
            crate::reduce::share_scans(graph).map_err(|e| {
                oxidask_scheduler::Error::Internal(format!("sharing streamed sources: {e}"))
            })?;
        }
        Ok(())
    }

    fn finish(
        &self,
        values: &mut std::vec::IntoIter<Value>,
    ) -> oxidask_scheduler::Result<ArrayD<T>> {
        let n = self.grid.nblocks();
        let blocks = (0..n)
            .map(|_| oxidask_scheduler::next_value(values))
            .collect::<oxidask_scheduler::Result<Vec<Value>>>()?;
        if n == 1 {
            return Ok(single_block(&self.grid, blocks)?);
        }
        let sink = Sink::<T>::new(self.grid.clone());
        let nb = self.grid.numblocks();
        for (f, block) in blocks.into_iter().enumerate() {
            let idx = unravel(f as u64, &nb);
            sink.put(&idx, block)
                .map_err(|e| internal(&format!("assembling block {idx:?}: {e}")))?;
        }
        Ok(sink.take_result()?)
    }
}

/// A scalar computes with other collections in one graph, as its 0-d array.
impl<T: Element> oxidask_scheduler::Computable for Scalar<T> {
    type Output = T;

    fn collect(&self, graph: &mut TaskGraph, keys: &mut Vec<Key>) -> oxidask_scheduler::Result<()> {
        self.0.collect(graph, keys)
    }

    fn finish(&self, values: &mut std::vec::IntoIter<Value>) -> oxidask_scheduler::Result<T> {
        let a = self.0.finish(values)?;
        a.iter().next().copied().ok_or_else(|| {
            oxidask_scheduler::Error::Internal("a scalar computed to an empty array".into())
        })
    }
}
