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
fn the_default_blocksize_follows_the_memory_limit_in_force() {
    let mib = 1u64 << 20;
    // Dask's rule: a tenth of each thread's share, within [1 MiB, 64 MiB].
    assert_eq!(dd::auto_blocksize(Some(256 << 20), 2), 256 * mib / 20);
    assert_eq!(dd::auto_blocksize(Some(16 << 30), 4), dd::DEFAULT_BLOCKSIZE);
    assert_eq!(dd::auto_blocksize(Some(4 << 20), 8), dd::MIN_AUTO_BLOCKSIZE);
    assert_eq!(dd::auto_blocksize(Some(100 << 20), 0), 10 * mib);
    assert!(dd::auto_blocksize(None, 1) >= dd::MIN_AUTO_BLOCKSIZE);

    // 6 MB of rows: one partition under the default limit; under a 40 MiB
    // limit with 2 threads, 2 MiB blocks — and the same rows either way.
    let dir = TempDir::new("df-csv-auto-blocksize");
    let rows: Vec<(i64, Option<f64>, u8)> = (0..200_000)
        .map(|i| (i, Some(i as f64 / 7.0), (i % 256) as u8))
        .collect();
    let p = write(dir.path(), "a.csv", &text(&rows));
    let len = std::fs::metadata(&p).unwrap().len();
    assert!(len > 5 * mib, "{len}");
    let mut config = oxidask_scheduler::config::current().unwrap();
    config.memory_limit = Some(40 << 20);
    config.num_workers = 2;
    let tight = oxidask_scheduler::config::with_config(config, || {
        dd::read_csv(p.as_path(), opts()).unwrap()
    });
    assert_eq!(tight.npartitions() as u64, len.div_ceil(2 * mib));
    let mut config = oxidask_scheduler::config::current().unwrap();
    config.memory_limit = Some(8 << 30);
    config.num_workers = 2;
    let roomy = oxidask_scheduler::config::with_config(config, || {
        dd::read_csv(p.as_path(), opts()).unwrap()
    });
    assert_eq!(roomy.npartitions(), 1);
    // An explicit blocksize is kept whatever the limit.
    let explicit = oxidask_scheduler::config::with_config(
        oxidask_scheduler::config::current().unwrap(),
        || dd::read_csv(p.as_path(), opts().blocksize(Some(mib))).unwrap(),
    );
    assert_eq!(explicit.npartitions() as u64, len.div_ceil(mib));
    let want = canon(&polars_whole(&[p]));
    assert_eq!(canon(&tight.compute().unwrap()), want);
    assert_eq!(canon(&roomy.compute().unwrap()), want);
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

#[test]
fn a_line_with_too_few_fields_is_an_error_not_nulls() {
    let dir = TempDir::new("df-csv-short");
    // Polars alone pads the short line with nulls.
    let mut body = text(&(0..50).map(|i| (i, Some(i as f64), 3)).collect::<Vec<_>>());
    body.push_str("51,2.5\n52,1.0,y\n");
    let p = write(dir.path(), "short.csv", &body);
    for blocksize in [Some(64), None] {
        // Past the schema sample, so the frame builds and the task fails.
        let ddf = dd::read_csv(p.as_path(), opts().blocksize(blocksize).sample_bytes(100)).unwrap();
        let e = ddf.compute().unwrap_err().to_string();
        assert!(
            e.contains("short.csv:52: column 3: expected 3 fields, found 2"),
            "{e}"
        );
        // The columns the line has are read without complaint.
        let ids = ddf.select([col("id"), col("value")]).unwrap();
        assert_eq!(ids.compute().unwrap().height(), 52);
    }
}

/// A file of good rows (quoted separators and newlines among them) with
/// lines of too many and too few fields mixed in: `Skip` reads exactly the
/// good rows, for every block size and projection.
#[test]
fn skipped_bad_lines_leave_exactly_the_good_rows() {
    let dir = TempDir::new("df-csv-skip");
    let mut good = String::from("id,value,name\n");
    let mut bad = good.clone();
    for i in 0..60 {
        let row = match i % 5 {
            0 => format!("{i},{i}.5,\"two\nlines, and a comma\"\n"),
            1 => format!("{i},NA,\"say \"\"hi\"\"\"\n"),
            _ => format!("{i},{i}.25,n{i}\n"),
        };
        good.push_str(&row);
        bad.push_str(&row);
        match i % 7 {
            2 => bad.push_str(&format!("{i},1.0\n")),
            4 => bad.push_str(&format!("{i},1.0,a,b\n")),
            6 => bad.push_str("x\n\n"),
            _ => {}
        }
    }
    let good_p = write(dir.path(), "good.csv", &good);
    let bad_p = write(dir.path(), "bad.csv", &bad);
    let want = canon(&polars_whole(&[good_p]));
    // Quoted newlines must not cross a block boundary (as in Dask): whole
    // files here; the proptest below splits files without them finely.
    for blocksize in [None, Some(100_000)] {
        let o = opts().blocksize(blocksize).on_bad_lines(dd::BadLines::Skip);
        let ddf = dd::read_csv(bad_p.as_path(), o.clone()).unwrap();
        assert_eq!(canon(&ddf.compute().unwrap()), want, "{blocksize:?}");
        assert_eq!(ddf.len().unwrap(), 60);
        let ids = ddf.select([col("id")]).unwrap().compute().unwrap();
        assert_eq!(ids.height(), 60);
        // Erroring is the default: here when the frame is built (the
        // schema sample holds the whole file) and, past the sample, when
        // it is computed.
        let e = dd::read_csv(bad_p.as_path(), opts().blocksize(blocksize))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("bad.csv:6: column 3: expected 3 fields, found 2"),
            "{e}"
        );
        let e = dd::read_csv(
            bad_p.as_path(),
            opts().blocksize(blocksize).sample_bytes(64),
        )
        .unwrap()
        .compute()
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("bad.csv:6: column 3: expected 3 fields, found 2"),
            "{e}"
        );
    }
}

