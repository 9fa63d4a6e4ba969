//! `fold`, `foldby`, `reduction`, `any`/`all`, `remove`, `try_map_partitions`,
//! `flatten` and `to_textfiles` of bags with
//! `#[oxidask::remote]` functions: data, the same plain and after a round
//! trip through bytes, against plain loops; closures keep running locally.

use oxidask::bag as db;
use oxidask_testing::{both_ways, round_trip};
use proptest::prelude::*;

#[oxidask::remote]
fn add_to(acc: i64, x: i64) -> i64 {
    acc + x
}

#[oxidask::remote]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

#[oxidask::remote]
fn append(acc: String, x: i64) -> String {
    format!("{acc}{x},")
}

#[oxidask::remote]
fn concat(a: String, b: String) -> String {
    a + &b
}

#[oxidask::remote]
fn push(mut acc: Vec<i64>, x: i64) -> Vec<i64> {
    acc.push(x);
    acc
}

#[oxidask::remote]
fn extend(mut a: Vec<i64>, b: Vec<i64>) -> Vec<i64> {
    a.extend(b);
    a
}

#[oxidask::remote]
fn as_i64(x: u64) -> i64 {
    x as i64
}

#[oxidask::remote]
fn last_digit(x: &i64) -> i64 {
    x.rem_euclid(10)
}

#[oxidask::remote]
fn digit_name(x: &i64) -> String {
    format!("d{}", x.rem_euclid(7))
}

#[oxidask::remote]
fn parity(x: &i64) -> u32 {
    x.rem_euclid(2) as u32
}

#[oxidask::remote]
fn is_even(x: &i64) -> bool {
    x % 2 == 0
}

#[oxidask::remote]
fn below_40(x: &i64) -> bool {
    *x < 40
}

#[oxidask::remote]
fn partition_len(xs: Vec<i64>) -> i64 {
    xs.len() as i64
}

#[oxidask::remote]
fn total(xs: Vec<i64>) -> i64 {
    xs.into_iter().sum()
}

// The result pair of a foldby collecting records per digit.
oxidask::bag::register_record!((i64, Vec<i64>), pair);

fn partitioned() -> impl Strategy<Value = Vec<Vec<i64>>> {
    prop::collection::vec(prop::collection::vec(-50i64..50, 0..12), 1..9)
}

