//! The synthetic survey and the scoring of recovered periods.

use std::collections::HashSet;
use std::time::Instant;

use crate::lightcurve::{
    BASELINE_DAYS, Features, FrequencyGrid, Kind, LombScargle, Truth, count_recovered, features,
    generate_star, period_recovered,
};

#[test]
fn period_recovery_allows_two_percent_and_the_half_period() {
    assert!(period_recovered(1.0, 1.0));
    assert!(period_recovered(1.019, 1.0));
    assert!(period_recovered(0.981, 1.0));
    assert!(!period_recovered(1.021, 1.0));
    assert!(!period_recovered(0.979, 1.0));
    assert!(period_recovered(0.5, 1.0));
    assert!(period_recovered(0.509, 1.0));
    assert!(!period_recovered(0.511, 1.0));
    assert!(!period_recovered(2.0, 1.0));
    assert!(!period_recovered(0.333, 1.0));
    assert!(!period_recovered(f64::NAN, 1.0));
}

fn feature(star_id: u32, period: f64) -> Features {
    Features {
        star_id,
        period,
        power: 0.5,
        amplitude: 0.1,
        std: 0.1,
        skew: 0.0,
        median: 15.0,
    }
}

#[test]
fn recovery_is_counted_per_kind_by_star_id() {
    let truth = [
        Truth {
            star_id: 0,
            period: 1.0,
            kind: Kind::Sinusoid,
        },
        Truth {
            star_id: 1,
            period: 0.5,
            kind: Kind::RrLyrae,
        },
        Truth {
            star_id: 2,
            period: 2.0,
            kind: Kind::EclipsingBinary,
        },
        Truth {
            star_id: 3,
            period: 0.7,
            kind: Kind::Sinusoid,
        },
    ];
    // Out of order, one star missing, one without truth.
    let found = [
        feature(2, 1.0),
        feature(0, 1.01),
        feature(3, 0.9),
        feature(9, 1.0),
    ];
    let r = count_recovered(&found, &truth);
    assert_eq!((r.stars, r.recovered, r.unmatched), (3, 2, 1));
    assert_eq!(
        (
            r.kind(Kind::Sinusoid).stars,
            r.kind(Kind::Sinusoid).recovered
        ),
        (2, 1)
    );
    assert_eq!(r.kind(Kind::RrLyrae).stars, 0);
    assert_eq!(r.kind(Kind::EclipsingBinary).recovered, 1);
    assert!((r.fraction() - 2.0 / 3.0).abs() < 1e-15);
    let text = r.to_string();
    assert!(
        text.contains("recovered 2/3") && text.contains("sinusoid 1/2"),
        "{text}"
    );
}

#[test]
fn stars_depend_only_on_seed_and_index() {
    let forward: Vec<_> = (0..20).map(|i| generate_star(9, i)).collect();
    let backward: Vec<_> = (0..20).rev().map(|i| generate_star(9, i)).collect();
    for (a, b) in forward.iter().zip(backward.iter().rev()) {
        assert_eq!(a, b);
    }
    let from_thread = std::thread::spawn(|| generate_star(9, 13)).join().unwrap();
    assert_eq!(from_thread, forward[13]);
    assert_ne!(generate_star(10, 13).0.mag, forward[13].0.mag);
    assert_ne!(generate_star(9, 14).0.mag, forward[13].0.mag);
}

#[test]
fn stars_look_like_a_seasonal_ground_based_survey() {
    let mut kinds = HashSet::new();
    for i in 0..200 {
        let (lc, truth) = generate_star(42, i);
        assert_eq!((lc.star_id, truth.star_id), (i, i));
        kinds.insert(truth.kind);
        assert!((100..=400).contains(&lc.len()), "{}", lc.len());
        assert!(lc.t.windows(2).all(|w| w[0] < w[1]), "times not sorted");
        assert!(lc.t[0] >= 0.0 && *lc.t.last().unwrap() < BASELINE_DAYS);
        // At most one observation a night, always at night (0.1–0.4 of the day).
        let nights: HashSet<i64> = lc.t.iter().map(|t| t.floor() as i64).collect();
        assert_eq!(nights.len(), lc.len());
        assert!(
            lc.t.iter()
                .all(|t| (0.099_999..=0.400_001).contains(&t.fract()))
        );
        // Seasonal gaps: some stretch of at least 4 months without data.
        let longest_gap = lc.t.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
        assert!(longest_gap > 120.0, "longest gap {longest_gap}");
        assert!(
            lc.err.iter().all(|e| (0.01..=0.05).contains(e)),
            "{:?}",
            lc.err
        );
        assert!((0.2..=3.0).contains(&truth.period), "{}", truth.period);
        let median = crate::lightcurve::median(&lc.mag);
        assert!((13.0..18.0).contains(&median));
    }
    assert_eq!(kinds.len(), 3);
}

/// Features of stars `0..n` of seed 42 on the 100,000-frequency grid, and their truth.
fn survey(n: u32) -> (Vec<Features>, Vec<Truth>) {
    let grid = FrequencyGrid::for_baseline(100_000);
    let mut ls = LombScargle::new();
    (0..n)
        .map(|i| {
            let (lc, truth) = generate_star(42, i);
            (features(&lc, &grid, &mut ls), truth)
        })
        .unzip()
}

#[test]
fn periods_are_recovered() {
    // Unoptimized builds are about a hundred times slower (rustfft's generic AVX code is
    // instantiated in this crate, so it is unoptimized too): 0.6 s a star instead of 6.5 ms.
    let n = if cfg!(debug_assertions) { 24 } else { 500 };
    let (found, truth) = survey(n);
    let r = count_recovered(&found, &truth);
    let at_half = found
        .iter()
        .zip(&truth)
        .filter(|(f, t)| {
            t.kind == Kind::EclipsingBinary
                && !period_recovered(f.period, 2.0 * t.period)
                && period_recovered(f.period, t.period)
        })
        .count();
    println!("{n} stars, 100,000 frequencies: {r}");
    println!(
        "eclipsing binaries found at half the period: {at_half}/{}",
        r.kind(Kind::EclipsingBinary).recovered
    );
    assert_eq!((r.stars, r.unmatched), (n as usize, 0));
    assert!(r.kind(Kind::Sinusoid).stars >= n as usize / 5);
    assert!(r.kind(Kind::Sinusoid).fraction() >= 0.95, "{r}");
    assert!(r.kind(Kind::RrLyrae).fraction() >= 0.9, "{r}");
    assert!(r.kind(Kind::EclipsingBinary).fraction() >= 0.8, "{r}");
}

/// `cargo test --release -p oxidask-workloads features_timing -- --ignored --nocapture`
#[test]
#[ignore = "timing, run by hand in release mode"]
fn features_timing() {
    let grid = FrequencyGrid::for_baseline(100_000);
    let stars: Vec<_> = (0..100).map(|i| generate_star(42, i).0).collect();
    let mut ls = LombScargle::new();
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let start = Instant::now();
        for lc in &stars {
            std::hint::black_box(features(lc, &grid, &mut ls));
        }
        best = best.min(start.elapsed().as_secs_f64() * 1e3 / stars.len() as f64);
    }
    let mut astropy = LombScargle::astropy();
    let start = Instant::now();
    for lc in &stars {
        std::hint::black_box(features(lc, &grid, &mut astropy));
    }
    let astropy_ms = start.elapsed().as_secs_f64() * 1e3 / stars.len() as f64;
    println!(
        "features, 100,000 frequencies: {best:.2} ms/star (best of 5 rounds of 100 stars); \
         with astropy's 4 nodes {astropy_ms:.2} ms/star"
    );
}
