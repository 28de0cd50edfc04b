//! Turns committed events into wake-ups: a task that became ready, or a running task that ended
//! (a slot freed, an ordering key unblocked), wakes its queue's worker; a newly scheduled task
//! wakes the promoter; a cancellation stops the attempt running here. Every event the store
//! publishes takes this path, whoever wrote it, so this is also where each transition is
//! logged (one line at debug level).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;

use super::Shared;
use super::inflight::StopReason;
use crate::model::{Event, EventKind, State};

/// Listens to `events` until the engine's background services stop.
pub(super) async fn run(shared: Arc<Shared>, mut events: Receiver<Arc<Event>>) {
    loop {
        let event = tokio::select! {
            event = events.recv() => event,
            () = shared.background.cancelled() => break,
        };
        match event {
            Ok(event) => wake(&shared, &event),
            Err(RecvError::Lagged(missed)) => {
                tracing::debug!(missed, "the waker fell behind; waking every queue");
                for queue in shared.queues.values() {
                    queue.announced.store(true, Ordering::Release);
                    queue.ready.notify_one();
                }
                shared.promoter.notify_one();
            }
            Err(RecvError::Closed) => break,
        }
    }
}

fn wake(shared: &Shared, event: &Event) {
    let state = event.task.state;
    match event.kind {
        EventKind::CancelRequested => shared.inflight.stop(event.task.id, StopReason::Cancel),
        EventKind::Created | EventKind::StateChanged => {
            tracing::debug!(
                task = %event.task.id, name = %event.task.name, queue = %event.task.queue,
                from = event.from.map(State::as_str), to = %state, "transition"
            );
            let became_ready = state == State::Queued;
            let slot_or_key_freed = event.from == Some(State::Running) || state.is_final();
            if (became_ready || slot_or_key_freed)
                && let Some(queue) = shared.queues.get(&event.task.queue)
            {
                if became_ready {
                    queue.announced.store(true, Ordering::Release);
                }
                queue.ready.notify_one();
            }
            if state == State::Scheduled {
                shared.promoter.notify_one();
            }
        }
        EventKind::Progress | EventKind::Dismissed => {}
    }
}
