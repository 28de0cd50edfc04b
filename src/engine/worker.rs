//! A queue's worker: claims as many ready tasks as it has free slots, runs each in its own task,
//! and sleeps until woken (a task became ready, a slot freed) or until the poll interval passes.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use jiff::Timestamp;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::rate::RateLimiter;
use super::{Shared, attempt};
use crate::model::Task;
use crate::store::ClaimRequest;

/// Runs the worker of `queue` until claiming stops.
pub(super) async fn run(shared: Arc<Shared>, queue: String) {
    let Some(runtime) = shared.queues.get(&queue) else {
        return;
    };
    let mut failures = 0u32;
    // The last claim filled every slot it asked for, so the queue may well have more: the
    // next claim is made without reading first whether there is anything to claim.
    let mut backlog = false;
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
        let announced = runtime.announced.swap(false, Ordering::AcqRel);
        if free > 0 && read_first(announced, backlog) && !has_ready(&shared, &queue).await {
            free = 0;
        }
        // The slots are taken before the claim, and those it does not fill are given back.
        let permits = take_slots(&runtime.slots, free);
        if !permits.is_empty() {
            let limit = permits.len();
            let now = Timestamp::now();
            let request = ClaimRequest {
                queue: queue.clone(),
                limit,
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
                    backlog = tasks.len() == limit;
                    let claimed_all = backlog && !rate_limited;
                    start_all_claimed(&shared, &queue, tasks, permits);
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

/// Whether a worker woken with free slots reads first whether there is anything to claim.
/// Unless a task was announced ready since the last look, or the last claim filled every slot
/// it asked for (the queue may well have more), the wake-up may be for nothing to claim (a
/// slot freed with the queue empty, the poll): a read then spares the claim's write. Otherwise
/// the claim is made at once, without the read's round trip.
fn read_first(announced: bool, backlog: bool) -> bool {
    !announced && !backlog
}

/// Whether `queue` may have a task to claim; if the store cannot tell, the claim finds out.
async fn has_ready(shared: &Shared, queue: &str) -> bool {
    shared.store.has_ready(queue).await.unwrap_or(true)
}

/// Up to `wanted` of the node's free slots of a queue.
fn take_slots(slots: &Arc<Semaphore>, wanted: usize) -> Vec<OwnedSemaphorePermit> {
    std::iter::from_fn(|| Arc::clone(slots).try_acquire_owned().ok())
        .take(wanted)
        .collect()
}

/// Runs each task claimed for `queue` in a slot of `permits` (at least one each), which its
/// attempt frees once its run is over (see [`Slot`]). The slots left over are given back.
fn start_all_claimed(
    shared: &Arc<Shared>,
    queue: &str,
    tasks: Vec<Task>,
    permits: Vec<OwnedSemaphorePermit>,
) {
    debug_assert!(tasks.len() <= permits.len());
    for (task, permit) in tasks.into_iter().zip(permits) {
        tracing::debug!(task = %task.id, name = %task.name, attempt = task.attempt, "claimed");
        let slot = Slot {
            permit: Some(permit),
            shared: Arc::clone(shared),
            queue: queue.to_owned(),
        };
        shared
            .attempts
            .spawn(attempt::start(shared, task, Some(slot)));
    }
}

/// One of this node's slots of a queue, held by an attempt. Dropping it frees the slot and
/// wakes the queue's worker to fill it.
pub(super) struct Slot {
    permit: Option<OwnedSemaphorePermit>,
    shared: Arc<Shared>,
    queue: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        // Freed before the worker is woken, so that it finds the slot free.
        drop(self.permit.take());
        if let Some(runtime) = self.shared.queues.get(&self.queue) {
            runtime.ready.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::read_first;

    #[test]
    fn a_worker_reads_first_only_when_it_has_no_reason_to_expect_a_task() {
        assert!(
            read_first(false, false),
            "a freed slot, the queue possibly empty"
        );
        assert!(!read_first(true, false), "a task was announced ready");
        assert!(
            !read_first(false, true),
            "the last claim took all it asked for"
        );
        assert!(!read_first(true, true));
    }
}
