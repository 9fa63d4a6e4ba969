//! Spill and shuffle directories that outlive no process.
//!
//! Every directory the store makes for its files goes through [`create_dir`]
//! and [`remove_dir`], which keep a process-wide list of the live ones. Two
//! things use that list:
//!
//! 1. **Signals.** When the first directory is created, a handler for
//!    SIGINT and SIGTERM is installed (once per process, only if
//!    [`set_cleanup_on_signal`] left it on — the default). On a signal it
//!    removes the live directories (and the parents made for them), then
//!    ends the process as the signal would have: the default action is
//!    restored and the signal raised again (exit status 128 + signal
//!    number where that fails). A program that handles SIGINT or SIGTERM
//!    itself should switch this off (`Config::cleanup_on_signal`, or
//!    `OXIDASK_CLEANUP_ON_SIGNAL=0`) before its first computation: once
//!    installed, the handler runs alongside the program's own and then
//!    terminates the process.
//! 2. **Stale directories.** SIGKILL cannot be caught. Directories are named
//!    `oxidask-{spill,shuffle}-{pid}-{start}-{n}[-{name}]`, where `start` is
//!    the process's start time (field 22 of `/proc/self/stat`). The first
//!    time a process creates a directory under a parent, it removes the
//!    directories there whose process no longer runs — whose pid is gone,
//!    or is now another process with another start time (pid reuse).
//!    Names of another form are never touched.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

/// Directories alive in this process, each with the parents made for it
/// (deepest first).
static LIVE: Mutex<Option<HashMap<PathBuf, Vec<PathBuf>>>> = Mutex::new(None);
/// Parents already swept for stale directories by this process.
static SWEPT: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);
static ON_SIGNAL: AtomicBool = AtomicBool::new(true);
/// Set (under the `LIVE` lock) when a signal is ending the process: no new
/// directory may be created after the live ones were collected for removal.
static ENDING: AtomicBool = AtomicBool::new(false);
static INSTALLED: OnceLock<()> = OnceLock::new();

/// Whether to remove spill and shuffle directories on SIGINT/SIGTERM
/// (default: on). Takes effect for directories created afterwards; a
/// handler already installed stays.
pub fn set_cleanup_on_signal(on: bool) {
    ON_SIGNAL.store(on, Ordering::Relaxed);
}

/// Whether a signal handler has been installed by this process.
pub fn signal_handler_installed() -> bool {
    INSTALLED.get().is_some()
}

/// This process's start time in clock ticks since boot, where known.
fn start_time_of(pid: &str) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    // `rest` starts at field 3 (state); the start time is field 22.
    rest.split_whitespace().nth(19)?.parse().ok()
}

fn own_start_time() -> u64 {
    static START: OnceLock<u64> = OnceLock::new();
    *START.get_or_init(|| start_time_of("self").unwrap_or(0))
}

/// `oxidask-{kind}-{pid}-{start}-{n}`, plus `-{suffix}` when not empty.
pub(crate) fn dir_name(kind: &str, n: u64, suffix: &str) -> String {
    let base = format!(
        "oxidask-{kind}-{}-{}-{n}",
        std::process::id(),
        own_start_time()
    );
    if suffix.is_empty() {
        base
    } else {
        format!("{base}-{suffix}")
    }
}

/// The pid and start time in a directory name of ours, else `None`.
fn parse_name(name: &str) -> Option<(u32, u64)> {
    let (rest, has_suffix) = if let Some(r) = name.strip_prefix("oxidask-spill-") {
        (r, false)
    } else {
        (name.strip_prefix("oxidask-shuffle-")?, true)
    };
    let mut parts = rest.splitn(4, '-');
    let pid = parts.next()?.parse().ok()?;
    let start = parts.next()?.parse().ok()?;
    let _n: u64 = parts.next()?.parse().ok()?;
    // Spill directories end at `n`; shuffle ones carry a name after it.
    if parts.next().is_some() != has_suffix {
        return None;
    }
    Some((pid, start))
}

/// Whether the process that made a directory named `pid`, `start` has ended.
fn is_stale(pid: u32, start: u64) -> bool {
    if own_start_time() == 0 {
        // No /proc: nothing can be told apart, remove nothing.
        return false;
    }
    match start_time_of(&pid.to_string()) {
        None => !Path::new(&format!("/proc/{pid}")).exists(),
        Some(s) => s != start,
    }
}

/// Removes the directories under `parent` left by processes that no longer
/// run; returns how many. Done once per parent per process by [`create_dir`].
pub fn sweep_stale(parent: &Path) -> usize {
    let Ok(entries) = fs::read_dir(parent) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some((pid, start)) = name.to_str().and_then(parse_name) else {
            continue;
        };
        if is_stale(pid, start) && fs::remove_dir_all(entry.path()).is_ok() {
            tracing::info!(
                "removed {} left by process {pid}, which no longer runs",
                entry.path().display()
            );
            removed += 1;
        }
    }
    removed
}

