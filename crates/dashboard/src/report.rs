//! `performance_report`: one self-contained HTML file about a closure's
//! computations.

use std::path::Path;
use std::sync::Arc;

use oxidask_scheduler::events;

use crate::server::{DASH_CSS, DASH_JS};
use crate::state::Collector;

/// How many finished tasks a report keeps for its task stream (the most
/// recent); the time per task group and memory counts cover all of them.
const REPORT_WINDOW: usize = 200_000;

const REPORT_HTML: &str = include_str!("../assets/report.html");

/// Runs `f`, recording every computation in this process while it runs,
/// then writes one self-contained HTML file to `path` (no network, no
/// other files): the task stream, the time per task group and memory over
/// time. Returns what `f` returned; an error only when the file cannot be
/// written.
///
/// ```no_run
/// let n = oxidask_dashboard::performance_report("report.html", || {
///     // … compute something …
///     42
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn performance_report<R>(path: impl AsRef<Path>, f: impl FnOnce() -> R) -> std::io::Result<R> {
    let collector = Arc::new(Collector::new(REPORT_WINDOW, true));
    let registration = events::register(collector.clone());
    let result = f();
    drop(registration);
    let data = collector.report_json().to_string().replace("</", "<\\/");
    let html = REPORT_HTML
        .replace("/*DASH_CSS*/", DASH_CSS)
        .replace("/*DASH_JS*/", DASH_JS)
        .replace("/*REPORT_DATA*/null", &data);
    std::fs::write(path, html)?;
    Ok(result)
}
