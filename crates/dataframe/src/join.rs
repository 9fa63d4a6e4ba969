//! `join`: the rows of two frames matched on key columns, as polars joins
//! them, in one of two ways.
//!
//! - **Broadcast**, when the side that may be broadcast has one partition
//!   (or when asked): each partition of the other side is joined with that
//!   whole side, one task per partition, no shuffle. Which side may be
//!   broadcast depends on the join: for `inner` either, for `left`, `semi`
//!   and `anti` only the right one, for `right` only the left one, for
//!   `full` neither — a row of the broadcast side that matches nothing must
//!   come out once, not once per partition.
//! - **Hash shuffle through disk** otherwise: both sides go through one
//!   shuffle (see the `shuffle` module) on a hash of their keys, so every
//!   row of a key is in the same output partition on both sides, and each
//!   output partition is joined there.
//!
//! Null keys never match (polars' default), wherever they land; unmatched
//! rows of a left, right or full join are kept once. Column names and the
//! `_right` suffix are polars'; the output schema is found at build time by
//! joining the empty frames. A join's key columns must have the same types
//! on both sides (polars would otherwise cast them, and rows of equal
//! value would hash apart).
//!
//! Row order is not polars' (partitions come in their own order): compare
//! results as multisets.

use std::path::PathBuf;
use std::sync::Arc;

use oxidask_graph::{
    BlockArg, BlockLayer, DataOp, Key, OpError, Task, Tokenizer, Value, register_data_op,
};
use polars::prelude::{self as pl, IntoLazy, JoinArgs, JoinType};
use serde::{Deserialize, Serialize};

use crate::codec::{frame_arg, frame_value};
use crate::error::{Error, Result};
use crate::frame::DataFrame;
use crate::keys::hashable;
use crate::shuffle::{After, FrameCombine, SplitBy, shuffle};

/// The joins a partitioned frame can do exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum How {
    Inner,
    Left,
    Right,
    Full,
    Semi,
    Anti,
}

impl How {
    fn of(how: &JoinType) -> Result<How> {
        Ok(match how {
            JoinType::Inner => How::Inner,
            JoinType::Left => How::Left,
            JoinType::Right => How::Right,
            JoinType::Full => How::Full,
            JoinType::Semi => How::Semi,
            JoinType::Anti => How::Anti,
            other => {
                return Err(Error::Argument {
                    argument: "how",
                    message: format!(
                        "{other} joins are not supported; use inner, left, right, full, semi \
                         or anti"
                    ),
                });
            }
        })
    }

    fn polars(self) -> JoinType {
        match self {
            How::Inner => JoinType::Inner,
            How::Left => JoinType::Left,
            How::Right => JoinType::Right,
            How::Full => JoinType::Full,
            How::Semi => JoinType::Semi,
            How::Anti => JoinType::Anti,
        }
    }

    /// May the left (`true`) or right side be broadcast?
    fn broadcasts(self, left: bool) -> bool {
        match self {
            How::Inner => true,
            How::Left | How::Semi | How::Anti => !left,
            How::Right => left,
            How::Full => false,
        }
    }
}

/// One join of two frames, as polars runs it: the task parameters of a
/// broadcast join and of a shuffle's combine.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct JoinSpec {
    how: How,
    left_on: Vec<String>,
    right_on: Vec<String>,
}

impl JoinSpec {
    fn lazy(&self, left: pl::LazyFrame, right: pl::LazyFrame) -> pl::LazyFrame {
        let on = |ks: &[String]| ks.iter().map(|k| pl::col(k.as_str())).collect::<Vec<_>>();
        left.join(
            right,
            on(&self.left_on),
            on(&self.right_on),
            JoinArgs::new(self.how.polars()),
        )
    }

    /// Joins two frames.
    pub(crate) fn run(
        &self,
        left: pl::DataFrame,
        right: pl::DataFrame,
    ) -> Result<pl::DataFrame, OpError> {
        self.lazy(left.lazy(), right.lazy())
            .collect()
            .map_err(|e| format!("join: {e}").into())
    }
}

