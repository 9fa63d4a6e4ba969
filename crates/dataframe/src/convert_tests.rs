//! Frames to and from bags of records and arrays, against the same data
//! built whole: polars frames made column by column, ndarray arrays made
//! from polars' own columns.

use oxidask_bag as db;
use polars::prelude::*;
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

use crate as dd;
use crate::tests::{frame, rows_strategy, split};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Trip {
    id: i64,
    passengers: Option<i32>,
    tip: Option<f64>,
    zone: String,
    paid: bool,
    count: u32,
}

fn trips_strategy() -> impl Strategy<Value = Vec<Trip>> {
    prop::collection::vec(
        (
            any::<i64>(),
            prop::option::weighted(0.8, 0..6i32),
            prop::option::weighted(0.8, -5.0..50.0f64),
            "[a-z]{0,6}",
            any::<bool>(),
            any::<u32>(),
        )
            .prop_map(|(id, passengers, tip, zone, paid, count)| Trip {
                id,
                passengers,
                tip,
                zone,
                paid,
                count,
            }),
        0..50,
    )
}

/// The frame polars holds for these records, column by column.
fn polars_of(trips: &[Trip]) -> DataFrame {
    df!(
        "id" => trips.iter().map(|t| t.id).collect::<Vec<_>>(),
        "passengers" => trips.iter().map(|t| t.passengers).collect::<Vec<_>>(),
        "tip" => trips.iter().map(|t| t.tip).collect::<Vec<_>>(),
        "zone" => trips.iter().map(|t| t.zone.clone()).collect::<Vec<_>>(),
        "paid" => trips.iter().map(|t| t.paid).collect::<Vec<_>>(),
        "count" => trips.iter().map(|t| t.count).collect::<Vec<_>>(),
    )
    .unwrap()
}

/// `items` cut at `cuts` (sorted, repeats give empty partitions).
fn cut<T: Clone>(items: &[T], cuts: &[usize]) -> Vec<Vec<T>> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (items.len() + 1)).collect();
    cuts.sort_unstable();
    let mut parts = Vec::new();
    let mut at = 0;
    for c in cuts.into_iter().chain([items.len()]) {
        parts.push(items[at..c].to_vec());
        at = c;
    }
    parts
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn a_bag_of_records_is_the_frame_of_their_fields_and_back(
        trips in trips_strategy(),
        cuts in prop::collection::vec(0..50usize, 0..5),
    ) {
        let parts = cut(&trips, &cuts);
        let bag = db::from_partitions(parts.clone());
        let df = dd::from_bag(&bag).unwrap();
        prop_assert_eq!(df.npartitions(), parts.len());
        let want = polars_of(&trips);
        prop_assert_eq!(df.schema().as_ref(), want.schema().as_ref());
        let got = df.compute().unwrap();
        prop_assert!(got.equals_missing(&want), "{got}\n{want}");
        // Back to records: the same, in order, partition by partition.
        let back = df.to_bag::<Trip>().unwrap();
        prop_assert_eq!(back.npartitions(), parts.len());
        prop_assert_eq!(back.compute().unwrap(), trips.clone());
        // Through frame steps: a filter, then records of a narrower type.
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        struct Tip { tip: Option<f64>, id: i64 }
        let paid = df.filter(col("paid")).unwrap().to_bag::<Tip>().unwrap();
        let want_tips: Vec<Tip> = trips.iter().filter(|t| t.paid)
            .map(|t| Tip { tip: t.tip, id: t.id }).collect();
        prop_assert_eq!(paid.compute().unwrap(), want_tips);
    }

    #[test]
    fn numeric_columns_are_an_array_chunked_by_partition(
        rows in rows_strategy(),
        cuts in prop::collection::vec(0..70usize, 0..6),
    ) {
        let whole = frame(&rows);
        let df = split(&whole, &cuts);
        let x = df.to_array(&["k", "x", "y"]).unwrap();
        let lens: Vec<usize> = (0..df.npartitions())
            .map(|i| df.compute_partitions(&[i as u32], &Default::default()).unwrap()[0].height())
            .collect();
        prop_assert_eq!(x.chunks(), &[lens, vec![3]][..]);
        let got = x.compute().unwrap();
        prop_assert_eq!(got.shape(), &[rows.len(), 3][..]);
        for (j, name) in ["k", "x", "y"].iter().enumerate() {
            let c = whole.column(name).unwrap().cast(&DataType::Float64).unwrap();
            for (i, v) in c.f64().unwrap().iter().enumerate() {
                let g = got[[i, j]];
                match v {
                    Some(v) => prop_assert_eq!(g, v),
                    None => prop_assert!(g.is_nan(), "null at ({i}, {j}) is {g}"),
                }
            }
        }
    }
}