/// `f` folded per key, keys in order of first appearance (the oracle of
/// `foldby`: Dask's `reduceby`).
fn per_key<K: PartialEq, A: Clone>(
    xs: &[i64],
    key: impl Fn(&i64) -> K,
    start: impl Fn(i64) -> A,
    f: impl Fn(A, i64) -> A,
) -> Vec<(K, A)> {
    let mut out: Vec<(K, A)> = Vec::new();
    for &x in xs {
        let k = key(&x);
        match out.iter_mut().find(|(g, _)| *g == k) {
            Some((_, a)) => *a = f(a.clone(), x),
            None => out.push((k, start(x))),
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn folds_of_registered_functions_match_loops(parts in partitioned(), split in 2usize..5) {
        let all: Vec<i64> = parts.concat();
        let bag = || db::from_partitions(parts.clone());
        prop_assert_eq!(
            both_ways(|| bag().fold(0i64, add_to, add).compute().unwrap()),
            all.iter().sum::<i64>()
        );
        // Not commutative: partials must combine in bag order.
        let text: String = all.iter().map(|x| format!("{x},")).collect();
        prop_assert_eq!(
            both_ways(|| bag().fold_split(String::new(), append, concat, split).compute().unwrap()),
            text
        );
        prop_assert_eq!(
            both_ways(|| bag()
                .foldby(last_digit, push, Vec::new(), extend, Vec::new())
                .compute()
                .unwrap()),
            per_key(&all, |x| x.rem_euclid(10), |x| vec![x], |mut a, x| {
                a.push(x);
                a
            })
        );
        prop_assert_eq!(
            both_ways(|| bag().foldby(digit_name, add_to, 0, add, 0).compute().unwrap()),
            per_key(&all, |x| format!("d{}", x.rem_euclid(7)), |x| x, |a, x| a + x)
        );
        // Without initial values: a key's first record starts it.
        prop_assert_eq!(
            both_ways(|| bag().foldby_from_first(digit_name, add, add).compute().unwrap()),
            per_key(&all, |x| format!("d{}", x.rem_euclid(7)), |x| x, |a, x| a + x)
        );
        prop_assert_eq!(
            both_ways(|| bag().any(is_even).compute().unwrap()),
            all.iter().any(|x| x % 2 == 0)
        );
        prop_assert_eq!(
            both_ways(|| bag().all(below_40).compute().unwrap()),
            all.iter().all(|x| *x < 40)
        );
        prop_assert_eq!(
            both_ways(|| bag().reduction(partition_len, total).compute().unwrap()),
            all.len() as i64
        );
        prop_assert_eq!(
            both_ways(|| bag().remove(is_even).compute().unwrap()),
            all.iter().copied().filter(|x| x % 2 != 0).collect::<Vec<_>>()
        );
    }
}

#[test]
fn closure_folds_run_locally_and_say_what_to_register() {
    let bag = db::range(20, 3).unwrap();
    let fold = bag.fold(0u64, |a, x| a + x, |a, b| a + b);
    assert_eq!(fold.compute().unwrap(), 190);
    let e = round_trip(|| fold.compute()).unwrap_err().to_string();
    assert!(e.contains("#[oxidask::remote]"), "{e}");
    let by = bag.foldby(|x| x % 3, |a, x| a + x, 0u64, |a, b| a + b, 0);
    assert_eq!(by.compute().unwrap(), vec![(0, 63), (1, 70), (2, 57)]);
    assert!(round_trip(|| by.compute()).is_err());
    assert!(!bag.any(|x| *x > 100).compute().unwrap());
    assert_eq!(bag.remove(|x| *x >= 2).compute().unwrap(), vec![0, 1]);
}

#[test]
fn a_foldby_into_an_unregistered_pair_says_how_to_register_it() {
    let bag = db::from_partitions(vec![vec![1i64, 2, 3], vec![4]]);
    let by = bag.foldby(parity, add_to, 0, add, 0);
    assert_eq!(by.compute().unwrap(), vec![(1, 4), (0, 6)]);
    let e = round_trip(|| by.compute()).unwrap_err().to_string();
    assert!(e.contains("pair"), "{e}");
}

#[test]
fn an_encoded_fold_graph_is_small_per_task() {
    let item = db::range(1_000, 1_000)
        .unwrap()
        .map(as_i64)
        .fold(0i64, add_to, add);
    let g = item
        .graph()
        .cull(std::slice::from_ref(item.key()))
        .unwrap()
        .to_task_graph()
        .unwrap();
    let bytes = g.to_bytes().unwrap();
    let per_task = bytes.len() / g.len();
    println!("fold: {per_task} bytes per task over {} tasks", g.len());
    assert!(per_task <= 100, "{per_task} bytes per task");
    assert_eq!(round_trip(|| item.compute()).unwrap(), 499_500);
}

#[test]
fn to_textfiles_of_registered_steps_round_trips() {
    let d = oxidask_testing::TempDir::new("bag-write");
    std::fs::remove_dir(&d).unwrap(); // to_textfiles creates it
    let bag = db::range(10, 3).unwrap().map(as_i64).remove(is_even);
    let written = both_ways(|| {
        let paths = bag.to_textfiles(d.join("part-*.txt")).unwrap();
        let text: String = paths
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect();
        (paths.len(), text)
    });
    assert_eq!(written, (3, "1\n3\n5\n7\n9\n".to_string()));
    // A closure step writes here, and its graph does not encode.
    let local = db::range(4, 2).unwrap().map(|x| x * 2);
    assert_eq!(local.to_textfiles(d.join("local")).unwrap().len(), 2);
    let e = round_trip(|| local.to_textfiles(d.join("local"))).unwrap_err();
    assert!(e.to_string().contains("#[oxidask::remote]"), "{e}");
    let _ = std::fs::remove_dir_all(&d);
}

#[oxidask::remote]
fn checked_half(x: i64) -> Result<i64, String> {
    if x % 2 == 0 {
        Ok(x / 2)
    } else {
        Err(format!("{x} is odd"))
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// `try_map` of a registered function: its results, or its first error
    /// naming the record, the same plain and through bytes.
    #[test]
    fn try_map_of_a_registered_function_matches_a_loop(parts in partitioned()) {
        let all: Vec<i64> = parts.concat();
        let bag = || db::from_partitions(parts.clone());
        prop_assert_eq!(
            both_ways(|| bag().filter(is_even).try_map(checked_half).compute().unwrap()),
            all.iter().filter(|x| *x % 2 == 0).map(|x| x / 2).collect::<Vec<_>>()
        );
        // One odd record, at the end of the last partition: the error names it.
        let mut with_odd: Vec<Vec<i64>> = parts.iter().map(|p| p.iter().map(|x| x * 2).collect()).collect();
        let last = with_odd.len() - 1;
        let j = with_odd[last].len();
        with_odd[last].push(7);
        // One bag, so both runs name the same tasks in their errors.
        let odd = db::from_partitions(with_odd).try_map(checked_half);
        let e = both_ways(|| odd.compute().unwrap_err().to_string());
        prop_assert!(e.contains(&format!("record {j} of partition {last}")) && e.contains("7 is odd"), "{}", e);
    }
}

#[oxidask::remote]
fn sum_unless_13(xs: Vec<i64>) -> Result<Vec<i64>, String> {
    if xs.contains(&13) {
        Err(format!("13 among {} records", xs.len()))
    } else {
        Ok(vec![xs.iter().sum()])
    }
}

#[test]
fn try_map_partitions_and_flatten_are_data() {
    let parts = vec![vec![1i64, 2], vec![], vec![3, 4, 5]];
    let got = both_ways(|| {
        db::from_partitions(parts.clone())
            .try_map_partitions(sum_unless_13)
            .compute()
            .unwrap()
    });
    assert_eq!(got, vec![3, 0, 12]);
    let bad = db::from_partitions(vec![vec![1i64], vec![13, 2]]).try_map_partitions(sum_unless_13);
    for err in [
        bad.compute().unwrap_err().to_string(),
        round_trip(|| bad.compute()).unwrap_err().to_string(),
    ] {
        assert!(
            err.contains("partition 1") && err.contains("13 among 2 records"),
            "{err}"
        );
    }
    let words = vec![vec!["a".to_string(), "b".into()], vec![], vec!["c".into()]];
    let got = both_ways(|| {
        db::from_sequence(words.clone(), 2)
            .unwrap()
            .flatten()
            .compute()
            .unwrap()
    });
    assert_eq!(got, vec!["a", "b", "c"]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Random partitionings: flatten is concatenation, and
    /// try_map_partitions runs once per partition, in order.
    #[test]
    fn flatten_and_try_map_partitions_match_loops(
        parts in prop::collection::vec(prop::collection::vec(prop::collection::vec("[a-c]{0,2}", 0..4), 0..5), 1..6),
        numbers in prop::collection::vec(prop::collection::vec(0i64..12, 0..6), 1..7),
    ) {
        let want: Vec<String> = parts.iter().flatten().flatten().cloned().collect();
        let got = both_ways(|| db::from_partitions(parts.clone()).flatten().compute().unwrap());
        prop_assert_eq!(got, want);
        let want: Vec<i64> = numbers.iter().map(|p| p.iter().sum()).collect();
        let got = both_ways(|| db::from_partitions(numbers.clone()).try_map_partitions(sum_unless_13).compute().unwrap());
        prop_assert_eq!(got, want);
    }
}
