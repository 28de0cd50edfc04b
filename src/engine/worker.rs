//! A queue's worker: claims as many ready tasks as it has free slots, runs each in its own task,
//! and sleeps until woken (a task became ready, a slot freed) or until the poll interval passes.

use std::sync::Arc;

use jiff::Timestamp;

use super::{Shared, attempt};
use crate::store::{ClaimRequest, Lease, Outcome};

/// Runs the worker of `queue` until claiming stops.
pub(super) async fn run(shared: Arc<Shared>, queue: String) {
    let Some(runtime) = shared.queues.get(&queue) else {
        return;
    };
    let mut failures = 0u32;
    while !shared.claiming.is_cancelled() {
        let free = runtime.slots.available_permits();
        if free > 0 {
            let now = Timestamp::now();
            let request = ClaimRequest {
                queue: queue.clone(),
                limit: free,
                node: shared.node,
                lease_until: shared.lease_until(now),
                now,
            };
            match shared.store.claim(&request).await {
                Ok(tasks) => {
                    failures = 0;
                    let claimed_all = tasks.len() == free;
                    for task in tasks {
                        let Ok(permit) = Arc::clone(&runtime.slots).try_acquire_owned() else {
                            // Cannot happen (only this worker takes permits), but a claimed
                            // task must never be left to its lease.
                            hand_back(
                                &shared,
                                Lease {
                                    id: task.id,
                                    fence: task.fence,
                                },
                            )
                            .await;
                            continue;
                        };
                        tracing::debug!(task = %task.id, name = %task.name, attempt = task.attempt, "claimed");
                        let attempt = attempt::start(&shared, task);
                        let attempt_shared = Arc::clone(&shared);
                        let queue = queue.clone();
                        shared.attempts.spawn(async move {
                            attempt.await;
                            drop(permit);
                            if let Some(runtime) = attempt_shared.queues.get(&queue) {
                                runtime.ready.notify_one();
                            }
                        });
                    }
                    if claimed_all {
                        // There may be more: look again as soon as a slot frees.
                        continue;
                    }
                }
                Err(err) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(queue = %queue, error = %err, "could not claim tasks");
                    let pause = shared.config.poll_interval * failures.min(10);
                    tokio::select! {
                        () = tokio::time::sleep(pause) => {}
                        () = shared.claiming.cancelled() => break,
                    }
                    continue;
                }
            }
        }
        tokio::select! {
            () = runtime.ready.notified() => {}
            () = tokio::time::sleep(shared.config.poll_interval) => {}
            () = shared.claiming.cancelled() => break,
        }
    }
    tracing::debug!(queue = %queue, "worker stopped claiming");
}

async fn hand_back(shared: &Shared, lease: Lease) {
    if let Err(err) = shared
        .store
        .finish(lease, Outcome::HandedBack, Timestamp::now())
        .await
    {
        tracing::warn!(task = %lease.id, error = %err, "could not hand a claimed task back");
    }
}
