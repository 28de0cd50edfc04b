//! A queue's worker: claims as many ready tasks as it has free slots, runs each in its own task,
//! and sleeps until woken (a task became ready, a slot freed) or until the poll interval passes.

use std::sync::Arc;

use jiff::Timestamp;

use super::rate::RateLimiter;
use super::{Shared, attempt};
use crate::store::{ClaimRequest, Lease, Outcome};

/// Runs the worker of `queue` until claiming stops.
pub(super) async fn run(shared: Arc<Shared>, queue: String) {
    let Some(runtime) = shared.queues.get(&queue) else {
        return;
    };
    let mut failures = 0u32;
    let mut limiter = runtime
        .config
        .rate_per_second
        .map(|rate| RateLimiter::new(rate, tokio::time::Instant::now()));
    while !shared.claiming.is_cancelled() {
        let mut free = runtime.slots.available_permits();
        let mut rate_limited = false;
        if let Some(limiter) = &mut limiter {
            let allowed = limiter.available(tokio::time::Instant::now());
            rate_limited = allowed < free;
            free = free.min(allowed);
        }
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
                    if let Some(limiter) = &mut limiter {
                        limiter.take(tasks.len());
                    }
                    let claimed_all = tasks.len() == free && !rate_limited;
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
        let next_start = match &limiter {
            Some(limiter) if rate_limited => limiter.until_next(),
            _ => shared.config.poll_interval,
        };
        tokio::select! {
            () = runtime.ready.notified() => {}
            () = tokio::time::sleep(next_start.min(shared.config.poll_interval)) => {}
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
