//! Reading files end to end: compressed files streamed and read like their
//! plain copies, lines that are not UTF-8, invalid options.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::block::STREAM_BUF;
use crate::testutil::TempDir;
use crate::*;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Rec {
    id: u64,
    text: String,
}

/// JSON lines of varying length (some long, some `\r\n`, a blank one),
/// of pseudo-random words so that they compress only about 2:1.
fn records(n: u64) -> String {
    let mut out = String::new();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for id in 0..n {
        let mut text = String::new();
        for _ in 0..(id * 37) % 100 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            text.push_str(&format!("é{:x} ", state % 0xfffff));
        }
        out.push_str(&format!("{{\"id\":{id},\"text\":\"{text}\"}}"));
        out.push_str(if id % 9 == 0 { "\r\n" } else { "\n" });
        if id == n / 2 {
            out.push_str("   \n");
        }
    }
    out
}

fn write_gz_members(path: &Path, members: &[&[u8]]) {
    let mut f = std::fs::File::create(path).unwrap();
    for m in members {
        let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        w.write_all(m).unwrap();
        f.write_all(&w.finish().unwrap()).unwrap();
    }
}

#[test]
fn gzip_files_read_as_their_plain_copies() {
    let dir = TempDir::new("gz-plain");
    let text = records(6000);
    assert!(
        text.len() > 30 * STREAM_BUF,
        "decompressed size must cross the stream buffers many times"
    );
    let plain = dir.write("r.jsonl", text.as_bytes());
    let gz = dir.path().join("r.jsonl.gz");
    let (a, b) = text.as_bytes().split_at(text.len() / 2 + 11);
    write_gz_members(&gz, &[a, b]);
    assert!(std::fs::metadata(&gz).unwrap().len() > 2 * STREAM_BUF as u64);

    // Lines with their endings: the oracle is `split_inclusive('\n')`;
    // stripped, `str::lines`.
    let expected: Vec<String> = text.split_inclusive('\n').map(String::from).collect();
    let from_gz = read_text(&gz).unwrap();
    assert_eq!(from_gz.npartitions(), 1);
    assert_eq!(from_gz.compute().unwrap(), expected);
    let from_plain = read_text_with(&plain, &TextOptions::new().blocksize(100_000)).unwrap();
    assert!(from_plain.npartitions() > 1);
    assert_eq!(from_plain.compute().unwrap(), expected);
    let stripped: Vec<String> = text.lines().map(String::from).collect();
    let strip = TextOptions::new().strip_line_endings(true);
    assert_eq!(
        read_text_with(&gz, &strip).unwrap().compute().unwrap(),
        stripped
    );
    let strip = strip.blocksize(100_000);
    assert_eq!(
        read_text_with(&plain, &strip).unwrap().compute().unwrap(),
        stripped
    );

    // Records: typed and untyped, against serde_json on each non-blank line.
    let expected: Vec<Rec> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        read_json_lines::<Rec>(&gz).unwrap().compute().unwrap(),
        expected
    );
    let ids: Vec<Json> = read_json_lines::<Json>(&gz)
        .unwrap()
        .pluck("id")
        .compute()
        .unwrap();
    assert_eq!(ids.len(), expected.len());
    assert!(
        ids.iter()
            .zip(&expected)
            .all(|(a, b)| a == &Json::from(b.id))
    );
}

#[test]
fn a_gzip_partition_reaches_the_pipeline_before_the_file_is_read() {
    // Truncate the file when the first record reaches `map`: a streamed
    // read then hits the cut (an error naming the file); a read that had
    // decompressed the whole file first would see every record.
    let dir = TempDir::new("gz-stream");
    let text = records(6000);
    let gz = dir.path().join("r.jsonl.gz");
    write_gz_members(&gz, &[text.as_bytes()]);
    assert!(std::fs::metadata(&gz).unwrap().len() > 8 * STREAM_BUF as u64);
    let seen = Arc::new(AtomicUsize::new(0));
    let (s, path) = (seen.clone(), gz.clone());
    let bag = read_text(&gz).unwrap().map(move |line| {
        if s.fetch_add(1, Ordering::SeqCst) == 0 {
            std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .unwrap()
                .set_len(0)
                .unwrap();
        }
        line.len()
    });
    let err = bag.count().compute().unwrap_err().to_string();
    assert!(err.contains("r.jsonl.gz"), "{err}");
    let seen = seen.load(Ordering::SeqCst);
    assert!(
        seen > 0 && seen < text.lines().count() / 2,
        "{seen} records before the cut"
    );
}

#[test]
fn errors_in_gzip_files_name_the_line() {
    let dir = TempDir::new("gz-errors");
    let mut text = records(3000);
    text.push_str("{\"id\": 1, oops}\n");
    let gz = dir.path().join("bad.jsonl.gz");
    write_gz_members(&gz, &[text.as_bytes()]);
    // 3000 records and one blank line before the bad one.
    let err = read_json_lines::<Rec>(&gz)
        .unwrap()
        .count()
        .compute()
        .unwrap_err();
    assert!(err.to_string().contains("bad.jsonl.gz:3002:"), "{err}");

    let mut bytes = records(2000).into_bytes();
    let offset = bytes.len();
    bytes.extend_from_slice(b"{\"id\":7,\"text\":\"caf\xe9\"}\n");
    let gz = dir.path().join("latin.jsonl.gz");
    write_gz_members(&gz, &[&bytes]);
    let err = read_text(&gz).unwrap().compute().unwrap_err().to_string();
    let want = format!(
        "latin.jsonl.gz:2002: invalid UTF-8 at byte offset {}",
        offset + 19
    );
    assert!(err.contains(&want), "{err}\nwanted {want}");
}