/// Creates `dir` (and the parents it needs) and registers it for cleanup
/// on signals; sweeps its parent for stale directories first, once.
pub(crate) fn create_dir(dir: &Path) -> io::Result<()> {
    if let Some(parent) = dir.parent() {
        let first = SWEPT
            .lock()
            .get_or_insert_with(HashSet::new)
            .insert(parent.to_path_buf());
        if first {
            sweep_stale(parent);
        }
    }
    // The ancestors that do not exist yet are ours to remove later.
    let mut made = Vec::new();
    let mut p = dir.parent();
    while let Some(a) = p {
        if a.as_os_str().is_empty() || a.exists() {
            break;
        }
        made.push(a.to_path_buf());
        p = a.parent();
    }
    {
        let mut live = LIVE.lock();
        if ENDING.load(Ordering::Acquire) {
            return Err(io::Error::new(
                io::ErrorKind::Interrupted,
                "the process is ending on a signal",
            ));
        }
        if let Err(e) = fs::create_dir_all(dir) {
            remove_parents(&made);
            return Err(e);
        }
        live.get_or_insert_with(HashMap::new)
            .insert(dir.to_path_buf(), made);
    }
    if ON_SIGNAL.load(Ordering::Relaxed) {
        install_handler();
    }
    Ok(())
}

/// Removes `dir` with everything in it, and the parents made for it if
/// they are empty now.
pub(crate) fn remove_dir(dir: &Path) -> io::Result<()> {
    let made = LIVE
        .lock()
        .as_mut()
        .and_then(|l| l.remove(dir))
        .unwrap_or_default();
    let result = match fs::remove_dir_all(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    };
    remove_parents(&made);
    result
}

/// Removes an empty directory created for files (the shuffle's, between
/// runs); keeps it registered parents and all if it is not empty.
pub(crate) fn remove_if_empty(dir: &Path) {
    if fs::remove_dir(dir).is_ok() {
        let made = LIVE
            .lock()
            .as_mut()
            .and_then(|l| l.remove(dir))
            .unwrap_or_default();
        remove_parents(&made);
    }
}

fn remove_parents(made: &[PathBuf]) {
    // Deepest first; one still in use (not empty) stops nothing but itself.
    for p in made {
        let _ = fs::remove_dir(p);
    }
}

/// Removes every live directory now (the signal handler's work).
fn remove_all_live() {
    let live: Vec<(PathBuf, Vec<PathBuf>)> = {
        let mut live = LIVE.lock();
        ENDING.store(true, Ordering::Release);
        live.as_mut()
            .map(|l| l.drain().collect())
            .unwrap_or_default()
    };
    for (dir, made) in live {
        // Workers may still be writing: a second pass catches late files.
        for _ in 0..3 {
            if fs::remove_dir_all(&dir).is_ok() || !dir.exists() {
                break;
            }
        }
        remove_parents(&made);
    }
}

#[cold]
fn install_handler() {
    INSTALLED.get_or_init(|| {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let mut signals = match signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("cannot watch SIGINT/SIGTERM to clean up spill files: {e}");
                return;
            }
        };
        let spawned = std::thread::Builder::new()
            .name("oxidask-signals".into())
            .spawn(move || {
                if let Some(sig) = signals.forever().next() {
                    remove_all_live();
                    // End as the signal would have; exit 128+sig if that fails.
                    let _ = signal_hook::low_level::emulate_default_handler(sig);
                    std::process::exit(128 + sig);
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("cannot start the signal thread that cleans up spill files: {e}");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_only_in_our_form() {
        assert_eq!(parse_name("oxidask-spill-12-345-0"), Some((12, 345)));
        assert_eq!(
            parse_name("oxidask-shuffle-12-345-6-groupby-ab"),
            Some((12, 345))
        );
        // The old forms, and other files, are never ours to remove.
        assert_eq!(parse_name("oxidask-spill-12-0"), None);
        assert_eq!(parse_name("oxidask-shuffle-shuffle-test-12-0"), None);
        assert_eq!(parse_name("oxidask-spill-12-345-0-x"), None);
        assert_eq!(parse_name("oxidask-it-wide-12"), None);
        let ours = dir_name("spill", 7, "");
        let (pid, start) = parse_name(&ours).unwrap();
        assert_eq!(pid, std::process::id());
        assert!(!is_stale(pid, start), "this process is alive");
    }

    #[test]
    fn stale_directories_go_live_ones_stay() {
        let parent = std::env::temp_dir().join(format!("oxidask-sweep-{}", std::process::id()));
        let _ = fs::remove_dir_all(&parent);
        fs::create_dir_all(&parent).unwrap();
        let me = std::process::id();
        let start = own_start_time();
        let init = start_time_of("1").unwrap();
        let dirs = [
            (format!("oxidask-spill-{me}-{start}-0"), true),
            // Our pid with another start time: the pid was reused.
            (format!("oxidask-spill-{me}-{}-0", start + 1), false),
            (format!("oxidask-shuffle-{me}-{}-0-x", start + 1), false),
            (format!("oxidask-spill-1-{init}-0"), true),
            // A pid that does not exist.
            (format!("oxidask-spill-{}-5-0", u32::MAX - 1), false),
            ("oxidask-spill-999999-0".to_string(), true),
            ("unrelated".to_string(), true),
        ];
        for (d, _) in &dirs {
            fs::create_dir_all(parent.join(d).join("sub")).unwrap();
        }
        assert_eq!(sweep_stale(&parent), 3);
        for (d, kept) in &dirs {
            assert_eq!(parent.join(d).exists(), *kept, "{d}");
        }
        fs::remove_dir_all(&parent).unwrap();
    }

    #[test]
    fn parents_made_for_a_directory_are_removed_with_it() {
        let root = std::env::temp_dir().join(format!("oxidask-parents-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).unwrap();
        let dir = root.join("a/b").join(dir_name("spill", 0, ""));
        create_dir(&dir).unwrap();
        assert!(dir.exists());
        remove_dir(&dir).unwrap();
        assert!(
            !root.join("a").exists(),
            "parents made for spilling left behind"
        );
        assert!(root.exists(), "a parent that existed before was removed");
        fs::remove_dir_all(&root).unwrap();
    }
}
