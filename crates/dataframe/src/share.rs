//! Frames of one file source computed together share its reads (Dask's
//! "combine similar").
//!
//! `compute(&(trips.select([col("fare")]), trips.filter(..).group_by(..)))`
//! — or a join of a frame with another frame of the same files — has two
//! tasks per block, each reading the block for its own columns, with
//! different keys (different steps), so the graph cannot share them.
//! [`share_reads`] runs on the task graph before it is computed and
//! rewrites it: the tasks reading the same block (a CSV block, a Parquet
//! row group) of the same source (same files, blocks, schema and options —
//! its token) become
//!
//! 1. one read of the block, `(read-csv-shared-…, i)`, parsing the union of
//!    the columns they read;
//! 2. at each task's key, its steps over that read, after selecting the
//!    columns it would have read itself — so each gives exactly what it
//!    gave alone.
//!
//! A frame computed alone keeps its single task per block (its read fused
//! with its steps): nothing is rewritten and nothing costs more. A later
//! collect of a third frame of the source widens the existing shared
//! read. Parquet row groups are shared the same way; the shared read
//! skips a row group by its statistics only when every frame's leading
//! filters rule it out (each frame still applies its own filters).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use oxidask_graph::{Arg, HighLevelGraph, Key, Task, TaskGraph, Value};
use oxidask_scheduler::ComputeOptions;
use polars::prelude as pl;

use crate::error::{Error, Result};
use crate::plan::{PartitionOp, Source, Step, needed_columns};

