//! `accumulate`: Dask's running fold across partitions, against Dask's
//! answers and a plain loop, plain and through bytes with registered
//! functions.

use oxidask::bag as db;
use oxidask_testing::both_ways;
use proptest::prelude::*;

#[oxidask::remote]
fn plus(a: i64, x: i64) -> i64 {
    a + x
}

#[oxidask::remote]
fn bigger(a: i64, x: i64) -> i64 {
    a.max(x)
}

#[oxidask::remote]
fn shift_in(a: i64, x: i64) -> i64 {
    a * 10 + x
}

#[oxidask::remote]
fn joined(acc: String, x: i64) -> String {
    format!("{acc}{x},")
}

// A partition as one record (a `Vec<i64>`), so results show the partitioning.
oxidask::bag::register_record!(Vec<i64>);

/// A partition as one record, so results show the partitioning.
#[oxidask::remote]
fn one(p: Vec<i64>) -> Vec<Vec<i64>> {
    vec![p]
}

#[test]
fn accumulate_gives_dasks_answers() {
    // Dask 2026.8.0: b = db.from_sequence(range(5), npartitions=2)
    // b.accumulate(add) -> [0, 1, 3, 6, 10]
    // b.accumulate(add, initial=-1) -> [-1, -1, 0, 2, 5, 9], partitions
    // [[-1, -1, 0, 2], [5, 9]]
    let b = || db::from_sequence(0..5i64, 2).unwrap();
    let got = both_ways(|| b().accumulate_from_first(plus).compute().unwrap());
    assert_eq!(got, vec![0, 1, 3, 6, 10]);
    let got = both_ways(|| b().accumulate(plus, -1).compute().unwrap());
    assert_eq!(got, vec![-1, -1, 0, 2, 5, 9]);
    let parts = both_ways(|| {
        b().accumulate(plus, -1)
            .map_partitions(one)
            .compute()
            .unwrap()
    });
    assert_eq!(parts, vec![vec![-1, -1, 0, 2], vec![5, 9]]);

    // b = db.from_sequence([3, 1, 4, 1, 5, 9, 2, 6], npartitions=3)
    // b.accumulate(add) -> [3, 4, 8, 9, 14, 23, 25, 31]
    // b.accumulate(lambda a, x: a * 10 + x, initial=0)
    //   -> [0, 3, 31, 314, 3141, 31415, 314159, 3141592, 31415926]
    // b.accumulate(max) -> [3, 3, 4, 4, 5, 9, 9, 9]
    let b = || db::from_sequence([3i64, 1, 4, 1, 5, 9, 2, 6], 3).unwrap();
    let got = both_ways(|| b().accumulate_from_first(plus).compute().unwrap());
    assert_eq!(got, vec![3, 4, 8, 9, 14, 23, 25, 31]);
    let got = both_ways(|| b().accumulate(shift_in, 0).compute().unwrap());
    assert_eq!(
        got,
        vec![0, 3, 31, 314, 3141, 31415, 314159, 3141592, 31415926]
    );
    let got = both_ways(|| b().accumulate_from_first(bigger).compute().unwrap());
    assert_eq!(got, vec![3, 3, 4, 4, 5, 9, 9, 9]);
    // An accumulator of another type than the records.
    let got = both_ways(|| {
        db::from_sequence([1i64, 2, 3], 2)
            .unwrap()
            .accumulate(joined, String::new())
            .compute()
            .unwrap()
    });
    assert_eq!(got, vec!["", "1,", "1,2,", "1,2,3,"]);
}

#[test]
fn empty_partitions_pass_the_running_value_on() {
    // Dask's accumulate_part returns a 3-tuple for an empty first partition
    // (its second item is [], not the initial value); here an empty
    // partition passes the running value on, wherever it is.
    let parts = vec![vec![], vec![2i64, 3], vec![], vec![], vec![4], vec![]];
    let got = both_ways(|| {
        db::from_partitions(parts.clone())
            .accumulate(plus, 10)
            .map_partitions(one)
            .compute()
            .unwrap()
    });
    assert_eq!(
        got,
        vec![vec![10], vec![12, 15], vec![], vec![], vec![19], vec![]]
    );
    let got = both_ways(|| {
        db::from_partitions(parts.clone())
            .accumulate_from_first(plus)
            .compute()
            .unwrap()
    });
    assert_eq!(got, vec![2, 5, 9]);
    // An empty bag: just the initial value, or nothing.
    let empty = || db::from_partitions(Vec::<Vec<i64>>::new());
    assert_eq!(
        both_ways(|| empty().accumulate(plus, 7).compute().unwrap()),
        vec![7]
    );
    assert!(both_ways(|| empty().accumulate_from_first(plus).compute().unwrap()).is_empty());
}

#[test]
fn closures_accumulate_locally_and_panics_name_the_record() {
    let b = db::from_sequence(["a", "bb", "ccc"].map(String::from), 2).unwrap();
    let lengths = b.accumulate(|n: usize, s: String| n + s.len(), 0usize);
    assert_eq!(lengths.compute().unwrap(), vec![0, 1, 3, 6]);
    let err = b
        .accumulate(
            |n: usize, s: String| {
                assert!(s != "ccc", "no ccc here");
                n + s.len()
            },
            0,
        )
        .compute()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("record 0 of partition 1") && err.contains("no ccc here"),
        "{err}"
    );
}

/// The oracle: a plain running fold over all records.
fn scan(xs: &[i64], initial: Option<i64>, f: impl Fn(i64, i64) -> i64) -> Vec<i64> {
    let mut out: Vec<i64> = initial.into_iter().collect();
    let mut acc = initial;
    for &x in xs {
        let next = match acc {
            Some(a) => f(a, x),
            None => x,
        };
        out.push(next);
        acc = Some(next);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Random partitionings (empty ones included): the same records as a
    /// plain loop, and each partition holds its own records' running values
    /// (the first one the initial value too).
    #[test]
    fn accumulate_matches_a_plain_loop(
        parts in prop::collection::vec(prop::collection::vec(-1000i64..1000, 0..7), 1..9),
        initial in -50i64..50,
    ) {
        let all: Vec<i64> = parts.concat();
        let got = both_ways(|| {
            db::from_partitions(parts.clone()).accumulate(plus, initial).map_partitions(one).compute().unwrap()
        });
        prop_assert_eq!(got.len(), parts.len());
        let sizes: Vec<usize> = got.iter().map(Vec::len).collect();
        let mut want_sizes: Vec<usize> = parts.iter().map(Vec::len).collect();
        want_sizes[0] += 1;
        prop_assert_eq!(sizes, want_sizes);
        prop_assert_eq!(got.concat(), scan(&all, Some(initial), |a, x| a + x));
        let got = both_ways(|| {
            db::from_partitions(parts.clone()).accumulate_from_first(bigger).compute().unwrap()
        });
        prop_assert_eq!(got, scan(&all, None, i64::max));
    }
}
