//! Reading and writing the CSV files.

use std::fs;
use std::path::Path;

use super::TempDir;
use crate::lightcurve::{
    Kind, LightCurve, ReadError, Truth, generate_star, read_csv, read_truth, write_csv,
    write_dataset, write_truth,
};

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    path
}

/// The error's line, checking on the way that its message names the file and that line.
fn error_line(err: &ReadError, path: &Path) -> usize {
    let message = err.to_string();
    assert!(
        message.contains(&path.display().to_string()),
        "message {message:?} does not name {}",
        path.display()
    );
    assert_eq!(err.path(), path);
    let line = err.line().expect("a content error has a line");
    assert!(message.contains(&format!(":{line}:")), "{message}");
    line
}

#[test]
fn a_dataset_reads_back_exactly() {
    let dir = TempDir::new("roundtrip");
    let truths = write_dataset(dir.path(), 5, 11).unwrap();
    assert_eq!(truths.len(), 5);
    for truth in &truths {
        let path = dir.path().join(format!("lc/star_{:05}.csv", truth.star_id));
        let read = read_csv(&path).unwrap();
        // The generator rounds to the printed precision, so nothing is lost in the file.
        let (generated, generated_truth) = generate_star(11, truth.star_id);
        assert_eq!(read, generated);
        assert_eq!(&generated_truth, truth);
    }
    assert_eq!(read_truth(&dir.path().join("truth.csv")).unwrap(), truths);

    let text = fs::read_to_string(dir.path().join("lc/star_00003.csv")).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("t,mag,err"));
    let row = lines.next().unwrap();
    let fields: Vec<&str> = row.split(',').collect();
    assert_eq!(fields.len(), 3);
    for (field, decimals) in fields.iter().zip([5, 4, 4]) {
        assert_eq!(field.split('.').nth(1).unwrap().len(), decimals, "{row}");
    }
    assert!(text.ends_with('\n'));
}

#[test]
fn arbitrary_values_round_trip_within_the_printed_precision() {
    let dir = TempDir::new("precision");
    let lc = LightCurve {
        star_id: 123_456,
        t: vec![0.123_456_789, 1_826.000_004_9, 3.0],
        mag: vec![15.000_049, -0.333_333_3, 1e-9],
        err: vec![0.012_345, 0.099_99, 1.0],
    };
    let path = dir.path().join("star_123456.csv");
    write_csv(&path, &lc).unwrap();
    let read = read_csv(&path).unwrap();
    assert_eq!(read.star_id, 123_456);
    let close = |a: &[f64], b: &[f64], tol: f64| {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
    };
    assert!(close(&read.t, &lc.t, 0.5e-5 + 1e-12));
    assert!(close(&read.mag, &lc.mag, 0.5e-4 + 1e-12));
    assert!(close(&read.err, &lc.err, 0.5e-4 + 1e-12));

    let truths = vec![
        Truth {
            star_id: 0,
            period: 0.123_456_789_01,
            kind: Kind::Sinusoid,
        },
        Truth {
            star_id: 9,
            period: 2.5,
            kind: Kind::EclipsingBinary,
        },
    ];
    let truth_path = dir.path().join("truth.csv");
    write_truth(&truth_path, &truths).unwrap();
    let read = read_truth(&truth_path).unwrap();
    assert_eq!(read[0].period, 0.123_456_79);
    assert_eq!(read[1], truths[1]);
}

#[test]
fn a_malformed_line_names_file_and_line() {
    let dir = TempDir::new("malformed");
    let cases = [
        ("t,mag,err\n1.0,15.0,0.02\n2.0,abc,0.02\n", 3, "mag"),
        (
            "t,mag,err\n1.0,15.0,0.02\n\n2.0,15.1\n",
            4,
            "3 comma-separated",
        ),
        ("t,mag,err\n1.0,15.0,0.02,7\n", 2, "found 4"),
        ("t,mag,err\n1.0,15.0,0.0\n", 2, "positive"),
        ("t,mag,err\n1.0,15.0,-0.1\n", 2, "positive"),
        ("t,mag,err\nNaN,15.0,0.1\n", 2, "finite"),
        ("t,mag,err\n1.0,inf,0.1\n", 2, "finite"),
        ("t,mag,err\n1.0,,0.1\n", 2, "mag"),
    ];
    for (text, line, what) in cases {
        let path = write(dir.path(), "star_00001.csv", text);
        let err = read_csv(&path).unwrap_err();
        assert_eq!(error_line(&err, &path), line, "{text:?}: {err}");
        assert!(err.to_string().contains(what), "{text:?}: {err}");
    }
}

