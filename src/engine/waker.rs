//! Turns committed events into wake-ups: a task that became ready wakes its queue's worker, a
//! newly scheduled task wakes the promoter, a cancellation stops the attempt running here.
//! Events from any source (this process, or other nodes through the store) take the same path.

use std::sync::Arc;

use tokio::sync::broadcast::error::RecvError;

use super::Shared;
use super::inflight::StopReason;
use crate::model::{EventKind, State};

/// Listens to the store's events until the engine's background services stop.
pub(super) async fn run(shared: Arc<Shared>) {
    let mut events = shared.store.subscribe();
    loop {
        let event = tokio::select! {
            event = events.recv() => event,
            () = shared.background.cancelled() => break,
        };
        match event {
            Ok(event) => match (event.kind, event.task.state) {
                (EventKind::Created | EventKind::StateChanged, State::Queued) => {
                    if let Some(queue) = shared.queues.get(&event.task.queue) {
                        queue.ready.notify_one();
                    }
                }
                (EventKind::Created | EventKind::StateChanged, State::Scheduled) => {
                    shared.promoter.notify_one();
                }
                (EventKind::CancelRequested, _) => {
                    shared.inflight.stop(event.task.id, StopReason::Cancel);
                }
                _ => {}
            },
            Err(RecvError::Lagged(missed)) => {
                tracing::debug!(missed, "the waker fell behind; waking every queue");
                for queue in shared.queues.values() {
                    queue.ready.notify_one();
                }
                shared.promoter.notify_one();
            }
            Err(RecvError::Closed) => break,
        }
    }
}
