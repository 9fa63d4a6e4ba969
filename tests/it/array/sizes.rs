//! Sizes are checked arithmetic (issue 9, "also fix"): shapes, chunk counts
//! and `.npy` headers that would overflow are errors naming the argument or
//! the file, never a wrapped size, a panic or an aborted allocation; a
//! `.npy` file that shrinks or goes away after the array was built is an
//! error naming the file and the OS error.

use oxidask::array as da;
use oxidask::prelude::*;

fn temp_dir(tag: &str) -> oxidask_testing::TempDir {
    oxidask_testing::TempDir::new(tag)
}

/// A `.npy` file with this header text and `data` bytes after it.
fn npy_with_header(path: &std::path::Path, dict: &str, data: usize) {
    let mut h = dict.to_string();
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(' ');
    }
    h.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(h.len() as u16).to_le_bytes());
    bytes.extend_from_slice(h.as_bytes());
    bytes.resize(bytes.len() + data, 0);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn crafted_npy_shapes_that_overflow_are_errors_naming_the_file() {
    let dir = temp_dir("npy-shape");
    for shape in [
        "(2305843009213693952, 8)",     // 2^61 × 8 elements: wraps × 8 bytes to 0
        "(4294967296, 4294967296, 16)", // 2^68 elements
        "(1152921504606846976, 2)",     // 2^61 elements, no wrap in usize
        "(18446744073709551615,)",      // usize::MAX elements
    ] {
        let path = dir.join("crafted.npy");
        npy_with_header(
            &path,
            &format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}"),
            64,
        );
        let e = da::from_npy::<f64>(&path, 1 << 20)
            .expect_err(shape)
            .to_string();
        assert!(
            e.contains("crafted.npy") && e.contains("too large"),
            "{shape}: {e}"
        );
    }
    // A shape that fits but whose data is missing is still "truncated".
    let path = dir.join("short.npy");
    npy_with_header(
        &path,
        "{'descr': '<f8', 'fortran_order': False, 'shape': (1000, 8), }",
        64,
    );
    let e = da::from_npy::<f64>(&path, 100).unwrap_err().to_string();
    assert!(e.contains("short.npy") && e.contains("truncated"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn huge_shapes_and_chunk_counts_are_errors_naming_the_argument() {
    // arange with 1e30 elements: an error, not an aborted allocation.
    let e = da::arange(0.0f64, 1e30, 1.0, 1_000_000)
        .unwrap_err()
        .to_string();
    assert!(e.contains("`stop`") && e.contains("1e30"), "{e}");
    // 2^66 elements: an error, not a size of 0.
    let e = da::zeros::<f64>(&[1 << 33, 1 << 33], 1 << 20)
        .unwrap_err()
        .to_string();
    assert!(e.contains("`shape`") && e.contains("2^60"), "{e}");
    // Exactly at the limit is fine, and the size is right.
    let z = da::zeros::<f64>(&[1 << 30, 1 << 30], 1 << 20).unwrap();
    assert_eq!(z.size(), 1 << 60);
    assert_eq!(z.nbytes(), 1 << 63);
    // Too many blocks: counted before anything is allocated.
    let e = da::arange(0i64, 1 << 50, 1, 1).unwrap_err().to_string();
    assert!(e.contains("`chunks`") && e.contains("blocks"), "{e}");
    let e = da::zeros::<f64>(&[1 << 20, 1 << 20], 16)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("`chunks`") && e.contains("[65536, 65536]"),
        "{e}"
    );
    // Broadcasting multiplies sizes.
    let a = da::ones::<f64>(&[1 << 40, 1], da::Chunks::full()).unwrap();
    let b = da::ones::<f64>(&[1, 1 << 40], da::Chunks::full()).unwrap();
    let e = a.add(&b).unwrap_err().to_string();
    assert!(e.contains("`other`") && e.contains("2^60"), "{e}");
    // Concatenation adds them.
    let c = da::ones::<u8>(&[1 << 60], da::Chunks::full()).unwrap();
    let e = da::concatenate(&[&c, &c], 0).unwrap_err().to_string();
    assert!(e.contains("`arrays`"), "{e}");
}

#[test]
fn npy_files_that_shrink_or_vanish_after_building_name_the_file_and_the_os_error() {
    let dir = temp_dir("npy-gone");
    let n = 100_000usize;
    let x = da::arange(0.0f64, n as f64, 1.0, 25_000).unwrap();
    let sync = ComputeOptions::new().scheduler(SchedulerChoice::Sync);
    for (what, cut) in [("truncated", true), ("deleted", false)] {
        let path = dir.join(format!("{what}.npy"));
        x.to_npy(&path).unwrap();
        let y = da::from_npy::<f64>(&path, 25_000).unwrap();
        assert_eq!(y.sum().compute().unwrap(), (n * (n - 1) / 2) as f64);
        if cut {
            let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            f.set_len(1000).unwrap();
        } else {
            std::fs::remove_file(&path).unwrap();
        }
        let os = if cut {
            "failed to fill whole buffer"
        } else {
            "os error 2"
        };
        // Streamed (full reduction), through an elementwise chain, and
        // materialized (compute, partial reduction).
        let errors = [
            y.sum().compute_with(&sync).map(|_| ()),
            (&y * 2.0).mean().compute_with(&sync).map(|_| ()),
            y.compute_with(&sync).map(|_| ()),
            y.sum_with(&da::Reduce::axis(0).keepdims(true))
                .unwrap()
                .compute_with(&sync)
                .map(|_| ()),
        ];
        for e in errors {
            let e = e.expect_err(what).to_string();
            assert!(
                e.contains(&format!("{what}.npy")) && e.contains(os),
                "{what}: {e}"
            );
            assert!(!e.contains("a source produced"), "{what}: {e}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