#[test]
fn empty_files_and_bad_headers_are_errors() {
    let dir = TempDir::new("header");
    let cases = [
        ("", 1, "empty file"),
        ("1.0,15.0,0.02\n", 1, "header"),
        ("time,mag,err\n1.0,15.0,0.02\n", 1, "header"),
        ("t,mag,err\n", 2, "no data rows"),
        ("t,mag,err\n\n\n", 4, "no data rows"),
    ];
    for (text, line, what) in cases {
        let path = write(dir.path(), "star_00002.csv", text);
        let err = read_csv(&path).unwrap_err();
        assert_eq!(error_line(&err, &path), line, "{text:?}: {err}");
        assert!(err.to_string().contains(what), "{text:?}: {err}");
    }
    // Windows line endings, a byte-order mark, spaces and blank lines are tolerated.
    let path = write(
        dir.path(),
        "star_00003.csv",
        "\u{feff}t,mag,err\r\n 1.5 , 15.25 ,0.03\r\n\r\n2.5,15.5,0.04\r\n",
    );
    let lc = read_csv(&path).unwrap();
    assert_eq!(lc.t, [1.5, 2.5]);
    assert_eq!(lc.mag, [15.25, 15.5]);
    assert_eq!(lc.err, [0.03, 0.04]);
}

#[test]
fn missing_files_and_bad_names_are_errors() {
    let dir = TempDir::new("names");
    let missing = dir.path().join("star_00009.csv");
    let err = read_csv(&missing).unwrap_err();
    assert!(matches!(err, ReadError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("star_00009.csv"));
    assert!(std::error::Error::source(&err).is_some());

    for name in [
        "lc_00001.csv",
        "star_.csv",
        "star_12a.csv",
        "star_00001.txt",
    ] {
        let path = write(dir.path(), name, "t,mag,err\n1.0,15.0,0.02\n");
        let err = read_csv(&path).unwrap_err();
        assert!(matches!(err, ReadError::FileName { .. }), "{name}: {err:?}");
        assert!(err.to_string().contains(name));
    }
    let path = write(dir.path(), "star_7.csv", "t,mag,err\n1.0,15.0,0.02\n");
    assert_eq!(read_csv(&path).unwrap().star_id, 7);
}

#[test]
fn truth_files_accept_either_generators_kinds_and_reject_bad_rows() {
    let dir = TempDir::new("truth");
    let path = write(
        dir.path(),
        "truth.csv",
        "star_id,period,kind\n0,0.5,rrab\n1,1.25,sin\n2,2.0,eb\n3,0.3,rr_lyrae\n",
    );
    let kinds: Vec<Kind> = read_truth(&path).unwrap().iter().map(|t| t.kind).collect();
    assert_eq!(
        kinds,
        [
            Kind::RrLyrae,
            Kind::Sinusoid,
            Kind::EclipsingBinary,
            Kind::RrLyrae
        ]
    );
    for kind in Kind::ALL {
        assert_eq!(kind.to_string().parse::<Kind>(), Ok(kind));
    }
    let cases = [
        ("star_id,period,kind\n0,0.5,cepheid\n", 2, "cepheid"),
        ("star_id,period,kind\n0,0.5,sin\nx,0.5,sin\n", 3, "star_id"),
        ("star_id,period,kind\n0,-1,sin\n", 2, "positive"),
        ("star_id,period,kind\n0,0.5\n", 2, "found 2"),
        ("t,mag,err\n0,0.5,sin\n", 1, "header"),
        ("", 1, "empty"),
    ];
    for (text, line, what) in cases {
        let path = write(dir.path(), "truth.csv", text);
        let err = read_truth(&path).unwrap_err();
        assert_eq!(error_line(&err, &path), line, "{text:?}: {err}");
        assert!(err.to_string().contains(what), "{text:?}: {err}");
    }
}
