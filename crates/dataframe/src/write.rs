//! Writing a frame out, a file per partition, by the tasks themselves:
//! [`DataFrame::to_parquet`] and [`DataFrame::to_csv`]. No partition
//! waits for another and the whole frame is never gathered, so a frame
//! larger than memory is written within the memory limit.
//!
//! Each file is written under a temporary name and renamed when complete,
//! so a failed or interrupted write never leaves a file that looks whole.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use oxidask_graph::{BlockArg, BlockLayer, DataOp, Key, OpError, Value, register_data_op};
use oxidask_scheduler::ComputeOptions;
use polars::prelude as pl;
use polars_io::SerWriter;
use polars_io::csv::write::CsvWriter;
use polars_io::parquet::write::ParquetWriter;
use serde::{Deserialize, Serialize};

use crate::codec::frame_arg;
use crate::error::{Error, Result};
use crate::frame::DataFrame;

/// The file format of a [`WriteOp`].
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
enum Format {
    Parquet,
    Csv { separator: u8, header: bool },
}

/// Writes partition `i` (the task's frame argument) to `paths[i]`;
/// returns the number of rows written.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct WriteOp {
    format: Format,
    paths: Arc<[PathBuf]>,
}

impl WriteOp {
    fn write(&self, df: &mut pl::DataFrame, path: &Path) -> std::result::Result<(), String> {
        let at = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".partial");
        let tmp = PathBuf::from(tmp);
        let file = File::create(&tmp).map_err(|e| at(&e))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let written = match self.format {
            // One polars thread per task: the scheduler runs a task per core.
            Format::Parquet => ParquetWriter::new(&mut out)
                .set_parallel(false)
                .finish(df)
                .map(drop),
            Format::Csv { separator, header } => CsvWriter::new(&mut out)
                .include_header(header)
                .with_separator(separator)
                .finish(df),
        };
        let done = written
            .map_err(|e| at(&e))
            .and_then(|()| out.into_inner().map_err(|e| at(&e.into_error())))
            .and_then(|f| f.sync_all().map_err(|e| at(&e)))
            .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| at(&e)));
        if done.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        done
    }
}

impl DataOp for WriteOp {
    const NAME: &'static str = "oxidask.dataframe.write";

    fn run(&self, mut args: Vec<Value>) -> std::result::Result<Value, OpError> {
        let i = *args
            .pop()
            .ok_or("write: no partition number")?
            .downcast_ref::<u32>()?;
        let mut df = frame_arg(args.pop().ok_or("write: no partition")?)?;
        let path = self
            .paths
            .get(i as usize)
            .ok_or_else(|| format!("write: no path for partition {i}"))?;
        self.write(&mut df, path)?;
        Ok(Value::new(df.height() as u64))
    }

    fn label(&self) -> &str {
        match self.format {
            Format::Parquet => "to-parquet",
            Format::Csv { .. } => "to-csv",
        }
    }
}

register_data_op!(WriteOp);

/// How [`DataFrame::to_parquet_with`] and [`DataFrame::to_csv_with`]
/// write: whether existing files may be replaced, and the compute options
/// (scheduler, memory limit) of the writing tasks.
#[derive(Clone, Default)]
pub struct WriteOptions {
    overwrite: bool,
    separator: Option<u8>,
    header: Option<bool>,
    compute: ComputeOptions,
}

impl WriteOptions {
    /// Replace what is there: for Parquet, every `*.parquet` file in the
    /// directory is removed first (the default refuses a directory that
    /// holds any, so a dataset is never a mix of two writes); for CSV, a
    /// file of the same name is replaced (the default refuses it).
    pub fn overwrite(mut self, yes: bool) -> Self {
        self.overwrite = yes;
        self
    }

    /// CSV field separator (default `,`).
    pub fn separator(mut self, separator: u8) -> Self {
        self.separator = Some(separator);
        self
    }

    /// Whether each CSV file starts with a header line (default yes).
    pub fn header(mut self, yes: bool) -> Self {
        self.header = Some(yes);
        self
    }

    /// The compute options of the writing tasks.
    pub fn compute(mut self, options: ComputeOptions) -> Self {
        self.compute = options;
        self
    }
}

