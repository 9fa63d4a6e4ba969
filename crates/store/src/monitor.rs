//! The memory monitor: while buffers with a memory limit are alive, one
//! thread samples the process's resident memory every
//! [`MONITOR_INTERVAL`] and, when it is over half the tightest limit and
//! has grown by a quarter of the limit since the last trim, hands the
//! memory the allocator keeps free back to the operating system (Dask's
//! workers do the same with `MALLOC_TRIM_THRESHOLD_` and their memory
//! monitor).
//!
//! Why: glibc's malloc keeps freed memory in its per-thread arenas for
//! reuse, and polars frees many buffers of every size, so a process's RSS
//! climbs far above what it uses. Measured on a sort of the taxi data
//! (16 M rows, 1.9 GiB in memory) under a 512 MiB limit: 682 MiB in the
//! arenas, of which 161 MiB in use, RSS 742 MiB. `malloc_trim` releases the
//! free pages (only those: nothing is moved, no pointer changes). Neither
//! the store's accounting nor the tasks see it; the cost is a few
//! milliseconds per trim while memory is tight, nothing otherwise — the
//! hot path of a task does not know the monitor exists.
//!
//! Only on Linux with glibc; elsewhere [`watch`] registers nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

/// How often the monitor samples the resident memory (Dask's
/// `distributed.worker.memory.monitor-interval`).
pub const MONITOR_INTERVAL: Duration = Duration::from_millis(100);

/// How many times the monitor has returned free memory to the OS in this
/// process (for tests and diagnostics).
pub fn trims() -> u64 {
    TRIMS.load(Ordering::Relaxed)
}

static TRIMS: AtomicU64 = AtomicU64::new(0);

/// A memory limit being watched; the monitor forgets it when dropped.
pub struct Watch {
    _limit: Arc<usize>,
}

struct Registry {
    limits: Mutex<Vec<Weak<usize>>>,
    added: Condvar,
    /// Counts [`watch`] calls: a new computation starts a new baseline.
    generation: AtomicU64,
}

static REGISTRY: Registry = Registry {
    limits: Mutex::new(Vec::new()),
    added: Condvar::new(),
    generation: AtomicU64::new(0),
};

/// Watches the process's memory against `limit` bytes for as long as the
/// returned [`Watch`] lives, starting the monitor thread on first use.
pub fn watch(limit: usize) -> Option<Watch> {
    if !SUPPORTED {
        return None;
    }
    static STARTED: std::sync::Once = std::sync::Once::new();
    let mut failed = false;
    STARTED.call_once(|| {
        let spawned = std::thread::Builder::new()
            .name("oxidask-memory-monitor".into())
            .spawn(monitor);
        if let Err(e) = spawned {
            tracing::warn!("could not start the memory monitor: {e}");
            failed = true;
        }
    });
    if failed {
        return None;
    }
    let limit = Arc::new(limit);
    let mut limits = REGISTRY.limits.lock();
    limits.push(Arc::downgrade(&limit));
    REGISTRY.generation.fetch_add(1, Ordering::Relaxed);
    REGISTRY.added.notify_one();
    Some(Watch { _limit: limit })
}

/// The tightest limit still watched, forgetting the dropped ones; waits
/// while there are none.
fn tightest() -> usize {
    let mut limits = REGISTRY.limits.lock();
    loop {
        limits.retain(|l| l.strong_count() > 0);
        if let Some(min) = limits.iter().filter_map(Weak::upgrade).map(|l| *l).min() {
            return min;
        }
        REGISTRY.added.wait(&mut limits);
    }
}

fn monitor() {
    // The lowest RSS since the last trim: a trim is worth its cost (the
    // pages it frees fault in again when reused) only once the process has
    // grown well past it — otherwise a process that simply uses more than
    // half its limit would be trimmed every interval for nothing. A new
    // watch starts from zero, so a process that is already bloated when a
    // computation starts is trimmed once.
    let mut floor = 0;
    let mut seen = 0;
    loop {
        let limit = tightest();
        std::thread::sleep(MONITOR_INTERVAL);
        let generation = REGISTRY.generation.load(Ordering::Relaxed);
        if generation != seen {
            (seen, floor) = (generation, 0);
        }
        let Some(rss) = resident_bytes() else {
            continue;
        };
        floor = floor.min(rss);
        if worth_trimming(rss, floor, limit) {
            if release_free_memory() {
                TRIMS.fetch_add(1, Ordering::Relaxed);
            }
            floor = resident_bytes().unwrap_or(rss);
        }
    }
}

/// Whether to trim at `rss` bytes resident, `floor` the lowest since the
/// last trim: over half the limit, and grown by a quarter of it.
fn worth_trimming(rss: usize, floor: usize, limit: usize) -> bool {
    rss > limit / 2 && rss.saturating_sub(floor) > limit / 4
}

/// The process's resident memory in bytes (`/proc/self/statm`; `None`
/// where that cannot be read).
pub fn resident_bytes() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
const SUPPORTED: bool = true;
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
const SUPPORTED: bool = false;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions; it returns -1 on error.
    #[allow(unsafe_code)]
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).unwrap_or(4096)
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn page_size() -> usize {
    4096
}

/// Returns the allocator's free pages to the OS; true if any were.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_free_memory() -> bool {
    // SAFETY: malloc_trim only releases pages of free chunks (madvise) and
    // shrinks the heap top; it takes each arena's lock, so it is safe to
    // call while other threads allocate.
    #[allow(unsafe_code)]
    let released = unsafe { libc::malloc_trim(0) };
    released == 1
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_memory() -> bool {
    false
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;

    #[test]
    fn trims_wait_for_growth_past_the_last_trim() {
        let mib = 1 << 20;
        // Under half the limit: never.
        assert!(!worth_trimming(100 * mib, 0, 256 * mib));
        // Over half, grown by more than a quarter since the last trim.
        assert!(worth_trimming(200 * mib, 0, 256 * mib));
        assert!(worth_trimming(300 * mib, 200 * mib, 256 * mib));
        // Over half but about where the last trim left it: not again.
        assert!(!worth_trimming(210 * mib, 200 * mib, 256 * mib));
        assert!(!worth_trimming(10 * mib, 20 * mib, 16 * mib));
    }

    #[test]
    fn freed_memory_goes_back_to_the_os_while_a_limit_is_watched() {
        // Many mid-sized blocks (below glibc's mmap threshold, so they come
        // from the arenas), all freed but the last: the arena keeps them.
        let before = resident_bytes().unwrap();
        let mut blocks: Vec<Vec<u8>> = (0..2_000)
            .map(|i| vec![1 + (i % 250) as u8; 64 << 10])
            .collect();
        let last = blocks.pop();
        drop(blocks);
        let held = resident_bytes().unwrap();
        assert!(held > before + (64 << 20), "{before} → {held}");
        let trims = self::trims();
        // A limit this small puts the process over half of it; a new watch
        // starts a new baseline, so the monitor trims at its next sample.
        let watch = watch(4 << 20).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while self::trims() == trims && std::time::Instant::now() < deadline {
            std::thread::sleep(MONITOR_INTERVAL);
        }
        let after = resident_bytes().unwrap();
        assert!(self::trims() > trims, "the monitor never trimmed");
        assert!(after + (64 << 20) < held, "{held} → {after}");
        drop(watch);
        drop(last);
    }
}