/// A join task of a partition of one side and either the whole other side
/// (a broadcast join) or its partition of the same keys (a partition-wise
/// join of frames with equal divisions).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct PairJoin {
    spec: JoinSpec,
    /// Whether the second argument is the left side.
    whole_is_left: bool,
    /// Whether the second argument is a whole side (for the label).
    broadcast: bool,
}

impl DataOp for PairJoin {
    const NAME: &'static str = "oxidask.dataframe.pair-join";

    fn run(&self, args: Vec<Value>) -> Result<Value, OpError> {
        let mut args = args.into_iter();
        let (Some(part), Some(whole), None) = (args.next(), args.next(), args.next()) else {
            return Err("a join task takes a partition of each side".into());
        };
        let (part, whole) = (frame_arg(part)?, frame_arg(whole)?);
        let out = if self.whole_is_left {
            self.spec.run(whole, part)?
        } else {
            self.spec.run(part, whole)?
        };
        Ok(frame_value(out))
    }

    fn label(&self) -> &str {
        if self.broadcast {
            "broadcast-join"
        } else {
            "partition-join"
        }
    }
}

register_data_op!(PairJoin);

/// How [`DataFrame::join_with`] joins: the kind of join, whether to
/// broadcast, and the shuffle's partitions and files.
#[derive(Clone, Debug)]
pub struct JoinOptions {
    how: JoinType,
    broadcast: Option<bool>,
    npartitions: Option<usize>,
    shuffle_dir: Option<PathBuf>,
}

impl JoinOptions {
    /// A join of this kind (`JoinType::Inner`, `Left`, `Right`, `Full`,
    /// `Semi` or `Anti`); broadcast when the side that may be broadcast
    /// has one partition or fewer than log₂ of the other side's (Dask's
    /// rule), else a shuffle into as many partitions as the larger side
    /// has.
    pub fn new(how: JoinType) -> JoinOptions {
        JoinOptions {
            how,
            broadcast: None,
            npartitions: None,
            shuffle_dir: None,
        }
    }

    /// `true`: broadcast the side that may be (its partitions stacked
    /// into one first; the right side if both may be), an error if
    /// neither may (a full join); `false`: always shuffle.
    pub fn broadcast(mut self, broadcast: bool) -> JoinOptions {
        self.broadcast = Some(broadcast);
        self
    }

    /// The number of output partitions of a shuffle join (at least 1).
    pub fn npartitions(mut self, n: usize) -> JoinOptions {
        self.npartitions = Some(n);
        self
    }

    /// Where the shuffle writes its files (a fresh directory under `dir`,
    /// removed when the computation ends); by default the spill directory
    /// configured when the join is built, else the system temp dir.
    pub fn shuffle_dir(mut self, dir: impl Into<PathBuf>) -> JoinOptions {
        self.shuffle_dir = Some(dir.into());
        self
    }
}

fn strings<S: AsRef<str>>(xs: impl IntoIterator<Item = S>) -> Vec<String> {
    xs.into_iter().map(|s| s.as_ref().to_string()).collect()
}

impl DataFrame {
    /// Joins `other` on `left_on` = `right_on` (one or more key columns of
    /// the same types on both sides), as polars' `join` with
    /// `JoinArgs::new(how)`: null keys never match, a column of `other`
    /// whose name is taken gets the suffix `_right`. Broadcasts a side of
    /// one partition, or of fewer than log₂ of the other's, else shuffles
    /// both through disk; see
    /// [`join_with`](DataFrame::join_with). Rows come in no particular
    /// order.
    pub fn join<S: AsRef<str>, T: AsRef<str>>(
        &self,
        other: &DataFrame,
        left_on: impl IntoIterator<Item = S>,
        right_on: impl IntoIterator<Item = T>,
        how: JoinType,
    ) -> Result<DataFrame> {
        self.join_with(other, left_on, right_on, JoinOptions::new(how))
    }

