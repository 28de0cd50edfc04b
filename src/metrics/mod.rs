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
use std::sync::atomic::{AtomicI64, Ordering};

pub use histogram::Histogram;
pub use recorder::record;
pub use render::render;

/// The counters and histograms, by queue.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Counters>,
    /// Event streams open now (shared with their guards).
    streams: std::sync::Arc<AtomicI64>,
}

/// Counts one open event stream, until dropped.
#[derive(Debug)]
pub struct StreamGuard {
    streams: std::sync::Arc<AtomicI64>,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.streams.fetch_sub(1, Ordering::Relaxed);
    }
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
    /// Counts an event stream as open until the guard is dropped.
    pub fn stream_opened(&self) -> StreamGuard {
        self.streams.fetch_add(1, Ordering::Relaxed);
        StreamGuard {
            streams: std::sync::Arc::clone(&self.streams),
        }
    }

    /// How many event streams are open.
    pub fn open_streams(&self) -> i64 {
        self.streams.load(Ordering::Relaxed)
    }

    fn with<T>(&self, f: impl FnOnce(&mut Counters) -> T) -> T {
        let mut counters = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut counters)
    }
}
