//! Taxi-like trip CSVs, in the spirit of the reference benchmark's W3 data
//! generator (`gen_data.py --only w3`): the same 13 columns of the NYC
//! yellow-cab files and the same distributions (passenger counts mostly 1,
//! about 1% of them empty; card tips as preset percentages of the fare),
//! drawn from this crate's seeded generator instead of NumPy's, so the
//! numbers differ while the shape of the work is the same.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal};

/// The header line of every file.
pub const HEADER: &str = "VendorID,tpep_pickup_datetime,tpep_dropoff_datetime,passenger_count,\
trip_distance,payment_type,fare_amount,extra,mta_tax,tip_amount,tolls_amount,\
improvement_surcharge,total_amount";

/// Passenger counts 0..=9 and their probabilities (as gen_data.py).
const PC_P: [f64; 10] = [
    0.004, 0.70, 0.14, 0.04, 0.02, 0.06, 0.036, 0.00002, 0.00002, 0.00002,
];

fn pick(rng: &mut ChaCha8Rng, p: &[f64]) -> usize {
    let total: f64 = p.iter().sum();
    let mut u = rng.random::<f64>() * total;
    for (i, &w) in p.iter().enumerate() {
        if u < w {
            return i;
        }
        u -= w;
    }
    p.len() - 1
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn write_time(out: &mut impl Write, secs: i64) -> io::Result<()> {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    write!(
        out,
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Writes file number `index` (month `index` from January 2015) of `rows`
/// trips to `out`, deterministically from `seed` and `index`.
pub fn write_trips(out: &mut impl Write, rows: usize, seed: u64, index: u32) -> io::Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (0x7a41 << 32) ^ u64::from(index));
    let (year, month) = (2015 + i64::from(index / 12), 1 + i64::from(index % 12));
    let start = days_from_civil(year, month, 1) * 86_400;
    let mut pickups: Vec<i64> = (0..rows)
        .map(|_| rng.random_range(0..28 * 86_400))
        .collect();
    pickups.sort_unstable();
    let dist_d = LogNormal::new(1.8f64.ln(), 0.75).expect("valid parameters");
    let speed_d = LogNormal::new(11.0f64.ln(), 0.35).expect("valid parameters");
    writeln!(out, "{HEADER}")?;
    for &p in &pickups {
        let mut dist = round2(dist_d.sample(&mut rng).clamp(0.01, 60.0));
        if rng.random::<f64>() < 0.01 {
            dist = 0.0;
        }
        let speed = speed_d.sample(&mut rng).clamp(2.0, 50.0);
        let dur = (dist / speed * 3600.0 + rng.random_range(30..240) as f64) as i64;
        let vendor = if rng.random::<f64>() < 0.45 { 1 } else { 2 };
        let pc = pick(&mut rng, &PC_P);
        let pc_null = rng.random::<f64>() < 0.01;
        let pay = 1 + pick(&mut rng, &[0.62, 0.37, 0.006, 0.004]);
        let fare = ((2.5 + 2.0 * dist + 0.35 * dur as f64 / 60.0) * 2.0).round() / 2.0;
        let extra = if rng.random::<f64>() < 0.45 { 0.5 } else { 0.0 };
        let tolls = if rng.random::<f64>() < 0.05 {
            5.54
        } else {
            0.0
        };
        let preset = [0.20, 0.25, 0.30][pick(&mut rng, &[0.6, 0.25, 0.15])];
        let free = rng.random_range(0.05..0.35);
        let mut frac = if rng.random::<f64>() < 0.7 {
            preset
        } else {
            free
        };
        frac *= 1.0 - 0.015 * (pc as f64 - 1.0).max(0.0);
        let mut tip = if pay == 1 && rng.random::<f64>() >= 0.15 {
            fare * frac
        } else {
            0.0
        };
        if pay == 2 && rng.random::<f64>() < 0.01 {
            tip = rng.random_range(1.0..5.0);
        }
        let tip = round2(tip);
        let total = round2(fare + extra + 0.5 + tip + tolls + 0.3);
        write!(out, "{vendor},")?;
        write_time(out, start + p)?;
        out.write_all(b",")?;
        write_time(out, start + p + dur)?;
        if pc_null {
            write!(out, ",,")?;
        } else {
            write!(out, ",{pc},")?;
        }
        writeln!(
            out,
            "{dist:.2},{pay},{fare:.2},{extra:.2},0.50,{tip:.2},{tolls:.2},0.30,{total:.2}"
        )?;
    }
    Ok(())
}

/// Writes `files` CSVs of `rows` trips each into `dir` as
/// `yellow_tripdata_YYYY-MM.csv` (skipping files already there with the
/// same size request: `dir` is a cache), returning their paths.
pub fn generate(dir: &Path, files: u32, rows: usize, seed: u64) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut out = Vec::new();
    for k in 0..files {
        let (year, month) = (2015 + k / 12, 1 + k % 12);
        let path = dir.join(format!("yellow_tripdata_{year}-{month:02}.csv"));
        let stamp = dir.join(format!(".{year}-{month:02}.{rows}.{seed}"));
        if !(path.exists() && stamp.exists()) {
            let tmp = path.with_extension("csv.tmp");
            let mut w = io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp)?);
            write_trips(&mut w, rows, seed, k)?;
            w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            std::fs::write(&stamp, b"")?;
        }
        out.push(path);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_round_trip() {
        for z in [-1000, 0, 16_436, 20_000, 40_000] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(civil_from_days(16_436), (2015, 1, 1));
    }

    #[test]
    fn rows_have_every_column_and_are_deterministic() {
        let mut a = Vec::new();
        write_trips(&mut a, 200, 42, 3).unwrap();
        let mut b = Vec::new();
        write_trips(&mut b, 200, 42, 3).unwrap();
        assert_eq!(a, b);
        let text = String::from_utf8(a).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 201);
        assert_eq!(lines[0], HEADER);
        for l in &lines[1..] {
            assert_eq!(l.split(',').count(), 13, "{l}");
            assert!(l[2..].starts_with("2015-04-"), "{l}");
        }
    }
}
