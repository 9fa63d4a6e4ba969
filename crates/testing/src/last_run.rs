//! A callback that keeps what the last computation's `Finished` event said
//! about memory: how many results it spilled and the peak bytes held.

use std::sync::atomic::{AtomicUsize, Ordering};

use oxidask_scheduler::{Callback, Event};

/// Pass it to `ComputeOptions::callback`, then read [`spilled`](LastRun::spilled)
/// and [`peak_held_bytes`](LastRun::peak_held_bytes) after the run.
#[derive(Debug, Default)]
pub struct LastRun {
    spilled: AtomicUsize,
    peak_held_bytes: AtomicUsize,
}

impl LastRun {
    /// Results spilled by the last computation that finished.
    pub fn spilled(&self) -> usize {
        self.spilled.load(Ordering::SeqCst)
    }

    /// The peak bytes the store held during it.
    pub fn peak_held_bytes(&self) -> usize {
        self.peak_held_bytes.load(Ordering::SeqCst)
    }
}

impl Callback for LastRun {
    fn on_event(&self, e: &Event<'_>) {
        if let Event::Finished {
            memory,
            peak_held_bytes,
            ..
        } = e
        {
            self.spilled.store(memory.spilled, Ordering::SeqCst);
            self.peak_held_bytes
                .store(*peak_held_bytes, Ordering::SeqCst);
        }
    }
}
