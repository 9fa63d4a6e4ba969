//! Where `compute` assembles its result, and the op that copies blocks in.
//!
//! [`Array::compute_with`](crate::Array::compute_with) adds one task per
//! block that copies the block into a [`Sink`] as soon as it is computed,
//! so the blocks are never all held next to the result. The op,
//! [`Assemble`], is data like every other array op: its element type and
//! the id of its sink. The sink itself is memory of the calling process,
//! registered here by id while its computation runs; a graph decoded in
//! the same process (the round-trip mode) finds it by that id. A process
//! that did not call `compute` has no such sink, and its tasks fail saying
//! so — a cluster gathers blocks to the caller instead of running this op.

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use ndarray::{ArrayD, IxDyn, SliceInfoElem};
use oxidask_graph::{DataOp, OpError, Value, register_data_op};
use serde::{Deserialize, Serialize};

use crate::array::internal;
use crate::dataop::arg;
use crate::element::{DType, Element, with_dtype};
use crate::error::Result;
use crate::grid::Grid;

type AnySink = Arc<dyn Any + Send + Sync>;

/// The sinks of the computations running in this process, by id.
fn sinks() -> &'static Mutex<HashMap<u64, AnySink>> {
    static SINKS: OnceLock<Mutex<HashMap<u64, AnySink>>> = OnceLock::new();
    SINKS.get_or_init(Default::default)
}

/// Where `compute` assembles its result: blocks are copied in as their
/// tasks finish.
pub(crate) struct Sink<T> {
    grid: Arc<Grid>,
    /// Allocated by the first block (zeroed pages: memory is committed as
    /// blocks are copied in).
    out: Mutex<Option<ArrayD<T>>>,
}

impl<T: Element> Sink<T> {
    /// An empty result for an array of grid `grid`.
    pub(crate) fn new(grid: Arc<Grid>) -> Sink<T> {
        Sink {
            grid,
            out: Mutex::new(None),
        }
    }

    /// The assembled array, once every block was put: allocated by the first
    /// block, so an array without blocks gives its (empty) shape.
    pub(crate) fn take_result(&self) -> Result<ArrayD<T>> {
        let out = self
            .out
            .lock()
            .map_err(|_| internal("the result of compute was poisoned by a panic"))?
            .take();
        Ok(out.unwrap_or_else(|| ArrayD::from_elem(IxDyn(&self.grid.shape), T::default())))
    }

    /// Copies block `idx` into its place.
    pub(crate) fn put(&self, idx: &[u32], block: Value) -> Result<(), OpError> {
        self.grid.check_index(idx)?;
        let start = self.grid.block_start(idx);
        let shape = self.grid.block_shape(idx);
        let block = block.downcast_ref::<ArrayD<T>>()?;
        if block.shape() != shape.as_slice() {
            return Err(format!(
                "block {idx:?} has shape {:?}, expected {shape:?}",
                block.shape()
            )
            .into());
        }
        let info: Vec<SliceInfoElem> = start
            .iter()
            .zip(&shape)
            .map(|(&s, &n)| SliceInfoElem::from(s..s + n))
            .collect();
        let mut out = self
            .out
            .lock()
            .map_err(|_| "the result of compute was poisoned by a panic")?;
        out.get_or_insert_with(|| ArrayD::from_elem(IxDyn(&self.grid.shape), T::default()))
            .slice_mut(info.as_slice())
            .assign(block);
        Ok(())
    }
}

/// A sink registered under an id for as long as this lives (the run of one
/// `compute`), and the op that copies blocks into it.
pub(crate) struct Registered<T> {
    pub(crate) sink: Arc<Sink<T>>,
    pub(crate) op: Arc<Assemble>,
}

impl<T: Element> Registered<T> {
    /// Registers `sink` for this process's graphs to find.
    pub(crate) fn new(sink: Sink<T>) -> Registered<T> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        let sink = Arc::new(sink);
        let any: AnySink = sink.clone();
        // A poisoned map still holds valid entries: only inserts and
        // removes touch it.
        sinks()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, any.clone());
        let local = OnceLock::new();
        let _ = local.set(any);
        Registered {
            sink,
            op: Arc::new(Assemble {
                dtype: T::DTYPE,
                sink: id,
                local,
            }),
        }
    }
}

