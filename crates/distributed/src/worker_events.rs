//! What a worker records of its tasks for the scheduler's dashboard, and
//! how it sends it: batched, never a message per task.
//!
//! Recording is off until the scheduler sends [`Msg::Observe`] (it does so
//! only when it serves a dashboard), so a cluster without a dashboard pays
//! one relaxed atomic load per task. When on, a pool thread pushes a
//! `Started` and a `Finished` entry into a shared vector (one short lock
//! each); every [`BATCH_PERIOD`] the worker's runtime takes the vector and
//! sends it as one [`Msg::TaskEvents`], dropping the `Started` entry of
//! every task that finished within the same batch (its `Finished` carries
//! the start too). Times are microseconds on the worker's own clock; the
//! batch says what that clock read when it was sent, so the scheduler
//! needs no clock agreement.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::messages::{Msg, TaskEvent};

/// How often a worker sends its recorded events (when it has any).
pub(crate) const BATCH_PERIOD: Duration = Duration::from_millis(100);

/// A worker's task-event recorder.
pub(crate) struct Recorder {
    on: AtomicBool,
    origin: Instant,
    events: Mutex<Vec<TaskEvent>>,
    fetched_bytes: AtomicU64,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            on: AtomicBool::new(false),
            origin: Instant::now(),
            events: Mutex::new(Vec::new()),
            fetched_bytes: AtomicU64::new(0),
        }
    }
}

impl Recorder {
    /// Switches recording on or off (off drops what was not sent).
    pub(crate) fn set(&self, on: bool) {
        self.on.store(on, Ordering::Relaxed);
        if !on {
            self.events.lock().clear();
        }
    }

    /// When recording, the time a task starts (to pass to [`finished`]).
    ///
    /// [`finished`]: Recorder::finished
    #[inline]
    pub(crate) fn started(&self, comp: u64, id: u32, thread: u32) -> Option<u64> {
        if !self.on.load(Ordering::Relaxed) {
            return None;
        }
        let at_us = self.now_us();
        self.events.lock().push(TaskEvent::Started {
            comp,
            id,
            thread,
            at_us,
        });
        Some(at_us)
    }

    /// Records that a task that [`started`](Recorder::started) at
    /// `start_us` finished now with `nbytes` of result.
    pub(crate) fn finished(&self, comp: u64, id: u32, thread: u32, start_us: u64, nbytes: u64) {
        let end_us = self.now_us();
        self.events.lock().push(TaskEvent::Finished {
            comp,
            id,
            thread,
            start_us,
            end_us,
            nbytes,
        });
    }

    /// Counts bytes of an input fetched from another worker.
    pub(crate) fn fetched(&self, bytes: u64) {
        self.fetched_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    fn now_us(&self) -> u64 {
        self.origin.elapsed().as_micros() as u64
    }

    /// The batch to send now, if there is anything to send.
    pub(crate) fn take_batch(&self) -> Option<Msg> {
        let events = std::mem::take(&mut *self.events.lock());
        let fetched_bytes = self.fetched_bytes.swap(0, Ordering::Relaxed);
        if events.is_empty() && fetched_bytes == 0 {
            return None;
        }
        Some(Msg::TaskEvents {
            events: compact(events),
            sent_us: self.now_us(),
            fetched_bytes,
        })
    }
}

/// Drops the `Started` entries of tasks that also finished in `events`.
fn compact(events: Vec<TaskEvent>) -> Vec<TaskEvent> {
    let finished: HashSet<(u64, u32)> = events
        .iter()
        .filter_map(|e| match *e {
            TaskEvent::Finished { comp, id, .. } => Some((comp, id)),
            TaskEvent::Started { .. } => None,
        })
        .collect();
    events
        .into_iter()
        .filter(|e| match *e {
            TaskEvent::Started { comp, id, .. } => !finished.contains(&(comp, id)),
            TaskEvent::Finished { .. } => true,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_records_nothing() {
        let r = Recorder::default();
        assert_eq!(r.started(1, 2, 0), None);
        assert!(r.take_batch().is_none());
    }

    #[test]
    fn a_batch_keeps_starts_only_of_running_tasks() {
        let r = Recorder::default();
        r.set(true);
        let t0 = r.started(1, 0, 0).unwrap();
        let _running = r.started(1, 1, 1).unwrap();
        r.finished(1, 0, 0, t0, 8);
        r.fetched(100);
        let Some(Msg::TaskEvents {
            events,
            sent_us,
            fetched_bytes,
        }) = r.take_batch()
        else {
            panic!("expected a batch");
        };
        assert_eq!(fetched_bytes, 100);
        assert_eq!(events.len(), 2);
        assert!(matches!(
            events[0],
            TaskEvent::Started {
                id: 1,
                thread: 1,
                ..
            }
        ));
        match events[1] {
            TaskEvent::Finished {
                id,
                start_us,
                end_us,
                nbytes,
                ..
            } => {
                assert_eq!((id, nbytes, start_us), (0, 8, t0));
                assert!(end_us >= start_us && sent_us >= end_us);
            }
            other => panic!("expected Finished, got {other:?}"),
        }
        // Taken: the next batch is empty.
        assert!(r.take_batch().is_none());
        r.set(false);
        assert_eq!(r.started(1, 3, 0), None);
    }
}
