//! A partition's pipeline as data: a source, record-wise steps naming
//! registered functions, and the op that runs it — locally through the
//! bag's own typed closures, and in another process through the same
//! typed stages rebuilt from registry entries.
//!
//! A bag keeps a [`Pipeline`] beside its closure pipeline as long as every
//! step can be described (a source of files, a range or stored partitions;
//! steps whose function is `#[oxidask::remote]`). Running never reads the
//! description: the local op calls the closures it was built with, so a
//! local run is exactly as fast as before. Encoding writes the description;
//! decoding rebuilds the pipeline once per op — each step's typed stage
//! comes from the function's registry entry, and the two ends (the source's
//! record type, the partition's) from [`records`](crate::records) — so the
//! type erasure is paid once per decoded graph, not per record.

use std::any::type_name;
use std::sync::Arc;

use oxidask_graph::push::ErasedFeed;
use oxidask_graph::remote::{self, PerRecord, StageFn};
use oxidask_graph::{Op, OpDecoder, OpError, Value};
use serde::{Deserialize, Serialize};

use crate::create::range_feed;
use crate::io::{BlockSpec, LineMode, file_blocks, text_feed};
use crate::records::{self, PartitionFn};

/// Where a partition's records come from.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum Source {
    /// The partition's base value, a stored `Vec` of the named record type.
    Stored { record: String },
    /// `0..n` in `np` near-equal partitions.
    Range { n: u64, np: u64 },
    /// The lines of block `i`.
    Text {
        blocks: Vec<BlockSpec>,
        mode: LineMode,
    },
    /// The records of the named type parsed from the JSON lines of block `i`.
    Json {
        record: String,
        blocks: Vec<BlockSpec>,
        lossy: bool,
    },
}

/// A record-wise step calling a registered function (by its path).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum Step {
    Map(String),
    Filter(String),
    /// Drops the records a registered `fn(&T) -> bool` holds for.
    Remove(String),
    /// `try_map` with a registered `fn(T) -> Result<U, E>`, giving records
    /// of the named type `U`.
    TryMap {
        f: String,
        output: String,
    },
    FlatMap(String),
    Partition(String),
    /// `try_map_partitions` with a registered `fn(Vec<T>) -> Result<Vec<U>,
    /// E>`, giving records of the named type `U`.
    TryPartition {
        f: String,
        output: String,
    },
    /// `flatten` of `Vec<U>` records into records of the named type `U`.
    Flatten {
        output: String,
    },
    /// The first `n` records of each partition (`take`).
    Head(u64),
    /// `pluck_many` of untyped JSON records.
    PluckMany {
        paths: Vec<Vec<crate::pluck::Step>>,
    },
    /// `pluck` of untyped JSON records; the default as JSON text.
    Pluck {
        path: Vec<crate::pluck::Step>,
        default: Option<String>,
    },
}

impl Step {
    /// Extends `feed` with this step's typed stage.
    fn apply(&self, feed: ErasedFeed) -> Result<ErasedFeed, String> {
        let name = match self {
            Step::Map(f) | Step::Filter(f) | Step::FlatMap(f) | Step::Partition(f) => f,
            Step::Pluck { path, default } => {
                return crate::pluck::pluck_json_stage(feed, path, default.as_deref());
            }
            Step::PluckMany { paths } => return crate::pluck::pluck_many_json_stage(feed, paths),
            Step::Remove(f) => return (records::lookup(feed.record())?.remove)(feed, f),
            Step::TryMap { f, output } => return try_map_stage(feed, f, output),
            Step::TryPartition { f, output } => return try_partition_stage(feed, f, output),
            Step::Flatten { output } => return (records::lookup(output)?.flatten)(feed),
            Step::Head(n) => {
                let n = usize::try_from(*n).map_err(|e| e.to_string())?;
                return (records::lookup(feed.record())?.head)(feed, n);
            }
        };
        (Step::stage(self, name)?)(feed)
    }

