//! The ops of the slicing and shape layers (see the `shape` module), as
//! data: each carries its element type and the layer's plan, one op shared
//! by every task of its layer; a task's own part (its block index, the
//! indices it takes) is a literal argument.

use ndarray::{ArrayD, Axis, IxDyn, SliceInfoElem};
use oxidask_graph::{DataOp, OpError, Value, register_data_op};
use serde::{Deserialize, Serialize};

use crate::dataop::{arg, block_index};
use crate::element::{DType, Element, with_dtype};
use crate::expr::chunk_value;
use crate::grid::Grid;

/// What one output block reads along one output axis.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum Pick {
    /// From input axis block `block`: local indices `start..end` by `step`
    /// (ndarray's slice semantics: a negative step walks backwards).
    Slice {
        block: u32,
        start: isize,
        end: isize,
        step: isize,
    },
    /// A new axis of length 1 (no input axis).
    New,
}

/// `x.slice(…)`: output block `idx` is a slice of one input block.
/// Arguments: the input block, the output block index.
#[derive(Serialize, Deserialize)]
pub(crate) struct GetItem {
    pub(crate) dtype: DType,
    /// Per output axis: the picks of each output chunk, and the input axis
    /// (`None` for a new axis).
    pub(crate) axes: Vec<(Vec<Pick>, Option<usize>)>,
    /// Input axes indexed by an integer: (axis, block, local index).
    pub(crate) fixed: Vec<(usize, u32, isize)>,
    pub(crate) in_ndim: usize,
}

impl GetItem {
    /// Whether `idx` is an output block index of this layer.
    fn check(&self, idx: &[u32]) -> Result<(), OpError> {
        let ok = idx.len() == self.axes.len()
            && idx
                .iter()
                .zip(&self.axes)
                .all(|(&i, a)| (i as usize) < a.0.len())
            && self.fixed.iter().all(|f| f.0 < self.in_ndim)
            && self
                .axes
                .iter()
                .all(|a| a.1.is_none_or(|k| k < self.in_ndim));
        if ok {
            Ok(())
        } else {
            Err(format!("getitem: block index {idx:?} does not fit the slice's plan").into())
        }
    }

    /// The input block read by output block `idx` (which must pass
    /// [`GetItem::check`]) and the slice of it taken.
    pub(crate) fn plan(&self, idx: &[u32]) -> (Vec<u32>, Vec<SliceInfoElem>) {
        let mut in_idx = vec![0u32; self.in_ndim];
        let mut elems: Vec<(usize, SliceInfoElem)> = Vec::new();
        let mut news = Vec::new();
        for (k, (picks, in_axis)) in self.axes.iter().enumerate() {
            match (&picks[idx[k] as usize], in_axis) {
                (
                    &Pick::Slice {
                        block,
                        start,
                        end,
                        step,
                    },
                    Some(a),
                ) => {
                    in_idx[*a] = block;
                    elems.push((
                        *a,
                        SliceInfoElem::Slice {
                            start,
                            end: Some(end),
                            step,
                        },
                    ));
                }
                _ => news.push(k),
            }
        }
        for &(a, b, i) in &self.fixed {
            in_idx[a] = b;
            elems.push((a, SliceInfoElem::Index(i)));
        }
        elems.sort_by_key(|e| e.0);
        // Input axes in order, with new axes inserted where the output has them.
        let mut info: Vec<SliceInfoElem> = elems.into_iter().map(|e| e.1).collect();
        // Output position k of a new axis: count the kept (non-index) elems before it.
        for k in news {
            let mut kept = 0;
            let mut pos = 0;
            while pos < info.len() && kept < k {
                if !matches!(info[pos], SliceInfoElem::Index(_)) {
                    kept += 1;
                }
                pos += 1;
            }
            while pos < info.len() && matches!(info[pos], SliceInfoElem::Index(_)) {
                pos += 1;
            }
            info.insert(pos, SliceInfoElem::NewAxis);
        }
        (in_idx, info)
    }
}

fn slice_block<T: Element>(block: &Value, info: &[SliceInfoElem]) -> Result<Value, OpError> {
    let block = block.downcast_ref::<ArrayD<T>>()?;
    if block.ndim()
        + info
            .iter()
            .filter(|e| matches!(e, SliceInfoElem::NewAxis))
            .count()
        != info.len()
    {
        return Err(format!(
            "getitem: a block of {} dimensions for a slice of {}",
            block.ndim(),
            info.len()
        )
        .into());
    }
    Ok(chunk_value(block.slice(info).to_owned()))
}

impl DataOp for GetItem {
    const NAME: &'static str = "oxidask.array.getitem";

    fn label(&self) -> &str {
        "getitem"
    }

