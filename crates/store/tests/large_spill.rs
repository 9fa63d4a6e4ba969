//! Spilling and reading back a large block holds no second full-size copy
//! of it: peak heap is measured with a counting allocator (the tests of this
//! binary take turns, so nothing else allocates meanwhile).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use ndarray::{ArrayD, IxDyn};
use oxidask_graph::Value;
use oxidask_store::spill::SpillDir;
use oxidask_store::{Store, StoreOptions};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

#[allow(unsafe_code)]
// SAFETY: forwards to the system allocator unchanged; only counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let now = if new_size >= layout.size() {
            CURRENT.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size
                - layout.size()
        } else {
            CURRENT.fetch_sub(layout.size() - new_size, Ordering::Relaxed)
                - (layout.size() - new_size)
        };
        PEAK.fetch_max(now, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// One measuring test at a time: the counters are process-wide.
static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Heap bytes allocated above the level at the start of `f`, at its peak.
fn peak_above_start<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let start = CURRENT.load(Ordering::Relaxed);
    PEAK.store(start, Ordering::Relaxed);
    let r = f();
    (r, PEAK.load(Ordering::Relaxed) - start)
}

const MIB: usize = 1 << 20;

fn block() -> ArrayD<f64> {
    // 64 MiB of f64, distinct values so a wrong byte shows.
    ArrayD::from_shape_fn(IxDyn(&[2048, 4096]), |ix| {
        (ix[0] * 4096 + ix[1]) as f64 * 0.5
    })
}

#[test]
fn a_64_mib_block_spills_and_reads_back_without_a_second_copy() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let expected = block();
    let size = expected.len() * 8;
    assert!(size >= 64 * MIB);
    let value = Value::new(expected.clone());
    let meta = value.meta();
    let dir = SpillDir::new(None);

    // Writing: encoded straight into the file through small buffers.
    let (file, extra) = peak_above_start(|| {
        dir.write_with(7, |w| value.encode_to(w))
            .expect("spill write")
    });
    assert!(
        extra < 4 * MIB,
        "spilling {size} bytes allocated {extra} bytes on top (a second copy?)"
    );
    assert_eq!(file.len(), size + 4 + 2 * 8);
    drop(value);

    // Reading back: the file is mapped; only the decoded block is allocated.
    let (back, extra) = peak_above_start(|| {
        let lazy = Value::lazy(file.clone(), &meta);
        lazy.resolve().expect("read back")
    });
    assert!(
        extra < size + 4 * MIB,
        "reading back {size} bytes allocated {extra} bytes (more than one copy)"
    );
    assert_eq!(back.downcast_ref::<ArrayD<f64>>().unwrap(), &expected);
}

#[test]
fn through_the_store_a_spilled_block_costs_no_encode_buffer() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    // Two 64 MiB blocks under a 100 MiB limit: putting the second spills the
    // first on the writer thread; the spill adds no full-size buffer.
    let expected = block();
    let store = Store::new(
        vec![1, 1],
        StoreOptions {
            memory_limit: Some(100 * MIB),
            spill_dir: None,
        },
    );
    let a = Value::new(expected.clone());
    let b = Value::new(ArrayD::<f64>::zeros(IxDyn(&[2048, 4096])));
    let ((), extra) = peak_above_start(|| {
        store.put(0, a).expect("put a");
        store.put(1, b).expect("put b (spills a)");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while store.stats().spilled == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the first block was never spilled"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    });
    assert!(
        extra < 4 * MIB,
        "spilling through the store allocated {extra} bytes on top of the blocks"
    );
    let back = store.take(0).expect("a").resolve().expect("read back");
    assert_eq!(back.downcast_ref::<ArrayD<f64>>().unwrap(), &expected);
}
