//! `frequencies_sorted`, `distinct_by` and `pluck_many`: Dask's
//! `frequencies(sort=True)`, `distinct(key=)` and `pluck([k1, k2])`,
//! against Dask's answers and plain loops, plain and through bytes.

use std::collections::HashMap;

use oxidask::bag as db;
use oxidask_testing::both_ways;
use proptest::prelude::*;
use serde_json::{Value as Json, json};

#[oxidask::remote]
fn name_key(r: &Json) -> String {
    r["name"].as_str().unwrap_or_default().to_string()
}

#[oxidask::remote]
fn lower_name(r: &Json) -> String {
    r["name"].as_str().unwrap_or_default().to_lowercase()
}

#[oxidask::remote]
fn mod3(x: &i64) -> i64 {
    x.rem_euclid(3)
}

fn words(text: &str, n: usize) -> db::Bag<String> {
    db::from_sequence(text.split(' ').map(String::from).collect::<Vec<_>>(), n).unwrap()
}

fn counts(pairs: &[(&str, usize)]) -> Vec<(String, usize)> {
    pairs.iter().map(|(w, n)| (w.to_string(), *n)).collect()
}

#[test]
fn frequencies_sorted_is_dasks() {
    // Dask 2026.8.0: db.from_sequence("b a c a b d a c e".split(),
    // npartitions=3).frequencies(sort=True)
    //   -> [('a', 3), ('b', 2), ('c', 2), ('d', 1), ('e', 1)]
    // ("x y z y x w", 2) -> [('x', 2), ('y', 2), ('z', 1), ('w', 1)]
    // (list("abcabd"), 2) -> [('a', 2), ('b', 2), ('c', 1), ('d', 1)]
    // (unsorted, the first: [('b', 2), ('a', 3), ('c', 2), ('d', 1), ('e', 1)])
    let got = both_ways(|| {
        words("b a c a b d a c e", 3)
            .frequencies_sorted()
            .compute()
            .unwrap()
    });
    assert_eq!(
        got,
        counts(&[("a", 3), ("b", 2), ("c", 2), ("d", 1), ("e", 1)])
    );
    let got = both_ways(|| {
        words("b a c a b d a c e", 3)
            .frequencies()
            .compute()
            .unwrap()
    });
    assert_eq!(
        got,
        counts(&[("b", 2), ("a", 3), ("c", 2), ("d", 1), ("e", 1)])
    );
    let got = both_ways(|| {
        words("x y z y x w", 2)
            .frequencies_sorted()
            .compute()
            .unwrap()
    });
    assert_eq!(got, counts(&[("x", 2), ("y", 2), ("z", 1), ("w", 1)]));
    let got = both_ways(|| {
        words("a b c a b d", 2)
            .frequencies_sorted()
            .compute()
            .unwrap()
    });
    assert_eq!(got, counts(&[("a", 2), ("b", 2), ("c", 1), ("d", 1)]));
    let empty = db::from_partitions(Vec::<Vec<String>>::new());
    assert!(empty.frequencies_sorted().compute().unwrap().is_empty());
}

fn people() -> Vec<Json> {
    vec![
        json!({"name": "Ann", "age": 3}),
        json!({"name": "Bob", "age": 5}),
        json!({"name": "ann", "age": 7}),
        json!({"name": "Bob", "age": 9}),
    ]
}

