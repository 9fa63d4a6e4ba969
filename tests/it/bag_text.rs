//! `read_text` cuts files into blocks as Dask does and keeps line endings:
//! partitions checked against Dask's own answers, and every line exactly
//! once (with its ending) for random texts and block sizes, plain and
//! through bytes.

use oxidask::bag as db;
use oxidask_testing::{TempDir, both_ways};
use proptest::prelude::*;

/// A partition as one record: the partitions' lines come out in order.
#[oxidask::remote]
fn whole(p: Vec<String>) -> Vec<Vec<String>> {
    vec![p]
}

/// Each partition's lines, in order.
fn partitions(paths: Vec<std::path::PathBuf>, options: &db::TextOptions) -> Vec<Vec<String>> {
    both_ways(|| {
        db::read_text_with(paths.clone(), options)
            .unwrap()
            .map_partitions(whole)
            .compute()
            .unwrap()
    })
}

fn strings(parts: &[&[&str]]) -> Vec<Vec<String>> {
    parts
        .iter()
        .map(|p| p.iter().map(|s| s.to_string()).collect())
        .collect()
}

#[test]
fn blocks_and_lines_are_dasks() {
    let dir = TempDir::new("bag-text-dask");
    // 22 bytes: a `\r\n` line, an empty line, no newline at the end.
    let a = dir.path().join("a.txt");
    std::fs::write(&a, b"alpha\r\nbb\n\nccc dd\nlast").unwrap();
    // Dask 2026.8.0: [d.compute() for d in db.read_text("a.txt",
    // blocksize=bs, linedelimiter="\n").to_delayed()] for each bs.
    let dask: [(u64, &[&[&str]]); 5] = [
        (
            3,
            &[
                &["alpha\r\n"],
                &[],
                &["bb\n"],
                &["\n", "ccc dd\n"],
                &[],
                &["last"],
                &[],
            ],
        ),
        (
            5,
            &[&["alpha\r\n"], &["bb\n", "\n", "ccc dd\n"], &[], &["last"]],
        ),
        (7, &[&["alpha\r\n", "bb\n"], &["\n", "ccc dd\n"], &["last"]]),
        (10, &[&["alpha\r\n", "bb\n", "\n", "ccc dd\n"], &["last"]]),
        (100, &[&["alpha\r\n", "bb\n", "\n", "ccc dd\n", "last"]]),
    ];
    for (bs, want) in dask {
        let got = partitions(vec![a.clone()], &db::TextOptions::new().blocksize(bs));
        assert_eq!(got, strings(want), "blocksize {bs}");
    }
    // blocksize=1: 22 partitions, lines at 0, 6, 9, 10 and 17.
    let got = partitions(vec![a.clone()], &db::TextOptions::new().blocksize(1));
    assert_eq!(got.len(), 22);
    let nonempty: Vec<(usize, Vec<String>)> = got
        .into_iter()
        .enumerate()
        .filter(|(_, p)| !p.is_empty())
        .collect();
    assert_eq!(
        nonempty,
        vec![
            (0, vec!["alpha\r\n".to_string()]),
            (6, vec!["bb\n".to_string()]),
            (9, vec!["\n".to_string()]),
            (10, vec!["ccc dd\n".to_string()]),
            (17, vec!["last".to_string()]),
        ]
    );

    // A line longer than the blocks: Dask gives
    // [['x' * 30 + '\n'], [], [], ['short\n']] for blocksize=8.
    let long = dir.path().join("long.txt");
    std::fs::write(&long, format!("{}\nshort\n", "x".repeat(30))).unwrap();
    let got = partitions(vec![long], &db::TextOptions::new().blocksize(8));
    let x = format!("{}\n", "x".repeat(30));
    assert_eq!(got, strings(&[&[&x], &[], &[], &["short\n"]]));

    // An empty file has no blocks (Dask: ["e.txt", "a.txt"] with
    // blocksize=10 gives 2 partitions, a.txt's); alone it is one empty
    // partition (Dask raises "No files found").
    let e = dir.path().join("e.txt");
    std::fs::write(&e, b"").unwrap();
    let got = partitions(
        vec![e.clone(), a.clone()],
        &db::TextOptions::new().blocksize(10),
    );
    assert_eq!(
        got,
        strings(&[&["alpha\r\n", "bb\n", "\n", "ccc dd\n"], &["last"]])
    );
    let got = partitions(vec![e], &db::TextOptions::new().blocksize(10));
    assert_eq!(got, vec![Vec::<String>::new()]);

    // Stripped on request, as `str::lines` does.
    let strip = db::TextOptions::new().blocksize(5).strip_line_endings(true);
    assert_eq!(
        partitions(vec![a], &strip),
        strings(&[&["alpha"], &["bb", "", "ccc dd"], &[], &["last"]])
    );
}

/// Texts of random lines: empty ones, `\r\n` endings, long ones, with or
/// without a final newline.
fn text() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        3 => "[a-z ]{0,12}",
        1 => "[a-z]{40,90}",
        1 => Just(String::new()),
        1 => "é[a-zé]{0,5}",
    ];
    let ending = prop_oneof![3 => Just("\n"), 1 => Just("\r\n")];
    (
        prop::collection::vec((line, ending), 0..30),
        any::<bool>(),
        "[a-z]{0,6}",
    )
        .prop_map(|(lines, final_newline, tail)| {
            let mut s: String = lines.into_iter().map(|(l, e)| format!("{l}{e}")).collect();
            if !final_newline {
                s.push_str(&tail);
            }
            s
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Every line exactly once, in order, with its ending: the oracle is
    /// `str::split_inclusive('\n')` of each whole file; the partition count
    /// is Dask's `max(1, size // blocksize)` per non-empty file.
    #[test]
    fn every_line_exactly_once(texts in prop::collection::vec(text(), 1..4), blocksize in 1u64..200) {
        let dir = TempDir::new("bag-text-prop");
        let paths: Vec<std::path::PathBuf> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let p = dir.path().join(format!("{i}.txt"));
                std::fs::write(&p, t).unwrap();
                p
            })
            .collect();
        let want: Vec<String> = texts
            .iter()
            .flat_map(|t| t.split_inclusive('\n').map(String::from))
            .collect();
        let options = db::TextOptions::new().blocksize(blocksize);
        let parts = partitions(paths.clone(), &options);
        let blocks: u64 = texts
            .iter()
            .filter(|t| !t.is_empty())
            .map(|t| (t.len() as u64 / blocksize).max(1))
            .sum();
        prop_assert_eq!(parts.len() as u64, blocks.max(1));
        prop_assert_eq!(parts.concat(), want.clone());
        // Whole files: one partition each, the same lines.
        let whole = partitions(paths.clone(), &db::TextOptions::new().whole_files());
        prop_assert_eq!(whole.len(), texts.len());
        prop_assert_eq!(whole.concat(), want);
        // Stripped: `str::lines`.
        let stripped: Vec<String> = texts.iter().flat_map(|t| t.lines().map(String::from)).collect();
        let got = partitions(paths, &options.clone().strip_line_endings(true));
        prop_assert_eq!(got.concat(), stripped);
    }
}
