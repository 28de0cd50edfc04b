//! Feeds [`Metrics`] from the engine's events until the stream closes.

use std::sync::Arc;

use tokio::sync::broadcast::{self, error::RecvError};

use super::Metrics;
use crate::model::{Event, EventKind, State};

/// Counts every event of `events` into `metrics`, until the stream closes.
pub async fn record(metrics: Arc<Metrics>, mut events: broadcast::Receiver<Arc<Event>>) {
    loop {
        match events.recv().await {
            Ok(event) => metrics.count(&event),
            Err(RecvError::Lagged(missed)) => metrics.with(|c| c.missed_events += missed),
            Err(RecvError::Closed) => return,
        }
    }
}

impl Metrics {
    /// Counts one event.
    pub fn count(&self, event: &Event) {
        if !matches!(event.kind, EventKind::Created | EventKind::StateChanged) {
            return;
        }
        let task = &event.task;
        self.with(|counters| {
            *counters
                .entered
                .entry((task.queue.clone(), task.state.as_str()))
                .or_default() += 1;
            if task.state == State::Running && event.from == Some(State::Queued) {
                *counters.attempts.entry(task.queue.clone()).or_default() += 1;
                let waited = event.at.duration_since(task.scheduled_for).as_secs_f64();
                counters
                    .queue_wait
                    .entry(task.queue.clone())
                    .or_default()
                    .observe(waited);
            }
            if task.state.is_final()
                && let Some(started) = task.started_at
            {
                let ran = event.at.duration_since(started).as_secs_f64();
                counters
                    .run_time
                    .entry(task.queue.clone())
                    .or_default()
                    .observe(ran);
            }
        });
    }
}
