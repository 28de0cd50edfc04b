//! What `/metrics` shows, in the Prometheus text format.
//!
//! Counters and histograms are fed by the engine's event stream (`recorder.rs`): every
//! transition is an event, so nothing on the hot path counts by hand. Queue depths are read
//! from the store when scraped; dispatch answers come from the dispatcher.

mod histogram;
mod recorder;
mod render;

use std::collections::BTreeMap;
use std::sync::Mutex;

pub use histogram::Histogram;
pub use recorder::record;
pub use render::render;

/// The counters and histograms, by queue.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    /// Tasks that entered a state, by (queue, state).
    entered: BTreeMap<(String, &'static str), u64>,
    /// Attempts started, by queue.
    attempts: BTreeMap<String, u64>,
    /// Seconds from ready to started, by queue.
    queue_wait: BTreeMap<String, Histogram>,
    /// Seconds from the first start to the end, by queue.
    run_time: BTreeMap<String, Histogram>,
    /// Events the recorder missed because it fell behind.
    missed_events: u64,
}

impl Metrics {
    fn with<T>(&self, f: impl FnOnce(&mut Counters) -> T) -> T {
        let mut counters = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut counters)
    }
}