#[test]
fn record_types_that_are_not_flat_are_errors_naming_the_field() {
    #[derive(Clone, Serialize, Deserialize)]
    struct Inner {
        a: i64,
    }
    #[derive(Clone, Serialize, Deserialize)]
    struct Nested {
        id: i64,
        inner: Inner,
    }
    #[derive(Clone, Serialize, Deserialize)]
    struct Listy {
        id: i64,
        tags: Vec<String>,
    }
    let e = dd::schema_of::<Nested>().unwrap_err().to_string();
    assert!(e.contains("field `inner`") && e.contains("Nested"), "{e}");
    let e = dd::schema_of::<Listy>().unwrap_err().to_string();
    assert!(e.contains("field `tags`"), "{e}");
    let e = dd::schema_of::<i64>().unwrap_err().to_string();
    assert!(e.contains("structs with named fields"), "{e}");
}

#[test]
fn rows_that_do_not_fit_the_record_type_are_errors_naming_the_column() {
    #[derive(Clone, Debug, Serialize, Deserialize)]
    struct NeedsTip {
        id: i64,
        tip: f64,
    }
    #[derive(Clone, Debug, Serialize, Deserialize)]
    struct NeedsZone {
        zone: String,
    }
    let df = dd::from_polars(
        df!("id" => [1i64, 2, 3], "tip" => [Some(1.0), None, Some(2.0)]).unwrap(),
        2,
    )
    .unwrap();
    let e = df.to_bag::<NeedsZone>().unwrap_err().to_string();
    assert!(e.contains("zone") && e.contains("[\"id\", \"tip\"]"), "{e}");
    let e = df
        .to_bag::<NeedsTip>()
        .unwrap()
        .compute()
        .unwrap_err()
        .to_string();
    assert!(e.contains("row 1") && e.contains("column \"tip\""), "{e}");
    let e = df
        .with_columns([lit("x").alias("s")])
        .unwrap()
        .to_array(&["id", "s"]);
    let e = e.unwrap_err().to_string();
    assert!(e.contains("column \"s\" is str"), "{e}");
}

/// polars' statistics of `df`'s numeric columns (`nearest` quartiles).
fn polars_describe(df: &DataFrame, columns: &[&str]) -> DataFrame {
    let mut cols = vec![Column::new("statistic".into(), crate::describe::STATISTICS)];
    for c in columns {
        let x = col(*c).cast(DataType::Float64);
        let q = |p: f64| x.clone().quantile(lit(p), QuantileMethod::Nearest);
        let row = df
            .clone()
            .lazy()
            .select([
                x.clone().count().cast(DataType::Float64).alias("count"),
                x.clone()
                    .null_count()
                    .cast(DataType::Float64)
                    .alias("null_count"),
                x.clone().mean().alias("mean"),
                x.clone().std(1).alias("std"),
                x.clone().min().alias("min"),
                q(0.25).alias("q25"),
                q(0.5).alias("q50"),
                q(0.75).alias("q75"),
                x.clone().max().alias("max"),
            ])
            .collect()
            .unwrap();
        let values: Vec<Option<f64>> = row
            .columns()
            .iter()
            .map(|c| c.cast(&DataType::Float64).unwrap().f64().unwrap().get(0))
            .collect();
        cols.push(Column::new((*c).into(), values));
    }
    DataFrame::new_infer_height(cols).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Partitions of at most SKETCH_POINTS values: every statistic equals
    /// polars' over the whole frame (floats within 1e-9 relative).
    #[test]
    fn describe_equals_polars(
        rows in rows_strategy(),
        cuts in prop::collection::vec(0..70usize, 0..6),
    ) {
        prop_assume!(!rows.is_empty());
        let whole = frame(&rows);
        let df = split(&whole, &cuts);
        let got = df.describe().unwrap();
        let want = polars_describe(&whole, &["k", "x", "y"]);
        crate::tests::assert_close(&got, &want)?;
    }
}

