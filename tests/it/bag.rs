//! Bag against plain iterator pipelines: random records, random
//! partitionings (empty partitions included), on the sync and threaded
//! schedulers. Every aggregation is compared with the sequential result
//! over the concatenated records.

use std::cmp::Reverse;
use std::collections::HashMap;

use oxidask::bag::{self as db, Bag};
use oxidask::prelude::*;
use oxidask_testing::both_ways;
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

#[oxidask::remote]
fn times3_plus1(x: i64) -> i64 {
    x * 3 + 1
}

#[oxidask::remote]
fn even(x: &i64) -> bool {
    x % 2 == 0
}

#[oxidask::remote]
fn repeat_by_mod3(x: i64) -> Vec<i64> {
    std::iter::repeat_n(x, x.rem_euclid(3) as usize).collect()
}

#[oxidask::remote]
fn above_100(x: &i64) -> bool {
    *x > 100
}

#[oxidask::remote]
fn partition_len(v: Vec<i64>) -> Vec<i64> {
    vec![v.len() as i64]
}

#[oxidask::remote]
fn above_15(x: &i64) -> bool {
    *x > 15
}

#[oxidask::remote]
fn above_minus_15(x: &i64) -> bool {
    *x > -15
}

#[oxidask::remote]
fn add_square(acc: i64, x: i64) -> i64 {
    acc + x * x
}

#[oxidask::remote]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

#[oxidask::remote]
fn count_records(v: Vec<i64>) -> usize {
    v.len()
}

#[oxidask::remote]
fn total(counts: Vec<usize>) -> usize {
    counts.into_iter().sum()
}

#[oxidask::remote]
fn mod7(x: i64) -> i64 {
    x.rem_euclid(7)
}

#[oxidask::remote]
fn mod3(x: &i64) -> i64 {
    x.rem_euclid(3)
}

#[oxidask::remote]
fn fifth(x: &i64) -> i64 {
    x.abs() / 5
}

#[oxidask::remote]
fn plus_one(x: u32) -> u32 {
    x + 1
}

#[oxidask::remote]
fn by_count_then_word(x: &(String, usize)) -> (usize, Reverse<String>) {
    (x.1, Reverse(x.0.clone()))
}