/// The frame op of a task reading a block of a file source (CSV or
/// Parquet), with what identifies the source's reads.
fn file_read(task: &Task) -> Option<(&PartitionOp, (&'static str, Arc<str>))> {
    let op = task.op.as_any()?.downcast_ref::<PartitionOp>()?;
    Some((op, op.source.read_token()?))
}

/// The block a read task reads (its only argument).
fn block_of(key: &Key, task: &Task) -> std::result::Result<u32, String> {
    match task.args.last() {
        Some(Arg::Value(v)) => v.downcast_ref::<u32>().copied().map_err(|e| e.to_string()),
        _ => Err(format!("task {key}: a file read without its block number")),
    }
}

/// `Select` of these columns, in order.
fn select(names: &[String]) -> Step {
    Step::Select(names.iter().map(|n| pl::col(n.as_str())).collect())
}

/// Rewrites `graph` so tasks reading the same block of a file read it
/// once (see the module docs).
pub(crate) fn share_reads(graph: &mut TaskGraph) -> std::result::Result<(), String> {
    let mut found: HashMap<(&'static str, Arc<str>, u32), Vec<Key>> = HashMap::new();
    for (key, task) in graph.iter() {
        if let Some((_, (kind, token))) = file_read(task) {
            let block = block_of(key, task)?;
            found
                .entry((kind, token, block))
                .or_default()
                .push(key.clone());
        }
    }
    for ((kind, token, block), keys) in found {
        if keys.len() < 2 {
            continue;
        }
        let shared = Key::with_index(Arc::from(format!("read-{kind}-shared-{token}")), &[block]);
        let mut union: Option<BTreeSet<String>> = Some(BTreeSet::new());
        let mut source = None;
        // For Parquet: the steps whose filters may skip the row group —
        // every member's, or those the shared read already holds.
        let mut prune: Vec<Vec<Step>> = Vec::new();
        for k in &keys {
            let task = graph.get(k).ok_or("internal: a task vanished")?;
            let (op, _) = file_read(task).ok_or("internal: not a file read")?;
            union = match (union, needed_columns(&op.steps)) {
                (Some(mut u), Some(c)) => {
                    u.extend(c);
                    Some(u)
                }
                _ => None,
            };
            match &op.prune_for {
                Some(lists) => prune.extend(lists.iter().cloned()),
                None => prune.push(op.steps.clone()),
            }
            source.get_or_insert_with(|| op.source.clone());
        }
        let source = source.ok_or("internal: no source")?;
        let index = || Arg::Value(Value::new(block));
        for k in keys.iter().filter(|k| **k != shared) {
            let task = graph.get(k).ok_or("internal: a task vanished")?;
            let (op, _) = file_read(task).ok_or("internal: not a file read")?;
            let mut steps = Vec::with_capacity(op.steps.len() + 1);
            if let Some(names) = source.read_names(needed_columns(&op.steps).as_ref()) {
                steps.push(select(&names));
            }
            steps.extend(op.steps.iter().cloned());
            let op = PartitionOp::new(Source::Stored, steps);
            graph.insert(
                k.clone(),
                Task::new(Arc::new(op), vec![Arg::Key(shared.clone()), index()]),
            );
        }
        let read_steps = match source.read_names(union.as_ref()) {
            Some(names) => vec![select(&names)],
            None => Vec::new(),
        };
        let is_parquet = matches!(source, Source::Parquet(_));
        let mut read = PartitionOp::new(source, read_steps);
        if is_parquet {
            read.prune_for = Some(prune);
        }
        graph.insert(shared, Task::new(Arc::new(read), vec![index()]));
    }
    Ok(())
}

/// Computes `keys` of a frame graph with its reads shared; what every
/// frame computation goes through.
pub(crate) fn compute_layers(
    graph: &HighLevelGraph,
    keys: &[Key],
    options: &ComputeOptions,
) -> Result<Vec<Value>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut tasks = graph.cull(keys)?.to_task_graph()?;
    share_reads(&mut tasks).map_err(|e| Error::Compute(oxidask_scheduler::Error::Internal(e)))?;
    Ok(oxidask_scheduler::compute_with(tasks, keys, options)?)
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;
    use std::sync::Arc;

    use oxidask_graph::TaskGraph;
    use oxidask_scheduler::Computable;
    use oxidask_testing::TempDir;
    use polars::prelude::*;
    use polars_io::SerReader;
    use polars_io::csv::read::CsvReadOptions;

    use super::file_read;
    use crate as dd;
    use crate::tests::canon;

    /// A CSV of `n` rows in `blocks`-ish blocks: id, value (some negative,
    /// some null), name.
    fn file(dir: &TempDir, n: i64) -> std::path::PathBuf {
        let mut s = String::from("id,value,name\n");
        for i in 0..n {
            let v = if i % 7 == 0 {
                String::new()
            } else {
                format!("{}", (i % 11) - 4)
            };
            s.push_str(&format!("{i},{v},n{}\n", i % 5));
        }
        let p = dir.path().join("t.csv");
        std::fs::write(&p, s).unwrap();
        p
    }

    fn opts() -> dd::CsvOptions {
        dd::CsvOptions::default()
            .blocksize(Some(400))
            .dtype("value", DataType::Float64)
    }

    /// The tasks of `frames` collected into one graph, and how many of
    /// them read a CSV block.
    fn collected(frames: &[&dd::DataFrame]) -> (TaskGraph, usize) {
        let mut graph = TaskGraph::new();
        let mut keys = Vec::new();
        for f in frames {
            f.collect(&mut graph, &mut keys).unwrap();
        }
        let reads = graph.iter().filter(|(_, t)| file_read(t).is_some()).count();
        (graph, reads)
    }

    /// Frames of the same files (from separate `read_csv` calls) computed
    /// together read each block once, and each gives what it gives alone;
    /// a third collected later widens the shared read.
    #[test]
    fn frames_of_one_source_computed_together_read_each_block_once() {
        let dir = TempDir::new("df-share");
        let p = file(&dir, 400);
        let ids = dd::read_csv(p.as_path(), opts())
            .unwrap()
            .select([col("id")])
            .unwrap();
        let positive = dd::read_csv(p.as_path(), opts())
            .unwrap()
            .filter(col("value").gt(lit(0.0)))
            .unwrap()
            .select([col("name"), (col("value") * lit(2.0)).alias("v2")])
            .unwrap();
        let names = dd::read_csv(p.as_path(), opts())
            .unwrap()
            .group_by(["name"])
            .agg([len()])
            .unwrap();
        let n = ids.npartitions();
        assert!(n >= 8, "{n} blocks");
        assert_eq!(collected(&[&ids]).1, n);
        assert_eq!(collected(&[&ids, &positive]).1, n);
        assert_eq!(collected(&[&ids, &positive, &names]).1, n);

        let alone = (
            ids.compute().unwrap(),
            positive.compute().unwrap(),
            names.compute().unwrap(),
        );
        let together = oxidask_delayed::compute(&(&ids, &positive, &names)).unwrap();
        assert_eq!(canon(&together.0), canon(&alone.0));
        assert_eq!(canon(&together.1), canon(&alone.1));
        assert_eq!(canon(&together.2), canon(&alone.2));
        assert_eq!(together.0.height(), 400);
        assert_eq!(together.0.width(), 1);
        // The rewritten graph is data: it runs through bytes.
        let through = oxidask_testing::values_through_bytes(|| {
            oxidask_delayed::compute(&(&ids, &positive)).unwrap()
        });
        assert_eq!(canon(&through.1), canon(&alone.1));
    }

    /// A frame joined with a filtered view of itself reads each block once
    /// and equals polars' join of the whole file with itself.
    #[test]
    fn a_self_join_shares_its_reads() {
        let dir = TempDir::new("df-share-join");
        let p = file(&dir, 300);
        let df = dd::read_csv(p.as_path(), opts()).unwrap();
        let small = df
            .filter(col("value").gt(lit(2.0)))
            .unwrap()
            .select([col("id"), col("value").alias("big")])
            .unwrap();
        let joined = df.join(&small, ["id"], ["id"], JoinType::Inner).unwrap();
        let whole = CsvReadOptions::default()
            .with_schema_overwrite(Some(Arc::new(Schema::from_iter([Field::new(
                "value".into(),
                DataType::Float64,
            )]))))
            .into_reader_with_file_handle(Cursor::new(std::fs::read(&p).unwrap()))
            .finish()
            .unwrap();
        let theirs = whole
            .clone()
            .lazy()
            .join(
                whole
                    .lazy()
                    .filter(col("value").gt(lit(2.0)))
                    .select([col("id"), col("value").alias("big")]),
                [col("id")],
                [col("id")],
                JoinArgs::new(JoinType::Inner),
            )
            .collect()
            .unwrap();
        let by_id = |df: DataFrame| df.sort(["id"], Default::default()).unwrap();
        let ours = by_id(joined.compute().unwrap());
        assert_eq!(canon(&ours), canon(&by_id(theirs)));
        assert!(ours.height() > 0);
    }

    /// Frames of one Parquet directory with filters that skip opposite row
    /// groups read each row group once, together, and each gets all its
    /// rows: the shared read skips a row group only when both filters
    /// rule it out.
    #[test]
    fn parquet_frames_with_different_filters_share_reads_and_lose_no_rows() {
        let dir = TempDir::new("df-share-parquet");
        let n = 400i64;
        let df = df!(
            "id" => (0..n).collect::<Vec<_>>(),
            "value" => (0..n).map(|i| (i % 13) as f64).collect::<Vec<_>>(),
        )
        .unwrap();
        dd::from_polars(df.clone(), 8)
            .unwrap()
            .to_parquet(dir.path())
            .unwrap();
        let low = dd::read_parquet(dir.path())
            .unwrap()
            .filter(col("id").lt(lit(60i64)))
            .unwrap()
            .select([col("id")])
            .unwrap();
        let high = dd::read_parquet(dir.path())
            .unwrap()
            .filter(col("id").gt(lit(330i64)))
            .unwrap()
            .select([col("value")])
            .unwrap();
        assert_eq!(collected(&[&low, &high]).1, low.npartitions());
        let (a, b) = oxidask_delayed::compute(&(&low, &high)).unwrap();
        assert_eq!(canon(&a), canon(&low.compute().unwrap()));
        assert_eq!(canon(&b), canon(&high.compute().unwrap()));
        assert_eq!(a.height(), 60);
        assert_eq!(b.height(), (n - 331) as usize);
    }
}
