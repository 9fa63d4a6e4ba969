//! A terminal progress bar for computations.

use std::sync::Arc;

use parking_lot::Mutex;

use crate::events::{self, Callback, Event, Registration};

/// Shows a progress bar (tasks done / total, rate, results held) on stderr
/// while a computation runs. Switch it on for every computation with
/// `let _bar = ProgressBar::new().register();`, or pass it to one call.
/// Hidden automatically when stderr is not a terminal.
///
/// The bar fits the terminal's width (the memory message is cut first),
/// and when the computation ends it leaves one finished line of at most 79
/// columns, ended by a newline, so the program's next output starts on a
/// line of its own.
#[derive(Clone)]
pub struct ProgressBar {
    inner: Arc<Inner>,
}

/// Makes the terminal a bar draws to (stderr, or a test's recorder).
type MakeTarget = Arc<dyn Fn() -> indicatif::ProgressDrawTarget + Send + Sync>;

struct Inner {
    label: String,
    bar: Mutex<Option<indicatif::ProgressBar>>,
    target: MakeTarget,
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
        ProgressBar::with_target(label, Arc::new(indicatif::ProgressDrawTarget::stderr))
    }

    fn with_target(label: impl Into<String>, target: MakeTarget) -> ProgressBar {
        ProgressBar {
            inner: Arc::new(Inner {
                label: label.into(),
                bar: Mutex::new(None),
                target,
            }),
        }
    }

    /// Shows this bar for every computation until the guard is dropped.
    #[must_use = "the progress bar is switched off when the guard is dropped"]
    pub fn register(&self) -> Registration {
        events::register(Arc::new(self.clone()))
    }

    /// The label and a space, the label cut to 20 characters so the bar's
    /// fixed parts leave room on an 80-column line.
    fn prefix(&self) -> String {
        if self.inner.label.is_empty() {
            String::new()
        } else {
            format!("{} ", fit(&self.inner.label, 20))
        }
    }
}

/// Tasks per second, rounded to what a reader can take in: `41k/s`,
/// `950/s`, `3.5/s`.
fn rate(per_sec: f64) -> String {
    if !per_sec.is_finite() || per_sec <= 0.0 {
        "0/s".into()
    } else if per_sec >= 1e6 {
        format!("{:.1}M/s", per_sec / 1e6)
    } else if per_sec >= 1e4 {
        format!("{:.0}k/s", per_sec / 1e3)
    } else if per_sec >= 10.0 {
        format!("{per_sec:.0}/s")
    } else {
        format!("{per_sec:.1}/s")
    }
}

fn style() -> indicatif::ProgressStyle {
    indicatif::ProgressStyle::with_template(
        "{prefix}[{elapsed_precise}] {bar:12} {pos}/{len} ({rate}) {wide_msg}",
    )
    .expect("the template is valid")
    .with_key(
        "rate",
        |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = w.write_str(&rate(s.per_sec()));
        },
    )
}

