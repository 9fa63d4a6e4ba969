//! Issue 15, item 1: full reductions of one streamed source computed
//! together read or generate the source once — one scan task per block
//! feeding every reduction — and give exactly what each gives alone, which
//! is what `ndarray` gives on the whole array.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ndarray::{ArrayD, IxDyn};
use oxidask::array::{self as da, Array, ndarray};
use oxidask::graph::optimize::OptimizeOptions;
use oxidask::scheduler::{Callback, ComputeOptions, Event, SchedulerChoice, compute_many};
use oxidask_testing::{TempDir, both_ways};

/// Counts tasks that stream a source: shared scan tasks (`scan-…`), and
/// the partial tasks (level 0, `…-chunk`) of reductions streaming alone —
/// not the picks that take a reduction's value out of a shared scan.
#[derive(Default)]
struct Streaming {
    shared: AtomicUsize,
    alone: AtomicUsize,
}

impl Callback for Streaming {
    fn on_event(&self, e: &Event<'_>) {
        if let Event::TaskStarted { key, op, .. } = e {
            // `op` is the label: a scan task's is its reductions' names.
            if key.name().starts_with("scan-") {
                self.shared.fetch_add(1, Ordering::SeqCst);
            } else if key.name().ends_with("-chunk") && *op != "oxidask.array.scan_pick" {
                self.alone.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}

/// Options counting streaming tasks; fusion off, so every task is seen
/// under its own key.
fn counted(choice: SchedulerChoice) -> (Arc<Streaming>, ComputeOptions) {
    let seen = Arc::new(Streaming::default());
    let opts = ComputeOptions::new()
        .scheduler(choice)
        .optimize(OptimizeOptions::none())
        .callback(seen.clone());
    (seen, opts)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0)
}

/// ndarray's mean and population standard deviation of the whole array.
fn oracle(x: &ArrayD<f64>) -> (f64, f64) {
    (x.mean().unwrap(), x.std(0.0))
}

#[test]
fn mean_and_std_of_random_numbers_generate_them_once() {
    // 1,000,003 normals in 11 blocks (the last one ragged, of 3 elements).
    let x = da::random::standard_normal(&[1_000_003], 100_000, 42).unwrap();
    let nblocks = x.nblocks();
    for choice in [SchedulerChoice::Sync, SchedulerChoice::Threaded] {
        let (seen, opts) = counted(choice.clone());
        let (mean, std) = both_ways(|| compute_many(&(x.mean(), x.std(0.0)), &opts).unwrap());
        // Both ways ran: each streamed every block once.
        assert_eq!(seen.shared.load(Ordering::SeqCst), 2 * nblocks);
        assert_eq!(seen.alone.load(Ordering::SeqCst), 0);
        // Apart, each reduction streams every block itself.
        let (seen_apart, opts_apart) = counted(choice);
        let mean_alone = compute_many(&x.mean(), &opts_apart).unwrap();
        let std_alone = compute_many(&x.std(0.0), &opts_apart).unwrap();
        assert_eq!(seen_apart.alone.load(Ordering::SeqCst), 2 * nblocks);
        // The same pieces in the same order: bit for bit what each gives
        // alone, and what ndarray gives on the whole array.
        assert_eq!(
            (mean.to_bits(), std.to_bits()),
            (mean_alone.to_bits(), std_alone.to_bits())
        );
        let (m, s) = oracle(&x.compute().unwrap());
        assert!(close(mean, m) && close(std, s), "{mean} {std} vs {m} {s}");
    }
}

#[test]
fn reductions_of_a_fused_expression_of_a_npy_file_read_it_once() {
    let dir = TempDir::new("shared-scans");
    let path = dir.path().join("x.npy");
    let data = ArrayD::from_shape_fn(IxDyn(&[300, 70]), |ix| {
        ((ix[0] * 70 + ix[1]) as f64 * 0.37).sin() * 10.0
    });
    da::from_array(data.clone(), vec![300, 70])
        .unwrap()
        .to_npy(&path)
        .unwrap();
    // Ragged blocks of 128 × 64 (the largest is one piece: not grouped).
    let x: Array<f64> = da::from_npy(&path, vec![128, 64]).unwrap();
    let y = &(&x * 2.0) + 1.0;
    let yv = data.mapv(|v| v * 2.0 + 1.0);
    let (seen, opts) = counted(SchedulerChoice::Threaded);
    let (sum, max, argmin, var) =
        both_ways(|| compute_many(&(y.sum(), y.max(), y.argmin(), y.var(1.0)), &opts).unwrap());
    assert_eq!(seen.shared.load(Ordering::SeqCst), 2 * y.nblocks());
    assert_eq!(seen.alone.load(Ordering::SeqCst), 0);
    let n = yv.len() as f64;
    let mean = yv.sum() / n;
    let var1 = yv.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    assert!(close(sum, yv.sum()), "{sum}");
    assert_eq!(max, yv.iter().cloned().fold(f64::MIN, f64::max));
    let first_min = yv
        .iter()
        .enumerate()
        .fold(
            (0, f64::MAX),
            |(bi, bv), (i, &v)| if v < bv { (i, v) } else { (bi, bv) },
        )
        .0;
    assert_eq!(argmin, first_min as i64);
    assert!(close(var, var1), "{var} vs {var1}");
}

#[test]
fn small_blocks_grouped_and_a_third_reduction_join_one_scan() {
    // 5,000 blocks of 7 (the last of 3): smaller than a piece, so one
    // streamed task reduces a group of blocks; an in-memory source, so its
    // pieces are visited without a copy; NaN inside.
    let data = ArrayD::from_shape_fn(IxDyn(&[34_996]), |ix| {
        if ix[0] % 1_001 == 5 {
            f64::NAN
        } else {
            (ix[0] % 97) as f64 - 40.0
        }
    });
    let x = da::from_array(data.clone(), vec![7]).unwrap();
    let (seen, opts) = counted(SchedulerChoice::Sync);
    // A tuple of three, and a slice: each collect of a full reduction
    // extends the scan the graph already has.
    let together = both_ways(|| {
        let (a, b) =
            compute_many(&(x.nansum(), vec![x.nanmean(), x.nanmax(), x.sum()]), &opts).unwrap();
        format!("{a:?} {b:?}")
    });
    let scans = seen.shared.load(Ordering::SeqCst);
    assert!(scans > 0 && scans < 2 * 5_000 / 8, "{scans} scan tasks");
    assert_eq!(seen.alone.load(Ordering::SeqCst), 0);
    // Each computed alone gives the same.
    let one = |s: da::Scalar<f64>| s.compute().unwrap();
    let alone = format!(
        "{:?} {:?}",
        one(x.nansum()),
        vec![one(x.nanmean()), one(x.nanmax()), one(x.sum())]
    );
    assert_eq!(together, alone);
    // And against plain loops.
    let ok: Vec<f64> = data.iter().cloned().filter(|v| !v.is_nan()).collect();
    let s: f64 = ok.iter().sum();
    assert!(close(x.nansum().compute().unwrap(), s));
    assert!(close(x.nanmean().compute().unwrap(), s / ok.len() as f64));
    assert_eq!(x.nanmax().compute().unwrap(), 56.0);
    assert!(x.sum().compute().unwrap().is_nan());
}

#[test]
fn different_sources_are_not_merged() {
    // Two seeds: two scans; results as alone.
    let a = da::random::standard_normal(&[50_000], 10_000, 1).unwrap();
    let b = da::random::standard_normal(&[50_000], 10_000, 2).unwrap();
    let (seen, opts) = counted(SchedulerChoice::Sync);
    let (ma, mb) = compute_many(&(a.mean(), b.mean()), &opts).unwrap();
    assert_eq!(seen.shared.load(Ordering::SeqCst), 0);
    assert_eq!(seen.alone.load(Ordering::SeqCst), 10);
    assert_eq!(ma, a.mean().compute().unwrap());
    assert_eq!(mb, b.mean().compute().unwrap());
    assert_ne!(ma, mb);
}

#[test]
fn a_vanished_npy_file_is_an_error_naming_it() {
    let dir = TempDir::new("shared-scans-gone");
    let path = dir.path().join("gone.npy");
    let data = ArrayD::from_shape_fn(IxDyn(&[40_000]), |ix| ix[0] as f64);
    da::from_array(data, vec![40_000])
        .unwrap()
        .to_npy(&path)
        .unwrap();
    let x: Array<f64> = da::from_npy(&path, vec![10_000]).unwrap();
    std::fs::remove_file(&path).unwrap();
    let err = compute_many(&(x.mean(), x.std(0.0)), &ComputeOptions::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("gone.npy"), "{err}");
}

#[test]
fn one_block_reductions_share_their_only_task() {
    // One block: each reduction's streaming task is its output task; the
    // outputs become picks of the one scan.
    let x = da::random::uniform(-1.0, 3.0, &[20_000], 20_000, 9).unwrap();
    let (seen, opts) = counted(SchedulerChoice::Sync);
    let (mean, var, min) =
        both_ways(|| compute_many(&(x.mean(), x.var(1.0), x.min()), &opts).unwrap());
    assert_eq!(seen.shared.load(Ordering::SeqCst), 2);
    let v = x.compute().unwrap();
    assert_eq!(mean.to_bits(), x.mean().compute().unwrap().to_bits());
    assert!(close(var, v.var(1.0)), "{var}");
    assert_eq!(min, v.iter().cloned().fold(f64::MAX, f64::min));
}