    /// The stage of a step calling `name`, from its registry entry.
    fn stage(&self, name: &str) -> Result<StageFn, String> {
        let f = remote::lookup(name).ok_or_else(|| {
            format!(
                "no function {name} is registered in this program (mark it \
                 #[oxidask::remote]; a worker must run the same binary as the client)"
            )
        })?;
        let forms = f.per_record.as_ref();
        let (form, what) = match self {
            Step::Map(_) => (forms.and_then(|p| p.map), "fn(A) -> B (a map)"),
            Step::Filter(_) => (forms.and_then(|p| p.filter), "fn(&A) -> bool (a filter)"),
            Step::FlatMap(_) => (
                forms.and_then(|p| p.flat_map),
                "fn(A) -> Vec<B> (a flat map)",
            ),
            Step::Partition(_) => (
                forms.and_then(|p| p.partition),
                "fn(Vec<A>) -> Vec<B> (a partition map)",
            ),
            Step::Pluck { .. }
            | Step::PluckMany { .. }
            | Step::Head(_)
            | Step::Remove(_)
            | Step::TryMap { .. }
            | Step::TryPartition { .. }
            | Step::Flatten { .. } => (None, "a step of no function"),
        };
        form.ok_or_else(|| format!("{name} is not of the form {what}"))
    }
}

/// `try_map` rebuilt: a registered function's call through its entry
/// already turns its `Err` into an error, so records go through it as
/// values and come out as the named output type. A failing record is named
/// by its position, as the local step names it without an origin.
fn try_map_stage(feed: ErasedFeed, f: &str, output: &str) -> Result<ErasedFeed, String> {
    let func = remote::lookup(f).ok_or_else(|| {
        format!(
            "no function {f} is registered in this program (mark it \
             #[oxidask::remote]; a worker must run the same binary as the client)"
        )
    })?;
    let input = (records::lookup(feed.record())?.values)(feed)?;
    let out = records::lookup(output)?;
    let called: Arc<oxidask_graph::push::PushFeed<Value>> = Arc::new(move |i, base, sink| {
        let mut j = 0usize;
        input(i, base, &mut |x| {
            let y = (func.call)(vec![x]).map_err(|e| -> OpError {
                crate::error::Error::Record {
                    record: format!("record {j} of partition {i}"),
                    message: e.to_string(),
                }
                .into()
            })?;
            j += 1;
            sink(y)
        })
    });
    Ok((out.from_values)(called))
}

/// `try_map_partitions` rebuilt: the partition is collected into a stored
/// `Vec`, the registered function called through its entry (which turns
/// its `Err` into an error, named here by the partition, as locally), and
/// the returned `Vec` fed on as records of the named output type.
fn try_partition_stage(feed: ErasedFeed, f: &str, output: &str) -> Result<ErasedFeed, String> {
    let func = remote::lookup(f).ok_or_else(|| {
        format!(
            "no function {f} is registered in this program (mark it \
             #[oxidask::remote]; a worker must run the same binary as the client)"
        )
    })?;
    let collect = (records::lookup(feed.record())?.collect)(feed)?;
    let out = records::lookup(output)?;
    let stored_out = (out.values)((out.stored)())?;
    let called: Arc<oxidask_graph::push::PushFeed<Value>> = Arc::new(move |i, base, sink| {
        let records = collect(i, base)?;
        let result = (func.call)(vec![records]).map_err(|e| -> OpError {
            crate::error::Error::Record {
                record: format!("partition {i}"),
                message: e.to_string(),
            }
            .into()
        })?;
        stored_out(i, result, sink)
    });
    Ok((out.from_values)(called))
}

/// The step for a function of type `F` in the form `form`, when `F` is a
/// registered function (`None` for a closure: the bag then stays local).
pub(crate) fn remote_step<F: 'static>(
    form: fn(&PerRecord) -> Option<StageFn>,
    make: fn(String) -> Step,
) -> Option<Step> {
    let f = remote::lookup_by_type::<F>()?;
    f.per_record.as_ref().and_then(form)?;
    Some(make(f.name.to_string()))
}

