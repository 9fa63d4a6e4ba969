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
