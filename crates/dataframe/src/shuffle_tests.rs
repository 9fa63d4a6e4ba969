//! Join, sort and the shuffled group_by against polars over the whole
//! frames: random partitionings (empty partitions included), null keys and
//! values, NaN, integer and string keys, one and two key columns.

use polars::prelude::*;
use proptest::prelude::*;

use crate as dd;
use crate::tests::{assert_close, canon};

type Row = (Option<i64>, Option<u8>, Option<f64>);

/// Rows of `(k, s, x)`: an integer key, a string key, a float value (both
/// keys with nulls, values with nulls and NaN); `tag` names the frame's
/// own column so the two sides of a join differ.
fn frame(rows: &[Row], tag: &str) -> DataFrame {
    let k: Vec<Option<i64>> = rows.iter().map(|r| r.0).collect();
    let s: Vec<Option<String>> = rows.iter().map(|r| r.1.map(|v| format!("s{v}"))).collect();
    let x: Vec<Option<f64>> = rows.iter().map(|r| r.2).collect();
    let id: Vec<i32> = (0..rows.len() as i32).collect();
    df!("k" => k, "s" => s, "x" => x, tag => id).unwrap()
}

fn rows(max: usize) -> impl Strategy<Value = Vec<Row>> {
    prop::collection::vec(
        (
            prop::option::weighted(0.9, 0..6i64),
            prop::option::weighted(0.9, 0..3u8),
            prop::option::weighted(
                0.9,
                prop_oneof![8 => -10.0..10.0f64, 1 => Just(f64::NAN), 1 => Just(-0.0)],
            ),
        ),
        0..max,
    )
}

/// Splits `df` at these cut points (repeats give empty partitions).
fn split(df: &DataFrame, cuts: &[usize]) -> dd::DataFrame {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (df.height() + 1)).collect();
    cuts.sort_unstable();
    let mut parts = Vec::new();
    let mut at = 0;
    for c in cuts.into_iter().chain([df.height()]) {
        parts.push(df.slice(at as i64, c - at));
        at = c;
    }
    dd::from_partitions(parts).unwrap()
}

/// Sorted by every column (nulls last): a multiset as a frame.
fn as_multiset(df: DataFrame) -> Vec<(String, String, Vec<String>)> {
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    canon(
        &df.sort(
            names,
            SortMultipleOptions::default()
                .with_nulls_last(true)
                .with_maintain_order(true),
        )
        .unwrap(),
    )
}

/// Runs `f` (which builds and computes) with shuffles of the tasks method
/// if `tasks`, else of the disk method.
fn in_method<R>(tasks: bool, f: impl FnOnce() -> R) -> R {
    use oxidask_scheduler::config::{Config, ShuffleMethod, current, with_config};
    let shuffle = if tasks {
        ShuffleMethod::Tasks
    } else {
        ShuffleMethod::Disk
    };
    with_config(
        Config {
            shuffle,
            ..current().unwrap()
        },
        f,
    )
}

/// Each partition of a frame, computed.
fn partitions(ddf: &dd::DataFrame) -> Vec<DataFrame> {
    let (graph, name) = ddf.stored_layer();
    let keys: Vec<oxidask_graph::Key> = (0..ddf.npartitions() as u32)
        .map(|i| oxidask_graph::Key::with_index(name.clone(), &[i]))
        .collect();
    oxidask_scheduler::compute_layers(&graph, &keys, &Default::default())
        .unwrap()
        .into_iter()
        .map(|v| v.take::<DataFrame>().unwrap())
        .collect()
}

const HOWS: [JoinType; 6] = [
    JoinType::Inner,
    JoinType::Left,
    JoinType::Right,
    JoinType::Full,
    JoinType::Semi,
    JoinType::Anti,
];

