//! Summary statistics and per-star features.

use std::f64::consts::TAU;
use std::path::PathBuf;

use super::TempDir;
use crate::lightcurve::{
    Features, FrequencyGrid, LightCurve, LombScargle, ReadError, features, features_for_file,
    features_for_files, generate_star, mean, median, percentile, population_std, skew,
    write_dataset,
};

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn moments_match_their_formulas() {
    let x = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
    assert_eq!(mean(&x), 5.0);
    assert_eq!(population_std(&x), 2.0);

    // [1, 2, 3, 10]: mean 4, deviations -3 -2 -1 6, m2 = 50/4, m3 = 180/4.
    let y = [10.0, 1.0, 3.0, 2.0];
    let expected = 45.0 / 12.5f64.powf(1.5);
    assert!(close(skew(&y), expected, 1e-15));
    assert!(close(skew(&y), 1.018_233_764_908_628_4, 1e-12)); // scipy.stats.skew
    assert!(close(population_std(&y), 12.5f64.sqrt(), 1e-15));
    // Symmetric data has no skew; mirrored data has the opposite skew.
    assert!(close(skew(&[1.0, 2.0, 3.0, 4.0, 5.0]), 0.0, 1e-15));
    let mirrored: Vec<f64> = y.iter().map(|v| -v).collect();
    assert!(close(skew(&mirrored), -expected, 1e-15));
    assert!(skew(&[3.0; 5]).is_nan());
    assert!(mean(&[]).is_nan());
}

#[test]
fn median_and_percentiles_follow_numpy() {
    assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
    assert_eq!(median(&[4.0, -1.0, 3.0, 2.0]), 2.5);
    assert_eq!(median(&[7.0]), 7.0);
    assert_eq!(median(&[5.0, 5.0, 1.0, 9.0, 5.0, 0.0]), 5.0);
    assert!(median(&[]).is_nan());

    // np.percentile(x, q): linear interpolation at rank q/100·(n−1) of the sorted data.
    let x = [5.0, 1.0, 4.0, 2.0, 3.0];
    assert!(close(percentile(&x, 5.0), 1.2, 1e-15));
    assert!(close(percentile(&x, 95.0), 4.8, 1e-15));
    assert_eq!(percentile(&x, 50.0), 3.0);
    assert_eq!(percentile(&x, 0.0), 1.0);
    assert_eq!(percentile(&x, 100.0), 5.0);
    let y = [40.0, 10.0, 30.0, 20.0];
    assert!(close(percentile(&y, 95.0), 38.5, 1e-12));
    assert!(close(percentile(&y, 5.0), 11.5, 1e-12));
    assert!(close(percentile(&y, 50.0), 25.0, 1e-12));
    assert!(percentile(&[], 50.0).is_nan());
}

#[test]
fn features_combine_the_peak_and_the_statistics() {
    // A noiseless sinusoid, period 0.61 d, irregularly sampled over two years.
    let period = 0.61;
    let t: Vec<f64> = (0..200)
        .map(|i| i as f64 * 3.7 + (i * i % 17) as f64 * 0.05)
        .collect();
    let mag: Vec<f64> = t
        .iter()
        .map(|t| 15.0 + 0.2 * (TAU * t / period).sin())
        .collect();
    let lc = LightCurve {
        star_id: 77,
        t,
        err: vec![0.02; 200],
        mag,
    };
    let grid = FrequencyGrid::for_baseline(100_000);
    let f = features(&lc, &grid, &mut LombScargle::new());
    assert_eq!(f.star_id, 77);
    assert!((f.period - period).abs() < 0.001 * period, "{}", f.period);
    assert!(f.power > 0.99, "{}", f.power);
    assert_eq!(
        f.amplitude,
        percentile(&lc.mag, 95.0) - percentile(&lc.mag, 5.0)
    );
    assert_eq!(f.median, median(&lc.mag));
    assert!(close(f.std, population_std(&lc.mag), 1e-15));
    assert!(close(f.skew, skew(&lc.mag), 1e-12));
    // A sampled sine spans nearly its full 0.4 mag and has a std of amplitude/√2.
    assert!(close(f.amplitude, 0.4, 0.03), "{}", f.amplitude);
    assert!(close(f.std, 0.2 / 2f64.sqrt(), 0.01), "{}", f.std);
}

#[test]
fn an_empty_light_curve_gives_nan_features() {
    let lc = LightCurve {
        star_id: 3,
        t: vec![],
        mag: vec![],
        err: vec![],
    };
    let f = features(
        &lc,
        &FrequencyGrid::for_baseline(1_000),
        &mut LombScargle::new(),
    );
    assert_eq!(f.star_id, 3);
    for v in [f.period, f.power, f.amplitude, f.std, f.skew, f.median] {
        assert!(v.is_nan());
    }
}

#[test]
fn file_features_equal_in_memory_features() {
    let dir = TempDir::new("features");
    write_dataset(dir.path(), 4, 5).unwrap();
    let paths: Vec<PathBuf> = (0..4)
        .map(|i| dir.path().join(format!("lc/star_{i:05}.csv")))
        .collect();
    let nfreq = 10_000;
    let grid = FrequencyGrid::for_baseline(nfreq);
    let mut ls = LombScargle::new();
    let expected: Vec<Features> = (0..4)
        .map(|i| features(&generate_star(5, i).0, &grid, &mut ls))
        .collect();
    assert_eq!(features_for_files(&paths, nfreq).unwrap(), expected);
    assert_eq!(features_for_file(&paths[2], nfreq).unwrap(), expected[2]);
    // From another thread, with that thread's own planner.
    let path = paths[1].clone();
    let other = std::thread::spawn(move || features_for_file(&path, nfreq).unwrap());
    assert_eq!(other.join().unwrap(), expected[1]);

    let mut with_missing = paths.clone();
    with_missing.insert(2, dir.path().join("lc/star_00099.csv"));
    let err = features_for_files(&with_missing, nfreq).unwrap_err();
    assert!(matches!(err, ReadError::Io { .. }));
    assert!(err.to_string().contains("star_00099.csv"));
}