/// A source and its steps.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Pipeline {
    pub source: Source,
    pub steps: Vec<Step>,
}

impl Pipeline {
    /// A pipeline of just `source`.
    pub(crate) fn new(source: Source) -> Arc<Pipeline> {
        Arc::new(Pipeline {
            source,
            steps: Vec::new(),
        })
    }

    /// This pipeline followed by `step`.
    pub(crate) fn then(&self, step: Step) -> Arc<Pipeline> {
        let mut p = self.clone();
        p.steps.push(step);
        Arc::new(p)
    }

    /// Rebuilds the typed pipeline from registry entries.
    pub(crate) fn build(&self) -> Result<ErasedFeed, String> {
        let mut feed = match &self.source {
            Source::Stored { record } => (records::lookup(record)?.stored)(),
            Source::Range { n, np } => ErasedFeed::new(range_feed(*n, *np)),
            Source::Text { blocks, mode } => ErasedFeed::new(text_feed(file_blocks(blocks), *mode)),
            Source::Json {
                record,
                blocks,
                lossy,
            } => (records::lookup(record)?.json)(blocks.clone(), *lossy),
        };
        for step in &self.steps {
            feed = step.apply(feed)?;
        }
        Ok(feed)
    }
}

/// What a partition op writes when encoded.
#[derive(Serialize, Deserialize)]
struct Params {
    label: String,
    pipeline: Pipeline,
    /// The record type of the stored partition.
    output: String,
}

/// A task running partition `i`'s whole pipeline into a stored partition;
/// its arguments are the partition's base value and its index. One op is
/// shared by every task of the layer, so an encoded graph holds it once.
pub(crate) struct PartitionOp {
    label: String,
    /// `None` when a step is a closure: the op runs here only.
    params: Option<Arc<Pipeline>>,
    output: &'static str,
    run: PartitionFn,
}

impl PartitionOp {
    /// The registry name.
    pub(crate) const NAME: &'static str = "oxidask.bag.partition";

    /// An op running `run`, described by `pipeline` (with records of type
    /// `T` out) when it has a description.
    pub(crate) fn new<T: 'static>(
        label: &str,
        pipeline: Option<Arc<Pipeline>>,
        run: PartitionFn,
    ) -> PartitionOp {
        PartitionOp {
            label: label.to_string(),
            params: pipeline,
            output: type_name::<T>(),
            run,
        }
    }
}

impl Op for PartitionOp {
    fn name(&self) -> &str {
        PartitionOp::NAME
    }

    fn label(&self) -> &str {
        &self.label
    }

    fn call(&self, mut args: Vec<Value>) -> Result<Value, OpError> {
        let (Some(index), Some(base), None) = (args.pop(), args.pop(), args.pop()) else {
            return Err("a partition op takes two arguments (base value and index)".into());
        };
        let i = *index.downcast_ref::<u32>()?;
        (self.run)(i, base)
    }

    fn encode(&self) -> Option<Vec<u8>> {
        let pipeline = self.params.as_ref()?;
        postcard::to_stdvec(&Params {
            label: self.label.clone(),
            pipeline: (**pipeline).clone(),
            output: self.output.to_string(),
        })
        .ok()
    }
}

fn decode_partition(bytes: &[u8]) -> Result<Arc<dyn Op>, String> {
    let p: Params = postcard::from_bytes(bytes).map_err(|e| e.to_string())?;
    let output = records::lookup(&p.output)?;
    let run = (output.collect)(p.pipeline.build()?)?;
    Ok(Arc::new(PartitionOp {
        label: p.label,
        params: Some(Arc::new(p.pipeline)),
        output: (output.name)(),
        run,
    }))
}

oxidask_graph::inventory::submit! {
    OpDecoder { name: PartitionOp::NAME, decode: decode_partition }
}
