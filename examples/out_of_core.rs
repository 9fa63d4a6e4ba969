//! Larger than memory: three computations whose data is several times the
//! memory limit, each checked, with wall time, peak RSS, and bytes spilled
//! and read back.
//!
//! ```text
//! cargo run --release --example out_of_core [-- --limit 256MiB --scale 1.0]
//! ```
//!
//! 1. **spill**: 1.5 GiB of chunks all read by one final combine (4-6x the
//!    limit must be held at once): spilled to disk, read back one by one.
//! 2. **stream**: a sum over 4 GiB generated chunk by chunk: depth-first
//!    order and fusion stream it through without spilling.
//! 3. **shuffle**: 2 GiB of records hashed into 64 partitions through files;
//!    count and checksum equal before and after; compared with writing and
//!    reading the same bytes once with plain `std::fs`.

use std::sync::Arc;
use std::time::Instant;

use oxidask::bag::shuffle::{ShuffleSpec, hash_shuffle};
use oxidask::graph::{FnOp, Key, Task, TaskGraph, Value};
use oxidask::prelude::*;
use oxidask::scheduler::{MemoryStats, compute_with as compute_graph};

#[path = "common/bench.rs"]
mod bench;
#[path = "common/run.rs"]
mod run;
use run::{Memory, arg};

const CHUNK: usize = 4 << 20; // 4 Mi elements of 8 bytes: 32 MiB per chunk

/// Deterministic pseudo-random chunk `i` (xorshift64*), fast enough to be
/// generated inside the computation.
fn chunk_u64(i: u32, len: usize) -> Vec<u64> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ ((i as u64 + 1) << 17);
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            x.wrapping_mul(0x2545_F491_4F6C_DD1D)
        })
        .collect()
}

fn chunk_f64(i: u32, len: usize) -> Vec<f64> {
    chunk_u64(i, len)
        .into_iter()
        .map(|x| (x >> 11) as f64 / (1u64 << 53) as f64)
        .collect()
}
struct Measured {
    wall: f64,
    peak_mib: f64,
    memory: MemoryStats,
}

fn measure<T>(
    limit: usize,
    f: impl FnOnce(&ComputeOptions) -> Result<T, oxidask::Error>,
) -> Result<(T, Measured), oxidask::Error> {
    let mem = Arc::new(Memory::default());
    let opts = ComputeOptions::new()
        .memory_limit(Some(limit))
        .callback(mem.clone());
    bench::reset_peak_rss();
    let t = Instant::now();
    let out = f(&opts)?;
    let wall = t.elapsed().as_secs_f64();
    let memory = mem.last();
    Ok((
        out,
        Measured {
            wall,
            peak_mib: bench::peak_rss_mb(),
            memory,
        },
    ))
}

