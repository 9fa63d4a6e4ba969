//! Scheduler behaviour on hand-built graphs, on both local schedulers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use oxidask_graph::{FnOp, Key, Op, Task, TaskErrorKind, TaskGraph, Value};

use crate::{Callback, ComputeOptions, Error, Event, MemoryStats, SchedulerChoice, compute_with};

fn both() -> [ComputeOptions; 3] {
    [
        ComputeOptions::new().scheduler(SchedulerChoice::Sync),
        ComputeOptions::new()
            .scheduler(SchedulerChoice::Threaded)
            .num_workers(2),
        ComputeOptions::new()
            .scheduler(SchedulerChoice::Threaded)
            .num_workers(4),
    ]
}

fn add() -> Arc<dyn Op> {
    FnOp::arc("add", |a| {
        let mut s = 0i64;
        for v in &a {
            s += v.downcast_ref::<i64>()?;
        }
        Ok(Value::new(s))
    })
}

fn lit(g: &mut TaskGraph, name: &str, i: u32, x: i64) -> Key {
    let k = Key::with_index(name, &[i]);
    g.insert(k.clone(), Task::literal(Value::new(x)));
    k
}

/// A tree sum over `n` leaves with fan-in `fan`; returns the root key.
pub(crate) fn sum_tree(n: u32, fan: usize) -> (TaskGraph, Key) {
    let mut g = TaskGraph::new();
    let leaf = FnOp::arc("leaf", |a| Ok(Value::new(*a[0].downcast_ref::<i64>()?)));
    let mut level: Vec<Key> = (0..n)
        .map(|i| {
            let k = Key::with_index("leaf", &[i]);
            g.insert(
                k.clone(),
                Task::new(leaf.clone(), vec![Value::new(i as i64).into()]),
            );
            k
        })
        .collect();
    let mut depth = 0;
    while level.len() > 1 {
        depth += 1;
        let name = format!("sum-{depth}");
        level = level
            .chunks(fan)
            .enumerate()
            .map(|(i, ch)| {
                let k = Key::with_index(name.as_str(), &[i as u32]);
                g.insert(
                    k.clone(),
                    Task::new(add(), ch.iter().cloned().map(Into::into).collect()),
                );
                k
            })
            .collect();
    }
    (g, level.pop().expect("n > 0"))
}

#[test]
fn sum_tree_is_right_on_every_scheduler() {
    for opts in both() {
        let (g, root) = sum_tree(10_000, 4);
        let out = compute_with(g, &[root], &opts).unwrap();
        assert_eq!(
            out[0].downcast_ref::<i64>().unwrap(),
            &(0..10_000i64).sum::<i64>()
        );
    }
}

#[test]
fn repeated_outputs_and_repeated_arguments() {
    for opts in both() {
        let mut g = TaskGraph::new();
        let x = lit(&mut g, "x", 0, 5);
        g.insert(
            Key::new("y"),
            Task::new(add(), vec![x.clone().into(), x.clone().into()]),
        );
        let out = compute_with(g, &[Key::new("y"), x.clone(), Key::new("y")], &opts).unwrap();
        let got: Vec<i64> = out
            .iter()
            .map(|v| *v.downcast_ref::<i64>().unwrap())
            .collect();
        assert_eq!(got, vec![10, 5, 10]);
    }
}

#[test]
fn empty_request_gives_empty_result() {
    for opts in both() {
        assert!(
            compute_with(TaskGraph::new(), &[], &opts)
                .unwrap()
                .is_empty()
        );
    }
}