/// The paths of a CSV write: `*` in the file name becomes the partition
/// number; otherwise `path` is a directory of `0.part`, `1.part`, … (as
/// Dask's `to_csv`).
fn csv_paths(path: &Path, n: u32) -> Result<Vec<PathBuf>> {
    let name = path.file_name().map(|s| s.to_string_lossy().into_owned());
    match name {
        Some(name) if name.contains('*') => {
            let dir = path.parent().unwrap_or(Path::new(""));
            create_dir(dir)?;
            Ok((0..n)
                .map(|i| dir.join(name.replacen('*', &i.to_string(), 1)))
                .collect())
        }
        _ => {
            create_dir(path)?;
            Ok((0..n).map(|i| path.join(format!("{i}.part"))).collect())
        }
    }
}

fn create_dir(dir: &Path) -> Result<()> {
    if dir.as_os_str().is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))
}

impl DataFrame {
    /// Writes the frame as a Parquet dataset: directory `dir` (created if
    /// needed) gets `part.0.parquet`, `part.1.parquet`, … — a file per
    /// partition, written by the partitions' own tasks. A directory that
    /// already holds Parquet files is an error naming it (see
    /// [`WriteOptions::overwrite`]). Returns the files written.
    /// [`read_parquet`](crate::read_parquet) of `dir` reads them back in
    /// order.
    pub fn to_parquet(&self, dir: impl AsRef<Path>) -> Result<Vec<PathBuf>> {
        self.to_parquet_with(dir, &WriteOptions::default())
    }

    /// [`to_parquet`](DataFrame::to_parquet) with options.
    pub fn to_parquet_with(
        &self,
        dir: impl AsRef<Path>,
        options: &WriteOptions,
    ) -> Result<Vec<PathBuf>> {
        let dir = dir.as_ref();
        create_dir(dir)?;
        let existing: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| Error::io(dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
            .collect();
        if !existing.is_empty() {
            if !options.overwrite {
                return Err(Error::Argument {
                    argument: "dir",
                    message: format!(
                        "{} already holds {} Parquet file(s) (e.g. {}); remove them or pass WriteOptions::overwrite(true)",
                        dir.display(),
                        existing.len(),
                        existing[0].display()
                    ),
                });
            }
            for p in &existing {
                std::fs::remove_file(p).map_err(|e| Error::io(p, e))?;
            }
        }
        let paths: Vec<PathBuf> = (0..self.npartitions)
            .map(|i| dir.join(format!("part.{i}.parquet")))
            .collect();
        self.write_files(Format::Parquet, paths, &options.compute)
    }

    /// Writes the frame as CSV, a file per partition, by the partitions'
    /// own tasks: `*` in the file name of `path` becomes the partition
    /// number (`"out/trips-*.csv"`), otherwise `path` is a directory of
    /// `0.part`, `1.part`, … (as Dask's `to_csv`). Each file has a header.
    /// An existing file of the same name is an error naming it (see
    /// [`WriteOptions::overwrite`]). Returns the files written.
    pub fn to_csv(&self, path: impl AsRef<Path>) -> Result<Vec<PathBuf>> {
        self.to_csv_with(path, &WriteOptions::default())
    }

    /// [`to_csv`](DataFrame::to_csv) with options.
    pub fn to_csv_with(
        &self,
        path: impl AsRef<Path>,
        options: &WriteOptions,
    ) -> Result<Vec<PathBuf>> {
        let paths = csv_paths(path.as_ref(), self.npartitions)?;
        if !options.overwrite {
            if let Some(p) = paths.iter().find(|p| p.exists()) {
                return Err(Error::Argument {
                    argument: "path",
                    message: format!(
                        "{} exists; remove it or pass WriteOptions::overwrite(true)",
                        p.display()
                    ),
                });
            }
        }
        let format = Format::Csv {
            separator: options.separator.unwrap_or(b','),
            header: options.header.unwrap_or(true),
        };
        self.write_files(format, paths, &options.compute)
    }

    fn write_files(
        &self,
        format: Format,
        paths: Vec<PathBuf>,
        options: &ComputeOptions,
    ) -> Result<Vec<PathBuf>> {
        let (graph, stored) = self.stored_layer();
        let op = WriteOp {
            format,
            paths: paths.clone().into(),
        };
        let name: Arc<str> = Arc::from(format!("{}-{}", op.label(), oxidask_graph::unique_token()));
        let layer = BlockLayer::blockwise(
            name.clone(),
            Arc::new(op),
            vec![BlockArg::block(stored), BlockArg::Coord(0)],
            vec![self.npartitions],
        );
        let graph = graph.with_layer(Arc::new(layer));
        let keys: Vec<Key> = (0..self.npartitions)
            .map(|i| Key::with_index(name.clone(), &[i]))
            .collect();
        crate::share::compute_layers(&graph, &keys, options)?;
        Ok(paths)
    }
}