#[test]
fn bad_values_read_as_null_when_asked() {
    let dir = TempDir::new("df-csv-nulls");
    let body = "id,value\n1,2.5\n2,oops\n3,\n4,7\n";
    let p = write(dir.path(), "v.csv", body);
    let o = dd::CsvOptions::default().dtype("value", DataType::Float64);
    let e = dd::read_csv(p.as_path(), o.clone())
        .unwrap()
        .compute()
        .unwrap_err()
        .to_string();
    assert!(e.contains("v.csv:3: column 2"), "{e}");
    let got = dd::read_csv(p.as_path(), o.bad_values_as_null(true))
        .unwrap()
        .compute()
        .unwrap();
    let want = df!("id" => [1i64, 2, 3, 4], "value" => [Some(2.5), None, None, Some(7.0)]).unwrap();
    assert!(got.equals_missing(&want), "{got}");
    let schema = Schema::from_iter([
        Field::new("id".into(), DataType::Int64),
        Field::new("value".into(), DataType::Float64),
    ]);
    let block = &body.as_bytes()[9..];
    assert_eq!(
        super::diagnose::count_bad_values(block, &schema, None, &dd::CsvOptions::default()),
        1
    );
    assert_eq!(
        super::diagnose::count_bad_values(block, &schema, Some(&[0]), &dd::CsvOptions::default()),
        0
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Lines of too few or too many fields at random places, blocks of
    /// random sizes: `Skip` reads what polars reads of the file without
    /// them, and a count agrees with the rows.
    #[test]
    fn skip_reads_the_file_without_its_bad_lines(
        rows in prop::collection::vec((-1000..1000i64, prop::option::weighted(0.8, -10.0..10.0f64), 0..8u8), 1..40),
        bad in prop::collection::vec((0..40usize, 0..3u8), 0..6),
        blocksize in 1..400u64,
    ) {
        let dir = TempDir::new("df-csv-skip-prop");
        let good = text(&rows);
        let mut lines: Vec<String> = good.lines().map(|l| format!("{l}\n")).collect();
        for (at, kind) in &bad {
            let line = match kind {
                0 => "1,2.0\n",
                1 => "1,2.0,a,b\n",
                _ => "\"only, one\"\n",
            };
            lines.insert(1 + at % lines.len(), line.to_string());
        }
        let good_p = write(dir.path(), "good.csv", &good);
        let bad_p = write(dir.path(), "bad.csv", &lines.concat());
        let ddf = dd::read_csv(
            bad_p.as_path(),
            opts().blocksize(Some(blocksize)).on_bad_lines(dd::BadLines::Skip),
        ).unwrap();
        let want = polars_whole(&[good_p]);
        prop_assert_eq!(canon(&ddf.compute().unwrap()), canon(&want));
        prop_assert_eq!(ddf.len().unwrap(), rows.len());
    }
}

#[test]
fn a_file_changed_after_the_frame_was_built_is_an_error_naming_it() {
    let dir = TempDir::new("df-csv-changed");
    let path = write(
        dir.path(),
        "a.csv",
        &text(&[(1, Some(1.0), 0), (2, None, 3)]),
    );
    let ddf = dd::read_csv(&path, opts()).unwrap();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(b"3,3.0,x\n").unwrap();
    drop(f);
    let e = ddf.compute().unwrap_err().to_string();
    assert!(
        e.contains("a.csv") && e.contains("changed while being read"),
        "{e}"
    );
}

/// Bytes that are not UTF-8 in a string column fail the read of that
/// column, naming the file; a read of other columns does not look at them.
#[test]
fn invalid_utf8_fails_only_the_columns_that_hold_it() {
    let dir = TempDir::new("df-csv-utf8");
    let mut body = b"id,value,name\n1,1.5,ok\n2,2.5,".to_vec();
    body.extend_from_slice(&[0xff, 0xfe]);
    body.extend_from_slice(b"\n3,3.5,fine\n");
    let path = dir.path().join("bad.csv");
    std::fs::write(&path, &body).unwrap();
    // The schema comes from the first line alone, which is valid.
    let ddf = dd::read_csv(&path, opts().sample_bytes(23)).unwrap();
    let ids = ddf.select([col("id")]).unwrap().compute().unwrap();
    assert_eq!(ids.column("id").unwrap().i64().unwrap().sum(), Some(6));
    let e = ddf.compute().unwrap_err().to_string();
    assert!(e.contains("bad.csv") && e.contains("utf-8"), "{e}");
}

/// Column builders are sized from a block's first 64 KiB: a block whose
/// lines grow or shrink past that point reads the same rows as polars
/// (the builders grow, or hold spare room).
#[test]
fn blocks_whose_lines_change_length_past_the_first_64_kib_read_whole() {
    let dir = TempDir::new("df-csv-line-lengths");
    let short: Vec<(i64, Option<f64>, u8)> = (0..20_000).map(|i| (i, Some(1.0), 2)).collect();
    let long: Vec<(i64, Option<f64>, u8)> = (0..3_000)
        .map(|i| (1_000_000_000_000 + i, Some(i as f64 / 7.0), 7))
        .collect();
    let grow = text(&[short.clone(), long.clone()].concat());
    let shrink = text(&[long, short].concat());
    for (name, body) in [("grow.csv", grow), ("shrink.csv", shrink)] {
        assert!(body.len() > 200 << 10);
        let p = write(dir.path(), name, &body);
        for blocksize in [None, Some(100 << 10)] {
            let ddf = dd::read_csv(p.as_path(), opts().blocksize(blocksize)).unwrap();
            assert_eq!(
                canon(&ddf.compute().unwrap()),
                canon(&polars_whole(std::slice::from_ref(&p))),
                "{name}"
            );
        }
    }
}

/// A row of [`wide_text`]: two integers, a float that may be missing, and
/// a selector for the short text (sometimes quoted, holding a comma).
type WideRow = (i64, Option<f64>, u8, i64);

/// Seven columns, one of them a long text, so a read of a few columns
/// keeps a small share of each line and takes the projected-lines path
/// (`super::compact`) — except in blocks holding a quote.
fn wide_text(rows: &[WideRow], crlf: bool) -> String {
    let eol = if crlf { "\r\n" } else { "\n" };
    let mut s = format!("a,b,c,d,e,f,g{eol}");
    for (a, b, n, d) in rows {
        let b = b.map_or(String::from("NA"), |v| format!("{v}"));
        let c = match n % 8 {
            1 => "\"quoted, comma\"".to_string(),
            2 | 5 => String::new(),
            k => format!("c{k}"),
        };
        let e = "lorem ipsum dolor sit amet ".repeat(1 + (*n as usize % 3));
        s.push_str(&format!(
            "{a},{b},{c},{d},{e},{}.25,{}{eol}",
            d % 97,
            a % 13
        ));
    }
    s
}

fn polars_reads(path: &Path) -> DataFrame {
    CsvReadOptions::default()
        .with_infer_schema_length(None)
        .with_parse_options(
            CsvParseOptions::default()
                .with_null_values(Some(NullValues::AllColumns(vec!["NA".into()]))),
        )
        .with_schema_overwrite(Some(std::sync::Arc::new(Schema::from_iter([
            Field::new("b".into(), DataType::Float64),
            Field::new("c".into(), DataType::String),
        ]))))
        .into_reader_with_file_handle(Cursor::new(std::fs::read(path).unwrap()))
        .finish()
        .unwrap()
}

fn wide_opts() -> dd::CsvOptions {
    dd::CsvOptions::default()
        .null_values(["NA"])
        .dtype("b", DataType::Float64)
        .dtype("c", DataType::String)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Reads of random sets of columns of a wide file, cut into random
    /// blocks (some with a quoted field, so both ways of parsing meet in
    /// one frame), with `\n` or `\r\n` line ends: the columns polars reads
    /// from the whole file.
    #[test]
    fn reads_of_some_columns_equal_polars_reading_the_whole_file(
        rows in prop::collection::vec((-1000..1000i64, prop::option::weighted(0.8, -10.0..10.0f64), 0..8u8, 0..100_000i64), 1..60),
        columns in prop::collection::btree_set(0..7usize, 1..5),
        crlf in any::<bool>(),
        blocksize in 1..3000u64,
    ) {
        let dir = TempDir::new("df-csv-some-columns");
        let path = write(dir.path(), "wide.csv", &wide_text(&rows, crlf));
        let ddf = dd::read_csv(path.as_path(), wide_opts().blocksize(Some(blocksize))).unwrap();
        let names: Vec<&str> = columns.iter().map(|&i| ["a", "b", "c", "d", "e", "f", "g"][i]).collect();
        let got = ddf.select(names.iter().map(|n| col(*n)).collect::<Vec<_>>()).unwrap().compute().unwrap();
        let want = polars_reads(&path).select(names.iter().copied()).unwrap();
        prop_assert_eq!(canon(&got), canon(&want));
    }
}

/// The projected-lines path is taken for a read of a few columns of a
/// file without quotes, and agrees with polars; its errors are those of
/// the bytes as they are: a bad value names its file, line and column, a
/// short line missing a column read is an error, one that has every
/// column read is not.
#[test]
fn reads_of_some_columns_of_unquoted_lines_go_through_projected_lines() {
    let dir = TempDir::new("df-csv-projected-lines");
    let rows: Vec<WideRow> = (0..3000)
        .map(|i| (i, Some(i as f64 / 4.0), 0, i * 7))
        .collect();
    let body = wide_text(&rows, false);
    let path = write(dir.path(), "wide.csv", &body);
    let lines = &body.as_bytes()[body.find('\n').unwrap() + 1..];
    assert!(super::compact::project_block(lines, b',', Some(b'"'), &[1, 3]).is_some());
    let ddf = dd::read_csv(path.as_path(), wide_opts().blocksize(Some(20 << 10))).unwrap();
    assert!(ddf.npartitions() > 4);
    let got = ddf.select([col("d"), col("b")]).unwrap().compute().unwrap();
    let want = polars_reads(&path).select(["d", "b"]).unwrap();
    assert_eq!(canon(&got), canon(&want));

    let mut bad = body.clone();
    bad.push_str("3000,oops,x,1,e,1.0,2\n3001,1,x,1\n");
    let path = write(dir.path(), "bad.csv", &bad);
    let ddf = dd::read_csv(path.as_path(), wide_opts().blocksize(Some(20 << 10))).unwrap();
    let e = ddf
        .select([col("b"), col("d")])
        .unwrap()
        .compute()
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("bad.csv:3002: column 2: column \"b\": cannot parse \"oops\""),
        "{e}"
    );
    let e = ddf
        .select([col("a"), col("f")])
        .unwrap()
        .compute()
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("bad.csv:3003: column 5: expected 7 fields, found 4"),
        "{e}"
    );
    let got = ddf.select([col("a"), col("d")]).unwrap().compute().unwrap();
    assert_eq!(got.height(), 3002);
}
