//! `from_delayed`: a frame whose partitions are the results of delayed
//! calls — Dask's `dd.from_delayed`, for data no reader covers (an API, a
//! custom format, a per-file loop that already returns polars frames).
//!
//! A delayed call's result must be sized for the memory limit
//! (`DataSize`), which the orphan rule keeps off polars' `DataFrame`, so
//! such calls return a [`Frame`]: the polars frame, wrapped.

use std::sync::Arc;

use oxidask_delayed::Delayed;
use oxidask_graph::{
    Arg, Codec, DataOp, DataSize, HighLevelGraph, Key, MaterializedLayer, OpError, Task, TaskGraph,
    Tokenizer, Value, register_data_op, register_value,
};
use polars::prelude::{self as pl, SchemaRef};
use serde::{Deserialize, Serialize};

use crate::codec::{IpcCodec, frame_value};
use crate::error::{Error, Result};
use crate::frame::{DataFrame, described_columns};

/// A polars frame as the result of a delayed call, for
/// [`from_delayed`]: `fn load(path: PathBuf) -> dd::Frame`, returning
/// `df.into()`. Sized by polars' `estimated_size`; spills and travels as
/// Arrow IPC, as frame partitions do.
#[derive(Clone, Debug, Default)]
pub struct Frame(pub pl::DataFrame);

impl From<pl::DataFrame> for Frame {
    fn from(df: pl::DataFrame) -> Frame {
        Frame(df)
    }
}

impl From<Frame> for pl::DataFrame {
    fn from(f: Frame) -> pl::DataFrame {
        f.0
    }
}

impl DataSize for Frame {
    fn heap_bytes(&self) -> usize {
        self.0.estimated_size()
    }
}

impl Codec<Frame> for IpcCodec {
    fn encode(value: &Frame, out: &mut dyn std::io::Write) -> std::result::Result<(), String> {
        <IpcCodec as Codec<pl::DataFrame>>::encode(&value.0, out)
    }

    fn decode(bytes: &[u8]) -> std::result::Result<Frame, String> {
        <IpcCodec as Codec<pl::DataFrame>>::decode(bytes).map(Frame)
    }
}

register_value!(Frame, IpcCodec);

/// A frame whose partition `i` is the polars frame `parts[i]` computes to,
/// in order (Dask's `dd.from_delayed`).
///
/// The schema is `meta` when given; otherwise the first part is computed
/// now, with the configuration in force, and its schema taken (as Dask
/// computes the first part when no `meta` is given) — that part then runs
/// again when the frame is computed. Every part is checked against the
/// schema when it is computed: one whose columns or types differ fails
/// the computation, naming the partition and both column lists. The
/// parts' graphs become the frame's, so calls shared with other
/// computations run once, and a frame of registered (`#[oxidask::remote]`)
/// calls runs on a cluster.
///
/// ```
/// use oxidask_dataframe as dd;
/// use oxidask_dataframe::polars::prelude::*;
/// use oxidask_delayed::delayed;
///
/// fn load(day: i64) -> dd::Frame {
///     df!("day" => [day, day], "trips" => [10 * day, 10 * day + 1]).unwrap().into()
/// }
/// let parts: Vec<_> = (1..=3).map(|d| delayed!(load(d))).collect();
/// let trips = dd::from_delayed(&parts, None)?;
/// assert_eq!(trips.npartitions(), 3);
/// assert_eq!(trips.len()?, 6);
/// let per_day = trips.group_by(["day"]).agg([col("trips").sum()])?.compute()?;
/// assert_eq!(per_day.column("trips")?.i64()?.get(2), Some(30 + 31));
/// # Ok::<(), dd::Error>(())
/// ```
pub fn from_delayed(parts: &[Delayed<Frame>], meta: Option<SchemaRef>) -> Result<DataFrame> {
    let Some(first) = parts.first() else {
        return Err(Error::Argument {
            argument: "parts",
            message: "a frame needs at least one partition".into(),
        });
    };
    let schema = match meta {
        Some(schema) => schema,
        None => first.compute()?.0.schema().clone(),
    };
    let keys: Vec<Key> = parts.iter().map(|d| d.key().clone()).collect();
    let mut t = Tokenizer::new();
    t.add(&keys);
    t.add(&format!("{schema:?}"));
    let name: Arc<str> = Arc::from(format!("from-delayed-{}", t.finish_hex()));
    let mut graph = TaskGraph::new();
    for d in parts {
        graph.merge(d.to_graph());
    }
    for (i, k) in keys.iter().enumerate() {
        let adopt = Arc::new(AdoptPartition {
            schema: schema.clone(),
            index: i as u32,
        });
        graph.insert(
            Key::with_index(name.clone(), &[i as u32]),
            Task::new(adopt, vec![Arg::Key(k.clone())]),
        );
    }
    let hlg = HighLevelGraph::from_layer(Arc::new(MaterializedLayer::new(name.clone(), graph)));
    Ok(DataFrame::stored(hlg, name, parts.len() as u32, schema))
}

