//! Frames through the disk-backed shuffle of [`oxidask_store::shuffle`]:
//! the frame side of its split and combine stages, as registered ops.
//!
//! A shuffle reads the partitions of one or more frames (*sides*: a join
//! shuffles both of its frames at once, so output `j` sees its rows of
//! both) and gives `m` output partitions:
//!
//! 1. **split** ([`FrameSplit`], one task per input partition): picks each
//!    row's output partition — by a hash of the side's key columns, or by
//!    where the sort key falls between boundaries — and gathers the rows of
//!    each output into one piece (a polars `take`), which the shuffle
//!    writes to disk as Arrow IPC;
//! 2. **combine** ([`FrameCombine`], one task per output): reads its piece
//!    of every input in order, one at a time, stacks each side's pieces
//!    into one frame, and runs what the operation does with them
//!    ([`After`]): nothing, a join, a group_by's last combine, a sort.
//!
//! Only the input partition being split and one output partition being
//! combined are in memory per worker; everything between is on disk.

use std::path::PathBuf;
use std::sync::Arc;

use oxidask_graph::{
    DataOp, HighLevelGraph, Key, MaterializedLayer, OpError, Value, register_data_op,
};
use oxidask_store::shuffle::{Pieces, ShuffleTasks, shuffle_tasks};
use polars::prelude::{self as pl, IdxCa, IdxSize, SchemaRef};
use serde::{Deserialize, Serialize};

use crate::codec::{frame_arg, frame_value};
use crate::frame::{DataFrame, concat};
use crate::groupby::AggSpec;
use crate::join::JoinSpec;
use crate::keys::{SortValues, hash_buckets};

/// How the split picks each row's output partition.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum SplitBy {
    /// By the hash of these key columns, one list per side.
    Hash(Vec<Vec<String>>),
    /// By where `key` falls between `bounds` (`m − 1` of them).
    Range {
        key: String,
        bounds: SortValues,
        descending: bool,
    },
}

/// What an output partition becomes once its sides are stacked.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum After {
    /// The stacked rows of the one side, as they came.
    Concat,
    /// The two sides joined.
    Join(Arc<JoinSpec>),
    /// Partial aggregates of one side combined into the answers.
    Agg(Arc<AggSpec>),
    /// The one side sorted (stable: input order kept among equal keys).
    Sort { by: Vec<String>, descending: bool },
}

/// Which side input partition `i` is on, given each side's first input.
fn side_of(starts: &[u32], i: u32) -> usize {
    starts.partition_point(|&s| s <= i).saturating_sub(1)
}

/// The split stage of a frame shuffle: see the module docs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct FrameSplit {
    by: SplitBy,
    /// The first input partition of each side.
    starts: Vec<u32>,
}

/// Rows of `df` gathered into one piece per output partition.
fn pieces(df: &pl::DataFrame, dest: &[u32], m: u32) -> pl::PolarsResult<Vec<pl::DataFrame>> {
    let mut rows: Vec<Vec<IdxSize>> = vec![Vec::new(); m as usize];
    for (r, &j) in dest.iter().enumerate() {
        rows[j as usize].push(r as IdxSize);
    }
    rows.into_iter()
        .map(|ix| {
            if ix.len() == df.height() {
                return Ok(df.clone());
            }
            df.take(&IdxCa::from_vec(pl::PlSmallStr::EMPTY, ix))
        })
        .collect()
}

impl DataOp for FrameSplit {
    const NAME: &'static str = "oxidask.dataframe.shuffle-split";

    fn run(&self, args: Vec<Value>) -> Result<Value, OpError> {
        let mut args = args.into_iter();
        let (Some(part), Some(i), Some(m)) = (args.next(), args.next(), args.next()) else {
            return Err("a frame shuffle split takes a partition, its index and m".into());
        };
        let (i, m) = (*i.downcast_ref::<u32>()?, *m.downcast_ref::<u32>()?);
        let df = frame_arg(part)?;
        let dest = match &self.by {
            SplitBy::Hash(keys) => hash_buckets(&df, &keys[side_of(&self.starts, i)], m),
            SplitBy::Range {
                key,
                bounds,
                descending,
            } => df
                .column(key)
                .and_then(|c| bounds.buckets(c.as_materialized_series(), *descending)),
        }
        .map_err(|e| format!("splitting partition {i} for the shuffle: {e}"))?;
        let out = pieces(&df, &dest, m)
            .map_err(|e| format!("splitting partition {i} for the shuffle: {e}"))?;
        Ok(Pieces::value(out.into_iter().map(frame_value).collect()))
    }

    fn label(&self) -> &str {
        "shuffle-split"
    }
}

register_data_op!(FrameSplit);

/// The combine stage of a frame shuffle: see the module docs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct FrameCombine {
    after: After,
    starts: Vec<u32>,
}

