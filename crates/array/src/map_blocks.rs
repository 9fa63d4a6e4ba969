//! `map_blocks` with the block's place: Dask's `block_id`/`block_info`,
//! `drop_axis` and `new_axis`.
//!
//! [`Array::map_blocks_with`] calls the function with each block and a
//! [`BlockInfo`] (where the block sits in the output and in the input).
//! The output may lose input axes (`drop_axis`: as in Dask, the input's
//! blocks along a dropped axis are joined first, so the function sees the
//! whole axis) and gain new ones (`new_axis`, positions in the output, of
//! length 1 unless `chunks` says otherwise). A function registered with
//! `#[oxidask::remote]` (`fn(ArrayD<T>, BlockInfo) -> ArrayD<U>`) makes a
//! data op that can leave the process; a closure runs locally only.
//!
//! Unlike [`Array::map_blocks`], this is not fused into elementwise chains:
//! the block's place is a task argument (the graph crate's block index).

use std::sync::Arc;

use ndarray::ArrayD;
use oxidask_graph::{
    Arg, DataOp, Key, Op, OpError, Pattern, SerdeCodec, Task, Value, name_for, register_data_op,
    register_value,
};
use serde::{Deserialize, Serialize};

use crate::array::{Array, unique_token};
use crate::dataop::arg;
use crate::element::{DType, Element, with_dtype};
use crate::error::{Result, invalid};
use crate::expr::chunk_value;
use crate::grid::{Grid, normalize_axes};

/// Where a block sits: what Dask's `block_id` and `block_info` tell.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockInfo {
    /// The output block's position in the grid of blocks (`block_id`).
    pub block_id: Vec<usize>,
    /// The output's number of blocks per axis.
    pub num_blocks: Vec<usize>,
    /// The output's shape.
    pub shape: Vec<usize>,
    /// The shape the function must return.
    pub chunk_shape: Vec<usize>,
    /// The input block's position among the input's blocks.
    pub input_block_id: Vec<usize>,
    /// The input block's `(start, stop)` along each input axis
    /// (`block_info[0]["array-location"]`).
    pub array_location: Vec<(usize, usize)>,
}

register_value!(BlockInfo);

/// The options of [`Array::map_blocks_with`].
#[derive(Clone, Debug, Default)]
pub struct MapBlocks {
    drop_axis: Vec<isize>,
    new_axis: Vec<isize>,
    chunks: Option<Vec<Vec<usize>>>,
}

impl MapBlocks {
    /// Same axes, same chunks.
    pub fn new() -> MapBlocks {
        MapBlocks::default()
    }

    /// Input axes the function removes (negative counts from the end).
    pub fn drop_axis(mut self, axes: &[isize]) -> MapBlocks {
        self.drop_axis = axes.to_vec();
        self
    }

    /// Output axes the function adds (negative counts from the end).
    pub fn new_axis(mut self, axes: &[isize]) -> MapBlocks {
        self.new_axis = axes.to_vec();
        self
    }

    /// The output's chunks, when the function changes block shapes: one
    /// list per output axis, as many blocks as the default.
    pub fn chunks(mut self, chunks: Vec<Vec<usize>>) -> MapBlocks {
        self.chunks = Some(chunks);
        self
    }
}

/// How output blocks map to input blocks, as data.
#[derive(Clone, Serialize, Deserialize)]
struct MapPlan {
    #[serde(with = "crate::wire::runs")]
    in_chunks: Vec<Vec<usize>>,
    #[serde(with = "crate::wire::runs")]
    out_chunks: Vec<Vec<usize>>,
    /// Dropped input axes (one block each).
    drop: Vec<usize>,
    /// New output axes.
    new: Vec<usize>,
}

impl MapPlan {
    fn in_index(&self, out: &[u32]) -> Vec<u32> {
        let mut kept = (0..out.len())
            .filter(|a| !self.new.contains(a))
            .map(|a| out[a]);
        (0..self.in_chunks.len())
            .map(|a| {
                if self.drop.contains(&a) {
                    0
                } else {
                    kept.next().unwrap_or(0)
                }
            })
            .collect()
    }

