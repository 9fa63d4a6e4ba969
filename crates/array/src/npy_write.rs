//! Writing arrays to `.npy` files, block by block: [`Array::to_npy`] (one
//! file, each block written at its own offsets by its own task) and
//! [`Array::to_npy_stack`] (one file per chunk along an axis). The reading
//! side and the format's header are in the `npy` module.
//!
//! The write ops are data: the path, where the data starts and the grid,
//! so a graph that writes files can be shipped as bytes; a task writes
//! wherever it runs, so on a cluster the path must be on storage its
//! workers share.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ndarray::ArrayD;
use oxidask_graph::{DataOp, OpError, Value, name_for, register_data_op};
use oxidask_scheduler::ComputeOptions;
use serde::{Deserialize, Serialize};

use crate::array::Array;
use crate::dataop::{arg, block_index};
use crate::element::{DType, Element, with_dtype};
use crate::error::Result;
use crate::grid::Grid;
use crate::npy::{descr, io, npy_header, segments};

/// Writes block `idx` of an array of grid `grid` into the `.npy` file at
/// `path`, whose data starts at byte `data` (the header and the file's
/// length are written before the tasks run). Arguments: the block, its
/// index.
#[derive(Serialize, Deserialize)]
struct ToNpy {
    dtype: DType,
    path: PathBuf,
    data: u64,
    grid: Grid,
}

impl ToNpy {
    fn write<T: Element>(&self, block: &Value, idx: &[u32]) -> Result<(), OpError> {
        let block = block.downcast_ref::<ArrayD<T>>()?;
        let shape = self.grid.block_shape(idx);
        if block.shape() != shape.as_slice() {
            return Err(format!(
                "to_npy: block {idx:?} has shape {:?}, expected {shape:?}",
                block.shape()
            )
            .into());
        }
        let p = &self.path;
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(p)
            .map_err(|e| format!("{}: {e}", p.display()))?;
        let mut elems = block.iter();
        for (off, n) in segments(&self.grid.shape, &self.grid, idx) {
            let mut buf = Vec::with_capacity(n * T::WIDTH);
            for x in elems.by_ref().take(n) {
                x.put(&mut buf);
            }
            f.write_all_at(&buf, self.data + (off * T::WIDTH) as u64)
                .map_err(|e| format!("{}: {e}", p.display()))?;
        }
        Ok(())
    }
}

impl DataOp for ToNpy {
    const NAME: &'static str = "oxidask.array.to-npy";

    fn label(&self) -> &str {
        "to_npy"
    }

    fn run(&self, args: Vec<Value>) -> Result<Value, OpError> {
        let idx = block_index(&args, 1, &self.grid, "to_npy")?;
        let block = arg(&args, 0, "to_npy")?;
        with_dtype!(self.dtype, T => self.write::<T>(block, idx))?;
        Ok(Value::new(()))
    }
}
register_data_op!(ToNpy);

/// Writes a block as file `dir/{idx[axis]}.npy` of a stack. Arguments: the
/// block, its index.
#[derive(Serialize, Deserialize)]
struct ToNpyStack {
    dtype: DType,
    dir: PathBuf,
    axis: usize,
}

impl ToNpyStack {
    fn write<T: Element>(&self, block: &Value, idx: &[u32]) -> Result<(), OpError> {
        let block = block.downcast_ref::<ArrayD<T>>()?;
        let i = idx.get(self.axis).ok_or_else(|| {
            format!(
                "to_npy_stack: block index {idx:?} has no axis {}",
                self.axis
            )
        })?;
        let path = self.dir.join(format!("{i}.npy"));
        let mut bytes = npy_header::<T>(block.shape());
        bytes.reserve(block.len() * T::WIDTH);
        for &v in block.iter() {
            v.put(&mut bytes);
        }
        std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(())
    }
}

impl DataOp for ToNpyStack {
    const NAME: &'static str = "oxidask.array.to-npy-stack";

    fn label(&self) -> &str {
        "to_npy_stack"
    }

    fn run(&self, args: Vec<Value>) -> Result<Value, OpError> {
        let idx = arg(&args, 1, "to_npy_stack")?.downcast_ref::<Vec<u32>>()?;
        let block = arg(&args, 0, "to_npy_stack")?;
        with_dtype!(self.dtype, T => self.write::<T>(block, idx))?;
        Ok(Value::new(()))
    }
}
register_data_op!(ToNpyStack);

impl<T: Element> Array<T> {
    /// Writes the array to a `.npy` file (format 1.0, C order), each block
    /// by its own task at its own offsets: the whole array is never in
    /// memory at once.
    pub fn to_npy(&self, path: impl AsRef<Path>) -> Result<()> {
        self.to_npy_with(path, &ComputeOptions::new())
    }

    /// [`to_npy`](Array::to_npy) with per-call options.
    pub fn to_npy_with(&self, path: impl AsRef<Path>, options: &ComputeOptions) -> Result<()> {
        self.check()?;
        let path = path.as_ref().to_path_buf();
        let shape = self.shape().to_vec();
        let head = npy_header::<T>(&shape);
        let data = head.len() as u64;
        let f = File::create(&path).map_err(|e| io(&path, e))?;
        f.write_all_at(&head, 0).map_err(|e| io(&path, e))?;
        f.set_len(data + (self.size() * T::WIDTH) as u64)
            .map_err(|e| io(&path, e))?;
        drop(f);

        let op = Arc::new(ToNpy {
            dtype: T::DTYPE,
            path: path.clone(),
            data,
            grid: (*self.grid).clone(),
        });
        let name: Arc<str> = name_for("to_npy", &(&*self.name, path.display().to_string())).into();
        self.for_each_block(name, "to_npy", op, options)
    }
}

impl<T: Element> Array<T> {
    /// Writes the array to directory `dir` as one `.npy` file per chunk
    /// along `axis` (`0.npy`, `1.npy`, …; the other axes are gathered into
    /// one chunk first) and an `info` file, like Dask's `to_npy_stack`;
    /// read it back with [`from_npy_stack`](crate::from_npy_stack). Each file is written by its
    /// own task.
    pub fn to_npy_stack(&self, dir: impl AsRef<Path>, axis: isize) -> Result<()> {
        self.check()?;
        let dir = dir.as_ref().to_path_buf();
        let axis = crate::grid::normalize_axis(axis, self.ndim(), "axis")?;
        let chunks: Vec<crate::AxisChunks> = (0..self.ndim())
            .map(|a| {
                if a == axis {
                    crate::AxisChunks::Sizes(self.grid.chunks[a].clone())
                } else {
                    crate::AxisChunks::Full
                }
            })
            .collect();
        let x = self.rechunk(chunks)?;
        std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        let join = |v: &[usize]| {
            v.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        let info = format!(
            "axis {axis}\nshape {}\nchunks {}\ndtype {}\n",
            join(x.shape()),
            join(&x.grid.chunks[axis]),
            descr(T::DTYPE)
        );
        let info_path = dir.join("info");
        std::fs::write(&info_path, info).map_err(|e| io(&info_path, e))?;
        let op = Arc::new(ToNpyStack {
            dtype: T::DTYPE,
            dir: dir.clone(),
            axis,
        });
        let name: Arc<str> =
            name_for("to_npy_stack", &(&*x.name, dir.display().to_string())).into();
        x.for_each_block(name, "to_npy_stack", op, &ComputeOptions::new())
    }
}
