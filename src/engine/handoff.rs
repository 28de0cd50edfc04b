//! Starting tasks in the enqueue's own write. When this node works the queue of the tasks
//! being enqueued and has free slots, the enqueue also claims in the same transaction, as the
//! queue's worker would a moment later: one write (and one commit) fewer per task, and no wait
//! for the worker to wake. The claim is the store's usual one, so the queue's slots (across
//! nodes), the per-owner cap, the ordering keys and the owners' turns all hold; it may start
//! an older task of the queue rather than a new one.

use std::sync::Arc;

use jiff::Timestamp;

use super::Shared;
use super::worker::{start_all_claimed, take_slots};
use crate::model::{Executor, NewTask};
use crate::store::{ClaimRequest, Enqueued, StoreResult};

/// Enqueues `tasks`, starting what it can in this node's free slots of their queue.
pub(super) async fn enqueue(
    shared: &Arc<Shared>,
    tasks: Vec<NewTask>,
    now: Timestamp,
) -> StoreResult<Vec<Enqueued>> {
    let Some(queue) = queue_to_claim(shared, &tasks, now) else {
        return shared.store.enqueue(tasks, now).await;
    };
    let ready = tasks.iter().filter(|task| ready_now(task, now)).count();
    let permits = shared
        .queues
        .get(&queue)
        .map(|runtime| take_slots(&runtime.slots, ready))
        .unwrap_or_default();
    if permits.is_empty() {
        return shared.store.enqueue(tasks, now).await;
    }
    let request = ClaimRequest {
        queue,
        limit: permits.len(),
        node: shared.node,
        lease_until: shared.lease_until(now),
        now,
    };
    // The answers are the tasks as enqueued (`queued`), as they are when a worker starts them
    // a moment after: the enqueue's answer does not depend on which of the two starts them.
    let (enqueued, claimed) = shared.store.enqueue_and_claim(tasks, &request).await?;
    start_all_claimed(shared, &request.queue, claimed, permits);
    Ok(enqueued)
}

/// The queue to claim from with an enqueue of `tasks`: the first ready task's, if this node
/// works it, is not stopping, and the queue has no rate limit (its worker keeps that count).
fn queue_to_claim(shared: &Shared, tasks: &[NewTask], now: Timestamp) -> Option<String> {
    if !shared.config.run_workers || shared.claiming.is_cancelled() {
        return None;
    }
    let queue = &tasks.iter().find(|task| ready_now(task, now))?.queue;
    let runtime = shared.queues.get(queue)?;
    runtime
        .config
        .rate_per_second
        .is_none()
        .then(|| queue.clone())
}

/// Whether a worker may take `task` as soon as it is enqueued.
fn ready_now(task: &NewTask, now: Timestamp) -> bool {
    task.run_at.is_none_or(|at| at <= now) && !matches!(task.executor, Executor::Tracked)
}