    fn info(&self, out: &[u32]) -> Result<BlockInfo, OpError> {
        let og = Grid::new(self.out_chunks.clone());
        og.check_index(out)?;
        let input = self.in_index(out);
        let ig = Grid::new(self.in_chunks.clone());
        ig.check_index(&input)?;
        let start = ig.block_start(&input);
        let bshape = ig.block_shape(&input);
        Ok(BlockInfo {
            block_id: out.iter().map(|&i| i as usize).collect(),
            num_blocks: og.numblocks().iter().map(|&n| n as usize).collect(),
            shape: og.shape.clone(),
            chunk_shape: og.block_shape(out),
            input_block_id: input.iter().map(|&i| i as usize).collect(),
            array_location: start
                .iter()
                .zip(&bshape)
                .map(|(&s, &n)| (s, s + n))
                .collect(),
        })
    }

    /// The function's result, checked against the block it must be.
    fn check<U: Element>(
        &self,
        out: ArrayD<U>,
        info: &BlockInfo,
        f: &str,
    ) -> Result<Value, OpError> {
        if out.shape() != info.chunk_shape.as_slice() {
            return Err(format!(
                "map_blocks ({f}): block {:?} should have shape {:?}, the function returned {:?} \
                 (give the output's chunks with MapBlocks::chunks when it changes shapes)",
                info.block_id,
                info.chunk_shape,
                out.shape()
            )
            .into());
        }
        Ok(chunk_value(out))
    }
}

/// Task arguments: the output block index, the input block.
struct MapPattern {
    op: Arc<dyn Op>,
    input: Arc<str>,
    plan: Arc<MapPlan>,
}

impl Pattern for MapPattern {
    fn task(&self, idx: &[u32]) -> Task {
        Task::new(
            self.op.clone(),
            vec![
                Arg::Value(Value::new(idx.to_vec())),
                Arg::Key(Key::with_index(
                    self.input.clone(),
                    &self.plan.in_index(idx),
                )),
            ],
        )
    }

    fn inputs(&self) -> Vec<Arc<str>> {
        vec![self.input.clone()]
    }
}

/// A closure's call; local only.
struct ClosureOp<T, U, F> {
    f: F,
    plan: Arc<MapPlan>,
    _t: std::marker::PhantomData<fn(T) -> U>,
}

impl<T: Element, U: Element, F> Op for ClosureOp<T, U, F>
where
    F: Fn(ArrayD<T>, BlockInfo) -> ArrayD<U> + Send + Sync + 'static,
{
    fn name(&self) -> &str {
        "map_blocks"
    }

    fn call(&self, args: Vec<Value>) -> Result<Value, OpError> {
        let idx = arg(&args, 0, "map_blocks")?.downcast_ref::<Vec<u32>>()?;
        let info = self.plan.info(idx)?;
        let block = arg(&args, 1, "map_blocks")?.clone().take::<ArrayD<T>>()?;
        let out = (self.f)(block, info.clone());
        self.plan.check(out, &info, "a closure")
    }
}

/// A registered function's call, as data.
#[derive(Serialize, Deserialize)]
struct RemoteMap {
    name: String,
    out: DType,
    plan: MapPlan,
}

impl DataOp for RemoteMap {
    const NAME: &'static str = "oxidask.array.map_blocks";

    fn label(&self) -> &str {
        &self.name
    }

    fn run(&self, args: Vec<Value>) -> Result<Value, OpError> {
        let f = oxidask_graph::remote::lookup(&self.name).ok_or_else(|| {
            format!(
                "no function {} is registered with #[oxidask::remote]",
                self.name
            )
        })?;
        let idx = arg(&args, 0, Self::NAME)?.downcast_ref::<Vec<u32>>()?;
        let info = self.plan.info(idx)?;
        let block = arg(&args, 1, Self::NAME)?.clone();
        let info_value = Value::with_codec::<_, SerdeCodec>(info.clone(), 64);
        let out = (f.call)(vec![block, info_value])?;
        with_dtype!(self.out, U => {
            let out = out.take::<ArrayD<U>>().map_err(|e| format!("{}: {e}", f.name))?;
            self.plan.check(out, &info, f.name)
        })
    }
}