#[test]
fn distinct_by_and_pluck_many_are_dasks() {
    let r = || db::from_sequence(people(), 2).unwrap();
    // Dask 2026.8.0, r = db.from_sequence(records, npartitions=2):
    // r.distinct(key=lambda x: x["name"])
    //   -> [{'name': 'Ann', 'age': 3}, {'name': 'Bob', 'age': 5}, {'name': 'ann', 'age': 7}]
    // r.distinct(key=lambda x: x["name"].lower())
    //   -> [{'name': 'Ann', 'age': 3}, {'name': 'Bob', 'age': 5}]
    let p = people();
    let got = both_ways(|| r().distinct_by(name_key).compute().unwrap());
    assert_eq!(got, p[..3].to_vec());
    let got = both_ways(|| r().distinct_by(lower_name).compute().unwrap());
    assert_eq!(got, p[..2].to_vec());
    // A closure key runs locally.
    let got = r()
        .distinct_by(|x: &Json| x["age"].as_i64().unwrap() > 4)
        .compute()
        .unwrap();
    assert_eq!(got, vec![p[0].clone(), p[1].clone()]);

    // r.pluck(["name", "age"]) -> [('Ann', 3), ('Bob', 5), ('ann', 7), ('Bob', 9)]
    let got = both_ways(|| r().pluck_many(["name", "age"]).compute().unwrap());
    assert_eq!(
        got,
        vec![
            vec![json!("Ann"), json!(3)],
            vec![json!("Bob"), json!(5)],
            vec![json!("ann"), json!(7)],
            vec![json!("Bob"), json!(9)],
        ]
    );
    // db.from_sequence([[1, 2, 3], [4, 5, 6]]).pluck([2, 0]) -> [(3, 1), (6, 4)]
    let rows = db::from_sequence(vec![vec![1i64, 2, 3], vec![4, 5, 6]], 1).unwrap();
    assert_eq!(
        rows.pluck_many([2usize, 0]).compute().unwrap(),
        vec![vec![3, 1], vec![6, 4]]
    );
    // db.from_sequence(["abc", "xyz"]).pluck([0, 2]) -> [('a', 'c'), ('x', 'z')]
    let s = db::from_sequence(["abc", "xyz"].map(String::from), 2).unwrap();
    assert_eq!(
        s.pluck_many([0usize, 2]).compute().unwrap(),
        vec![vec!["a", "c"], vec!["x", "z"]]
    );
    // Nested paths mix with keys; a string index inside a JSON record.
    let nested = db::from_sequence(vec![json!({"a": {"b": [10, 20]}, "s": "hey"})], 1).unwrap();
    let got = both_ways(|| {
        nested
            .pluck_many(vec![
                db::PluckPath::from(["a", "b"]),
                db::PluckPath(vec!["a".into(), "b".into(), 1.into()]),
                db::PluckPath(vec!["s".into(), 2.into()]),
            ])
            .compute()
            .unwrap()
    });
    assert_eq!(got, vec![vec![json!([10, 20]), json!(20), json!("y")]]);
}

#[test]
fn pluck_many_of_a_missing_key_names_the_key_and_the_record() {
    let b = db::from_sequence(vec![json!({"a": 1, "b": 2}), json!({"a": 3})], 1).unwrap();
    for err in [
        b.pluck_many(["a", "b"]).compute().unwrap_err().to_string(),
        oxidask_testing::round_trip(|| b.pluck_many(["a", "b"]).compute())
            .unwrap_err()
            .to_string(),
    ] {
        assert!(
            err.contains(r#"pluck ["b"]: key "b" not found in record 1 of partition 0"#),
            "{err}"
        );
    }
    let err = db::from_sequence(vec![vec![1i64]], 1)
        .unwrap()
        .pluck_many([0usize, 4])
        .compute()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("pluck [4]: index 4 out of range (length 1) in record 0 of partition 0"),
        "{err}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Random partitionings: the same as plain loops over all records.
    #[test]
    fn keyed_aggregations_match_loops(
        parts in prop::collection::vec(prop::collection::vec(-20i64..20, 0..8), 1..7),
    ) {
        let all: Vec<i64> = parts.concat();
        // distinct_by: the first record of each key, in order.
        let mut seen = Vec::new();
        let mut want = Vec::new();
        for &x in &all {
            if !seen.contains(&x.rem_euclid(3)) {
                seen.push(x.rem_euclid(3));
                want.push(x);
            }
        }
        let got = both_ways(|| db::from_partitions(parts.clone()).distinct_by(mod3).compute().unwrap());
        prop_assert_eq!(got, want);

        // frequencies_sorted: counts in order of first appearance, then a
        // stable sort by count, largest first.
        let words: Vec<Vec<String>> = parts
            .iter()
            .map(|p| p.iter().map(|x| format!("w{}", x.rem_euclid(5))).collect())
            .collect();
        let mut order: Vec<String> = Vec::new();
        let mut n: HashMap<String, usize> = HashMap::new();
        for w in words.concat() {
            if !n.contains_key(&w) {
                order.push(w.clone());
            }
            *n.entry(w).or_default() += 1;
        }
        let mut want: Vec<(String, usize)> = order.into_iter().map(|w| { let c = n[&w]; (w, c) }).collect();
        want.sort_by_key(|w| std::cmp::Reverse(w.1));
        let got = both_ways(|| db::from_partitions(words.clone()).frequencies_sorted().compute().unwrap());
        prop_assert_eq!(got, want);

        // pluck_many of JSON records.
        let records: Vec<Vec<Json>> = parts
            .iter()
            .map(|p| p.iter().map(|x| json!({"x": x, "sq": x * x, "other": [x]})).collect())
            .collect();
        let want: Vec<Vec<Json>> = all.iter().map(|x| vec![json!(x * x), json!(x)]).collect();
        let got = both_ways(|| db::from_partitions(records.clone()).pluck_many(["sq", "x"]).compute().unwrap());
        prop_assert_eq!(got, want);
    }
}