// The result of a foldby by `i64` keys with `i64` sums.
oxidask::bag::register_record!((i64, i64), pair);

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    /// Registered steps are data: each run plain and through bytes; the
    /// closure pipelines (and `flatten`) run locally.
    #[test]
    fn transforms_match_iterators(parts in partitioned(-50i64..50)) {
        let xs = flat(&parts);
        let b = db::from_partitions(parts.clone());
        let piped = b
            .map(times3_plus1)
            .filter(even)
            .flat_map(repeat_by_mod3)
            .remove(above_100);
        let closures = b
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
        let chunks = b.map_partitions(partition_len);
        let expected_chunks: Vec<i64> = parts.iter().map(|p| p.len() as i64).collect();
        for (name, opts) in schedulers() {
            prop_assert_eq!(&both_ways(|| piped.compute_with(&opts).unwrap()), &expected, "{}", name);
            prop_assert_eq!(&closures.compute_with(&opts).unwrap(), &expected, "{}", name);
            prop_assert_eq!(&pairs.compute_with(&opts).unwrap(), &expected_pairs, "{}", name);
            prop_assert_eq!(&both_ways(|| chunks.compute_with(&opts).unwrap()), &expected_chunks, "{}", name);
            prop_assert_eq!(&both_ways(|| b.compute_with(&opts).unwrap()), &xs, "{}", name);
        }
    }

    /// Every aggregation with registered functions, plain and through bytes.
    #[test]
    fn aggregations_match_iterators(parts in partitioned(-20i64..20), k in 0usize..6) {
        let xs = flat(&parts);
        let b = db::from_partitions(parts.clone());
        let n = xs.len();
        for (name, opts) in schedulers() {
            let run = |f: &dyn Fn(&ComputeOptions) -> String| both_ways(|| f(&opts));
            prop_assert_eq!(both_ways(|| b.count().compute_with(&opts).unwrap()), n, "{}", name);
            prop_assert_eq!(both_ways(|| b.sum().compute_with(&opts).unwrap()), xs.iter().sum::<i64>(), "{}", name);
            match xs.iter().min() {
                Some(m) => prop_assert_eq!(&both_ways(|| b.min().compute_with(&opts).unwrap()), m),
                None => prop_assert!(b.min().compute_with(&opts).is_err()),
            }
            match xs.iter().max() {
                Some(m) => prop_assert_eq!(&both_ways(|| b.max().compute_with(&opts).unwrap()), m),
                None => {
                    let err = run(&|o| b.max().compute_with(o).unwrap_err().to_string());
                    prop_assert!(err.contains("max of an empty bag"), "{}", err);
                }
            }
            let var = both_ways(|| b.var(1.0).compute_with(&opts).unwrap().to_bits());
            let var = f64::from_bits(var);
            if n > 0 {
                let mean = both_ways(|| b.mean().compute_with(&opts).unwrap().to_bits());
                let mean = f64::from_bits(mean);
                let m = xs.iter().sum::<i64>() as f64 / n as f64;
                prop_assert!((mean - m).abs() < 1e-9, "{} mean {} vs {}", name, mean, m);
                if n > 1 {
                    let v = xs.iter().map(|x| (*x as f64 - m).powi(2)).sum::<f64>() / (n - 1) as f64;
                    prop_assert!((var - v).abs() < 1e-9 * v.max(1.0), "{} var {} vs {}", name, var, v);
                } else {
                    prop_assert!(var.is_nan());
                }
            } else {
                let err = run(&|o| b.mean().compute_with(o).unwrap_err().to_string());
                prop_assert!(err.contains("mean of an empty bag"), "{}", err);
                prop_assert!(var.is_nan());
            }
            prop_assert_eq!(
                both_ways(|| b.any(above_15).compute_with(&opts).unwrap()),
                xs.iter().any(|x| *x > 15)
            );
            prop_assert_eq!(
                both_ways(|| b.all(above_minus_15).compute_with(&opts).unwrap()),
                xs.iter().all(|x| *x > -15)
            );
            prop_assert_eq!(
                both_ways(|| b.fold_split(0i64, add_square, add, 2).compute_with(&opts).unwrap()),
                xs.iter().map(|x| x * x).sum::<i64>()
            );
            prop_assert_eq!(
                both_ways(|| b.reduction(count_records, total).compute_with(&opts).unwrap()),
                n
            );
            prop_assert_eq!(
                both_ways(|| b.map(mod7).frequencies().compute_with(&opts).unwrap()),
                frequencies(&xs.iter().map(|x| x.rem_euclid(7)).collect::<Vec<_>>())
            );
            let mut seen = std::collections::HashSet::new();
            let distinct: Vec<i64> = xs.iter().filter(|x| seen.insert(**x)).copied().collect();
            prop_assert_eq!(both_ways(|| b.distinct().compute_with(&opts).unwrap()), distinct);
            // ties are frequent: |x| / 5 has only a few values
            prop_assert_eq!(
                both_ways(|| b.topk(k, fifth).compute_with(&opts).unwrap()),
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
                both_ways(|| b.foldby(mod3, add, 0i64, add, 0i64).compute_with(&opts).unwrap()),
                by_key
            );
            prop_assert_eq!(
                both_ways(|| b.take_in_with(k * 3, db::TakeFrom::All, &opts).unwrap()),
                xs.iter().take(k * 3).copied().collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn repartition_keeps_records_in_order(parts in partitioned(0u32..1000), n in 1usize..20) {
        let xs = flat(&parts);
        let b = db::from_partitions(parts).map(plus_one);
        let r = b.repartition(n).unwrap();
        prop_assert_eq!(r.npartitions(), n);
        let expected: Vec<u32> = xs.iter().map(|x| x + 1).collect();
        for (name, opts) in schedulers() {
            prop_assert_eq!(&both_ways(|| r.compute_with(&opts).unwrap()), &expected, "{}", name);
            prop_assert_eq!(both_ways(|| r.count().compute_with(&opts).unwrap()), xs.len(), "{}", name);
        }
    }

    #[test]
    fn word_frequencies_topk_match(words in prop::collection::vec("[abc]{1,2}", 0..60), np in 1usize..7) {
        let b: Bag<String> = db::from_sequence(words.clone(), np).unwrap();
        let freq = frequencies(&words);
        let expected = topk(&freq, 3, |(w, c)| (*c, Reverse(w.clone())));
        for (name, opts) in schedulers() {
            let got = both_ways(|| b.frequencies().topk(3, by_count_then_word).compute_with(&opts).unwrap());
            prop_assert_eq!(&got, &expected, "{}", name);
            // A closure key still runs here.
            let local = b.frequencies().topk(3, |(w, c)| (*c, Reverse(w.clone()))).compute_with(&opts).unwrap();
            prop_assert_eq!(&local, &expected, "{}", name);
        }
    }
}

/// One partition of `n` records: ascending, descending, or few distinct
/// values in a pseudo-random order (many ties).
fn generated_partition(n: usize, seed: u64, order: u8) -> Vec<i64> {
    let base = (seed % 5000) as i64;
    let mut state = seed | 1;
    (0..n as i64)
        .map(|j| match order {
            0 => base + j,
            1 => base - j,
            _ => {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state % 40) as i64
            }
        })
        .collect()
}

/// Partitions past `topk`'s buffer pruning (it starts at 1,024 records, or
/// 2k): sizes at and around multiples of it, uneven, empty ones.
fn large_partitioned() -> impl Strategy<Value = Vec<Vec<i64>>> {
    let size = prop_oneof![
        Just(0usize),
        1usize..40,
        Just(1023usize),
        Just(1024usize),
        Just(1025usize),
        Just(2048usize),
        Just(3072usize),
        900usize..3100,
    ];
    prop::collection::vec((size, any::<u64>(), 0u8..3), 1..5).prop_map(|specs| {
        specs
            .into_iter()
            .map(|(n, seed, order)| generated_partition(n, seed, order))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn topk_of_large_partitions_matches_a_stable_sort(
        parts in large_partitioned(),
        k in prop_oneof![0usize..8, Just(511usize), Just(600usize), 1000usize..1100],
    ) {
        let xs = flat(&parts);
        let npart = parts.iter().map(Vec::len).max().unwrap_or(0);
        prop_assume!(npart >= 1024 || k >= 512, "nothing past the pruning size");
        let b = db::from_partitions(parts.clone());
        for (name, opts) in schedulers() {
            prop_assert_eq!(
                b.topk(k, |x| *x).compute_with(&opts).unwrap(),
                topk(&xs, k, |x| *x),
                "{} by value", name
            );
            // Ties by position: the key has few values.
            prop_assert_eq!(
                b.topk(k, |x| x.rem_euclid(7)).compute_with(&opts).unwrap(),
                topk(&xs, k, |x| x.rem_euclid(7)),
                "{} by x mod 7", name
            );
        }
    }
}

#[test]
fn topk_of_ranges_past_the_pruning_size() {
    // The shape a buffer pruned one short got wrong: top 5 of 3000 records
    // came back [2999, 2998, 2997, 2996, 955].
    for np in [1, 2, 3, 5] {
        for b in [
            db::range(3000, np).unwrap(),
            db::from_sequence(0..3000u64, np).unwrap(),
        ] {
            assert_eq!(
                b.topk(5, |x| *x).compute().unwrap(),
                vec![2999, 2998, 2997, 2996, 2995],
                "{np} partitions"
            );
            // Descending: the top records are the first ones, kept through
            // every prune of the buffer.
            let desc = b.map(|x| 2999 - x);
            assert_eq!(
                desc.topk(5, |x| *x).compute().unwrap(),
                vec![2999, 2998, 2997, 2996, 2995],
                "{np} partitions, descending"
            );
            assert_eq!(
                desc.topk(3, |x| Reverse(*x)).compute().unwrap(),
                vec![0, 1, 2],
                "{np} partitions, smallest"
            );
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

// ---------------------------------------------------------------- groupby

mod groupby {
    use std::collections::HashMap;
    use std::hash::Hash;
    use std::path::{Path, PathBuf};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use oxidask::bag::{self as db, Bag, GroupbyOptions};
    use oxidask::config::{Config, with_config};
    use oxidask::prelude::*;
    use oxidask::scheduler::{Callback, Event};
    use proptest::prelude::*;
    use proptest::test_runner::TestRunner;

    /// A fresh, empty directory for one test's spill and shuffle files.
    fn fresh_dir(name: &str) -> oxidask_testing::TempDir {
        oxidask_testing::TempDir::new(name)
    }

    fn is_empty(dir: &Path) -> bool {
        std::fs::read_dir(dir).unwrap().next().is_none()
    }

    /// What one run did: its largest single result, the most bytes it held
    /// at once, and the results it spilled.
    #[derive(Default)]
    struct Held {
        largest: AtomicUsize,
        peak: AtomicUsize,
        spilled: AtomicUsize,
    }

    impl Callback for Held {
        fn on_event(&self, e: &Event<'_>) {
            match e {
                Event::TaskFinished { nbytes, .. } => {
                    self.largest.fetch_max(*nbytes, Ordering::SeqCst);
                }
                Event::Finished {
                    peak_held_bytes,
                    memory,
                    ..
                } => {
                    self.peak.store(*peak_held_bytes, Ordering::SeqCst);
                    self.spilled.store(memory.spilled, Ordering::SeqCst);
                }
                _ => {}
            }
        }
    }

    /// Of the runs under a memory limit, how many spilled.
    #[derive(Default)]
    struct SpillTally {
        limited: AtomicUsize,
        spilled: AtomicUsize,
    }

    impl SpillTally {
        /// Prints the fraction and fails below `at_least`.
        fn report(&self, test: &str, at_least: f64) {
            let (l, s) = (
                self.limited.load(Ordering::SeqCst),
                self.spilled.load(Ordering::SeqCst),
            );
            let fraction = s as f64 / l.max(1) as f64;
            println!("{test}: {s} of {l} memory-limited runs spilled ({fraction:.2})");
            assert!(
                l > 0 && fraction >= at_least,
                "{test}: only {s} of {l} limited runs spilled"
            );
        }
    }

    /// Sync and threaded, without a limit and with one chosen to spill: a
    /// first unlimited run on the sync scheduler measures the largest
    /// single result and the peak bytes held, and the limit sits a quarter
    /// of the way between (a result larger than the limit alone is an
    /// error), with room over the largest for the shuffle's file indexes
    /// (one per input, listing every output). When the peak is not over that (one output
    /// partition, little data), no limit can make the store spill; the run
    /// still counts as limited.
    /// `check` is called with every run's output partitions.
    fn run_all<R: PartialEq + std::fmt::Debug>(
        dir: &Path,
        tally: &SpillTally,
        (inputs, outputs): (usize, usize),
        run: impl Fn(&ComputeOptions) -> R,
        check: impl Fn(&str, &R) -> Result<(), TestCaseError>,
    ) -> Result<(), TestCaseError> {
        let base = |sched: SchedulerChoice, limit: Option<usize>, cb: Arc<Held>| {
            ComputeOptions::new()
                .scheduler(sched)
                .num_workers(2)
                .memory_limit(limit)
                .spill_dir(dir)
                .callback(cb)
        };
        let probe = Arc::new(Held::default());
        let reference = run(&base(SchedulerChoice::Sync, None, probe.clone()));
        check("sync, no limit", &reference)?;
        prop_assert!(is_empty(dir), "files left in {}", dir.display());
        prop_assert_eq!(probe.spilled.load(Ordering::SeqCst), 0);
        let largest = probe.largest.load(Ordering::SeqCst);
        let peak = probe.peak.load(Ordering::SeqCst);
        // Headroom over the largest result: the shuffle's file indexes
        // (64 + 32 B per output partition, for each input, and the barrier's
        // list of them) have no byte encoding and cannot be spilled, so a
        // limit below them is an error.
        let headroom = (inputs + 1) * (128 + 32 * outputs);
        let limit = largest + ((peak - largest.min(peak)) / 4).max(headroom);
        // Over the limit by more than the writer's backlog (a quarter of
        // the limit): `put` waits for the spill, which cannot be discarded.
        let must_spill = peak > limit + limit / 4 + 1024;
        for (s, sched) in [
            ("sync", SchedulerChoice::Sync),
            ("threaded", SchedulerChoice::Threaded),
        ] {
            for limit in [None, Some(limit)] {
                let name = format!("{s}, limit {limit:?} (largest {largest}, peak {peak})");
                let held = Arc::new(Held::default());
                let got = run(&base(sched.clone(), limit, held.clone()));
                check(&name, &got)?;
                // The same partitioning on every scheduler and limit.
                prop_assert_eq!(&reference, &got, "{} differs", name);
                prop_assert!(is_empty(dir), "{}: files left in {}", name, dir.display());
                let spilled = held.spilled.load(Ordering::SeqCst);
                if limit.is_some() {
                    tally.limited.fetch_add(1, Ordering::SeqCst);
                    if spilled > 0 {
                        tally.spilled.fetch_add(1, Ordering::SeqCst);
                    }
                    // The sync run repeats the probe's order: over the
                    // limit at the same moment, so it must spill.
                    if must_spill && s == "sync" {
                        prop_assert!(spilled > 0, "{}: nothing spilled", name);
                    }
                }
            }
        }
        Ok(())
    }

    /// Checks one groupby result, partition by partition, against a plain
    /// HashMap grouping of the records in order: every key exactly once,
    /// its records complete and in input order, groups within a partition
    /// in order of first appearance.
    fn check<K, T>(
        got: &[Vec<(K, Vec<T>)>],
        xs: &[T],
        key: impl Fn(&T) -> K,
        m: usize,
    ) -> Result<(), TestCaseError>
    where
        K: Eq + Hash + Clone + std::fmt::Debug,
        T: PartialEq + Clone + std::fmt::Debug,
    {
        let mut oracle: HashMap<K, Vec<T>> = HashMap::new();
        let mut first: HashMap<K, usize> = HashMap::new();
        for (n, x) in xs.iter().enumerate() {
            let k = key(x);
            first.entry(k.clone()).or_insert(n);
            oracle.entry(k).or_default().push(x.clone());
        }
        prop_assert_eq!(got.len(), m, "number of output partitions");
        let mut seen = 0usize;
        let nkeys = oracle.len();
        for (p, part) in got.iter().enumerate() {
            let mut last = None;
            // Balanced within reason: with many keys per partition, each
            // holds its binomial share within 5.5 standard deviations.
            if m > 1 && nkeys >= 40 * m {
                let mean = nkeys as f64 / m as f64;
                let sd = (mean * (1.0 - 1.0 / m as f64)).sqrt();
                prop_assert!(
                    (part.len() as f64 - mean).abs() <= 5.5 * sd + 2.0,
                    "partition {} holds {} of {} keys ({} partitions)",
                    p,
                    part.len(),
                    nkeys,
                    m
                );
            }
            for (k, records) in part {
                // Placed where its hash says.
                prop_assert_eq!(
                    db::groupby_partition(k, m),
                    p,
                    "key {:?} in the wrong partition",
                    k
                );
                let expected = oracle.remove(k);
                prop_assert!(expected.is_some(), "key {:?} twice or unknown", k);
                prop_assert_eq!(records, &expected.unwrap(), "records of key {:?}", k);
                let f = first[k];
                prop_assert!(
                    last < Some(f),
                    "group {:?} out of first-appearance order",
                    k
                );
                last = Some(f);
                seen += records.len();
            }
        }
        prop_assert!(
            oracle.is_empty(),
            "keys missing: {:?}",
            oracle.keys().collect::<Vec<_>>()
        );
        prop_assert_eq!(seen, xs.len());
        Ok(())
    }

    /// The groupby's output partitions as they are.
    fn partitions<K: db::Record, T: db::Record>(
        g: &Bag<(K, Vec<T>)>,
        opts: &ComputeOptions,
    ) -> Vec<Vec<(K, Vec<T>)>> {
        g.map_partitions(|p| vec![p]).compute_with(opts).unwrap()
    }

    type Rec = (u16, String);

    fn rec() -> impl Strategy<Value = Rec> {
        (0u16..400, "[a-d]{0,3}[a-z ]{0,40}")
    }

    #[test]
    fn groups_match_a_hashmap() {
        let tally = SpillTally::default();
        let strategy = (
            // Mostly partitions large enough to spill; some empty or tiny.
            prop::collection::vec(
                prop_oneof![
                    1 => prop::collection::vec(rec(), 0..3),
                    4 => prop::collection::vec(rec(), 20..200),
                ],
                1..9,
            ),
            1u16..300,
            prop::option::of(1usize..10),
        );
        let mut runner = TestRunner::new(ProptestConfig {
            failure_persistence: None,
            ..ProptestConfig::with_cases(24)
        });
        let result = runner.run(&strategy, |(parts, modulus, m)| {
            let xs: Vec<Rec> = parts.concat();
            let np = parts.len();
            let dir = fresh_dir("prop");
            let mut gopts = GroupbyOptions::new().shuffle_dir(&dir);
            if let Some(m) = m {
                gopts = gopts.npartitions(m);
            }
            let m = m.unwrap_or(np);
            let stored = db::from_partitions(parts.clone());
            // Keyed by a number, straight from stored partitions.
            let by_num = stored
                .groupby_with(move |r: &Rec| r.0 % modulus, &gopts)
                .unwrap();
            run_all(
                &dir,
                &tally,
                (np, m),
                |opts| partitions(&by_num, opts),
                |name, got| {
                    check(got, &xs, |r| r.0 % modulus, m)
                        .map_err(|e| TestCaseError::fail(format!("{name}: {e}")))
                },
            )?;
            // Keyed by a string, with a pipeline run inside the split.
            let piped = stored.filter(|r| r.0 % 7 != 3).map(|(n, s)| (n + 1, s));
            let xs_piped: Vec<Rec> = xs
                .iter()
                .filter(|r| r.0 % 7 != 3)
                .map(|(n, s)| (n + 1, s.clone()))
                .collect();
            let by_str = piped
                .groupby_with(|r: &Rec| r.1[..r.1.len().min(3)].to_string(), &gopts)
                .unwrap();
            run_all(
                &dir,
                &tally,
                (np, m),
                |opts| partitions(&by_str, opts),
                |name, got| {
                    check(got, &xs_piped, |r| r.1[..r.1.len().min(3)].to_string(), m)
                        .map_err(|e| TestCaseError::fail(format!("{name}: {e}")))
                },
            )?;
            std::fs::remove_dir(&dir).unwrap();
            Ok(())
        });
        if let Err(e) = result {
            panic!("{e}");
        }
        tally.report("groups_match_a_hashmap", 0.5);
    }

    #[test]
    fn grouping_a_generated_range() {
        let tally = SpillTally::default();
        let strategy = (
            prop_oneof![1 => 0u64..100, 9 => 2000u64..12_000],
            prop_oneof![1 => Just(1usize), 9 => 2usize..6],
            1u64..2000,
        );
        let mut runner = TestRunner::new(ProptestConfig {
            failure_persistence: None,
            ..ProptestConfig::with_cases(24)
        });
        let result = runner.run(&strategy, |(n, np, modulus)| {
            let dir = fresh_dir("range");
            let gopts = GroupbyOptions::new().shuffle_dir(&dir);
            let g = db::range(n, np)
                .unwrap()
                .groupby_with(move |x| x % modulus, &gopts)
                .unwrap();
            prop_assert_eq!(g.npartitions(), np);
            let xs: Vec<u64> = (0..n).collect();
            run_all(
                &dir,
                &tally,
                (np, np),
                |opts| partitions(&g, opts),
                |name, got| {
                    check(got, &xs, |x| x % modulus, np)
                        .map_err(|e| TestCaseError::fail(format!("{name}: {e}")))
                },
            )?;
            // Downstream of the shuffle: sizes per key, as a HashMap count.
            let mut expected: HashMap<u64, usize> = HashMap::new();
            for x in &xs {
                *expected.entry(x % modulus).or_default() += 1;
            }
            let mut expected: Vec<(u64, usize)> = expected.into_iter().collect();
            expected.sort_unstable();
            run_all(
                &dir,
                &tally,
                (np, np),
                |opts| {
                    let mut counts: Vec<(u64, usize)> =
                        g.map(|(k, v)| (k, v.len())).compute_with(opts).unwrap();
                    counts.sort_unstable();
                    counts
                },
                |name, got| {
                    prop_assert_eq!(got, &expected, "{}", name);
                    Ok(())
                },
            )?;
            std::fs::remove_dir(&dir).unwrap();
            Ok(())
        });
        if let Err(e) = result {
            panic!("{e}");
        }
        tally.report("grouping_a_generated_range", 0.5);
    }

    #[test]
    fn keys_spread_evenly_over_partitions() {
        // 1,000 keys into 8 partitions: 125 each on average; the hash is
        // fixed, so this is deterministic. Sending every key to one
        // partition (or a few) fails here at once.
        let g = db::range(20_000, 4)
            .unwrap()
            .groupby_with(|x| x % 1000, &GroupbyOptions::new().npartitions(8))
            .unwrap();
        let sizes: Vec<usize> = g.map_partitions(|p| vec![p.len()]).compute().unwrap();
        assert_eq!(sizes.iter().sum::<usize>(), 1000);
        assert!(sizes.iter().all(|&s| (80..=170).contains(&s)), "{sizes:?}");
    }
    #[test]
    fn spilled_groups_come_back_right_and_leave_no_files() {
        let dir = fresh_dir("spill");
        let xs: Vec<(u32, String)> = (0..6000u32)
            .map(|i| (i * 7 % 101, format!("payload {i}")))
            .collect();
        let b = db::from_sequence(xs.clone(), 6).unwrap();
        // 24 output partitions of ~15 kB: all are results held to the end,
        // ~350 kB in all, over the 64 kB limit.
        let g = b
            .groupby_with(
                |r| r.0,
                &GroupbyOptions::new().npartitions(24).shuffle_dir(&dir),
            )
            .unwrap();
        for sched in [SchedulerChoice::Sync, SchedulerChoice::Threaded] {
            let spilled = Arc::new(oxidask_testing::LastRun::default());
            let opts = ComputeOptions::new()
                .scheduler(sched.clone())
                .memory_limit(Some(64_000))
                .spill_dir(&dir)
                .callback(spilled.clone());
            let got = partitions(&g, &opts);
            check(&got, &xs, |r| r.0, 24).unwrap();
            assert!(spilled.spilled() > 0, "{sched:?}: nothing spilled");
            assert!(is_empty(&dir), "{sched:?}: files left");
        }
        std::fs::remove_dir(&dir).unwrap();
    }

    /// Whether `dir` holds a shuffle directory right now.
    fn has_shuffle_files(dir: &Path) -> bool {
        std::fs::read_dir(dir).is_ok_and(|mut d| {
            d.any(|e| {
                e.is_ok_and(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with("oxidask-shuffle-")
                })
            })
        })
    }

    #[test]
    fn shuffle_files_go_to_the_chosen_or_configured_directory() {
        // The key function runs again in the combine stage, when every
        // file of the shuffle exists: it looks for them.
        let grouped_in = |dir: PathBuf, options: Option<GroupbyOptions>| {
            let saw = Arc::new(AtomicBool::new(false));
            let (s, d) = (saw.clone(), dir.clone());
            let key = move |x: &u32| {
                if has_shuffle_files(&d) {
                    s.store(true, Ordering::SeqCst);
                }
                x % 5
            };
            let b = db::from_sequence(0..100u32, 4).unwrap();
            let g = match options {
                Some(o) => b.groupby_with(key, &o).unwrap(),
                None => b.groupby(key),
            };
            let counts = g.map(|(k, v)| (k, v.len())).compute().unwrap();
            assert_eq!(counts.iter().map(|c| c.1).sum::<usize>(), 100);
            assert!(is_empty(&dir), "files left in {}", dir.display());
            saw.load(Ordering::SeqCst)
        };
        let chosen = fresh_dir("chosen");
        assert!(grouped_in(
            chosen.to_path_buf(),
            Some(GroupbyOptions::new().shuffle_dir(&chosen))
        ));
        // The configured spill dir, when the groupby is built.
        let configured = fresh_dir("configured");
        let config = Config {
            spill_dir: Some(configured.to_path_buf()),
            ..Config::default()
        };
        assert!(with_config(config, || grouped_in(
            configured.to_path_buf(),
            None
        )));
        // Elsewhere: nothing in a directory nobody named.
        let other = fresh_dir("other");
        assert!(!grouped_in(
            other.to_path_buf(),
            Some(GroupbyOptions::new().shuffle_dir(&chosen))
        ));
        for d in [chosen, configured, other] {
            std::fs::remove_dir(&d).unwrap();
        }
    }

    #[test]
    fn a_panicking_key_or_a_failing_record_is_a_clear_error() {
        let dir = fresh_dir("errors");
        let gopts = GroupbyOptions::new().shuffle_dir(&dir);
        let b = db::from_sequence(0..20u32, 4).unwrap();
        let g = b
            .groupby_with(
                |x: &u32| {
                    if *x == 13 {
                        panic!("unlucky {x}")
                    } else {
                        x % 3
                    }
                },
                &gopts,
            )
            .unwrap();
        for sched in [SchedulerChoice::Sync, SchedulerChoice::Threaded] {
            let opts = ComputeOptions::new()
                .scheduler(sched.clone())
                .spill_dir(&dir);
            let err = g.compute_with(&opts).unwrap_err().to_string();
            // 13 is record 3 of partition 2 (partitions of 5).
            assert!(err.contains("record 3 of partition 2"), "{err}");
            assert!(
                err.contains("groupby key function panicked: unlucky 13"),
                "{err}"
            );
            assert!(err.contains("groupby-"), "names the task: {err}");
            assert!(is_empty(&dir), "files left after a panic");
        }

        // A record the pipeline before the groupby cannot parse: file and line.
        let text = fresh_dir("errors-text");
        let file = text.join("numbers.txt");
        std::fs::write(&file, "1\n2\nthree\n4\n").unwrap();
        let g = db::read_text(&file)
            .unwrap()
            .try_map(|s| s.trim_end().parse::<u32>())
            .groupby_with(|x| x % 2, &gopts)
            .unwrap();
        let err = g.compute().unwrap_err().to_string();
        assert!(err.contains("numbers.txt:3: invalid digit"), "{err}");
        assert!(is_empty(&dir), "files left after a failed record");

        let err = b
            .groupby_with(|x| *x, &GroupbyOptions::new().npartitions(0))
            .unwrap_err();
        assert!(
            err.to_string().contains("at least one output partition"),
            "{err}"
        );
        std::fs::remove_dir_all(&text).unwrap();
        std::fs::remove_dir(&dir).unwrap();
    }
}

mod groupby_concurrent {
    use oxidask::bag as db;
    use oxidask::prelude::*;

    /// One groupby bag computed from several threads at once: each run has
    /// its own shuffle files (they share the graph, and with it the
    /// shuffle's directory).
    #[test]
    fn one_groupby_computed_from_threads_at_once() {
        let xs: Vec<u64> = (0..20_000).collect();
        let g = db::from_sequence(xs, 8)
            .unwrap()
            .groupby(|x| x % 97)
            .map(|(k, v)| (k, v.len(), v.iter().sum::<u64>()));
        let mut expected: Vec<(u64, usize, u64)> = (0..97)
            .map(|k| {
                let v: Vec<u64> = (0..20_000).filter(|x| x % 97 == k).collect();
                (k, v.len(), v.iter().sum())
            })
            .collect();
        expected.sort_unstable();
        std::thread::scope(|s| {
            let runs: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        (0..5)
                            .map(|_| {
                                let opts = ComputeOptions::new().scheduler(SchedulerChoice::Sync);
                                g.compute_with(&opts).map_err(|e| e.to_string())
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            for r in runs {
                for got in r.join().unwrap() {
                    let mut got = got.unwrap();
                    got.sort_unstable();
                    assert_eq!(got, expected);
                }
            }
        });
    }
}

/// Bags whose pipelines are data: sources, `#[oxidask::remote]` steps and
/// registered record types run the same plain and after a round trip
/// through bytes; closures stay local and say how to register them.
mod as_data {
    use std::io::Write;
    use std::path::PathBuf;
    use std::sync::Arc;

    use oxidask::bag::{self as db, Bag};
    use oxidask::config::{Config, ShuffleMethod, current, with_config};
    use oxidask::prelude::*;
    use oxidask_testing::{LastRun, both_ways, round_trip};
    use proptest::prelude::*;
    use serde::{Deserialize, Serialize};
    use serde_json::Value as Json;

    #[oxidask::remote]
    fn triple(x: i64) -> i64 {
        x * 3
    }

    #[oxidask::remote]
    fn is_even(x: &i64) -> bool {
        x % 2 == 0
    }

    #[oxidask::remote]
    fn with_neighbour(x: i64) -> Vec<i64> {
        vec![x, x + 1]
    }

    #[oxidask::remote]
    fn reversed(xs: Vec<i64>) -> Vec<i64> {
        xs.into_iter().rev().collect()
    }

    #[oxidask::remote]
    fn as_i64(x: u64) -> i64 {
        x as i64
    }

    /// A user's record type, registered so pipelines over it can leave the
    /// process.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    struct Person {
        name: String,
        age: u32,
    }
    oxidask::bag::register_record!(Person);

    /// Registered nowhere: a pipeline reading it stays in the process.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    struct Unlisted {
        name: String,
    }

    #[oxidask::remote]
    fn person_name(p: Person) -> String {
        p.name
    }

    #[oxidask::remote]
    fn adult(p: &Person) -> bool {
        p.age >= 18
    }

    #[oxidask::remote]
    fn json_name(v: Json) -> String {
        v["name"].as_str().unwrap_or_default().to_string()
    }

    #[oxidask::remote]
    fn unlisted_name(p: Unlisted) -> String {
        p.name
    }

    #[oxidask::remote]
    fn shout(s: String) -> String {
        s.to_uppercase()
    }

    fn partitioned() -> impl Strategy<Value = Vec<Vec<i64>>> {
        prop::collection::vec(prop::collection::vec(-50i64..50, 0..12), 1..9)
    }

    fn dir(name: &str) -> oxidask_testing::TempDir {
        oxidask_testing::TempDir::new(name)
    }

    fn people(n: usize, seed: u64) -> Vec<Person> {
        (0..n)
            .map(|i| Person {
                name: format!("p{}", (i as u64 * 7 + seed) % 13),
                age: ((i as u64 * 11 + seed) % 40) as u32,
            })
            .collect()
    }

    /// Writes `people` as JSON lines to `name` (gzipped for `.gz`).
    fn write_people(dir: &std::path::Path, name: &str, people: &[Person]) -> PathBuf {
        let path = dir.join(name);
        let mut text = String::new();
        for p in people {
            text.push_str(&serde_json::to_string(p).unwrap());
            text.push('\n');
        }
        let mut f = std::fs::File::create(&path).unwrap();
        if name.ends_with(".gz") {
            let mut gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
            gz.write_all(text.as_bytes()).unwrap();
            gz.finish().unwrap();
        } else {
            f.write_all(text.as_bytes()).unwrap();
        }
        path
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Stored partitions and ranges through every registered step form.
        #[test]
        fn registered_steps_match_iterators(parts in partitioned(), n in 0u64..60, np in 1usize..6) {
            let all: Vec<i64> = parts.concat();
            let got = both_ways(|| {
                db::from_partitions(parts.clone())
                    .map(triple)
                    .filter(is_even)
                    .flat_map(with_neighbour)
                    .compute()
                    .unwrap()
            });
            let want: Vec<i64> = all
                .iter()
                .map(|x| x * 3)
                .filter(|x| x % 2 == 0)
                .flat_map(|x| [x, x + 1])
                .collect();
            prop_assert_eq!(got, want);

            let got = both_ways(|| db::from_partitions(parts.clone()).map_partitions(reversed).compute().unwrap());
            let want: Vec<i64> = parts.iter().flat_map(|p| p.iter().rev().copied()).collect();
            prop_assert_eq!(got, want);

            let got = both_ways(|| db::range(n, np).unwrap().map(as_i64).map(triple).compute().unwrap());
            prop_assert_eq!(got, (0..n as i64).map(|x| x * 3).collect::<Vec<_>>());
        }

        /// JSON lines, plain and gzipped, typed (a registered user struct)
        /// and untyped, and text lines.
        #[test]
        fn file_sources_match_the_records(n in 0usize..40, seed in 0u64..1000, blocksize in 16u64..400) {
            let d = dir(&format!("files-{seed}-{n}"));
            let ps = people(n, seed);
            let plain = write_people(&d, "a.jsonl", &ps);
            let gz = write_people(&d, "b.jsonl.gz", &ps);
            let adults: Vec<String> = ps.iter().filter(|p| p.age >= 18).map(|p| p.name.clone()).collect();
            let names: Vec<String> = ps.iter().map(|p| p.name.clone()).collect();

            let opts = db::JsonOptions::new().blocksize(blocksize);
            let got = both_ways(|| {
                db::read_json_lines_with::<Person>(&plain, &opts).unwrap()
                    .filter(adult)
                    .map(person_name)
                    .compute()
                    .unwrap()
            });
            prop_assert_eq!(&got, &adults);
            let got = both_ways(|| {
                db::read_json_lines::<Person>(&gz).unwrap().filter(adult).map(person_name).compute().unwrap()
            });
            prop_assert_eq!(&got, &adults);
            let got = both_ways(|| {
                db::read_json_lines::<Json>(vec![plain.clone(), gz.clone()]).unwrap()
                    .map(json_name)
                    .compute()
                    .unwrap()
            });
            prop_assert_eq!(got, [names.clone(), names.clone()].concat());
            let got = both_ways(|| {
                db::read_text_with(&plain, &db::TextOptions::new().blocksize(blocksize)).unwrap()
                    .map(shout)
                    .compute()
                    .unwrap()
            });
            // Lines keep their `\n`, as in Dask.
            let lines: Vec<String> = ps.iter().map(|p| serde_json::to_string(p).unwrap().to_uppercase() + "\n").collect();
            prop_assert_eq!(got, lines);
            let _ = std::fs::remove_dir_all(&d);
        }
    }

    #[oxidask::remote]
    fn by_count_then_name(x: &(String, usize)) -> (usize, std::cmp::Reverse<String>) {
        (x.1, std::cmp::Reverse(x.0.clone()))
    }

    #[oxidask::remote]
    fn json_text(v: Json) -> String {
        match v {
            Json::String(s) => s,
            other => other.to_string(),
        }
    }

    #[oxidask::remote]
    fn magnitude(x: &i64) -> i64 {
        x.abs()
    }

    /// Frequencies in order of first appearance.
    fn frequencies<T: Clone + Eq + std::hash::Hash>(xs: &[T]) -> Vec<(T, usize)> {
        let mut seen: Vec<(T, usize)> = Vec::new();
        let mut at: std::collections::HashMap<T, usize> = std::collections::HashMap::new();
        for x in xs {
            match at.get(x) {
                Some(&i) => seen[i].1 += 1,
                None => {
                    at.insert(x.clone(), seen.len());
                    seen.push((x.clone(), 1));
                }
            }
        }
        seen
    }

    /// The `k` largest by `key`, ties by position (a stable sort).
    fn topk<T: Clone, K: Ord>(xs: &[T], k: usize, key: impl Fn(&T) -> K) -> Vec<T> {
        let mut v = xs.to_vec();
        v.sort_by_key(|x| std::cmp::Reverse(key(x)));
        v.truncate(k);
        v
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// count, frequencies, distinct, topk with a registered key, sum,
        /// min, max, mean, var, std, repartition and take.
        #[test]
        fn aggregations_match_iterators(parts in partitioned(), k in 0usize..6) {
            let all: Vec<i64> = parts.concat();
            let bag = || db::from_partitions(parts.clone()).map(triple);
            let tripled: Vec<i64> = all.iter().map(|x| x * 3).collect();
            prop_assert_eq!(both_ways(|| bag().count().compute().unwrap()), all.len());
            prop_assert_eq!(both_ways(|| bag().frequencies().compute().unwrap()), frequencies(&tripled));
            let mut distinct = Vec::new();
            for x in &tripled {
                if !distinct.contains(x) {
                    distinct.push(*x);
                }
            }
            prop_assert_eq!(both_ways(|| bag().distinct().compute().unwrap()), distinct);
            prop_assert_eq!(
                both_ways(|| bag().topk(k, magnitude).compute().unwrap()),
                topk(&tripled, k, |x| x.abs())
            );
            prop_assert_eq!(both_ways(|| bag().sum().compute().unwrap()), tripled.iter().sum::<i64>());
            prop_assert_eq!(both_ways(|| bag().min().compute().ok()), tripled.iter().min().copied());
            // The error without its task's key: a bag of closures gets new
            // key tokens each time it is built.
            let max = both_ways(|| bag().max().compute().map_err(|e| super::last_part(&e.to_string())));
            match tripled.iter().max() {
                Some(m) => prop_assert_eq!(max, Ok(*m)),
                None => prop_assert!(max.unwrap_err().contains("max of an empty bag")),
            }
            let n = tripled.len();
            let mean = both_ways(|| bag().mean().compute().map_err(|e| super::last_part(&e.to_string())));
            let var = both_ways(|| bag().var(1.0).compute().unwrap().to_bits());
            let std = both_ways(|| bag().std(0.0).compute().unwrap().to_bits());
            if n == 0 {
                prop_assert!(mean.unwrap_err().contains("mean of an empty bag"));
            } else {
                let m = tripled.iter().sum::<i64>() as f64 / n as f64;
                prop_assert!((mean.unwrap() - m).abs() < 1e-9);
                let ss: f64 = tripled.iter().map(|x| (*x as f64 - m).powi(2)).sum();
                let sd = (ss / n as f64).sqrt();
                prop_assert!((f64::from_bits(std) - sd).abs() < 1e-9 * sd.max(1.0));
                if n > 1 {
                    let v = ss / (n - 1) as f64;
                    prop_assert!((f64::from_bits(var) - v).abs() < 1e-9 * v.max(1.0));
                } else {
                    prop_assert!(f64::from_bits(var).is_nan());
                }
            }
            for np in [1usize, 3, 11] {
                prop_assert_eq!(
                    both_ways(|| bag().repartition(np).unwrap().map(triple).compute().unwrap()),
                    tripled.iter().map(|x| x * 3).collect::<Vec<_>>()
                );
            }
            prop_assert_eq!(
                both_ways(|| bag().take_in(k * 3, db::TakeFrom::All).unwrap()),
                tripled.iter().take(k * 3).copied().collect::<Vec<_>>()
            );
        }

        /// The JSON-records workload, typed and untyped, plain and .gz:
        /// read → name → frequencies → top k, all of it data.
        #[test]
        fn the_json_records_pipeline_matches(n in 0usize..60, seed in 0u64..1000, k in 1usize..5) {
            let d = dir(&format!("records-{seed}-{n}"));
            let ps = people(n, seed);
            let files = vec![write_people(&d, "a.jsonl", &ps), write_people(&d, "b.jsonl.gz", &ps)];
            let names: Vec<String> = [ps.clone(), ps.clone()].concat().into_iter().map(|p| p.name).collect();
            let want = topk(&frequencies(&names), k, |(s, c)| (*c, std::cmp::Reverse(s.clone())));
            let typed = both_ways(|| {
                db::read_json_lines::<Person>(files.clone()).unwrap()
                    .map(person_name)
                    .frequencies()
                    .topk(k, by_count_then_name)
                    .compute()
                    .unwrap()
            });
            prop_assert_eq!(&typed, &want);
            let untyped = both_ways(|| {
                db::read_json_lines::<Json>(files.clone()).unwrap()
                    .pluck("name")
                    .map(json_text)
                    .frequencies()
                    .topk(k, by_count_then_name)
                    .compute()
                    .unwrap()
            });
            prop_assert_eq!(&untyped, &want);
            let with_default = both_ways(|| {
                db::read_json_lines::<Json>(files.clone()).unwrap()
                    .pluck_or("nickname", Json::String("none".into()))
                    .map(json_text)
                    .count()
                    .compute()
                    .unwrap()
            });
            prop_assert_eq!(with_default, names.len());
            let _ = std::fs::remove_dir_all(&d);
        }
    }

    #[oxidask::remote]
    fn last_digit(x: &i64) -> i64 {
        x.rem_euclid(10)
    }

    #[oxidask::remote]
    fn name_key(p: &Person) -> String {
        p.name.clone()
    }

    /// Groups in order of first appearance, records in bag order.
    fn groups<T: Clone, K: Eq + Clone>(xs: &[T], key: impl Fn(&T) -> K) -> Vec<(K, Vec<T>)> {
        let mut out: Vec<(K, Vec<T>)> = Vec::new();
        for x in xs {
            let k = key(x);
            match out.iter_mut().find(|(g, _)| *g == k) {
                Some((_, v)) => v.push(x.clone()),
                None => out.push((k, vec![x.clone()])),
            }
        }
        out
    }

    /// The groups of a groupby result, sorted by key (output partitions
    /// follow the hash, not the input).
    fn sorted<K: Ord, T>(mut g: Vec<(K, Vec<T>)>) -> Vec<(K, Vec<T>)> {
        g.sort_by(|a, b| a.0.cmp(&b.0));
        g
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]

        /// groupby with a registered key: the shuffle's ops are data, under
        /// a memory limit small enough to spill; its pieces through files
        /// or as task results (the tasks method).
        #[test]
        fn groupby_with_a_registered_key_matches_under_a_memory_limit(
            parts in prop::collection::vec(prop::collection::vec(-500i64..500, 0..300), 1..6),
            m in 1usize..5,
            tasks in any::<bool>(),
        ) {
            let d = dir(&format!("groupby-{}-{m}", parts.len()));
            let all = parts.concat();
            // Above any single partition (all records in one group list at
            // worst), below what the run holds at once: results spill.
            let opts = ComputeOptions::new()
                .scheduler(SchedulerChoice::Threaded)
                .num_workers(2)
                .memory_limit(Some(all.len() * 16 + 2_048))
                .spill_dir(&d);
            let shuffle = if tasks { ShuffleMethod::Tasks } else { ShuffleMethod::Disk };
            let config = Config { shuffle, ..current().unwrap() };
            let got = with_config(config, || both_ways(|| {
                let bag = db::from_partitions(parts.clone()).map(triple);
                let options = db::GroupbyOptions::new().npartitions(m).shuffle_dir(&d);
                sorted(bag.groupby_with(last_digit, &options).unwrap().compute_with(&opts).unwrap())
            }));
            let tripled: Vec<i64> = all.iter().map(|x| x * 3).collect();
            prop_assert_eq!(got, sorted(groups(&tripled, |x| x.rem_euclid(10))));
            prop_assert!(std::fs::read_dir(&d).unwrap().next().is_none(), "files left behind");
            let _ = std::fs::remove_dir_all(&d);
        }
    }

    #[test]
    fn a_spilling_groupby_round_trips() {
        let d = dir("groupby-spill");
        let parts: Vec<Vec<i64>> = (0..8)
            .map(|p| (0..400).map(|i| (i * 37 + p * 11) % 1000).collect())
            .collect();
        let spills = Arc::new(LastRun::default());
        let opts = ComputeOptions::new()
            .scheduler(SchedulerChoice::Sync)
            .memory_limit(Some(30_000))
            .spill_dir(&d)
            .callback(spills.clone());
        let run = || {
            let options = db::GroupbyOptions::new().npartitions(4).shuffle_dir(&d);
            let g = db::from_partitions(parts.clone())
                .groupby_with(last_digit, &options)
                .unwrap();
            let got = sorted(g.compute_with(&opts).unwrap());
            (got, spills.spilled() > 0)
        };
        let (got, spilled) = both_ways(run);
        assert_eq!(got, sorted(groups(&parts.concat(), |x| x.rem_euclid(10))));
        assert!(spilled, "the limit was meant to spill");
        assert!(
            std::fs::read_dir(&d).unwrap().next().is_none(),
            "files left behind"
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn groupby_of_typed_records_from_files_round_trips() {
        let d = dir("groupby-files");
        let ps = people(200, 5);
        let path = write_people(&d, "g.jsonl.gz", &ps);
        let got = both_ways(|| {
            sorted(
                db::read_json_lines::<Person>(&path)
                    .unwrap()
                    .groupby(name_key)
                    .compute()
                    .unwrap(),
            )
        });
        assert_eq!(got, sorted(groups(&ps, |p| p.name.clone())));
        // A closure key still works here, and says what to register there.
        let local = db::read_json_lines::<Person>(&path)
            .unwrap()
            .groupby(|p: &Person| p.age);
        assert_eq!(local.compute().unwrap().len(), groups(&ps, |p| p.age).len());
        let e = round_trip(|| local.compute()).unwrap_err().to_string();
        assert!(e.contains("#[oxidask::remote]"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[oxidask::remote]
    fn load_block(i: i64) -> Vec<i64> {
        (i * 10..i * 10 + 7).collect()
    }

    #[test]
    fn a_bag_from_registered_delayed_loaders_round_trips() {
        use oxidask::delayed::{Delayed, delayed};
        let got = both_ways(|| {
            let parts: Vec<Delayed<Vec<i64>>> =
                (0..4i64).map(|i| delayed!(load_block(i))).collect();
            let bag = db::from_delayed(&parts).map(triple);
            (bag.compute().unwrap(), bag.count().compute().unwrap())
        });
        let want: Vec<i64> = (0..4i64)
            .flat_map(|i| (i * 10..i * 10 + 7).map(|x| x * 3))
            .collect();
        assert_eq!(got, (want, 28));
    }

    #[test]
    fn a_closure_step_runs_locally_and_fails_to_encode_naming_the_task() {
        let bag = db::range(10, 2).unwrap().map(|x| x + 1);
        assert_eq!(bag.compute().unwrap(), (1..11).collect::<Vec<u64>>());
        let e = round_trip(|| bag.compute()).unwrap_err().to_string();
        assert!(e.contains("range+map"), "the task is named: {e}");
        assert!(e.contains("#[oxidask::remote]"), "the fix is named: {e}");
        // The same pipeline with a registered function leaves the process.
        let data = db::range(10, 2).unwrap().map(as_i64).map(triple);
        assert_eq!(
            round_trip(|| data.compute()).unwrap(),
            (0..10).map(|x| x * 3).collect::<Vec<i64>>()
        );
    }

    #[test]
    fn an_unregistered_record_type_is_an_error_naming_it() {
        let d = dir("unlisted");
        let path = write_people(&d, "u.jsonl", &people(3, 1));
        let bag = db::read_json_lines::<Unlisted>(&path)
            .unwrap()
            .map(unlisted_name);
        assert_eq!(bag.compute().unwrap().len(), 3, "it runs locally");
        let e = round_trip(|| bag.compute()).unwrap_err().to_string();
        assert!(
            e.contains("Unlisted") && e.contains("register_record!"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    /// The persisted pipeline's graph: one shared op, one index per task.
    fn task_graph<T: db::Record>(bag: &Bag<T>) -> oxidask::graph::TaskGraph {
        let stored = bag.persist_layer();
        stored
            .graph()
            .cull(&stored.keys())
            .unwrap()
            .to_task_graph()
            .unwrap()
    }

    #[test]
    fn an_encoded_pipeline_graph_is_small_per_task() {
        let d = dir("small");
        let path = write_people(&d, "p.jsonl", &people(4_000, 3));
        // 1,000 blocks: the block list is written once, in the shared op.
        let bag = db::read_json_lines_with::<Person>(&path, &db::JsonOptions::new().blocksize(60))
            .unwrap()
            .filter(adult)
            .map(person_name);
        let g = task_graph(&bag);
        let tasks = g.len();
        assert!(bag.npartitions() >= 1_000, "{}", bag.npartitions());
        let bytes = g.to_bytes().unwrap();
        let per_task = bytes.len() / tasks;
        // The block list (path, start, end per block) is part of the op:
        // beyond it, each task is a key and an index.
        println!("json pipeline: {per_task} bytes per task over {tasks} tasks");
        assert!(
            per_task <= 100,
            "{per_task} bytes per task over {tasks} tasks"
        );
        let back = oxidask::graph::TaskGraph::from_bytes(&bytes).unwrap();
        assert_eq!(back.len(), tasks);

        let big = db::range(1_000_000, 10_000)
            .unwrap()
            .map(as_i64)
            .map(triple);
        let g = task_graph(&big);
        let bytes = g.to_bytes().unwrap();
        let per_task = bytes.len() / g.len();
        println!(
            "range pipeline: {per_task} bytes per task over {} tasks",
            g.len()
        );
        assert!(
            per_task <= 40,
            "{per_task} bytes per task over {} tasks",
            g.len()
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_string_partition_decodes_with_its_codec_through_bytes_and_spill() {
        let parts: Vec<Vec<String>> = (0..6)
            .map(|p| (0..50).map(|i| format!("line {p}.{i} ü")).collect())
            .collect();
        let bag = db::from_partitions(parts.clone());
        // Literal partitions in a graph, through bytes.
        let g = task_graph(&bag);
        let back = oxidask::graph::TaskGraph::from_bytes(&g.to_bytes().unwrap()).unwrap();
        let keys = bag.keys();
        let values = oxidask::scheduler::compute_with(back, &keys, &ComputeOptions::new()).unwrap();
        for (v, want) in values.iter().zip(&parts) {
            assert_eq!(v.downcast_ref::<Vec<String>>().unwrap(), want);
        }
        // Spilled and read back under a memory limit, then through a step.
        let d = dir("spill");
        let spills = Arc::new(LastRun::default());
        let opts = ComputeOptions::new()
            .scheduler(SchedulerChoice::Sync)
            .memory_limit(Some(4_000))
            .spill_dir(&d)
            .callback(spills.clone());
        let got = bag
            .map(shout)
            .persist_layer()
            .map(shout)
            .compute_with(&opts)
            .unwrap();
        let want: Vec<String> = parts.concat().iter().map(|s| s.to_uppercase()).collect();
        assert_eq!(got, want);
        assert!(spills.spilled() > 0, "the limit was meant to spill");
        let _ = std::fs::remove_dir_all(&d);
    }
}

/// The innermost part of an error message (after its last `": "`): what
/// failed, without which task.
fn last_part(message: &str) -> String {
    message.rsplit(": ").next().unwrap_or(message).to_string()
}

/// `persist` on a local scheduler: the partitions are computed once and
/// kept in memory; computations on the persisted bag start from them.
#[test]
fn persist_computes_once_and_keeps_the_partitions() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let b = oxidask::bag::from_partitions(vec![vec![1i64, 2, 3], vec![], vec![4]]).map(move |x| {
        counted.fetch_add(1, Ordering::SeqCst);
        x * 2
    });
    let kept = b.persist().unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    assert_eq!(kept.npartitions(), 3);
    assert_eq!(kept.compute().unwrap(), [2, 4, 6, 8]);
    assert_eq!(kept.map(|x| x + 1).compute().unwrap(), [3, 5, 7, 9]);
    assert_eq!(kept.sum().compute().unwrap(), 20);
    assert_eq!(calls.load(Ordering::SeqCst), 4, "computed once");
}