fn polars_join(l: &DataFrame, r: &DataFrame, lk: &[&str], rk: &[&str], how: JoinType) -> DataFrame {
    let on = |ks: &[&str]| ks.iter().map(|k| col(*k)).collect::<Vec<_>>();
    l.clone()
        .lazy()
        .join(r.clone().lazy(), on(lk), on(rk), JoinArgs::new(how))
        .collect()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn join_equals_polars(
        left in rows(40), right in rows(30),
        lcuts in prop::collection::vec(0..50usize, 0..5),
        rcuts in prop::collection::vec(0..50usize, 0..3),
        m in 1..6usize,
        tasks in any::<bool>(),
    ) {
        // Each case through one shuffle method: pieces through files or
        // as task results.
        in_method(tasks, || {
        let (l, r) = (frame(&left, "a"), frame(&right, "b"));
        let (dl, dr) = (split(&l, &lcuts), split(&r, &rcuts));
        for keys in [&["k"][..], &["s"], &["k", "s"]] {
            for how in HOWS {
                let theirs = as_multiset(polars_join(&l, &r, keys, keys, how.clone()));
                let auto = dl.join(&dr, keys, keys, how.clone()).unwrap();
                prop_assert_eq!(&as_multiset(auto.compute().unwrap()), &theirs, "auto {:?} {:?}", how, keys);
                let shuffled = dl.join_with(&dr, keys, keys,
                    dd::JoinOptions::new(how.clone()).broadcast(false).npartitions(m)).unwrap();
                prop_assert_eq!(shuffled.npartitions(), m);
                prop_assert_eq!(shuffled.schema(), auto.schema());
                prop_assert_eq!(&as_multiset(shuffled.compute().unwrap()), &theirs, "shuffle {:?} {:?}", how, keys);
                if how != JoinType::Full {
                    let bc = dl.join_with(&dr, keys, keys, dd::JoinOptions::new(how.clone()).broadcast(true)).unwrap();
                    prop_assert_eq!(&as_multiset(bc.compute().unwrap()), &theirs, "broadcast {:?} {:?}", how, keys);
                }
            }
        }
        // Keys of other names on the two sides.
        let rr = dr.rename(["k"], ["kk"]).unwrap();
        let ours = dl.join_with(&rr, ["k"], ["kk"], dd::JoinOptions::new(JoinType::Full).npartitions(m)).unwrap();
        let theirs = polars_join(&l, &r.clone().lazy().rename(["k"], ["kk"], true).collect().unwrap(), &["k"], &["kk"], JoinType::Full);
        prop_assert_eq!(as_multiset(ours.compute().unwrap()), as_multiset(theirs));
        Ok(())
        })?;
    }

    #[test]
    fn sort_equals_polars_and_partitions_follow_divisions(
        rows in rows(60), cuts in prop::collection::vec(0..70usize, 0..6), m in 1..7usize,
        tasks in any::<bool>(),
    ) {
        // Each case through one shuffle method: pieces through files or
        // as task results.
        in_method(tasks, || {
        let df = frame(&rows, "a");
        let ddf = split(&df, &cuts);
        for by in [&["x"][..], &["k"], &["s", "k"]] {
            for descending in [false, true] {
                let sorted = ddf.sort_with(by, descending, &dd::SortOptions::new().npartitions(m)).unwrap();
                prop_assert!(sorted.npartitions() <= m);
                let theirs = df.sort(by.to_vec(), SortMultipleOptions::default()
                    .with_order_descending(descending).with_nulls_last(true).with_maintain_order(true)).unwrap();
                prop_assert_eq!(canon(&sorted.compute().unwrap()), canon(&theirs), "{:?} desc {}", by, descending);
                let Some(div) = sorted.divisions() else {
                    // Only descending sorts and keys without a value have none.
                    prop_assert!(descending || df.column(by[0]).unwrap().null_count() == df.height());
                    continue;
                };
                prop_assert!(!descending);
                prop_assert_eq!(div.column(), by[0]);
                let d = div.series();
                prop_assert_eq!(d.len(), sorted.npartitions() + 1);
                let parts = partitions(&sorted);
                for (j, p) in parts.iter().enumerate() {
                    let keys = p.column(by[0]).unwrap().as_materialized_series();
                    let last = j + 1 == parts.len();
                    prop_assert!(last || keys.null_count() == 0, "nulls before the last partition");
                    let lo = d.slice(j as i64, 1);
                    let hi = d.slice(j as i64 + 1, 1);
                    let present = keys.drop_nulls();
                    let n = present.len();
                    if n > 0 {
                        // min ≥ lo, and max < hi (≤ hi for the last).
                        let first = present.slice(0, 1);
                        let end = present.slice(n as i64 - 1, 1);
                        prop_assert!(first.gt_eq(&lo).unwrap().all() || first.f64().is_ok_and(|f| f.get(0).is_some_and(f64::is_nan)));
                        if last {
                            prop_assert!(end.lt_eq(&hi).unwrap().all() || end.f64().is_ok_and(|f| f.get(0).is_some_and(f64::is_nan)));
                        } else {
                            prop_assert!(end.lt(&hi).unwrap().all() || hi.f64().is_ok_and(|f| f.get(0).is_some_and(f64::is_nan)));
                        }
                    }
                }
                // Rows that only drop keep the divisions.
                prop_assert!(sorted.filter(col("a").gt(lit(3))).unwrap().divisions().is_some());
                prop_assert!(sorted.with_columns([lit(1).alias("z")]).unwrap().divisions().is_none());
            }
        }
        let si = ddf.set_index("k").unwrap();
        let theirs = df.sort(["k"], SortMultipleOptions::default().with_nulls_last(true).with_maintain_order(true)).unwrap();
        prop_assert_eq!(canon(&si.compute().unwrap()), canon(&theirs));
        // Frames with equal divisions on the key join partition by partition.
        if si.divisions().is_some() {
            let (a, b) = (si.filter(col("a").gt(lit(3))).unwrap(), si.filter(col("a").lt_eq(lit(20))).unwrap());
            let (pa, pb) = (
                df.clone().lazy().filter(col("a").gt(lit(3))).collect().unwrap(),
                df.clone().lazy().filter(col("a").lt_eq(lit(20))).collect().unwrap(),
            );
            for how in HOWS {
                let j = a.join(&b, ["k"], ["k"], how.clone()).unwrap();
                prop_assert!(j.name().starts_with("partition-join"), "{}", j.name());
                prop_assert_eq!(j.npartitions(), si.npartitions());
                prop_assert_eq!(as_multiset(j.compute().unwrap()), as_multiset(polars_join(&pa, &pb, &["k"], &["k"], how.clone())), "{:?}", how);
            }
        }
        Ok(())
        })?;
    }

    #[test]
    fn split_out_equals_the_tree(
        rows in rows(60), cuts in prop::collection::vec(0..70usize, 0..6), n in 2..6usize,
        tasks in any::<bool>(),
    ) {
        // Each case through one shuffle method: pieces through files or
        // as task results.
        in_method(tasks, || {
        let df = frame(&rows, "a");
        let ddf = split(&df, &cuts);
        let aggs = [col("x").sum().alias("sum"), col("x").mean().alias("mean"), len(),
                    col("a").min().alias("min"), col("x").std(1).alias("std"), col("a").n_unique().alias("nu")];
        for keys in [&["k"][..], &["s"], &["k", "s"]] {
            let tree = ddf.group_by(keys).agg(aggs.clone()).unwrap().compute().unwrap();
            let shuffled = ddf.group_by(keys).split_out(n).agg(aggs.clone()).unwrap();
            prop_assert_eq!(shuffled.npartitions(), n);
            let parts = partitions(&shuffled);
            let mut seen = std::collections::HashSet::new();
            for p in &parts {
                // Each partition sorted by the keys, no key in two partitions.
                let resorted = p.sort(keys.to_vec(), SortMultipleOptions::default().with_nulls_last(true).with_maintain_order(true)).unwrap();
                prop_assert_eq!(canon(p), canon(&resorted));
                for i in 0..p.height() {
                    let row: Vec<String> = keys
                        .iter()
                        .map(|k| format!("{:?}", p.column(k).unwrap().get(i).unwrap()))
                        .collect();
                    prop_assert!(seen.insert(row), "a key in two partitions");
                }
            }
            let all = shuffled.compute().unwrap()
                .sort(keys.to_vec(), SortMultipleOptions::default().with_nulls_last(true)).unwrap();
            assert_close(&all, &tree)?;
        }
        Ok(())
        })?;
    }
}