struct Counter(AtomicUsize);
impl Callback for Counter {
    fn on_event(&self, e: &Event<'_>) {
        if let Event::TaskStarted { .. } = e {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[test]
fn a_failing_task_names_key_and_op_and_cancels_the_rest() {
    for opts in both() {
        let mut g = TaskGraph::new();
        let slow = FnOp::arc("slow", |_| {
            std::thread::sleep(Duration::from_millis(2));
            Ok(Value::new(1i64))
        });
        let bad = FnOp::arc("parse_row", |_| Err("bad digit in row 7".into()));
        for i in 0..2_000u32 {
            g.insert(
                Key::with_index("slow", &[i]),
                Task::new(slow.clone(), vec![]),
            );
        }
        g.insert(Key::new("bad-1"), Task::new(bad, vec![]));
        let mut outs: Vec<Key> = (0..2_000).map(|i| Key::with_index("slow", &[i])).collect();
        outs.insert(0, Key::new("bad-1"));
        let started = Arc::new(Counter(AtomicUsize::new(0)));
        let after = Arc::new(StartedAfterFailure::default());
        let opts = opts
            .clone()
            .callback(started.clone())
            .callback(after.clone());
        let err = compute_with(g, &outs, &opts).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("'bad-1'") && msg.contains("parse_row") && msg.contains("row 7"),
            "{msg}"
        );
        assert!(
            started.0.load(Ordering::Relaxed) < 2_000,
            "tasks were not cancelled"
        );
        // Counted in events, not seconds: once the failure is known, workers
        // stop taking tasks (a few may slip in while it is being recorded).
        let late = after.late.load(Ordering::SeqCst);
        assert!(late < 100, "{late} tasks started after the failure");
    }
}

/// Counts tasks started after the first `TaskFailed`.
#[derive(Default)]
struct StartedAfterFailure {
    failed: std::sync::atomic::AtomicBool,
    late: AtomicUsize,
}
impl Callback for StartedAfterFailure {
    fn on_event(&self, e: &Event<'_>) {
        match e {
            Event::TaskFailed { .. } => self.failed.store(true, Ordering::SeqCst),
            Event::TaskStarted { .. } if self.failed.load(Ordering::SeqCst) => {
                self.late.fetch_add(1, Ordering::SeqCst);
            }
            _ => {}
        }
    }
}

/// Panics on the first event named `on`.
struct Panicky(&'static str);
impl Callback for Panicky {
    fn on_event(&self, e: &Event<'_>) {
        if e.name() == self.0 {
            panic!("progress bar exploded at {}", self.0);
        }
    }
}

#[test]
fn a_panicking_callback_is_a_clear_error_never_a_panic() {
    for on in ["Started", "TaskStarted", "TaskFinished", "Finished"] {
        for opts in both() {
            let (g, root) = sum_tree(64, 4);
            let counter = Arc::new(Counter(AtomicUsize::new(0)));
            let opts = opts
                .callback(Arc::new(Panicky(on)))
                .callback(counter.clone());
            let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                compute_with(g, &[root], &opts)
            }));
            let result = caught.unwrap_or_else(|_| panic!("{on}: the panic reached the caller"));
            match result {
                Err(Error::Callback { event, message }) => {
                    assert_eq!(event, on);
                    assert!(message.contains("progress bar exploded"), "{message}");
                }
                Err(e) => panic!("{on}: expected a callback error, got {e}"),
                Ok(_) => panic!("{on}: a callback panic passed unnoticed"),
            }
            let msg = Error::Callback {
                event: "x",
                message: "m".into(),
            }
            .to_string();
            assert!(msg.contains("callback panicked"), "{msg}");
            // The other callback went on receiving events.
            assert!(counter.0.load(Ordering::Relaxed) > 0, "{on}");
        }
    }
}

#[test]
fn a_panicking_task_is_an_error_not_a_crash() {
    for opts in both() {
        let mut g = TaskGraph::new();
        let boom = FnOp::arc("boom", |_| panic!("index out of bounds: the len is 3"));
        g.insert(Key::with_index("boom", &[4]), Task::new(boom, vec![]));
        let err = compute_with(g, &[Key::with_index("boom", &[4])], &opts).unwrap_err();
        match &err {
            Error::Task(t) => {
                assert_eq!(t.key, Key::with_index("boom", &[4]));
                assert_eq!(t.op, "boom");
                assert!(matches!(&t.kind, TaskErrorKind::Panicked(m) if m.contains("len is 3")));
            }
            other => panic!("expected a task error, got {other}"),
        }
    }
}

#[test]
fn a_type_mismatch_names_both_types() {
    for opts in both() {
        let mut g = TaskGraph::new();
        g.insert(Key::new("s"), Task::literal(Value::new(String::from("7"))));
        g.insert(Key::new("n"), Task::new(add(), vec![Key::new("s").into()]));
        let msg = compute_with(g, &[Key::new("n")], &opts)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("i64") && msg.contains("String") && msg.contains("'n'"),
            "{msg}"
        );
    }
}