fn report(name: &str, m: &Measured, limit: usize, result: &str, extra: &str) {
    let mib = |b: usize| b as f64 / (1 << 20) as f64;
    println!(
        "  {name:<8} wall {:>6.2} s   peak RSS {:>6.0} MiB (limit {:.0} MiB)   spilled {:>6.0} MiB in {} files, read back {:.0} MiB{extra}",
        m.wall,
        m.peak_mib,
        mib(limit),
        mib(m.memory.spilled_bytes),
        m.memory.spilled,
        mib(m.memory.read_back_bytes),
    );
    bench::emit(
        "out_of_core",
        &format!("oxidask-{name}"),
        m.wall,
        m.peak_mib,
        &bench::digest(result),
        &format!(
            ", \"limit_mb\": {:.0}, \"spilled_mb\": {:.1}, \"read_back_mb\": {:.1}",
            mib(limit),
            mib(m.memory.spilled_bytes),
            mib(m.memory.read_back_bytes)
        ),
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let limit = oxidask::store::parse_bytes(&arg("--limit").unwrap_or("256MiB".into()))?
        .ok_or("--limit must be a size")?;
    let scale: f64 = arg("--scale").map_or(Ok(1.0), |s| s.parse())?;
    let n = |gib: f64| {
        ((gib * scale * (1u64 << 30) as f64) / (CHUNK * 8) as f64)
            .round()
            .max(2.0) as u32
    };
    println!(
        "out of core, memory limit {} MiB, chunks of 32 MiB",
        limit >> 20
    );

    // 1. Spill: every chunk is read by one final combine.
    let chunks = n(1.5);
    let (got, m) = measure(limit, |opts| {
        let mut g = TaskGraph::new();
        let make = FnOp::arc("make", |a| {
            Ok(Value::new(chunk_f64(*a[0].downcast_ref::<u32>()?, CHUNK)))
        });
        let keys: Vec<Key> = (0..chunks)
            .map(|i| {
                let k = Key::with_index("make", &[i]);
                g.insert(
                    k.clone(),
                    Task::new(make.clone(), vec![Value::new(i).into()]),
                );
                k
            })
            .collect();
        // Takes its inputs by value: each spilled chunk is read, summed, dropped.
        let total = FnOp::arc("total", |args| {
            let mut s = 0.0;
            for a in args {
                s += a.downcast_ref::<Vec<f64>>()?.iter().sum::<f64>();
            }
            Ok(Value::new(s))
        });
        g.insert(
            Key::new("total"),
            Task::new(total, keys.into_iter().map(Into::into).collect()),
        );
        compute_graph(g, &[Key::new("total")], opts).map(|v| *v[0].downcast_ref::<f64>().unwrap())
    })?;
    let expect: f64 = (0..chunks)
        .map(|i| chunk_f64(i, CHUNK).iter().sum::<f64>())
        .sum();
    check("spill", (got - expect).abs() <= 1e-9 * expect.abs())?;
    report(
        "spill",
        &m,
        limit,
        &format!("{got:.6e}"),
        &format!(
            "   ({} chunks = {:.2} GiB)",
            chunks,
            (chunks as f64 * 32.0) / 1024.0
        ),
    );

    // 2. Stream: a sum over data generated chunk by chunk.
    let chunks = n(4.0);
    let (got, m) = measure(limit, |opts| {
        let mut g = TaskGraph::new();
        let make = FnOp::arc("make", |a| {
            Ok(Value::new(chunk_u64(*a[0].downcast_ref::<u32>()?, CHUNK)))
        });
        let sum = FnOp::arc("sum", |a| {
            let mut s = 0u64;
            for v in &a {
                s = match v.downcast_ref::<Vec<u64>>() {
                    Ok(xs) => xs.iter().fold(s, |s, &x| s.wrapping_add(x)),
                    Err(_) => s.wrapping_add(*v.downcast_ref::<u64>()?),
                };
            }
            Ok(Value::new(s))
        });
        let mut level: Vec<Key> = (0..chunks)
            .map(|i| {
                let (c, p) = (
                    Key::with_index("gen", &[i]),
                    Key::with_index("partial", &[i]),
                );
                g.insert(
                    c.clone(),
                    Task::new(make.clone(), vec![Value::new(i).into()]),
                );
                g.insert(p.clone(), Task::new(sum.clone(), vec![c.into()]));
                p
            })
            .collect();
        let mut depth = 0u32;
        while level.len() > 1 {
            depth += 1;
            level = level
                .chunks(8)
                .enumerate()
                .map(|(j, ks)| {
                    let k = Key::with_index("combine", &[depth, j as u32]);
                    g.insert(
                        k.clone(),
                        Task::new(sum.clone(), ks.iter().cloned().map(Into::into).collect()),
                    );
                    k
                })
                .collect();
        }
        compute_graph(g, &level, opts).map(|v| *v[0].downcast_ref::<u64>().unwrap())
    })?;
    let expect = (0..chunks).fold(0u64, |s, i| {
        chunk_u64(i, CHUNK)
            .iter()
            .fold(s, |s, &x| s.wrapping_add(x))
    });
    check("stream", got == expect)?;
    report(
        "stream",
        &m,
        limit,
        &got.to_string(),
        &format!(
            "   ({} chunks = {:.2} GiB)",
            chunks,
            (chunks as f64 * 32.0) / 1024.0
        ),
    );
    if m.memory.spilled > 0 {
        return Err("the streaming sum spilled".into());
    }

    // 3. Shuffle: records into 64 partitions through files.
    let parts = n(2.0);
    let m_out = 64u32;
    let before = (0..parts).fold((0u64, 0u64), |(c, s), i| {
        let xs = chunk_u64(i, CHUNK);
        (
            c + xs.len() as u64,
            xs.iter().fold(s, |s, &x| s.wrapping_add(x)),
        )
    });
    let (after, m) = measure(limit, |opts| {
        let mut g = TaskGraph::new();
        let make = FnOp::arc("make", |a| {
            Ok(Value::new(chunk_u64(*a[0].downcast_ref::<u32>()?, CHUNK)))
        });
        let inputs: Vec<Key> = (0..parts)
            .map(|i| {
                let k = Key::with_index("records", &[i]);
                g.insert(
                    k.clone(),
                    Task::new(make.clone(), vec![Value::new(i).into()]),
                );
                k
            })
            .collect();
        let spec = ShuffleSpec {
            name: "shuffle-ooc".into(),
            inputs,
            npartitions: m_out,
            split: Arc::new(|_: usize, v: Value, m: u32| {
                let xs = v.downcast_ref::<Vec<u64>>()?;
                let mut pieces = vec![Vec::with_capacity(xs.len() / m as usize + 64); m as usize];
                for &x in xs {
                    pieces[(x % m as u64) as usize].push(x);
                }
                Ok(pieces.into_iter().map(Value::new).collect())
            }),
            combine: Arc::new(|pieces: Vec<Value>| {
                let mut out = Vec::new();
                for p in pieces {
                    out.extend_from_slice(p.downcast_ref::<Vec<u64>>()?);
                }
                Ok(Value::new(out))
            }),
            dir: None,
        };
        let (tasks, outs) = hash_shuffle(spec);
        g.merge(tasks);
        // Each output partition is checked where it lands: (count, sum), then combined.
        let check_part = FnOp::arc("check", |a| {
            let xs = a[0].downcast_ref::<Vec<u64>>()?;
            Ok(Value::new(vec![
                xs.len() as u64,
                xs.iter().fold(0u64, |s, &x| s.wrapping_add(x)),
            ]))
        });
        let fold = FnOp::arc("fold", |a| {
            let mut acc = [0u64; 2];
            for v in &a {
                let cs = v.downcast_ref::<Vec<u64>>()?;
                acc = [acc[0] + cs[0], acc[1].wrapping_add(cs[1])];
            }
            Ok(Value::new(acc.to_vec()))
        });
        let checks: Vec<Key> = outs
            .iter()
            .enumerate()
            .map(|(j, o)| {
                let k = Key::with_index("check", &[j as u32]);
                g.insert(
                    k.clone(),
                    Task::new(check_part.clone(), vec![o.clone().into()]),
                );
                k
            })
            .collect();
        g.insert(
            Key::new("all"),
            Task::new(fold, checks.into_iter().map(Into::into).collect()),
        );
        compute_graph(g, &[Key::new("all")], opts).map(|v| {
            let cs = v[0].downcast_ref::<Vec<u64>>().unwrap();
            (cs[0], cs[1])
        })
    })?;
    check("shuffle", after == before)?;
    // Baseline: the same bytes written once and read once with std::fs.
    let dir = std::env::temp_dir().join(format!("oxidask-ooc-baseline-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let t = Instant::now();
    for i in 0..parts {
        let xs = chunk_u64(i, CHUNK);
        let mut bytes = Vec::with_capacity(xs.len() * 8);
        xs.iter()
            .for_each(|x| bytes.extend_from_slice(&x.to_le_bytes()));
        std::fs::write(dir.join(format!("{i}.bin")), &bytes)?;
    }
    let mut read = 0usize;
    for i in 0..parts {
        read += std::fs::read(dir.join(format!("{i}.bin")))?.len();
    }
    let baseline = t.elapsed().as_secs_f64();
    std::fs::remove_dir_all(&dir)?;
    report(
        "shuffle",
        &m,
        limit,
        &format!("[{},{}]", after.0, after.1),
        &format!(
            "   ({parts} → {m_out} partitions, {:.2} GiB, {} records; plain std::fs generate+write+read {:.2} s → {:.2}x)",
            read as f64 / (1u64 << 30) as f64,
            before.0,
            baseline,
            m.wall / baseline
        ),
    );
    Ok(())
}

fn check(name: &str, ok: bool) -> Result<(), Box<dyn std::error::Error>> {
    if ok {
        Ok(())
    } else {
        Err(format!("{name}: wrong result").into())
    }
}
