//! Parquet in and out against polars: what `to_parquet` writes,
//! `read_parquet` reads back equal (random frames and partitionings, nulls,
//! empty partitions); row groups become partitions; filters skip row
//! groups by their statistics — proven with a row group whose data is
//! destroyed, which a pruned read never touches — and give polars' answer.

use std::io::{Seek, SeekFrom, Write};

use polars::prelude::*;
use polars_io::parquet::write::ParquetWriter;
use proptest::prelude::*;

use crate as dd;
use crate::tests::{assert_close, frame, rows_strategy, split};
use oxidask_testing::TempDir;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn what_to_parquet_writes_read_parquet_reads_back(
        rows in rows_strategy(),
        cuts in prop::collection::vec(0..70usize, 0..5),
    ) {
        let df = frame(&rows);
        let ddf = split(&df, &cuts);
        let dir = TempDir::new("pq-roundtrip");
        let files = ddf.to_parquet(dir.path()).unwrap();
        prop_assert_eq!(files.len(), ddf.npartitions());
        let back = dd::read_parquet(dir.path()).unwrap();
        prop_assert_eq!(back.schema(), ddf.schema());
        let whole = back.compute().unwrap();
        prop_assert!(whole.equals_missing(&df), "{whole} vs {df}");
        // The same through CSV (floats print exactly enough to round-trip).
        let csv = ddf.to_csv(dir.path().join("csv").join("part-*.csv")).unwrap();
        prop_assert_eq!(csv.len(), ddf.npartitions());
        let from_csv = dd::read_csv(dir.path().join("csv").join("part-*.csv"),
            dd::CsvOptions::default().dtype("s", DataType::String).dtype("k", DataType::Int64)
                .dtype("x", DataType::Float64).dtype("y", DataType::Int32)).unwrap().compute().unwrap();
        assert_close(&from_csv, &df)?;
    }
}

/// One file of `n` rows in row groups of `group` rows: `x` = 0..n sorted,
/// `f` = x as float with a NaN in the first row group, `s` = "s{x:03}".
fn grouped_file(dir: &TempDir, n: i64, group: usize) -> (std::path::PathBuf, DataFrame) {
    let x: Vec<i64> = (0..n).collect();
    let f: Vec<f64> = x
        .iter()
        .map(|&v| if v == 3 { f64::NAN } else { v as f64 })
        .collect();
    let s: Vec<String> = x.iter().map(|v| format!("s{v:03}")).collect();
    let mut df = df!("x" => x, "f" => f, "s" => s).unwrap();
    let path = dir.path().join("grouped.parquet");
    let file = std::fs::File::create(&path).unwrap();
    ParquetWriter::new(file)
        .with_row_group_size(Some(group))
        .finish(&mut df)
        .unwrap();
    (path, df)
}

/// Overwrites the data of row group `rg` with garbage, keeping the footer
/// (and so the statistics) intact.
fn destroy_row_group(path: &std::path::Path, rg: usize) {
    let meta = {
        let mut r = <polars_io::parquet::read::ParquetReader<_> as polars_io::SerReader<_>>::new(
            std::fs::File::open(path).unwrap(),
        );
        r.get_metadata().unwrap().clone()
    };
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    for c in meta.row_groups[rg].parquet_columns() {
        let r = c.byte_range();
        f.seek(SeekFrom::Start(r.start)).unwrap();
        f.write_all(&vec![0xA5; (r.end - r.start) as usize])
            .unwrap();
    }
}

fn filtered(df: &DataFrame, e: Expr) -> DataFrame {
    df.clone().lazy().filter(e).collect().unwrap()
}

#[test]
fn row_groups_are_partitions() {
    let dir = TempDir::new("pq-groups");
    let (path, df) = grouped_file(&dir, 95, 10);
    let ddf = dd::read_parquet(&path).unwrap();
    // polars picks the row group boundaries near the size asked for.
    let groups = {
        let mut r = <polars_io::parquet::read::ParquetReader<_> as polars_io::SerReader<_>>::new(
            std::fs::File::open(&path).unwrap(),
        );
        r.get_metadata().unwrap().row_groups.len()
    };
    assert!(groups > 5, "{groups}");
    assert_eq!(ddf.npartitions(), groups);
    assert!(ddf.compute().unwrap().equals_missing(&df));
    assert_eq!(ddf.len().unwrap(), 95);
    let sel = ddf.select([col("s")]).unwrap().compute().unwrap();
    assert!(sel.equals(&df.select(["s"]).unwrap()));
    assert_eq!(ddf.head(13).unwrap().height(), 13);
}

