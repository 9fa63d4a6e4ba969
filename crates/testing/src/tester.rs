//! Run one graph everywhere and compare.

use std::fmt::Debug;

use oxidask_graph::optimize::OptimizeOptions;
use oxidask_graph::{Key, TaskGraph, Value};
use oxidask_scheduler::{ComputeOptions, SchedulerChoice, compute_with};

/// Runs a graph on Sync and Threaded (1, 2 and 4 workers), each with all
/// optimizer passes and with none, and compares the outputs.
pub struct SchedulerTester {
    runs: Vec<(String, ComputeOptions)>,
}

impl Default for SchedulerTester {
    fn default() -> Self {
        SchedulerTester::new()
    }
}

impl SchedulerTester {
    /// Every local scheduler, optimized and not.
    pub fn new() -> SchedulerTester {
        let mut runs = Vec::new();
        let schedulers = [
            ("sync", SchedulerChoice::Sync, 1),
            ("threaded-1", SchedulerChoice::Threaded, 1),
            ("threaded-2", SchedulerChoice::Threaded, 2),
            ("threaded-4", SchedulerChoice::Threaded, 4),
        ];
        for (name, choice, n) in schedulers {
            for (opt_name, opt) in [
                ("optimized", OptimizeOptions::default()),
                ("unoptimized", OptimizeOptions::none()),
            ] {
                runs.push((
                    format!("{name}/{opt_name}"),
                    ComputeOptions::new()
                        .scheduler(choice.clone())
                        .num_workers(n)
                        .optimize(opt),
                ));
            }
        }
        SchedulerTester { runs }
    }

    /// Adds runs whose optimized graph goes through bytes first (see
    /// [`round_trip`](crate::round_trip)), for graphs of registered ops.
    pub fn through_bytes(mut self) -> SchedulerTester {
        for (name, choice, n) in [
            ("sync", SchedulerChoice::Sync, 1),
            ("threaded-2", SchedulerChoice::Threaded, 2),
        ] {
            self.runs.push((
                format!("{name}/through-bytes"),
                ComputeOptions::new()
                    .scheduler(choice)
                    .num_workers(n)
                    .round_trip(true),
            ));
        }
        self
    }

    /// The names of the runs, e.g. `threaded-2/unoptimized`.
    pub fn run_names(&self) -> Vec<&str> {
        self.runs.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// Builds the graph afresh for every run (graphs are consumed), computes
    /// `outputs`, converts each value with `read`, and asserts every run
    /// equals `expected`. Panics naming the run on any difference or error.
    pub fn assert_outputs<T: PartialEq + Debug>(
        &self,
        build: impl Fn() -> (TaskGraph, Vec<Key>),
        read: impl Fn(&Value) -> T,
        expected: &[T],
    ) {
        assert!(
            !expected.is_empty(),
            "SchedulerTester: nothing to compare (no outputs)"
        );
        for (name, opts) in &self.runs {
            let (graph, outputs) = build();
            assert_eq!(
                outputs.len(),
                expected.len(),
                "{name}: outputs and expected differ in length"
            );
            let values = compute_with(graph, &outputs, opts)
                .unwrap_or_else(|e| panic!("{name}: computation failed: {e}"));
            let got: Vec<T> = values.iter().map(&read).collect();
            assert_eq!(
                got, expected,
                "{name}: outputs differ from the expected values"
            );
        }
    }

    /// Like [`assert_outputs`](Self::assert_outputs), for graphs expected to
    /// fail: every run must fail, and `check` sees each error message.
    pub fn assert_fails(&self, build: impl Fn() -> (TaskGraph, Vec<Key>), check: impl Fn(&str)) {
        for (name, opts) in &self.runs {
            let (graph, outputs) = build();
            match compute_with(graph, &outputs, opts) {
                Ok(_) => panic!("{name}: expected an error, the computation succeeded"),
                Err(e) => check(&e.to_string()),
            }
        }
    }
}
