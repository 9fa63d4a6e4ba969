//! `to_textfiles`: one file per partition, one line per record.

use std::fmt::Display;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use oxidask_graph::{FnOp, OpError, Tokenizer, Value};
use oxidask_scheduler::ComputeOptions;

use crate::bag::{Bag, Record, layer_name, run};
use crate::error::{Error, Result};

impl<T: Record + Display> Bag<T> {
    /// Writes each partition to its own file, one record per line (its
    /// `Display` form; for `serde_json::Value`, compact JSON), like
    /// `dask.bag.to_textfiles`, and returns the paths written.
    ///
    /// `path` is either a pattern with a `*`, replaced by the partition
    /// number (`out/part-*.jsonl.gz`), or a directory, which gets files
    /// `0.part`, `1.part`, … Files whose name ends in `.gz` are gzipped.
    /// Missing directories are created. Runs the computation now.
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
        let name_of = move |i: u32| -> PathBuf {
            if pattern.contains('*') {
                PathBuf::from(pattern.replace('*', &i.to_string()))
            } else {
                Path::new(&pattern).join(format!("{i}.part"))
            }
        };
        let paths: Vec<PathBuf> = (0..self.npartitions).map(&name_of).collect();
        let feed = self.feed.clone();
        let label = format!("{}+to-textfiles", self.label);
        let op = FnOp::arc(label, move |mut args: Vec<Value>| {
            let (Some(index), Some(base)) = (args.pop(), args.pop()) else {
                return Err("to-textfiles op called without its two arguments".into());
            };
            let i = *index.downcast_ref::<u32>()?;
            let path = name_of(i);
            write_partition(&path, |w| {
                feed.run(i, base, &mut |r| {
                    writeln!(w, "{r}").map_err(|e| Error::io(&path, e).into())
                })
            })?;
            Ok(Value::new(path.to_string_lossy().into_owned()))
        });
        let mut t = Tokenizer::new();
        t.add(&oxidask_graph::unique_token());
        let name = layer_name("to-textfiles", &self.chain, t);
        let graph = self.with_partition_layer(name.clone(), op);
        let keys: Vec<_> = (0..self.npartitions)
            .map(|i| oxidask_graph::Key::with_index(name.clone(), &[i]))
            .collect();
        run(&graph, &keys, options)?;
        Ok(paths)
    }
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