#[test]
fn join_and_sort_graphs_travel_as_bytes() {
    let l = frame(
        &[
            (Some(1), Some(0), Some(1.5)),
            (None, Some(1), None),
            (Some(2), None, Some(2.5)),
            (Some(1), Some(2), Some(0.5)),
        ],
        "a",
    );
    let r = frame(
        &[
            (Some(1), Some(0), Some(3.0)),
            (Some(2), Some(1), None),
            (None, None, Some(1.0)),
        ],
        "b",
    );
    let query = || {
        let dl = dd::from_polars(l.clone(), 2).unwrap();
        let dr = dd::from_polars(r.clone(), 2).unwrap();
        let joined = dl
            .join_with(
                &dr,
                ["k"],
                ["k"],
                dd::JoinOptions::new(JoinType::Left).npartitions(3),
            )
            .unwrap();
        let bc = dl
            .join(
                &dd::from_polars(r.clone(), 1).unwrap(),
                ["k"],
                ["k"],
                JoinType::Inner,
            )
            .unwrap();
        let sorted = dl.sort(["x"], true).unwrap();
        let grouped = dl
            .group_by(["k"])
            .split_out(2)
            .agg([col("x").sum()])
            .unwrap();
        (
            as_multiset(joined.compute().unwrap()),
            as_multiset(bc.compute().unwrap()),
            canon(&sorted.compute().unwrap()),
            as_multiset(grouped.compute().unwrap()),
        )
    };
    let (joined, _, sorted, _) = oxidask_testing::both_ways(query);
    // The same through bytes with the pieces as task results.
    assert_eq!(
        in_method(true, || oxidask_testing::both_ways(query)),
        in_method(false, query)
    );
    assert_eq!(
        joined,
        as_multiset(polars_join(&l, &r, &["k"], &["k"], JoinType::Left))
    );
    let theirs = l
        .sort(
            ["x"],
            SortMultipleOptions::default()
                .with_order_descending(true)
                .with_nulls_last(true)
                .with_maintain_order(true),
        )
        .unwrap();
    assert_eq!(sorted, canon(&theirs));
}