#[test]
fn cycles_and_missing_keys_are_errors() {
    for opts in both() {
        let mut g = TaskGraph::new();
        g.insert(Key::new("a"), Task::alias(Key::new("b")));
        g.insert(Key::new("b"), Task::alias(Key::new("a")));
        let msg = compute_with(g, &[Key::new("a")], &opts)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("cycle"), "{msg}");
        let mut g = TaskGraph::new();
        g.insert(
            Key::new("a"),
            Task::new(add(), vec![Key::new("nope").into()]),
        );
        let msg = compute_with(g, &[Key::new("a")], &opts)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("'nope'"), "{msg}");
        let msg = compute_with(TaskGraph::new(), &[Key::new("zz")], &opts)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("'zz'"), "{msg}");
    }
}

/// Records the most results held at once, from the events stream.
#[derive(Default)]
pub(crate) struct PeakHeld(AtomicUsize);
impl Callback for PeakHeld {
    fn on_event(&self, e: &Event<'_>) {
        if let Event::TaskFinished {
            memory: MemoryStats { held: count, .. },
            ..
        } = e
        {
            self.0.fetch_max(*count, Ordering::Relaxed);
        }
    }
}

#[test]
fn ordering_keeps_few_results_held_in_a_sum_tree() {
    for fan in [2, 8] {
        let (g, root) = sum_tree(100_000, fan);
        let peak = Arc::new(PeakHeld::default());
        let opts = ComputeOptions::new()
            .scheduler(SchedulerChoice::Threaded)
            .num_workers(2)
            .callback(peak.clone());
        let out = compute_with(g, &[root], &opts).unwrap();
        assert_eq!(
            out[0].downcast_ref::<i64>().unwrap(),
            &(0..100_000i64).sum::<i64>()
        );
        let peak = peak.0.load(Ordering::Relaxed);
        eprintln!("fan-in {fan}: peak {peak} results held");
        assert!(peak < 200, "fan-in {fan}: {peak} results held at once");
    }
}

#[test]
fn intermediates_are_released_and_last_reader_owns_the_value() {
    for opts in both() {
        let mut g = TaskGraph::new();
        // Literals stay shared with the graph; a computed value has one owner.
        let make = FnOp::arc("make", |_| Ok(Value::new(vec![1u8; 1000])));
        g.insert(Key::new("v"), Task::new(make, vec![]));
        g.insert(Key::new("w"), Task::alias(Key::new("v")));
        let owns = FnOp::arc("owns", |mut a| {
            let v = a.pop().unwrap();
            match v.try_unwrap::<Vec<u8>>() {
                Ok(buf) => Ok(Value::new(buf.len() as i64)),
                Err(_) => Err("the last reader did not get the only handle".into()),
            }
        });
        g.insert(Key::new("n"), Task::new(owns, vec![Key::new("w").into()]));
        let out = compute_with(
            g,
            &[Key::new("n")],
            &opts.optimize(oxidask_graph::optimize::OptimizeOptions::none()),
        )
        .unwrap();
        assert_eq!(out[0].downcast_ref::<i64>().unwrap(), &1000);
    }
}

/// Peak bytes held and results spilled, from the `Finished` event.
#[derive(Default)]
struct Peak(AtomicUsize, AtomicUsize);
impl Callback for Peak {
    fn on_event(&self, e: &Event<'_>) {
        if let Event::Finished {
            peak_held_bytes,
            memory,
            ..
        } = e
        {
            self.0.store(*peak_held_bytes, Ordering::SeqCst);
            self.1.store(memory.spilled, Ordering::SeqCst);
        }
    }
}