#[test]
fn filters_skip_row_groups_by_their_statistics() {
    let dir = TempDir::new("pq-prune");
    let (path, df) = grouped_file(&dir, 100, 10);
    destroy_row_group(&path, 0);
    let ddf = dd::read_parquet(&path).unwrap();
    // Reading the destroyed row group fails, naming file and row group.
    let err = ddf.compute().unwrap_err().to_string();
    assert!(
        err.contains("grouped.parquet") && err.contains("row group 0"),
        "{err}"
    );
    // Every filter below rules row group 0 (x 0..9) out by its min/max, so
    // it is never read; the answers are polars' over the intact data.
    let pruning = [
        col("x").gt(lit(85)),
        col("x").gt_eq(lit(10)),
        lit(50i64).lt(col("x")),
        col("x").eq(lit(42)),
        col("s").gt(lit("s050")),
        col("x").gt(lit(20)).and(col("x").lt(lit(30))),
    ];
    for e in pruning {
        let ours = ddf.filter(e.clone()).unwrap().compute();
        let ours = ours.unwrap_or_else(|err| panic!("{e:?} read row group 0: {err}"));
        assert!(ours.equals_missing(&filtered(&df, e.clone())), "{e:?}");
    }
    // A filter after a plain projection still prunes.
    let e = col("x").gt(lit(90));
    let ours = ddf
        .select([col("x"), col("s")])
        .unwrap()
        .filter(e.clone())
        .unwrap()
        .compute()
        .unwrap();
    assert!(ours.equals(&filtered(&df, e).select(["x", "s"]).unwrap()));
    // What cannot be decided from min/max reads the row group (and so
    // fails here): an expression of the column, `>` on a float column
    // (NaN is not in the statistics but is above every number in
    // polars), a filter after a step that redefines the column.
    let not_pruning = [
        (col("x") * lit(2)).gt(lit(170)),
        col("f").gt(lit(50.0)),
        col("x").gt(lit(85)).or(col("x").lt(lit(0))),
    ];
    for e in not_pruning {
        assert!(
            ddf.filter(e.clone()).unwrap().compute().is_err(),
            "{e:?} pruned"
        );
    }
    let redefined = ddf
        .with_columns([(col("x") - lit(1000)).alias("x")])
        .unwrap()
        .filter(col("x").gt(lit(-10)))
        .unwrap();
    assert!(redefined.compute().is_err());
}

#[test]
fn float_upper_bounds_prune() {
    // Row group 0 holds a NaN (polars then writes no float statistics for
    // it); a later row group has plain numbers, and `<`/`<=` prune it.
    let dir = TempDir::new("pq-prune-float");
    let (path, df) = grouped_file(&dir, 100, 10);
    let groups = dd::read_parquet(&path).unwrap().npartitions();
    destroy_row_group(&path, groups - 1);
    let ddf = dd::read_parquet(&path).unwrap();
    assert!(ddf.compute().is_err());
    for e in [
        col("f").lt_eq(lit(20.0)),
        col("f").lt(lit(20.5)),
        col("x").lt(lit(20)),
    ] {
        let ours = ddf.filter(e.clone()).unwrap().compute();
        let ours = ours.unwrap_or_else(|err| panic!("{e:?} read the last row group: {err}"));
        assert!(ours.equals_missing(&filtered(&df, e.clone())), "{e:?}");
    }
}

#[test]
fn float_greater_than_keeps_nan_rows_as_polars_does() {
    let dir = TempDir::new("pq-nan");
    let (path, df) = grouped_file(&dir, 40, 10);
    let e = col("f").gt(lit(30.0));
    let ours = dd::read_parquet(&path)
        .unwrap()
        .filter(e.clone())
        .unwrap()
        .compute()
        .unwrap();
    assert!(ours.equals_missing(&filtered(&df, e)), "{ours}");
}

#[test]
fn bad_inputs_name_the_file() {
    let dir = TempDir::new("pq-bad");
    let not = dir.path().join("not.parquet");
    std::fs::write(&not, b"x,y\n1,2\n").unwrap();
    let err = dd::read_parquet(&not).unwrap_err().to_string();
    assert!(
        err.contains("not.parquet") && err.contains("Parquet"),
        "{err}"
    );

    let a = df!("x" => [1i64, 2]).unwrap();
    let b = df!("x" => ["a", "b"]).unwrap();
    dd::from_polars(a.clone(), 1)
        .unwrap()
        .to_parquet(dir.path().join("a"))
        .unwrap();
    dd::from_polars(b, 1)
        .unwrap()
        .to_parquet(dir.path().join("b"))
        .unwrap();
    let err = dd::read_parquet(vec![
        dir.path().join("a").join("part.0.parquet"),
        dir.path().join("b").join("part.0.parquet"),
    ])
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("a/part.0.parquet") && err.contains("b/part.0.parquet"),
        "{err}"
    );

    std::fs::create_dir_all(dir.path().join("empty")).unwrap();
    let err = dd::read_parquet(dir.path().join("empty"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("empty"), "{err}");

    // A second write into a dataset is refused unless told to overwrite,
    // which replaces every file (fewer partitions leave no stale part).
    let four = dd::from_polars(df!("x" => [1i64, 2, 3, 4]).unwrap(), 4).unwrap();
    let out = dir.path().join("out");
    four.to_parquet(&out).unwrap();
    let err = dd::from_polars(a.clone(), 1)
        .unwrap()
        .to_parquet(&out)
        .unwrap_err()
        .to_string();
    assert!(err.contains("out") && err.contains("overwrite"), "{err}");
    dd::from_polars(a.clone(), 1)
        .unwrap()
        .to_parquet_with(&out, &dd::WriteOptions::default().overwrite(true))
        .unwrap();
    assert!(
        dd::read_parquet(&out)
            .unwrap()
            .compute()
            .unwrap()
            .equals(&a)
    );

    let csv = dir.path().join("c-*.csv");
    four.to_csv(&csv).unwrap();
    let err = four.to_csv(&csv).unwrap_err().to_string();
    assert!(err.contains("c-0.csv"), "{err}");
}

#[test]
fn partitions_sort_in_natural_order() {
    let dir = TempDir::new("pq-natural");
    let df = df!("x" => (0..12i64).collect::<Vec<_>>()).unwrap();
    dd::from_polars(df.clone(), 12)
        .unwrap()
        .to_parquet(dir.path())
        .unwrap();
    let back = dd::read_parquet(dir.path()).unwrap().compute().unwrap();
    assert!(back.equals(&df), "{back}");
}