/// Past the sketch size the quartiles are approximate: within a small
/// share of the ranks of the exact ones; the rest stays exact.
#[test]
fn describe_of_many_values_keeps_quartiles_within_rank_bounds() {
    let n = 200_000usize;
    // A permutation of 0..n (so a value is its rank), in 7 partitions.
    let v: Vec<f64> = (0..n).map(|i| ((i * 7919) % n) as f64).collect();
    let whole = df!("v" => v).unwrap();
    let df = dd::from_polars(whole.clone(), 7).unwrap();
    let got = df.describe().unwrap();
    let want = polars_describe(&whole, &["v"]);
    let g = got.column("v").unwrap().f64().unwrap();
    let w = want.column("v").unwrap().f64().unwrap();
    for i in [0usize, 1, 4, 8] {
        assert_eq!(g.get(i), w.get(i), "statistic {i}");
    }
    assert!((g.get(2).unwrap() - w.get(2).unwrap()).abs() < 1e-6);
    assert!((g.get(3).unwrap() / w.get(3).unwrap() - 1.0).abs() < 1e-9);
    for i in 5..8 {
        let (a, b) = (g.get(i).unwrap(), w.get(i).unwrap());
        assert!(
            (a - b).abs() <= n as f64 / 200.0,
            "quartile {i}: {a} vs {b}"
        );
    }
    let e = dd::from_polars(df!("s" => ["a"]).unwrap(), 1)
        .unwrap()
        .describe()
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no numeric column") && e.contains("[\"s\"]"),
        "{e}"
    );
}

/// Edges of `describe`: one value, no value (all null), NaN, infinities,
/// an empty partition — each column as polars describes it.
#[test]
fn describe_edges_equal_polars() {
    let whole = df!(
        "one" => [Some(2.0), None, None, None],
        "none" => [None::<f64>, None, None, None],
        "nan" => [1.0, f64::NAN, 3.0, 2.0],
        "inf" => [f64::NEG_INFINITY, 0.0, f64::INFINITY, 1.0],
        "int" => [3i64, -7, 0, 12],
    )
    .unwrap();
    let want = polars_describe(&whole, &["one", "none", "nan", "inf", "int"]);
    for cuts in [vec![], vec![0], vec![2, 2], vec![1, 3]] {
        let df = split(&whole, &cuts);
        let got = df.describe().unwrap();
        for name in ["one", "none", "nan", "inf", "int"] {
            let (g, w) = (
                got.column(name).unwrap().f64().unwrap(),
                want.column(name).unwrap().f64().unwrap(),
            );
            for i in 0..9 {
                let (a, b) = (g.get(i), w.get(i));
                let same = match (a, b) {
                    (Some(a), Some(b)) => {
                        a == b || (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-12 * b.abs()
                    }
                    (a, b) => a.is_none() && b.is_none(),
                };
                assert!(same, "{name} {}: ours {a:?}, polars {b:?} ({cuts:?})", i);
            }
        }
    }
}

/// A record type registered for frames: its conversions are data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Fare {
    id: i64,
    fare: Option<f64>,
    zone: String,
}
crate::register_frame_record!(Fare);

#[test]
fn a_registered_record_type_converts_as_data_and_an_unregistered_one_names_itself() {
    let fares: Vec<Fare> = (0..40)
        .map(|i| Fare {
            id: i,
            fare: (i % 3 != 0).then_some(i as f64 / 4.0),
            zone: format!("z{}", i % 5),
        })
        .collect();
    let bag = db::from_partitions(cut(&fares, &[5, 5, 17, 39]));
    let df = dd::from_bag(&bag).unwrap();
    // Through bytes (as to a worker): the graph of from_bag and of
    // to_bag over the registered type is data.
    let trip = oxidask_scheduler::ComputeOptions::new().round_trip(true);
    let whole = df.compute().unwrap();
    assert!(df.compute_with(&trip).unwrap().equals_missing(&whole));
    let back = df.to_bag::<Fare>().unwrap();
    let mut got = back.compute_with(&trip).unwrap();
    got.sort_by_key(|f| f.id);
    assert_eq!(got, fares);
    // Trip is not registered: a closure, which cannot leave the process.
    let trips = db::from_partitions(vec![vec![Trip {
        id: 1,
        passengers: None,
        tip: None,
        zone: String::new(),
        paid: true,
        count: 0,
    }]]);
    let e = dd::from_bag(&trips)
        .unwrap()
        .compute_with(&trip)
        .unwrap_err()
        .to_string();
    assert!(e.contains("from-bag<") && e.contains("Trip"), "{e}");
}
