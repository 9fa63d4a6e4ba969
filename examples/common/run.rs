//! What the larger-than-memory examples share: reading `--name value`
//! arguments and keeping the memory stats of the last computation.

use std::sync::Mutex;

use oxidask::scheduler::{Callback, Event, MemoryStats};

/// The value after `name` on the command line, if given.
pub fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// Keeps the last `Finished` event's memory stats.
#[derive(Default)]
pub struct Memory(Mutex<Option<MemoryStats>>);

impl Memory {
    /// The stats of the last computation that finished (zeros before any).
    pub fn last(&self) -> MemoryStats {
        self.0.lock().unwrap().unwrap_or_default()
    }
}

impl Callback for Memory {
    fn on_event(&self, e: &Event<'_>) {
        if let Event::Finished { memory, .. } = e {
            *self.0.lock().unwrap() = Some(*memory);
        }
    }
}
