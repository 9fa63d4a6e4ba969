//! A terminal progress bar for computations.

use std::sync::Arc;

use parking_lot::Mutex;

use crate::events::{self, Callback, Event, Registration};

/// Shows a progress bar (tasks done / total, rate, results held) on stderr
/// while a computation runs. Switch it on for every computation with
/// `let _bar = ProgressBar::new().register();`, or pass it to one call.
/// Hidden automatically when stderr is not a terminal.
#[derive(Clone)]
pub struct ProgressBar {
    inner: Arc<Inner>,
}

struct Inner {
    label: String,
    bar: Mutex<Option<indicatif::ProgressBar>>,
}

impl Default for ProgressBar {
    fn default() -> Self {
        ProgressBar::new()
    }
}

impl ProgressBar {
    /// A progress bar without a label.
    pub fn new() -> ProgressBar {
        ProgressBar::with_label("")
    }

    /// A progress bar whose line starts with `label`.
    pub fn with_label(label: impl Into<String>) -> ProgressBar {
        ProgressBar {
            inner: Arc::new(Inner {
                label: label.into(),
                bar: Mutex::new(None),
            }),
        }
    }

    /// Shows this bar for every computation until the guard is dropped.
    #[must_use = "the progress bar is switched off when the guard is dropped"]
    pub fn register(&self) -> Registration {
        events::register(Arc::new(self.clone()))
    }
}

impl Callback for ProgressBar {
    fn on_event(&self, event: &Event<'_>) {
        match event {
            Event::Started { ntasks, .. } => {
                let bar = indicatif::ProgressBar::new(*ntasks as u64);
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{prefix}[{elapsed_precise}] {bar:30} {pos}/{len} tasks ({per_sec}) {msg}",
                    )
                    .expect("the template is valid"),
                );
                bar.set_prefix(if self.inner.label.is_empty() {
                    String::new()
                } else {
                    format!("{} ", self.inner.label)
                });
                *self.inner.bar.lock() = Some(bar);
            }
            Event::TaskFinished { memory, .. } => {
                if let Some(bar) = &*self.inner.bar.lock() {
                    bar.inc(1);
                    if bar.position() % 64 == 0 {
                        bar.set_message(memory_message(memory));
                    }
                }
            }
            Event::Finished { ok, memory, .. } => {
                if let Some(bar) = self.inner.bar.lock().take() {
                    bar.set_message(memory_message(memory));
                    if *ok {
                        bar.finish()
                    } else {
                        bar.abandon_with_message("failed")
                    }
                }
            }
            _ => {}
        }
    }
}

fn memory_message(m: &oxidask_store::MemoryStats) -> String {
    let mut s = format!("held {}", human_bytes(m.held_bytes));
    if m.spilled > 0 {
        s.push_str(&format!(
            ", spilled {} ({} on disk)",
            human_bytes(m.spilled_bytes),
            human_bytes(m.on_disk_bytes)
        ));
    }
    s
}

/// Formats a byte count with a binary unit, e.g. `1.5 GiB`.
pub fn human_bytes(bytes: usize) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut x = bytes as f64;
    let mut u = 0;
    while x >= 1024.0 && u + 1 < UNITS.len() {
        x /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{x:.1} {}", UNITS[u])
    }
}