/// Partition `index` of a `from_delayed` frame: the part's frame, checked
/// against the frame's schema, as a partition value (sized, with the IPC
/// codec, so it spills and travels).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct AdoptPartition {
    schema: SchemaRef,
    index: u32,
}

impl DataOp for AdoptPartition {
    const NAME: &'static str = "oxidask.dataframe.from-delayed";

    fn run(&self, args: Vec<Value>) -> std::result::Result<Value, OpError> {
        let df = args
            .into_iter()
            .next()
            .ok_or("from_delayed: no part")?
            .take::<Frame>()?
            .0;
        if df.schema() != &self.schema {
            return Err(format!(
                "from_delayed: partition {} has columns {:?}, the frame's schema has {:?}",
                self.index,
                described_columns(df.schema()),
                described_columns(&self.schema)
            )
            .into());
        }
        Ok(frame_value(df))
    }

    fn label(&self) -> &str {
        "from-delayed"
    }
}

register_data_op!(AdoptPartition);

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use oxidask_delayed::delayed;
    use polars::prelude::*;

    use crate as dd;
    use crate::tests::canon;

    fn part(i: i64) -> dd::Frame {
        frame(i).into()
    }

    fn frame(i: i64) -> DataFrame {
        let rows: Vec<i64> = (0..i).collect();
        let labels: Vec<Option<String>> = rows
            .iter()
            .map(|r| (r % 3 != 0).then(|| format!("p{i}-{r}")))
            .collect();
        df!("part" => vec![i; rows.len()], "row" => rows, "label" => labels).unwrap()
    }

    /// Parts of 0, 1, … rows (an empty one first) are the partitions in
    /// order, equal to polars stacking them; a group_by over them equals
    /// polars'.
    #[test]
    fn partitions_are_the_parts_in_order() {
        let parts: Vec<_> = (0..5i64).map(|i| delayed!(part(i))).collect();
        let ddf = dd::from_delayed(&parts, Some(frame(0).schema().clone())).unwrap();
        assert_eq!(ddf.npartitions(), 5);
        let mut whole = frame(0);
        for i in 1..5 {
            whole.vstack_mut(&frame(i)).unwrap();
        }
        assert!(ddf.compute().unwrap().equals_missing(&whole));
        let ours = ddf
            .group_by(["part"])
            .agg([col("row").sum(), col("label").count()])
            .unwrap()
            .compute()
            .unwrap();
        let theirs = whole
            .lazy()
            .group_by([col("part")])
            .agg([col("row").sum(), col("label").count()])
            .sort(["part"], Default::default())
            .collect()
            .unwrap();
        assert_eq!(canon(&ours), canon(&theirs));
    }

    static CALLS: AtomicUsize = AtomicUsize::new(0);

    fn counted(i: i64) -> dd::Frame {
        CALLS.fetch_add(1, Ordering::SeqCst);
        part(i)
    }

    /// Without `meta` the first part is computed for its schema — once now,
    /// once with the frame — and the others only with the frame.
    #[test]
    fn without_meta_the_first_part_gives_the_schema() {
        let parts: Vec<_> = (1..4i64).map(|i| delayed!(counted(i))).collect();
        let before = CALLS.load(Ordering::SeqCst);
        let ddf = dd::from_delayed(&parts, None).unwrap();
        assert_eq!(CALLS.load(Ordering::SeqCst) - before, 1);
        assert_eq!(ddf.columns(), ["part", "row", "label"]);
        assert_eq!(ddf.len().unwrap(), 1 + 2 + 3);
    }

    fn other(_: i64) -> dd::Frame {
        df!("part" => [1.5f64], "row" => [1i64]).unwrap().into()
    }

    /// A part whose columns differ fails the computation naming its
    /// partition and both column lists; no parts at all is an error now.
    #[test]
    fn a_part_of_another_schema_is_an_error_naming_it() {
        let parts = vec![delayed!(part(2)), delayed!(other(0)), delayed!(part(1))];
        let ddf = dd::from_delayed(&parts, None).unwrap();
        let e = ddf.compute().unwrap_err().to_string();
        assert!(
            e.contains("partition 1 has columns [\"part: f64\", \"row: i64\"]")
                && e.contains("\"label: str\""),
            "{e}"
        );
        let e = dd::from_delayed(&[], None).unwrap_err().to_string();
        assert!(e.contains("at least one partition"), "{e}");
    }
}