register_data_op!(RemoteMap);

impl<T: Element> Array<T> {
    /// `f` on every block with its [`BlockInfo`], as Dask's `map_blocks`
    /// with `block_id`/`block_info`, `drop_axis` and `new_axis`.
    ///
    /// ```
    /// use oxidask_array::{self as da, BlockInfo, MapBlocks, ndarray::ArrayD};
    /// let x = da::ones::<f64>(&[4, 6], [2, 3])?;
    /// // Each block filled with its row of blocks.
    /// let ids = x.map_blocks_with(&MapBlocks::new(), |b: ArrayD<f64>, i: BlockInfo| {
    ///     b.mapv(|_| i.block_id[0] as f64)
    /// })?;
    /// assert_eq!(ids.compute()?[[3, 5]], 1.0);
    /// // Sums of rows: axis 1 dropped (its two blocks joined first).
    /// let rows = x.map_blocks_with(&MapBlocks::new().drop_axis(&[1]), |b: ArrayD<f64>, _| {
    ///     b.sum_axis(da::ndarray::Axis(1))
    /// })?;
    /// assert_eq!(rows.shape(), &[4]);
    /// assert_eq!(rows.compute()?[[0]], 6.0);
    /// # Ok::<(), da::Error>(())
    /// ```
    pub fn map_blocks_with<U: Element, F>(&self, opts: &MapBlocks, f: F) -> Result<Array<U>>
    where
        F: Fn(ArrayD<T>, BlockInfo) -> ArrayD<U> + Send + Sync + 'static,
    {
        self.check()?;
        let ndim = self.ndim();
        let drop = normalize_axes(&opts.drop_axis, ndim, "drop_axis")?;
        let out_ndim = ndim - drop.len() + opts.new_axis.len();
        let new = normalize_axes(&opts.new_axis, out_ndim, "new_axis")?;
        // Dropped axes in one block each, as Dask joins them.
        let src = if drop.iter().any(|&a| self.grid.chunks[a].len() > 1) {
            let mut c = self.grid.chunks.clone();
            for &a in &drop {
                c[a] = vec![self.shape()[a]];
            }
            self.rechunk(c)?
        } else {
            self.clone()
        };
        let mut kept = (0..ndim)
            .filter(|a| !drop.contains(a))
            .map(|a| src.grid.chunks[a].clone());
        let default: Vec<Vec<usize>> = (0..out_ndim)
            .map(|a| {
                if new.contains(&a) {
                    vec![1]
                } else {
                    kept.next().unwrap_or_default()
                }
            })
            .collect();
        let out_chunks = match &opts.chunks {
            None => default,
            Some(c) => {
                if c.len() != out_ndim || c.iter().zip(&default).any(|(a, b)| a.len() != b.len()) {
                    return Err(invalid(
                        "chunks",
                        format!(
                            "the output has {out_ndim} axes with {:?} blocks, got chunks {c:?}",
                            default.iter().map(|c| c.len()).collect::<Vec<_>>()
                        ),
                    ));
                }
                c.clone()
            }
        };
        let plan = Arc::new(MapPlan {
            in_chunks: src.grid.chunks.clone(),
            out_chunks: out_chunks.clone(),
            drop,
            new,
        });
        let (op, token): (Arc<dyn Op>, String) = match oxidask_graph::remote::lookup_by_type::<F>()
        {
            Some(r) => (
                Arc::new(RemoteMap {
                    name: r.name.to_string(),
                    out: U::DTYPE,
                    plan: (*plan).clone(),
                }),
                r.name.to_string(),
            ),
            None => (
                Arc::new(ClosureOp {
                    f,
                    plan: plan.clone(),
                    _t: std::marker::PhantomData,
                }),
                format!("{:?}", unique_token()),
            ),
        };
        let name: Arc<str> = name_for(
            "map_blocks",
            &(&*src.name, token, &plan.drop, &plan.new, &out_chunks),
        )
        .into();
        Ok(Array::from_layer(
            name,
            "map_blocks",
            Grid::new(out_chunks),
            Arc::new(MapPattern {
                op,
                input: src.name.clone(),
                plan,
            }),
            &[&src.graph],
        ))
    }
}