impl<T> Drop for Registered<T> {
    fn drop(&mut self) {
        sinks()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.op.sink);
    }
}

/// Copies a block into the result of the `compute` call whose sink has id
/// `sink`. Arguments: the block, its index.
#[derive(Serialize, Deserialize)]
pub(crate) struct Assemble {
    dtype: DType,
    sink: u64,
    /// The sink, once found: set when built by `compute`, looked up by id
    /// on the first run of a decoded op.
    #[serde(skip)]
    local: OnceLock<AnySink>,
}

impl Assemble {
    fn sink(&self) -> Result<AnySink, OpError> {
        if let Some(s) = self.local.get() {
            return Ok(s.clone());
        }
        let found = sinks()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&self.sink)
            .cloned()
            .ok_or_else(|| {
                format!(
                    "assemble: the result of compute #{} is not in this process (compute copies blocks into the memory of the process that called it, which alone can run this op)",
                    self.sink
                )
            })?;
        let _ = self.local.set(found.clone());
        Ok(found)
    }
}

fn put<T: Element>(sink: &AnySink, idx: &[u32], block: Value) -> Result<(), OpError> {
    sink.downcast_ref::<Sink<T>>()
        .ok_or("assemble: the result of compute holds another element type")?
        .put(idx, block)
}

impl DataOp for Assemble {
    const NAME: &'static str = "oxidask.array.assemble";

    fn label(&self) -> &str {
        "assemble"
    }

    fn run(&self, mut args: Vec<Value>) -> Result<Value, OpError> {
        let sink = self.sink()?;
        // Check the index against the sink's own grid, then hand the block
        // over (the op holds no grid of its own).
        arg(&args, 1, "assemble")?;
        let idx = args.pop().expect("two arguments").take::<Vec<u32>>()?;
        let block = args.pop().ok_or("assemble needs a block")?;
        with_dtype!(self.dtype, T => put::<T>(&sink, &idx, block))?;
        Ok(Value::new(()))
    }
}
register_data_op!(Assemble);

#[cfg(test)]
mod tests {
    use oxidask_graph::{Op, decode_op};

    use super::*;
    use crate::expr::chunk_value;

    #[test]
    fn a_decoded_op_finds_its_sink_only_while_the_compute_runs() {
        let grid = Arc::new(Grid::new(vec![vec![2, 1]]));
        let reg = Registered::<i64>::new(Sink::new(grid.clone()));
        // Through the registry, as a decoded graph rebuilds it.
        let bytes = Op::encode(&*reg.op).unwrap();
        let decoded = decode_op(Assemble::NAME, &bytes).unwrap();
        let block =
            |v: Vec<i64>| chunk_value(ArrayD::from_shape_vec(IxDyn(&[v.len()]), v).unwrap());
        decoded
            .call(vec![block(vec![7]), Value::new(vec![1u32])])
            .unwrap();
        reg.op
            .call(vec![block(vec![5, 6]), Value::new(vec![0u32])])
            .unwrap();
        let e = decoded
            .call(vec![block(vec![5]), Value::new(vec![0u32])])
            .unwrap_err();
        assert!(e.to_string().contains("expected [2]"), "{e}");
        let e = decoded
            .call(vec![block(vec![5]), Value::new(vec![2u32])])
            .unwrap_err();
        assert!(e.to_string().contains("not in a grid"), "{e}");
        assert_eq!(
            reg.sink.take_result().unwrap().into_raw_vec_and_offset().0,
            vec![5, 6, 7]
        );
        let id = reg.op.sink;
        drop(reg);
        let late = decode_op(Assemble::NAME, &bytes).unwrap();
        let e = late
            .call(vec![block(vec![5, 6]), Value::new(vec![0u32])])
            .unwrap_err();
        assert!(
            e.to_string()
                .contains(&format!("compute #{id} is not in this process")),
            "{e}"
        );
    }
}