#[test]
fn skip_bad_lines_skips_lines_that_are_not_utf8() {
    let dir = TempDir::new("skip-utf8");
    let body: &[u8] = b"{\"name\":\"ann\"}\n{\"name\":\"caf\xe9\"}\n\n{\"name\":\"bob\"}\n{\"x\":\xff}\n{\"nom\":\"cy\"}\n";
    let plain = dir.write("p.jsonl", body);
    let gz = dir.path().join("p.jsonl.gz");
    write_gz_members(&gz, &[body]);
    for path in [&plain, &gz] {
        // A block size only for the plain file: a compressed one cannot be split.
        let options = if path == &gz {
            vec![JsonOptions::new()]
        } else {
            vec![JsonOptions::new(), JsonOptions::new().blocksize(7)]
        };
        for opts in options {
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            // Without the option: the file and line of the first bad byte
            // (on one thread, blocks run in order, so the first bad line
            // fails first)…
            let count = read_json_lines_with::<Json>(path, &opts).unwrap().count();
            let sync = oxidask_scheduler::ComputeOptions::new()
                .scheduler(oxidask_scheduler::SchedulerChoice::Sync);
            let err = count.compute_with(&sync).unwrap_err().to_string();
            assert!(
                err.contains(&format!("{name}:2: invalid UTF-8 at byte offset 27")),
                "{err}"
            );
            // …on several, whichever bad line's block fails first, named by
            // its own file, line and offset.
            let err = count.compute().unwrap_err().to_string();
            assert!(
                err.contains(&format!("{name}:2: invalid UTF-8 at byte offset 27"))
                    || err.contains(&format!("{name}:5: invalid UTF-8 at byte offset 52")),
                "{err}"
            );
            // With it: both such lines skipped and counted.
            let bad = BadLines::new();
            let b = read_json_lines_with::<Json>(path, &opts.clone().skip_bad_lines(&bad)).unwrap();
            assert_eq!(b.count().compute().unwrap(), 3, "{name}");
            assert_eq!(bad.count(), 2, "{name}");
            let examples = bad.examples().join(" | ");
            assert!(
                examples.contains(&format!("{name}:2: invalid UTF-8")),
                "{examples}"
            );
            assert!(
                examples.contains(&format!("{name}:5: invalid UTF-8")),
                "{examples}"
            );
            // A later record is still located at its own line.
            let err = b.pluck("name").compute().unwrap_err().to_string();
            assert!(err.contains(&format!("{name}:6")), "{err}");
            // Lossy: replaced instead, nothing skipped.
            let bad = BadLines::new();
            let b =
                read_json_lines_with::<Json>(path, &opts.clone().lossy(true).skip_bad_lines(&bad))
                    .unwrap();
            assert_eq!(b.count().compute().unwrap(), 4, "{name}");
            assert_eq!(bad.count(), 1, "{name}: only the line that is not JSON");
        }
    }
}

#[test]
fn a_zero_blocksize_is_an_error_naming_it() {
    let dir = TempDir::new("bs0");
    let path = dir.write("t.txt", b"a\nb\n");
    let err = read_text_with(&path, &TextOptions::new().blocksize(0)).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
    assert!(
        err.to_string().contains("blocksize must be at least 1"),
        "{err}"
    );
    let err = read_json_lines_with::<Json>(&path, &JsonOptions::new().blocksize(0)).unwrap_err();
    assert!(
        err.to_string().contains("blocksize must be at least 1"),
        "{err}"
    );
    // The smallest valid one: one partition per line start.
    let b = read_text_with(&path, &TextOptions::new().blocksize(1)).unwrap();
    assert_eq!(b.compute().unwrap(), vec!["a\n", "b\n"]);
}

#[test]
fn a_blocksize_on_a_compressed_file_is_an_error_naming_it() {
    let dir = std::env::temp_dir().join(format!("oxidask-bag-gz-blocksize-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("lines.txt.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut enc, b"a\nb\n").unwrap();
    std::fs::write(&path, enc.finish().unwrap()).unwrap();
    let err = read_text_with(&path, &TextOptions::new().blocksize(1000)).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("lines.txt.gz") && msg.contains("blocksize 1000"),
        "{msg}"
    );
    let err = read_json_lines_with::<Json>(&path, &JsonOptions::new().blocksize(1000)).unwrap_err();
    assert!(err.to_string().contains("lines.txt.gz"), "{err}");
    // Without a block size, or with whole_files, it is one partition.
    assert_eq!(read_text(&path).unwrap().npartitions(), 1);
    let whole = TextOptions::new().blocksize(1000).whole_files();
    assert_eq!(
        read_text_with(&path, &whole).unwrap().compute().unwrap(),
        vec!["a\n", "b\n"]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