#[test]
fn bad_joins_and_sorts_are_errors_at_build_time() {
    let dl = dd::from_polars(frame(&[(Some(1), Some(0), Some(1.0))], "a"), 1).unwrap();
    let dr = dd::from_polars(frame(&[(Some(1), Some(0), Some(1.0))], "b"), 2).unwrap();
    let e = dl
        .join(&dr, ["k"], ["zz"], JoinType::Inner)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no column \"zz\" in the right frame")
            && e.contains("[\"k\", \"s\", \"x\", \"b\"]"),
        "{e}"
    );
    let e = dl
        .join(&dr, ["nope"], ["k"], JoinType::Inner)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("in the left frame") && e.contains("\"a\"]"),
        "{e}"
    );
    let e = dl
        .join(&dr, ["k"], ["s"], JoinType::Inner)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("left k: i64") && e.contains("right s: str"),
        "{e}"
    );
    let e = dl
        .join(&dr, ["k", "s"], ["k"], JoinType::Inner)
        .unwrap_err()
        .to_string();
    assert!(e.contains("left_on has 2, right_on 1"), "{e}");
    let e = dl
        .join_with(
            &dr,
            ["k"],
            ["k"],
            dd::JoinOptions::new(JoinType::Full).broadcast(true),
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("full join cannot broadcast"), "{e}");
    let e = dl
        .join(&dr, ["k"], ["k"], JoinType::Cross)
        .unwrap_err()
        .to_string();
    assert!(e.contains("not supported"), "{e}");
    let e = dl.sort(["zz"], false).unwrap_err().to_string();
    assert!(e.contains("sort: no column \"zz\""), "{e}");
    assert!(dl.sort(Vec::<String>::new(), false).is_err());
}

#[test]
fn a_broadcast_join_has_the_partitions_of_the_big_side() {
    let l = frame(
        &[
            (Some(1), Some(0), Some(1.0)),
            (Some(2), Some(0), Some(2.0)),
            (Some(3), Some(1), None),
        ],
        "a",
    );
    let r = frame(&[(Some(1), Some(0), Some(9.0))], "b");
    let dl = dd::from_polars(l.clone(), 3).unwrap();
    let dr = dd::from_polars(r.clone(), 1).unwrap();
    // Left join: the right side (one partition) is broadcast.
    assert_eq!(
        dl.join(&dr, ["k"], ["k"], JoinType::Left)
            .unwrap()
            .npartitions(),
        3
    );
    // Right join with the small side on the right: shuffled.
    assert_eq!(
        dl.join(&dr, ["k"], ["k"], JoinType::Right)
            .unwrap()
            .npartitions(),
        3
    );
    // A frame joined with itself through the shuffle: each side's splits
    // are tasks of their own.
    let selfj = dl
        .join_with(
            &dl,
            ["s", "k"],
            ["s", "k"],
            dd::JoinOptions::new(JoinType::Full).npartitions(2),
        )
        .unwrap();
    assert_eq!(
        as_multiset(selfj.compute().unwrap()),
        as_multiset(polars_join(
            &l,
            &l,
            &["s", "k"],
            &["s", "k"],
            JoinType::Full
        ))
    );
    // Inner with the small side on the left: broadcast the left.
    let j = dr.join(&dl, ["k"], ["k"], JoinType::Inner).unwrap();
    assert_eq!(j.npartitions(), 3);
    assert_eq!(
        as_multiset(j.compute().unwrap()),
        as_multiset(polars_join(&r, &l, &["k"], &["k"], JoinType::Inner))
    );
}