#[test]
fn root_task_queuing_holds_producers_back_under_pressure() {
    use crate::{RunContext, Scheduler, StoreOptions, ThreadedScheduler};
    use oxidask_graph::optimize::{OptimizeOptions, optimize};
    // 40 roots of 80 kB, each read by a small consumer; priorities that run
    // every root first (as a wide read would), so only queuing keeps the
    // consumers going while memory is tight.
    let n = 40u32;
    let make = FnOp::arc("make", |a| {
        let i = *a[0].downcast_ref::<u32>()?;
        Ok(Value::new(vec![i as f64; 10_000]))
    });
    let first = FnOp::arc("first", |a| {
        Ok(Value::new(a[0].downcast_ref::<Vec<f64>>()?[0]))
    });
    let total = FnOp::arc("total", |a| {
        let mut s = 0.0;
        for v in &a {
            s += v.downcast_ref::<f64>()?;
        }
        Ok(Value::new(s))
    });
    let run = |queuing: bool| {
        let mut g = TaskGraph::new();
        for i in 0..n {
            g.insert(
                Key::with_index("r", &[i]),
                Task::new(make.clone(), vec![Value::new(i).into()]),
            );
            g.insert(
                Key::with_index("c", &[i]),
                Task::new(first.clone(), vec![Key::with_index("r", &[i]).into()]),
            );
        }
        let cs = (0..n).map(|i| Key::with_index("c", &[i]).into()).collect();
        g.insert(Key::new("total"), Task::new(total.clone(), cs));
        let mut plan = optimize(g, &[Key::new("total")], OptimizeOptions::none()).unwrap();
        for id in 0..plan.len() as u32 {
            let key = plan.graph.key(id).to_string();
            let i = plan.graph.key(id).index().first().copied().unwrap_or(0);
            plan.priority[id as usize] = if key.contains("'r'") {
                i
            } else if key.contains("'c'") {
                n + i
            } else {
                2 * n
            };
        }
        let peak = Arc::new(Peak::default());
        let ctx = RunContext {
            events: crate::EventBus::collect(&[peak.clone() as Arc<dyn Callback>]),
            store: StoreOptions {
                memory_limit: Some(400_000),
                spill_dir: None,
            },
            root_task_queuing: queuing,
            ..RunContext::default()
        };
        let out = ThreadedScheduler::new(2).run(plan, &ctx).unwrap();
        let expect: f64 = (0..n).map(f64::from).sum();
        assert_eq!(out[0].downcast_ref::<f64>().unwrap(), &expect);
        (peak.0.load(Ordering::SeqCst), peak.1.load(Ordering::SeqCst))
    };
    let (peak_on, spilled_on) = run(true);
    let (peak_off, spilled_off) = run(false);
    // Without queuing every root runs first: memory fills and spills.
    eprintln!(
        "root-task queuing: peak {peak_on} B, {spilled_on} spilled with; peak {peak_off} B, {spilled_off} spilled without"
    );
    assert!(spilled_off > 10, "without queuing: {spilled_off} spilled");
    // With it, consumers run once memory passes 3/4 of the limit (300 kB):
    // held bytes stop a few chunks above that, and (almost) nothing spills.
    assert!(
        peak_on < peak_off,
        "peak with queuing {peak_on}, without {peak_off}"
    );
    assert!(
        peak_on <= 300_000 + 2 * 80_024,
        "peak with queuing {peak_on}"
    );
    assert!(
        spilled_on * 4 < spilled_off,
        "{spilled_on} vs {spilled_off}"
    );
}

/// Keeps every event as a record, its times from the first event seen.
#[derive(Default)]
struct Recorder {
    origin: parking_lot::Mutex<Option<std::time::Instant>>,
    records: parking_lot::Mutex<Vec<crate::EventRecord>>,
}

impl Callback for Recorder {
    fn on_event(&self, e: &Event<'_>) {
        let origin = *self
            .origin
            .lock()
            .get_or_insert_with(std::time::Instant::now);
        self.records.lock().push(e.to_record(origin));
    }
}

fn two_task_graph(fail: bool) -> TaskGraph {
    let mut g = TaskGraph::new();
    g.insert(Key::new("x"), Task::literal(Value::new(2i64)));
    let op = FnOp::arc("double", move |a| {
        if fail {
            return Err("no doubling today".into());
        }
        Ok(Value::new(a[0].downcast_ref::<i64>()? * 2))
    });
    g.insert(Key::new("y"), Task::new(op, vec![Key::new("x").into()]));
    g
}