impl FrameCombine {
    /// Frames (the arguments) stacked in order into one.
    pub(crate) fn concat() -> FrameCombine {
        FrameCombine {
            after: After::Concat,
            starts: vec![0],
        }
    }
}

impl DataOp for FrameCombine {
    const NAME: &'static str = "oxidask.dataframe.shuffle-combine";

    fn run(&self, pieces: Vec<Value>) -> Result<Value, OpError> {
        let mut sides: Vec<Vec<pl::DataFrame>> = vec![Vec::new(); self.starts.len()];
        // By value: each piece is read from disk here, in input order.
        for (i, piece) in pieces.into_iter().enumerate() {
            sides[side_of(&self.starts, i as u32)].push(frame_arg(piece)?);
        }
        let mut stacked = Vec::with_capacity(sides.len());
        for parts in sides {
            let schema: SchemaRef = parts
                .first()
                .ok_or("a frame shuffle side without input partitions")?
                .schema()
                .clone();
            let mut df = concat(parts, &schema).map_err(|e| e.to_string())?;
            if matches!(self.after, After::Concat) {
                // The stacked rows are the result: one chunk, as a
                // partition read whole would be. The other steps gather
                // their rows into new columns anyway, so rechunking first
                // would only hold a second copy of the partition.
                df.rechunk_mut();
            }
            stacked.push(df);
        }
        let out = match &self.after {
            After::Concat => stacked.pop().ok_or("no side")?,
            After::Join(spec) => {
                let right = stacked.pop().ok_or("a join without a right side")?;
                let left = stacked.pop().ok_or("a join without a left side")?;
                spec.run(left, right)?
            }
            After::Agg(spec) => spec
                .combine_finish(stacked.pop().ok_or("no side")?)
                .map_err(|e| format!("groupby: {e}"))?,
            After::Sort { by, descending } => {
                let df = stacked.pop().ok_or("no side")?;
                sort_by_column(df, by, *descending).map_err(|e| format!("sort: {e}"))?
            }
        };
        Ok(frame_value(out))
    }

    fn label(&self) -> &str {
        match self.after {
            After::Concat => "shuffle-combine",
            After::Join(_) => "join",
            After::Agg(_) => "groupby-finish",
            After::Sort { .. } => "sort",
        }
    }
}

register_data_op!(FrameCombine);

/// `df` sorted stably by `by` (nulls last), one column gathered at a time.
///
/// polars' `sort` rechunks the whole frame and then gathers every column,
/// so a partition stacked from its shuffle pieces is held three times
/// over; here the sort runs on the key columns and a row index only, and
/// each column is gathered and dropped in turn: the partition and its
/// sorted copy, plus one column, at the peak.
fn sort_by_column(
    df: pl::DataFrame,
    by: &[String],
    descending: bool,
) -> pl::PolarsResult<pl::DataFrame> {
    let mut row = String::from("__oxidask_row");
    while df.schema().contains(&row) {
        row.push('_');
    }
    let order = df
        .select(by.iter().map(String::as_str))?
        .with_row_index(row.as_str().into(), None)?
        .sort(
            by.to_vec(),
            pl::SortMultipleOptions::default()
                .with_order_descending(descending)
                .with_nulls_last(true)
                .with_maintain_order(true),
        )?;
    let idx = order.column(&row)?.idx()?.rechunk().into_owned();
    drop(order);
    let height = df.height();
    let columns = df
        .into_columns()
        .into_iter()
        .map(|c| c.take(&idx))
        .collect::<pl::PolarsResult<Vec<_>>>()?;
    pl::DataFrame::new(height, columns)
}

/// A shuffle of `sides` (their partitions in order) into `m` partitions
/// named `name`, each then made by `after`, with this schema.
pub(crate) fn shuffle(
    name: Arc<str>,
    sides: &[&DataFrame],
    by: SplitBy,
    m: u32,
    after: After,
    schema: SchemaRef,
    dir: Option<PathBuf>,
) -> DataFrame {
    let mut graph = HighLevelGraph::new();
    let mut inputs = Vec::new();
    let mut starts = Vec::with_capacity(sides.len());
    for side in sides {
        let (g, layer) = side.stored_layer();
        graph = graph.merge(&g);
        starts.push(inputs.len() as u32);
        inputs.extend((0..side.npartitions).map(|i| Key::with_index(layer.clone(), &[i])));
    }
    let (tasks, _outputs) = shuffle_tasks(ShuffleTasks {
        name: name.to_string(),
        inputs,
        npartitions: m,
        split: Arc::new(FrameSplit {
            by,
            starts: starts.clone(),
        }),
        combine: Arc::new(FrameCombine { after, starts }),
        transport: oxidask_scheduler::config::shuffle_transport(&name, dir),
    });
    let graph = graph.with_layer(Arc::new(MaterializedLayer::new(name.clone(), tasks)));
    DataFrame::stored(graph, name, m, schema)
}