    fn run(&self, args: Vec<Value>) -> Result<Value, OpError> {
        let idx = arg(&args, 1, "getitem")?.downcast_ref::<Vec<u32>>()?;
        self.check(idx)?;
        let (_, info) = self.plan(idx);
        let block = arg(&args, 0, "getitem")?;
        with_dtype!(self.dtype, T => slice_block::<T>(block, &info))
    }
}
register_data_op!(GetItem);

/// `x.take(indices, axis)`: output block `idx` selects local indices along
/// `axis` of one input block. Arguments: the input block, the local
/// indices (`Vec<u64>`).
#[derive(Serialize, Deserialize)]
pub(crate) struct Take {
    pub(crate) dtype: DType,
    pub(crate) axis: usize,
}

fn take_block<T: Element>(block: &Value, axis: usize, local: &[u64]) -> Result<Value, OpError> {
    let block = block.downcast_ref::<ArrayD<T>>()?;
    let n = block
        .shape()
        .get(axis)
        .copied()
        .ok_or_else(|| format!("take: axis {axis} of a block of shape {:?}", block.shape()))?;
    let local: Vec<usize> = local.iter().map(|&x| x as usize).collect();
    if let Some(bad) = local.iter().find(|&&i| i >= n) {
        return Err(format!("take: index {bad} in a block of length {n} along axis {axis}").into());
    }
    Ok(chunk_value(block.select(Axis(axis), &local)))
}

impl DataOp for Take {
    const NAME: &'static str = "oxidask.array.take";

    fn label(&self) -> &str {
        "take"
    }

    fn run(&self, args: Vec<Value>) -> Result<Value, OpError> {
        let local = arg(&args, 1, "take")?.downcast_ref::<Vec<u64>>()?;
        let block = arg(&args, 0, "take")?;
        with_dtype!(self.dtype, T => take_block::<T>(block, self.axis, local))
    }
}
register_data_op!(Take);

/// `x.permute_axes(perm)`: each block with its axes permuted (copied into
/// standard layout). Argument: the input block.
#[derive(Serialize, Deserialize)]
pub(crate) struct Transpose {
    pub(crate) dtype: DType,
    pub(crate) perm: Vec<usize>,
}

fn transpose_block<T: Element>(block: &Value, perm: &[usize]) -> Result<Value, OpError> {
    let block = block.downcast_ref::<ArrayD<T>>()?;
    let mut seen = vec![false; perm.len()];
    if perm.len() != block.ndim()
        || perm
            .iter()
            .any(|&p| p >= perm.len() || std::mem::replace(&mut seen[p], true))
    {
        return Err(format!(
            "transpose: {perm:?} is not a permutation of the axes of a block of shape {:?}",
            block.shape()
        )
        .into());
    }
    Ok(chunk_value(
        block
            .view()
            .permuted_axes(IxDyn(perm))
            .as_standard_layout()
            .into_owned(),
    ))
}

impl DataOp for Transpose {
    const NAME: &'static str = "oxidask.array.transpose";

    fn label(&self) -> &str {
        "transpose"
    }

    fn run(&self, args: Vec<Value>) -> Result<Value, OpError> {
        let block = arg(&args, 0, "transpose")?;
        with_dtype!(self.dtype, T => transpose_block::<T>(block, &self.perm))
    }
}
register_data_op!(Transpose);

/// `x.reshape(shape)` (and reshapes of one block): each block, in row-major
/// order, given the shape of output block `idx` of grid `out`. Arguments:
/// the input block, the output block index. Takes the block without a copy
/// when it is the block's only reader and in standard layout.
#[derive(Serialize, Deserialize)]
pub(crate) struct Reshape {
    pub(crate) dtype: DType,
    pub(crate) out: Grid,
}

fn reshape_block<T: Element>(block: Value, shape: &[usize]) -> Result<Value, OpError> {
    let a = block.take::<ArrayD<T>>()?;
    let a = if a.is_standard_layout() {
        a
    } else {
        a.as_standard_layout().into_owned()
    };
    Ok(chunk_value(a.into_shape_with_order(IxDyn(shape))?))
}

impl DataOp for Reshape {
    const NAME: &'static str = "oxidask.array.reshape";

    fn label(&self) -> &str {
        "reshape"
    }

    fn run(&self, mut args: Vec<Value>) -> Result<Value, OpError> {
        let shape = self
            .out
            .block_shape(block_index(&args, 1, &self.out, "reshape")?);
        arg(&args, 0, "reshape")?;
        let block = args.swap_remove(0);
        with_dtype!(self.dtype, T => reshape_block::<T>(block, &shape))
    }
}
register_data_op!(Reshape);