#[test]
fn each_compute_has_its_own_id_and_its_events_travel_as_bytes() {
    for opts in both() {
        let rec = Arc::new(Recorder::default());
        let opts = opts.callback(rec.clone());
        compute_with(two_task_graph(false), &[Key::new("y")], &opts).unwrap();
        let _ = compute_with(two_task_graph(true), &[Key::new("y")], &opts).unwrap_err();
        let records = rec.records.lock().clone();
        let ids: Vec<_> = records.iter().map(|r| r.computation()).collect();
        let first = ids[0];
        let split = ids
            .iter()
            .position(|&c| c != first)
            .expect("two computations");
        assert!(ids[..split].iter().all(|&c| c == first));
        assert!(ids[split..].iter().all(|&c| c == ids[split]));
        assert!(ids[split] > first, "a later computation gets a fresh id");
        assert!(
            records
                .iter()
                .any(|r| matches!(r, crate::EventRecord::TaskFailed { error, .. } if error.to_string().contains("no doubling today")))
        );

        // Through bytes and replayed into a local callback: the same events.
        let bytes = postcard::to_allocvec(&records).unwrap();
        let back: Vec<crate::EventRecord> = postcard::from_bytes(&bytes).unwrap();
        let replayed = Arc::new(Recorder::default());
        let bus = crate::EventBus::collect(&[replayed.clone() as Arc<dyn Callback>]);
        let origin = std::time::Instant::now();
        *replayed.origin.lock() = Some(origin);
        for r in &back {
            r.replay(origin, &bus);
        }
        assert_eq!(
            format!("{:?}", replayed.records.lock()),
            format!("{records:?}")
        );
    }
}

/// A literal as a one-task collection, for the `Collection` trait.
struct Lit(&'static str, i64);

impl crate::Computable for Lit {
    type Output = i64;
    fn collect(&self, graph: &mut TaskGraph, keys: &mut Vec<Key>) -> crate::Result<()> {
        graph.insert(Key::new(self.0), Task::literal(Value::new(self.1)));
        keys.push(Key::new(self.0));
        Ok(())
    }
    fn finish(&self, values: &mut std::vec::IntoIter<Value>) -> crate::Result<i64> {
        Ok(*crate::next_value(values)?.downcast_ref::<i64>()?)
    }
}

#[test]
fn every_computable_is_a_collection() {
    use crate::Collection;
    let pair = (Lit("a", 3), vec![Lit("b", 4), Lit("a", 3)]);
    for opts in both() {
        assert_eq!(pair.compute_with(&opts).unwrap(), (3, vec![4, 3]));
    }
    let (graph, keys) = pair.task_graph().unwrap();
    assert_eq!(graph.len(), 2, "the shared key is one task");
    assert_eq!(keys, vec![Key::new("a"), Key::new("b"), Key::new("a")]);
}

#[test]
fn execute_runs_one_task_and_names_key_and_op_when_it_fails_or_panics() {
    let key = Key::with_index("part", &[3]);
    let add = Task::new(
        FnOp::arc("add", |a| {
            Ok(Value::new(
                a[0].downcast_ref::<i64>()? + a[1].downcast_ref::<i64>()?,
            ))
        }),
        vec![Key::new("x").into(), Key::new("y").into()],
    );
    let out = crate::execute(&key, &add, vec![Value::new(2i64), Value::new(5i64)]).unwrap();
    assert_eq!(out.downcast_ref::<i64>().unwrap(), &7);

    // A wrong argument type is the op's error, not a panic.
    let e = crate::execute(&key, &add, vec![Value::new("a"), Value::new(5i64)]).unwrap_err();
    assert_eq!(e.key, key);
    assert_eq!(e.op, "add");
    assert!(matches!(e.kind, TaskErrorKind::Failed(_)), "{e}");

    let boom = Task::new(FnOp::arc("boom", |_| panic!("exploded in part 3")), vec![]);
    let e = crate::execute(&key, &boom, vec![]).unwrap_err();
    assert_eq!(e.op, "boom");
    assert!(
        matches!(&e.kind, TaskErrorKind::Panicked(m) if m.contains("exploded in part 3")),
        "{e}"
    );
}
