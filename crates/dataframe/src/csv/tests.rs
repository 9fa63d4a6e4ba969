//! `read_csv` against polars reading each whole file: every block size
//! gives the same rows; errors name the file, line and column.

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use oxidask_testing::TempDir;
use polars::prelude::*;
use polars_io::SerReader;
use polars_io::csv::read::{CsvParseOptions, CsvReadOptions, NullValues};
use proptest::prelude::*;

use crate as dd;
use crate::tests::canon;

fn text(rows: &[(i64, Option<f64>, u8)]) -> String {
    let mut s = String::from("id,value,name\n");
    for (id, v, n) in rows {
        let v = v.map_or(String::from("NA"), |v| format!("{v}"));
        let name = match n % 4 {
            0 => "plain".to_string(),
            1 => "\"with, comma\"".to_string(),
            2 => String::new(),
            _ => format!("n{n}"),
        };
        s.push_str(&format!("{id},{v},{name}\n"));
    }
    s
}

fn polars_whole(paths: &[PathBuf]) -> DataFrame {
    let mut out: Option<DataFrame> = None;
    for p in paths {
        let bytes = std::fs::read(p).unwrap();
        let df = CsvReadOptions::default()
            .with_infer_schema_length(None)
            .with_parse_options(
                CsvParseOptions::default()
                    .with_null_values(Some(NullValues::AllColumns(vec!["NA".into()]))),
            )
            .with_schema_overwrite(Some(std::sync::Arc::new(Schema::from_iter([Field::new(
                "value".into(),
                DataType::Float64,
            )]))))
            .into_reader_with_file_handle(Cursor::new(bytes))
            .finish()
            .unwrap();
        match &mut out {
            None => out = Some(df),
            Some(o) => {
                o.vstack_mut(&df).unwrap();
            }
        }
    }
    out.unwrap()
}

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

fn opts() -> dd::CsvOptions {
    dd::CsvOptions::default()
        .null_values(["NA"])
        .dtype("value", DataType::Float64)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn blocks_read_what_polars_reads_whole(
        files in prop::collection::vec(prop::collection::vec((-1000..1000i64, prop::option::weighted(0.8, -10.0..10.0f64), 0..8u8), 1..40), 1..4),
        blocksize in 1..400u64,
    ) {
        let dir = TempDir::new("df-csv-blocks");
        let paths: Vec<PathBuf> = files.iter().enumerate()
            .map(|(i, rows)| write(dir.path(), &format!("f{i}.csv"), &text(rows)))
            .collect();
        let pattern = format!("{}/f*.csv", dir.path().display());
        let ddf = dd::read_csv(pattern.as_str(), opts().blocksize(Some(blocksize))).unwrap();
        prop_assert!(ddf.npartitions() >= files.len());
        let theirs = polars_whole(&paths);
        prop_assert_eq!(canon(&ddf.compute().unwrap()), canon(&theirs));
        // Projection: two columns, and a count.
        let two = ddf.select([col("name"), col("id")]).unwrap().compute().unwrap();
        prop_assert_eq!(canon(&two), canon(&theirs.select(["name", "id"]).unwrap()));
        prop_assert_eq!(ddf.len().unwrap(), theirs.height());
    }
}

#[test]
fn gz_files_are_whole_partitions() {
    let dir = TempDir::new("df-csv-gz");
    let body = text(&[(1, Some(1.5), 0), (2, None, 1), (3, Some(-2.0), 3)]);
    let plain = write(dir.path(), "a.csv", &body);
    let gz = dir.path().join("b.csv.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(body.as_bytes()).unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    let ddf = dd::read_csv(vec![plain.clone(), gz], opts().blocksize(Some(10))).unwrap();
    let got = ddf.compute().unwrap();
    assert_eq!(canon(&got), canon(&polars_whole(&[plain.clone(), plain])));
}

#[test]
fn a_malformed_row_names_file_line_and_column() {
    let dir = TempDir::new("df-csv-bad");
    let mut body = text(&(0..50).map(|i| (i, Some(i as f64), 0)).collect::<Vec<_>>());
    body.push_str("51,oops,x\n52,1.0,y\n");
    let p = write(dir.path(), "bad.csv", &body);
    for blocksize in [Some(64), None] {
        let ddf = dd::read_csv(p.as_path(), opts().blocksize(blocksize)).unwrap();
        let e = ddf.compute().unwrap_err().to_string();
        // Line 52: the header, 50 good rows, then the bad one.
        assert!(
            e.contains("bad.csv:52: column 2: column \"value\": cannot parse \"oops\""),
            "{e}"
        );
        // Projection pushdown: without the bad column nothing parses it.
        let ids = ddf.select([col("id")]).unwrap().compute().unwrap();
        assert_eq!(ids.height(), 52);
    }
    let p = write(dir.path(), "short.csv", "a,b\n1,2\n3,4,5\n");
    // In the schema sample: an error when the frame is built.
    let e = dd::read_csv(p.as_path(), dd::CsvOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("short.csv:3: column 3: expected 2 fields, found 3"),
        "{e}"
    );
    // Past the sample: an error of the task that reads it.
    let e = dd::read_csv(p.as_path(), dd::CsvOptions::default().sample_bytes(8))
        .unwrap()
        .compute()
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("short.csv:3: column 3: expected 2 fields, found 3"),
        "{e}"
    );
}

#[test]
fn bad_inputs_are_clear_errors() {
    let dir = TempDir::new("df-csv-inputs");
    let pattern = format!("{}/none-*.csv", dir.path().display());
    let e = dd::read_csv(pattern.as_str(), dd::CsvOptions::default()).unwrap_err();
    assert!(
        e.to_string().contains("no files match the pattern")
            && e.to_string().contains("none-*.csv"),
        "{e}"
    );
    let a = write(dir.path(), "a.csv", "x,y\n1,2\n");
    let b = write(dir.path(), "b.csv", "x,z\n1,2\n");
    let e = dd::read_csv(vec![&a, &b], dd::CsvOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("a.csv and") && e.contains("b.csv have different headers"),
        "{e}"
    );
    let e = dd::read_csv(
        a.as_path(),
        dd::CsvOptions::default().dtype("w", DataType::Int32),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("no column \"w\"") && e.contains("[\"x\", \"y\"]"),
        "{e}"
    );
    let e = dd::read_csv(dir.path().join("missing.csv"), dd::CsvOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing.csv"), "{e}");
    let df = dd::read_csv(a.as_path(), dd::CsvOptions::default()).unwrap();
    let e = df.select([col("q")]).unwrap_err().to_string();
    assert!(e.contains("[\"x\", \"y\"]"), "{e}");
}