impl Callback for ProgressBar {
    fn on_event(&self, event: &Event<'_>) {
        match event {
            Event::Started { ntasks, .. } => {
                let bar = indicatif::ProgressBar::with_draw_target(
                    Some(*ntasks as u64),
                    (self.inner.target)(),
                );
                bar.set_style(style());
                bar.set_prefix(self.prefix());
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
            Event::Finished {
                ok,
                memory,
                elapsed,
                ..
            } => {
                if let Some(bar) = self.inner.bar.lock().take() {
                    // The last line is printed as a line (ending in a newline)
                    // and the live bar cleared, so nothing is left half-drawn.
                    let done = bar.position();
                    let secs = elapsed.as_secs_f64();
                    let line = format!(
                        "{}[{}] {done}/{} tasks {} in {secs:.2} s ({}), {}",
                        self.prefix(),
                        if *ok { "done" } else { "failed" },
                        bar.length().unwrap_or(done),
                        if *ok { "computed" } else { "run" },
                        rate(done as f64 / secs.max(1e-9)),
                        memory_message(memory)
                    );
                    bar.println(fit(&line, FINAL_WIDTH));
                    bar.finish_and_clear();
                }
            }
            _ => {}
        }
    }
}

/// The final line's width: short enough for any terminal of 80 columns or
/// more (the live bar itself fits whatever width the terminal has).
const FINAL_WIDTH: usize = 79;

/// `line` cut to `width` characters, with `…` where it was cut.
fn fit(line: &str, width: usize) -> String {
    if line.chars().count() <= width {
        return line.to_string();
    }
    let mut cut: String = line.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    /// A terminal of 80 columns that records what is written to it.
    #[derive(Clone, Debug, Default)]
    struct Screen(Arc<Mutex<Vec<(&'static str, String)>>>);

    impl indicatif::TermLike for Screen {
        fn width(&self) -> u16 {
            80
        }
        fn move_cursor_up(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> io::Result<()> {
            self.0.lock().push(("line", s.to_string()));
            Ok(())
        }
        fn write_str(&self, s: &str) -> io::Result<()> {
            self.0.lock().push(("str", s.to_string()));
            Ok(())
        }
        fn clear_line(&self) -> io::Result<()> {
            self.0.lock().push(("clear", String::new()));
            Ok(())
        }
        fn flush(&self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_bar_fits_80_columns_and_ends_with_a_finished_line() {
        let screen = Screen::default();
        let s = screen.clone();
        let bar = ProgressBar::with_target(
            "a rather long label for a progress bar",
            Arc::new(move || indicatif::ProgressDrawTarget::term_like(Box::new(s.clone()))),
        );
        let mut g = oxidask_graph::TaskGraph::new();
        let op =
            oxidask_graph::FnOp::arc("work", |_| Ok(oxidask_graph::Value::new(vec![0u8; 4096])));
        for i in 0..300u32 {
            g.insert(
                oxidask_graph::Key::with_index("work-abc", &[i]),
                oxidask_graph::Task::new(op.clone(), vec![]),
            );
        }
        let keys: Vec<_> = (0..300u32)
            .map(|i| oxidask_graph::Key::with_index("work-abc", &[i]))
            .collect();
        let opts = crate::ComputeOptions::new().callback(Arc::new(bar));
        crate::compute_with(g, &keys, &opts).unwrap();
        let written = screen.0.lock().clone();
        assert!(!written.is_empty(), "nothing drawn");
        for (kind, text) in &written {
            let visible = text.trim_end_matches(' ').chars().count();
            assert!(visible <= 80, "{kind} of {visible} columns: {text:?}");
        }
        // The finished line is printed above the live bar (padded to the
        // full width, so the bar goes below it), and the bar's line is then
        // cleared last: the screen ends with the finished line and the
        // cursor at the start of an empty line — the next print lands there.
        let last_line = written
            .iter()
            .rposition(|(_, t)| t.contains("[done] 300/300 tasks computed"))
            .unwrap_or_else(|| panic!("no finished line in {written:?}"));
        let (line, filler) = (&written[last_line].1, &written[last_line + 1].1);
        assert_eq!(
            line.chars().count() + filler.chars().count(),
            80,
            "{line:?}"
        );
        assert_eq!(
            written.last().map(|(k, _)| *k),
            Some("clear"),
            "{written:?}"
        );
        assert!(
            written[last_line + 1..]
                .iter()
                .all(|(_, t)| !t.contains("[done]")),
            "{written:?}"
        );
        assert!(line.chars().count() <= FINAL_WIDTH, "{line}");
        assert!(line.contains("/s)") && !line.contains(".0000"), "{line}");
    }

    #[test]
    fn rates_are_rounded() {
        assert_eq!(rate(41_234.567), "41k/s");
        assert_eq!(rate(950.4), "950/s");
        assert_eq!(rate(3.456), "3.5/s");
        assert_eq!(rate(2_500_000.0), "2.5M/s");
        assert_eq!(rate(f64::NAN), "0/s");
    }
}
