//! `unique`, `value_counts`, `n_unique`, `tail`, `repartition`,
//! `map_partitions` and `persist` against polars over the whole frame, on
//! random partitionings with empty partitions and nulls.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use polars::prelude::*;
use proptest::prelude::*;

use crate as dd;
use crate::tests::{assert_close, frame, rows_strategy, split};

fn sorted_nulls_last(df: DataFrame, keys: &[&str]) -> DataFrame {
    df.lazy()
        .sort(
            keys.iter().map(|k| k.to_string()).collect::<Vec<_>>(),
            SortMultipleOptions::default().with_nulls_last(true),
        )
        .collect()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn unique_value_counts_and_n_unique_equal_polars(
        rows in rows_strategy(),
        cuts in prop::collection::vec(0..70usize, 0..6),
    ) {
        let df = frame(&rows);
        let ddf = split(&df, &cuts);
        for keys in [vec!["k"], vec!["s"], vec!["k", "s"]] {
            let ours = ddf.unique(Some(&keys)).unwrap().compute().unwrap();
            let theirs = sorted_nulls_last(
                df.select(keys.iter().copied()).unwrap().unique_stable(None, UniqueKeepStrategy::First, None).unwrap(),
                &keys,
            );
            assert_close(&ours, &theirs)?;
        }
        let all = ddf.unique(None::<&[&str]>).unwrap().compute().unwrap();
        let theirs = df.unique_stable(None, UniqueKeepStrategy::First, None).unwrap();
        prop_assert_eq!(all.height(), theirs.height());

        for c in ["k", "s", "y"] {
            prop_assert_eq!(ddf.n_unique(c).unwrap(), df.column(c).unwrap().n_unique().unwrap());
            let ours = ddf.value_counts(c).unwrap();
            let theirs = df.clone().lazy()
                .group_by([col(c)])
                .agg([len().alias("count")])
                .sort([String::from("count"), c.to_string()],
                      SortMultipleOptions::default().with_order_descending_multi([true, false]).with_nulls_last(true))
                .collect().unwrap();
            assert_close(&ours, &theirs)?;
        }
    }

    #[test]
    fn tail_and_repartition_keep_rows_in_order(
        rows in rows_strategy(),
        cuts in prop::collection::vec(0..70usize, 0..6),
        n in 0..80usize,
        parts in 1..9usize,
    ) {
        let df = frame(&rows);
        let ddf = split(&df, &cuts);
        prop_assert!(ddf.tail(n).unwrap().equals_missing(&df.tail(Some(n))));
        prop_assert!(ddf.head(n).unwrap().equals_missing(&df.head(Some(n))));
        let re = ddf.repartition(parts).unwrap();
        prop_assert_eq!(re.npartitions(), parts);
        prop_assert!(re.compute().unwrap().equals_missing(&df));
        // Partition sizes: splitting spreads rows evenly within each old
        // partition; stacking keeps every row once.
        prop_assert_eq!(re.len().unwrap(), df.height());
        // Through steps on top, and a second repartition.
        let again = re.filter(col("y").gt(lit(0))).unwrap().repartition(1 + parts / 2).unwrap();
        let theirs = df.clone().lazy().filter(col("y").gt(lit(0))).collect().unwrap();
        prop_assert!(again.compute().unwrap().equals_missing(&theirs));
    }

    #[test]
    fn map_partitions_sees_each_partition_whole(
        rows in rows_strategy(),
        cuts in prop::collection::vec(0..70usize, 0..6),
    ) {
        let df = frame(&rows);
        let ddf = split(&df, &cuts);
        // A function whose answer depends on the partition: its row count
        // and its own sum of y.
        let f = |p: DataFrame| {
            let n = p.height() as u32;
            p.lazy()
                .with_columns([lit(n).alias("rows_here"), col("y").sum().alias("run")])
                .collect()
        };
        let ours = ddf.map_partitions(f).unwrap();
        prop_assert_eq!(ours.columns(), ["k", "s", "x", "y", "rows_here", "run"]);
        let got = ours.compute().unwrap();
        // The oracle: the same function over each partition by hand.
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (df.height() + 1)).collect();
        cuts.sort_unstable();
        let mut at = 0;
        let mut expected: Option<DataFrame> = None;
        for c in cuts.into_iter().chain([df.height()]) {
            let part = f(df.slice(at as i64, c - at)).unwrap();
            at = c;
            match &mut expected {
                None => expected = Some(part),
                Some(e) => { e.vstack_mut_owned(part).unwrap(); }
            }
        }
        prop_assert!(got.equals_missing(&expected.unwrap()));
    }
}

#[test]
fn persist_computes_once() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let df = df!("x" => (0..100i64).collect::<Vec<_>>()).unwrap();
    let ddf = dd::from_polars(df.clone(), 4)
        .unwrap()
        .map_partitions(move |p: DataFrame| {
            seen.fetch_add(1, Ordering::SeqCst);
            Ok(p)
        })
        .unwrap();
    let after_build = calls.load(Ordering::SeqCst); // the schema probe
    let kept = ddf.persist().unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), after_build + 4);
    assert!(kept.compute().unwrap().equals(&df));
    assert_eq!(
        kept.filter(col("x").lt(lit(10))).unwrap().len().unwrap(),
        10
    );
    assert_eq!(calls.load(Ordering::SeqCst), after_build + 4, "recomputed");
}

#[test]
fn map_partitions_errors_name_the_step() {
    let ddf = dd::from_polars(df!("x" => [1i64, 2, 3]).unwrap(), 2).unwrap();
    // The schema probe on an empty frame reports the function's error.
    let err = ddf
        .map_partitions(|p: DataFrame| p.select(["nope"]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("map_partitions") && err.contains("nope"),
        "{err}"
    );
    // A failure on real data names the partition.
    let failing = ddf
        .map_partitions(|p: DataFrame| {
            if p.height() > 0 && p.column("x")?.i64()?.get(0) == Some(3) {
                polars_bail!(ComputeError: "three is not allowed")
            }
            Ok(p)
        })
        .unwrap();
    let err = failing.compute().unwrap_err().to_string();
    assert!(
        err.contains("partition 1") && err.contains("three is not allowed"),
        "{err}"
    );
    // A closure cannot leave the process: the error says what to do.
    let mut graph = oxidask_graph::TaskGraph::new();
    let mut keys = Vec::new();
    oxidask_scheduler::Computable::collect(&failing, &mut graph, &mut keys).unwrap();
    let err = graph.to_bytes().unwrap_err().to_string();
    assert!(err.contains("#[oxidask::remote]"), "{err}");
}

#[test]
fn repartition_rejects_zero() {
    let ddf = dd::from_polars(df!("x" => [1i64]).unwrap(), 1).unwrap();
    let err = ddf.repartition(0).unwrap_err().to_string();
    assert!(err.contains("npartitions"), "{err}");
}
