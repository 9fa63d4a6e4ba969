//! Bag against plain iterator pipelines: random records, random
//! partitionings (empty partitions included), on the sync and threaded
//! schedulers. Every aggregation is compared with the sequential result
//! over the concatenated records.

use std::cmp::Reverse;
use std::collections::HashMap;

use oxidask::bag::{self as db, Bag};
use oxidask::prelude::*;
use proptest::prelude::*;

/// Records cut into random partitions, some empty.
fn partitioned<T: std::fmt::Debug + Clone>(
    item: impl Strategy<Value = T> + Clone,
) -> impl Strategy<Value = Vec<Vec<T>>> {
    prop::collection::vec(prop::collection::vec(item, 0..12), 1..9)
}

fn schedulers() -> [(&'static str, ComputeOptions); 2] {
    [
        (
            "sync",
            ComputeOptions::new().scheduler(SchedulerChoice::Sync),
        ),
        (
            "threaded",
            ComputeOptions::new()
                .scheduler(SchedulerChoice::Threaded)
                .num_workers(2),
        ),
    ]
}

fn flat<T: Clone>(parts: &[Vec<T>]) -> Vec<T> {
    parts.concat()
}

/// Frequencies in order of first appearance.
fn frequencies<T: Clone + Eq + std::hash::Hash>(xs: &[T]) -> Vec<(T, usize)> {
    let mut order = Vec::new();
    let mut counts: HashMap<T, usize> = HashMap::new();
    for x in xs {
        let c = counts.entry(x.clone()).or_insert(0);
        if *c == 0 {
            order.push(x.clone());
        }
        *c += 1;
    }
    order
        .into_iter()
        .map(|x| {
            let c = counts[&x];
            (x, c)
        })
        .collect()
}

/// The `k` largest by key, ties by position: a stable sort.
fn topk<T: Clone, K: Ord>(xs: &[T], k: usize, key: impl Fn(&T) -> K) -> Vec<T> {
    let mut v = xs.to_vec();
    v.sort_by_key(|x| Reverse(key(x)));
    v.truncate(k);
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn transforms_match_iterators(parts in partitioned(-50i64..50)) {
        let xs = flat(&parts);
        let b = db::from_partitions(parts.clone());
        let piped = b
            .map(|x| x * 3 + 1)
            .filter(|x| x % 2 == 0)
            .flat_map(|x| std::iter::repeat_n(x, (x.rem_euclid(3)) as usize))
            .remove(|x| *x > 100);
        let expected: Vec<i64> = xs
            .iter()
            .map(|x| x * 3 + 1)
            .filter(|x| x % 2 == 0)
            .flat_map(|x| std::iter::repeat_n(x, (x.rem_euclid(3)) as usize))
            .filter(|x| *x <= 100)
            .collect();
        let pairs = b.map(|x| vec![x, -x]).flatten();
        let expected_pairs: Vec<i64> = xs.iter().flat_map(|x| [*x, -x]).collect();
        let chunks = b.map_partitions(|v| vec![v.len() as i64]);
        let expected_chunks: Vec<i64> = parts.iter().map(|p| p.len() as i64).collect();
        for (name, opts) in schedulers() {
            prop_assert_eq!(&piped.compute_with(&opts).unwrap(), &expected, "{}", name);
            prop_assert_eq!(&pairs.compute_with(&opts).unwrap(), &expected_pairs, "{}", name);
            prop_assert_eq!(&chunks.compute_with(&opts).unwrap(), &expected_chunks, "{}", name);
            prop_assert_eq!(&b.compute_with(&opts).unwrap(), &xs, "{}", name);
        }
    }

    #[test]
    fn aggregations_match_iterators(parts in partitioned(-20i64..20), k in 0usize..6) {
        let xs = flat(&parts);
        let b = db::from_partitions(parts.clone());
        let n = xs.len();
        for (name, opts) in schedulers() {
            prop_assert_eq!(b.count().compute_with(&opts).unwrap(), n, "{}", name);
            prop_assert_eq!(b.sum().compute_with(&opts).unwrap(), xs.iter().sum::<i64>(), "{}", name);
            match xs.iter().min() {
                Some(m) => prop_assert_eq!(&b.min().compute_with(&opts).unwrap(), m),
                None => prop_assert!(b.min().compute_with(&opts).is_err()),
            }
            if let Some(m) = xs.iter().max() {
                prop_assert_eq!(&b.max().compute_with(&opts).unwrap(), m);
            }
            let mean = b.mean().compute_with(&opts).unwrap();
            let var = b.var(1).compute_with(&opts).unwrap();
            if n > 0 {
                let m = xs.iter().sum::<i64>() as f64 / n as f64;
                prop_assert!((mean - m).abs() < 1e-9, "{} mean {} vs {}", name, mean, m);
                if n > 1 {
                    let v = xs.iter().map(|x| (*x as f64 - m).powi(2)).sum::<f64>() / (n - 1) as f64;
                    prop_assert!((var - v).abs() < 1e-9 * v.max(1.0), "{} var {} vs {}", name, var, v);
                } else {
                    prop_assert!(var.is_nan());
                }
            } else {
                prop_assert!(mean.is_nan());
            }
            prop_assert_eq!(b.any(|x| *x > 15).compute_with(&opts).unwrap(), xs.iter().any(|x| *x > 15));
            prop_assert_eq!(b.all(|x| *x > -15).compute_with(&opts).unwrap(), xs.iter().all(|x| *x > -15));
            prop_assert_eq!(
                b.fold_split(0i64, |a, x| a + x * x, |a, c| a + c, 2).compute_with(&opts).unwrap(),
                xs.iter().map(|x| x * x).sum::<i64>()
            );
            prop_assert_eq!(
                b.reduction(|v| v.len(), |c| c.into_iter().sum()).compute_with(&opts).unwrap(),
                n
            );
            prop_assert_eq!(
                b.map(|x| x.rem_euclid(7)).frequencies().compute_with(&opts).unwrap(),
                frequencies(&xs.iter().map(|x| x.rem_euclid(7)).collect::<Vec<_>>())
            );
            let mut seen = std::collections::HashSet::new();
            let distinct: Vec<i64> = xs.iter().filter(|x| seen.insert(**x)).copied().collect();
            prop_assert_eq!(b.distinct().compute_with(&opts).unwrap(), distinct);
            // ties are frequent: |x| / 5 has only a few values
            prop_assert_eq!(
                b.topk(k, |x| x.abs() / 5).compute_with(&opts).unwrap(),
                topk(&xs, k, |x| x.abs() / 5)
            );
            let mut by_key: Vec<(i64, i64)> = Vec::new();
            for x in &xs {
                match by_key.iter_mut().find(|(kk, _)| *kk == x.rem_euclid(3)) {
                    Some((_, s)) => *s += x,
                    None => by_key.push((x.rem_euclid(3), *x)),
                }
            }
            prop_assert_eq!(
                b.foldby(|x| x.rem_euclid(3), 0i64, |a, x| a + x, 0i64, |a, c| a + c)
                    .compute_with(&opts)
                    .unwrap(),
                by_key
            );
            prop_assert_eq!(b.take_with(k * 3, &opts).unwrap(), xs.iter().take(k * 3).copied().collect::<Vec<_>>());
        }
    }

    #[test]
    fn repartition_keeps_records_in_order(parts in partitioned(0u32..1000), n in 1usize..20) {
        let xs = flat(&parts);
        let b = db::from_partitions(parts).map(|x| x + 1);
        let r = b.repartition(n).unwrap();
        prop_assert_eq!(r.npartitions(), n);
        let expected: Vec<u32> = xs.iter().map(|x| x + 1).collect();
        for (name, opts) in schedulers() {
            prop_assert_eq!(&r.compute_with(&opts).unwrap(), &expected, "{}", name);
            prop_assert_eq!(r.count().compute_with(&opts).unwrap(), xs.len(), "{}", name);
        }
    }

    #[test]
    fn word_frequencies_topk_match(words in prop::collection::vec("[abc]{1,2}", 0..60), np in 1usize..7) {
        let b: Bag<String> = db::from_sequence(words.clone(), np).unwrap();
        let freq = frequencies(&words);
        let expected = topk(&freq, 3, |(w, c)| (*c, Reverse(w.clone())));
        for (name, opts) in schedulers() {
            let got = b.frequencies().topk(3, |(w, c)| (*c, Reverse(w.clone()))).compute_with(&opts).unwrap();
            prop_assert_eq!(&got, &expected, "{}", name);
        }
    }
}

#[test]
fn sequences_and_ranges_partition_as_documented() {
    let b = db::from_sequence(0..10u32, 4).unwrap();
    assert_eq!(b.npartitions(), 4);
    let b = db::from_sequence_by_size(0..10u32, 3).unwrap();
    assert_eq!(b.npartitions(), 4);
    assert_eq!(b.compute().unwrap(), (0..10).collect::<Vec<_>>());
    let r = db::range(10, 3).unwrap();
    assert_eq!(r.compute().unwrap(), (0..10).collect::<Vec<_>>());
    assert_eq!(db::range(3, 5).unwrap().count().compute().unwrap(), 3);
    assert!(db::from_sequence(0..3u32, 0).is_err());
}