    /// [`join`](DataFrame::join) with options: broadcast or not, the
    /// number of output partitions, where the shuffle's files go.
    pub fn join_with<S: AsRef<str>, T: AsRef<str>>(
        &self,
        other: &DataFrame,
        left_on: impl IntoIterator<Item = S>,
        right_on: impl IntoIterator<Item = T>,
        options: JoinOptions,
    ) -> Result<DataFrame> {
        let (left_on, right_on) = (strings(left_on), strings(right_on));
        let how = How::of(&options.how)?;
        if left_on.is_empty() || left_on.len() != right_on.len() {
            return Err(Error::Argument {
                argument: "right_on",
                message: format!(
                    "a join needs one or more key columns, as many on each side: left_on has \
                     {}, right_on {}",
                    left_on.len(),
                    right_on.len()
                ),
            });
        }
        for (side, df, keys) in [("left", self, &left_on), ("right", other, &right_on)] {
            for k in keys {
                let Some(dtype) = df.schema.get(k.as_str()) else {
                    return Err(Error::JoinKey {
                        side,
                        column: k.clone(),
                        columns: df.columns(),
                    });
                };
                if !hashable(dtype) {
                    return Err(Error::Argument {
                        argument: "left_on/right_on",
                        message: format!(
                            "the {side} key column {k:?} is of type {dtype}; join keys must be \
                             integers, floats, strings or booleans (or dates and times)"
                        ),
                    });
                }
            }
        }
        for (l, r) in left_on.iter().zip(&right_on) {
            let (Some(lt), Some(rt)) = (self.schema.get(l.as_str()), other.schema.get(r.as_str()))
            else {
                continue; // Not reached: both were found above.
            };
            if lt != rt {
                return Err(Error::JoinKeyTypes {
                    left: format!("{l}: {lt}"),
                    right: format!("{r}: {rt}"),
                });
            }
        }
        let spec = JoinSpec {
            how,
            left_on,
            right_on,
        };
        let schema = spec
            .lazy(
                pl::DataFrame::empty_with_schema(&self.schema).lazy(),
                pl::DataFrame::empty_with_schema(&other.schema).lazy(),
            )
            .collect()
            .map_err(|e| Error::Plan {
                op: "join",
                message: e.to_string(),
                columns: self.columns(),
            })?
            .schema()
            .clone();
        let mut t = Tokenizer::new();
        t.add(&*self.name).add(&*other.name);
        t.write_bytes(&postcard::to_stdvec(&spec).unwrap_or_default());
        if options.broadcast != Some(true) && self.aligned_with(other, &spec) {
            let name: Arc<str> = Arc::from(format!("partition-join-{}", t.finish_hex()));
            let (lgraph, llayer) = self.stored_layer();
            let (rgraph, rlayer) = other.stored_layer();
            let keeps_left_key = matches!(how, How::Inner | How::Left | How::Semi | How::Anti);
            let layer = BlockLayer::blockwise(
                name.clone(),
                Arc::new(PairJoin {
                    spec,
                    whole_is_left: false,
                    broadcast: false,
                }),
                vec![BlockArg::block(llayer), BlockArg::block(rlayer)],
                vec![self.npartitions],
            );
            let mut out = DataFrame::stored(
                lgraph.merge(&rgraph).with_layer(Arc::new(layer)),
                name,
                self.npartitions,
                schema,
            );
            if keeps_left_key {
                out.divisions = self.divisions.clone();
            }
            return Ok(out);
        }
        // Which side to broadcast, if any.
        let (lb, rb) = (how.broadcasts(true), how.broadcasts(false));
        let whole_is_left = match options.broadcast {
            Some(false) => None,
            Some(true) if rb => Some(false),
            Some(true) if lb => Some(true),
            Some(true) => {
                return Err(Error::Argument {
                    argument: "broadcast",
                    message: "a full join cannot broadcast either side: an unmatched row of \
                              the broadcast side would come out once per partition"
                        .into(),
                });
            }
            None if rb && broadcastable(other, self) => Some(false),
            None if lb && broadcastable(self, other) => Some(true),
            None => None,
        };
        if let Some(whole_is_left) = whole_is_left {
            t.add(&whole_is_left);
            let name: Arc<str> = Arc::from(format!("broadcast-join-{}", t.finish_hex()));
            let (part, whole) = if whole_is_left {
                (other, self)
            } else {
                (self, other)
            };
            let (pgraph, players) = part.stored_layer();
            let (wgraph, wlayer) = whole.stored_layer();
            let mut graph = pgraph.merge(&wgraph);
            let whole_key = if whole.npartitions == 1 {
                Key::with_index(wlayer, &[0])
            } else {
                // The broadcast side's partitions stacked into one.
                let key = Key::new(format!("{name}-whole"));
                let mut tasks = oxidask_graph::TaskGraph::new();
                let parts = (0..whole.npartitions)
                    .map(|i| oxidask_graph::Arg::Key(Key::with_index(wlayer.clone(), &[i])))
                    .collect();
                let op = FrameCombine::concat();
                tasks.insert(key.clone(), Task::new(Arc::new(op), parts));
                graph = graph.with_layer(Arc::new(oxidask_graph::MaterializedLayer::new(
                    format!("{name}-whole"),
                    tasks,
                )));
                key
            };
            let layer = BlockLayer::blockwise(
                name.clone(),
                Arc::new(PairJoin {
                    spec,
                    whole_is_left,
                    broadcast: true,
                }),
                vec![BlockArg::block(players), BlockArg::key(whole_key)],
                vec![part.npartitions],
            );
            return Ok(DataFrame::stored(
                graph.with_layer(Arc::new(layer)),
                name,
                part.npartitions,
                schema,
            ));
        }
        let m = options
            .npartitions
            .unwrap_or(self.npartitions.max(other.npartitions) as usize);
        if m == 0 {
            return Err(Error::Argument {
                argument: "npartitions",
                message: "a join needs at least one output partition".into(),
            });
        }
        let m = u32::try_from(m).map_err(|_| Error::Argument {
            argument: "npartitions",
            message: format!("{m} output partitions is too many"),
        })?;
        t.add(&m);
        let name: Arc<str> = Arc::from(format!("hash-join-{}", t.finish_hex()));
        let by = SplitBy::Hash(vec![spec.left_on.clone(), spec.right_on.clone()]);
        Ok(shuffle(
            name,
            &[self, other],
            by,
            m,
            After::Join(Arc::new(spec)),
            schema,
            options.shuffle_dir,
        ))
    }
}

/// Whether a join broadcasts `small` to the partitions of `big` unless
/// told: Dask's rule — one partition, or fewer than log₂ of the other
/// side's (a shuffle writes and reads both sides once; a broadcast reads the
/// small side once per partition of the big one, so it wins while the
/// small side is a few partitions against very many).
fn broadcastable(small: &DataFrame, big: &DataFrame) -> bool {
    small.npartitions == 1 || f64::from(small.npartitions) < f64::from(big.npartitions).log2()
}

impl DataFrame {
    /// Whether `self` and `other` are sorted on the join's (single) keys
    /// with equal divisions: then partition `j` of each holds the same key
    /// range (and the nulls are in the last), so the join is partition-wise.
    fn aligned_with(&self, other: &DataFrame, spec: &JoinSpec) -> bool {
        let (Some(a), Some(b)) = (self.divisions(), other.divisions()) else {
            return false;
        };
        spec.left_on.len() == 1
            && a.column() == spec.left_on[0]
            && b.column() == spec.right_on[0]
            && self.npartitions == other.npartitions
            && a.series().equals_missing(b.series())
    }
}
