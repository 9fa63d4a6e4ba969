//! `to_textfiles`: one file per partition, one line per record; the
//! writer's op is data when its pipeline is (see the `pipeline` module).

use std::fmt::Display;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use std::sync::Arc;

use oxidask_graph::push::ErasedFeed;
use oxidask_graph::{Op, OpDecoder, OpError, Tokenizer, Value};
use oxidask_scheduler::ComputeOptions;
use serde::{Deserialize, Serialize};

use crate::bag::{Bag, Feed, Record, layer_name};
use crate::error::{Error, Result};
use crate::pipeline::Pipeline;
use crate::records::{self, PartitionFn};

impl<T: Record + Display> Bag<T> {
    /// Writes each partition to its own file, one record per line (its
    /// `Display` form; for `serde_json::Value`, compact JSON), like
    /// `dask.bag.to_textfiles`, and returns the paths written.
    ///
    /// `path` is either a pattern with a `*`, replaced by the partition
    /// number (`out/part-*.jsonl.gz`), or a directory, which gets files
    /// `0.part`, `1.part`, … Files whose name ends in `.gz` are gzipped.
    /// Missing directories are created. Runs the computation now. Data
    /// (the writer can run in another process) for records of the built-in
    /// types that print, over a pipeline of registered steps.
    pub fn to_textfiles(&self, path: impl AsRef<Path>) -> Result<Vec<PathBuf>> {
        self.to_textfiles_with(path, &ComputeOptions::default())
    }

    /// [`to_textfiles`](Bag::to_textfiles) with per-call compute options.
    pub fn to_textfiles_with(
        &self,
        path: impl AsRef<Path>,
        options: &ComputeOptions,
    ) -> Result<Vec<PathBuf>> {
        let pattern = path.as_ref().to_string_lossy().into_owned();
        let paths: Vec<PathBuf> = (0..self.npartitions)
            .map(|i| file_name(&pattern, i))
            .collect();
        let label = format!("{}+to-textfiles", self.label);
        let run = write_run(self.feed.clone(), pattern.clone());
        let desc = self.spec.as_ref().map(|p| WriteParams {
            label: label.clone(),
            pipeline: (**p).clone(),
            record: std::any::type_name::<T>().to_string(),
            pattern,
        });
        let op = Arc::new(WriteOp { label, desc, run });
        let mut t = Tokenizer::new();
        t.add(&oxidask_graph::unique_token());
        let name = layer_name("to-textfiles", &self.chain, t);
        let graph = self.with_partition_layer(name.clone(), op);
        let keys: Vec<_> = (0..self.npartitions)
            .map(|i| oxidask_graph::Key::with_index(name.clone(), &[i]))
            .collect();
        oxidask_scheduler::compute_layers(&graph, &keys, options)?;
        Ok(paths)
    }
}

/// The file of partition `i`: `*` in `pattern` replaced by `i`, or
/// `{pattern}/{i}.part` for a directory.
fn file_name(pattern: &str, i: u32) -> PathBuf {
    if pattern.contains('*') {
        PathBuf::from(pattern.replace('*', &i.to_string()))
    } else {
        Path::new(pattern).join(format!("{i}.part"))
    }
}

/// Writes the records of partition `i`, fed by `feed`, to its file; gives
/// the path. The local op and a decoded one run this alike.
pub(crate) fn write_run<T: Record + Display>(feed: Feed<T>, pattern: String) -> PartitionFn {
    Arc::new(move |i: u32, base: Value| -> Result<Value, OpError> {
        let path = file_name(&pattern, i);
        write_partition(&path, |w| {
            feed.run(i, base, &mut |r| {
                writeln!(w, "{r}").map_err(|e| Error::io(&path, e).into())
            })
        })?;
        Ok(Value::new(path.to_string_lossy().into_owned()))
    })
}

/// The writer over a decoded pipeline of `T`s (an entry of the record
/// types that print: see [`records`](crate::records)).
pub(crate) fn write_text<T: Record + Display>(
    feed: ErasedFeed,
    pattern: &str,
) -> Result<PartitionFn, String> {
    Ok(write_run(
        Feed::Chain(feed.typed::<T>()?),
        pattern.to_string(),
    ))
}

/// What a writer op is, as data: its pipeline, record type and file names.
#[derive(Clone, Serialize, Deserialize)]
struct WriteParams {
    label: String,
    pipeline: Pipeline,
    record: String,
    pattern: String,
}

/// Writes one partition to its file (one op shared by the layer's tasks;
/// the partition index is a task argument).
struct WriteOp {
    label: String,
    /// `None` when the pipeline holds a closure: the op runs here only.
    desc: Option<WriteParams>,
    run: PartitionFn,
}

impl WriteOp {
    const NAME: &'static str = "oxidask.bag.to_textfiles";
}

impl Op for WriteOp {
    fn name(&self) -> &str {
        WriteOp::NAME
    }

    fn label(&self) -> &str {
        &self.label
    }

    fn call(&self, mut args: Vec<Value>) -> Result<Value, OpError> {
        let (Some(index), Some(base), None) = (args.pop(), args.pop(), args.pop()) else {
            return Err("a to-textfiles op takes two arguments (base value and index)".into());
        };
        let i = *index.downcast_ref::<u32>()?;
        (self.run)(i, base)
    }

    fn encode(&self) -> Option<Vec<u8>> {
        postcard::to_stdvec(self.desc.as_ref()?).ok()
    }
}

fn decode_write(bytes: &[u8]) -> Result<Arc<dyn Op>, String> {
    let p: WriteParams = postcard::from_bytes(bytes).map_err(|e| e.to_string())?;
    let entry = records::lookup(&p.record)?;
    let write = entry.write_text.ok_or_else(|| {
        format!(
            "to_textfiles of {} records cannot be rebuilt: only records of the built-in \
             types that print (strings, numbers, bool, serde_json::Value) are data",
            p.record
        )
    })?;
    let run = write(p.pipeline.build()?, &p.pattern)?;
    Ok(Arc::new(WriteOp {
        label: p.label.clone(),
        desc: Some(p),
        run,
    }))
}

oxidask_graph::inventory::submit! {
    OpDecoder { name: WriteOp::NAME, decode: decode_write }
}

/// Creates `path` (and its directory) and lets `write` fill it, through
/// gzip when the name ends in `.gz`.
fn write_partition(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> Result<(), OpError>,
) -> Result<(), OpError> {
    let io = |e| -> OpError { Error::io(path, e).into() };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let file = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).map_err(io)?);
    if path.extension().is_some_and(|e| e == "gz") {
        let mut w = flate2::write::GzEncoder::new(file, flate2::Compression::default());
        write(&mut w)?;
        w.finish().map_err(io)?.flush().map_err(io)
    } else {
        let mut w = file;
        write(&mut w)?;
        w.flush().map_err(io)
    }
}
