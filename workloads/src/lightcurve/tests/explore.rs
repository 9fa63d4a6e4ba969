use crate::lightcurve::*;
use std::time::Instant;

#[test]
#[ignore]
fn explore() {
    let grid = FrequencyGrid::for_baseline(100_000);
    let mut ls = LombScargle::new();
    let (lc, _) = generate_star(42, 0);
    let _ = features(&lc, &grid, &mut ls);
    let mut truths = vec![];
    let mut lcs = vec![];
    let t0 = Instant::now();
    for i in 0..300 {
        let (lc, tr) = generate_star(42, i);
        lcs.push(lc);
        truths.push(tr);
    }
    println!("gen {:.2} ms/star", t0.elapsed().as_secs_f64() * 1000.0 / 300.0);
    let t0 = Instant::now();
    let feats: Vec<_> = lcs.iter().map(|lc| features(lc, &grid, &mut ls)).collect();
    let el = t0.elapsed();
    println!("{:.2} ms/star", el.as_secs_f64() * 1000.0 / 300.0);
    let r = count_recovered(&feats, &truths);
    println!("{r}");
    for (f, t) in feats.iter().zip(&truths) {
        if !period_recovered(f.period, t.period) {
            println!("miss {} {:?} true {:.5} found {:.5} power {:.3} n={}", t.star_id, t.kind, t.period, f.period, f.power, generate_star(42, t.star_id).0.len());
        }
    }
    let g2 = FrequencyGrid::for_baseline(20_000);
    for i in 0..10 {
        let (lc, _) = generate_star(42, i);
        let t1 = Instant::now();
        let d = lomb_scargle_direct(&lc.t, &lc.mag, &lc.err, &g2);
        let td = t1.elapsed();
        let f = ls.power(&lc.t, &lc.mag, &lc.err, &g2);
        let (imax, dmax) = d.iter().zip(&f).enumerate().map(|(i, (a, b))| (i, (a - b).abs())).fold((0, 0.0), |acc, x| if x.1 > acc.1 { x } else { acc });
        println!("star {i}: max diff {dmax:.2e} at f={:.3} (p={:.3}); direct {:?}", g2.frequency(imax), d[imax], td);
    }
}

#[test]
#[ignore]
fn fft_time() {
    use rustfft::{FftPlanner, num_complex::Complex};
    let n = 1 << 19;
    let mut p = FftPlanner::<f64>::new();
    let fft = p.plan_fft_inverse(n);
    let mut buf = vec![Complex::new(0.0, 0.0); n];
    let mut scratch = vec![Complex::new(0.0, 0.0); fft.get_inplace_scratch_len()];
    fft.process_with_scratch(&mut buf, &mut scratch);
    let t0 = Instant::now();
    for _ in 0..30 {
        buf.fill(Complex::new(0.0, 0.0));
        buf[3] = Complex::new(1.0, 0.0);
        fft.process_with_scratch(&mut buf, &mut scratch);
    }
    println!("fft 2^19 + fill: {:.2} ms", t0.elapsed().as_secs_f64() * 1000.0 / 30.0);
    let t0 = Instant::now();
    for _ in 0..30 {
        buf.fill(Complex::new(0.0, 0.0));
    }
    println!("fill: {:.3} ms", t0.elapsed().as_secs_f64() * 1000.0 / 30.0);
    for n in [1usize << 14, 1 << 15, 1 << 16, 1usize << 17, 1 << 18, 500_000] {
    let fft = p.plan_fft_inverse(n);
    let mut buf = vec![Complex::new(0.0, 0.0); n];
    let mut scratch = vec![Complex::new(0.0, 0.0); fft.get_inplace_scratch_len()];
    let t0 = Instant::now();
    for _ in 0..30 {
        fft.process_with_scratch(&mut buf, &mut scratch);
    }
    println!("fft {n}: {:.2} ms", t0.elapsed().as_secs_f64() * 1000.0 / 30.0);
    }
    let grid = FrequencyGrid::for_baseline(100_000);
    let (lc, _) = generate_star(42, 0);
    for (o, m) in [(5, 4), (5, 6), (5, 8), (4, 8), (3, 10)] {
        let mut ls = LombScargle::with_params(o, m);
        let _ = ls.peak(&lc.t, &lc.mag, &lc.err, &grid);
        let t0 = Instant::now();
        for _ in 0..30 {
            let _ = ls.peak(&lc.t, &lc.mag, &lc.err, &grid);
        }
        let g2 = FrequencyGrid::for_baseline(20_000);
        let mut worst: f64 = 0.0;
        for i in 0..10 {
            let (lc, _) = generate_star(42, i);
            let d = lomb_scargle_direct(&lc.t, &lc.mag, &lc.err, &g2);
            let f = ls.power(&lc.t, &lc.mag, &lc.err, &g2);
            worst = d.iter().zip(&f).map(|(a, b)| (a - b).abs()).fold(worst, f64::max);
        }
        println!("over {o} m {m}: {:.2} ms/star, worst diff {worst:.2e}", t0.elapsed().as_secs_f64() * 1000.0 / 30.0);
    }
}