#[test]
fn a_side_of_fewer_partitions_than_log2_of_the_other_is_broadcast() {
    let rows = |n: i64, tag: &str| -> DataFrame {
        let keys: Vec<Row> = (0..n)
            .map(|i| (Some(i % 23), Some((i % 5) as u8), Some(i as f64)))
            .collect();
        frame(&keys, tag)
    };
    let (big, small) = (rows(400, "a"), rows(60, "b"));
    let big17 = dd::from_polars(big.clone(), 17).unwrap();
    for (n, broadcast) in [(2, true), (4, true), (5, false)] {
        // log₂ 17 ≈ 4.09: up to 4 partitions are broadcast.
        let s = dd::from_polars(small.clone(), n).unwrap();
        for how in [
            JoinType::Inner,
            JoinType::Left,
            JoinType::Semi,
            JoinType::Anti,
        ] {
            let j = big17.join(&s, ["k"], ["k"], how.clone()).unwrap();
            let name = j.name.to_string();
            assert_eq!(
                name.starts_with("broadcast-join"),
                broadcast,
                "{n} {how:?}: {name}"
            );
            assert_eq!(
                as_multiset(j.compute().unwrap()),
                as_multiset(polars_join(&big, &small, &["k"], &["k"], how)),
                "{n}"
            );
        }
        // A right join broadcasts only its left side; a full join never.
        let name = big17
            .join(&s, ["k"], ["k"], JoinType::Right)
            .unwrap()
            .name
            .to_string();
        assert!(name.starts_with("hash-join"), "{name}");
        let j = s.join(&big17, ["k"], ["k"], JoinType::Right).unwrap();
        assert_eq!(j.name.starts_with("broadcast-join"), broadcast);
        assert_eq!(
            as_multiset(j.compute().unwrap()),
            as_multiset(polars_join(&small, &big, &["k"], &["k"], JoinType::Right))
        );
        let name = big17
            .join(&s, ["k"], ["k"], JoinType::Full)
            .unwrap()
            .name
            .to_string();
        assert!(name.starts_with("hash-join"), "{name}");
    }
}

#[test]
fn a_shuffle_moves_its_pieces_by_the_method_in_force_when_built() {
    let rows: Vec<Row> = (0..40)
        .map(|i| (Some(i % 7), Some((i % 3) as u8), Some(i as f64)))
        .collect();
    let ddf = split(&frame(&rows, "a"), &[10, 25]);
    // The names of the tasks a frame's partitions are made by.
    let task_names = |d: &dd::DataFrame| {
        let (graph, name) = d.stored_layer();
        let keys: Vec<oxidask_graph::Key> = (0..d.npartitions() as u32)
            .map(|i| oxidask_graph::Key::with_index(name.clone(), &[i]))
            .collect();
        let tasks = graph.cull(&keys).unwrap().to_task_graph().unwrap();
        tasks
            .keys()
            .map(|k| k.name().to_string())
            .collect::<std::collections::HashSet<_>>()
    };
    let builds: [&dyn Fn() -> dd::DataFrame; 3] = [
        &|| ddf.sort(["x"], false).unwrap(),
        &|| {
            ddf.join_with(
                &ddf,
                ["k"],
                ["k"],
                dd::JoinOptions::new(JoinType::Inner).broadcast(false),
            )
            .unwrap()
        },
        &|| ddf.group_by(["s"]).split_out(2).agg([len()]).unwrap(),
    ];
    for build in builds {
        let tasks = task_names(&in_method(true, build));
        assert!(tasks.iter().any(|n| n.ends_with("-piece")), "{tasks:?}");
        assert!(!tasks.iter().any(|n| n.ends_with("-barrier")), "{tasks:?}");
        let disk = task_names(&in_method(false, build));
        assert!(disk.iter().any(|n| n.ends_with("-barrier")), "{disk:?}");
        assert!(!disk.iter().any(|n| n.ends_with("-piece")), "{disk:?}");
        // Computed here, both give the same rows.
        assert_eq!(
            as_multiset(in_method(true, build).compute().unwrap()),
            as_multiset(in_method(false, build).compute().unwrap())
        );
    }
}
