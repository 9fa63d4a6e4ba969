//! Ready-made callbacks: a terminal progress bar and a per-task profiler.

mod profiler;
mod progress;

pub use profiler::{Profiler, TaskRecord};
pub use progress::ProgressBar;
