//! The sweepers' writes: promotion of due tasks, lease rescue, expiry and retention. Each takes
//! a bounded batch, so that one pass never holds the writer for long; callers repeat while
//! there is more.

use jiff::Timestamp;

use super::super::row::millis;
use super::super::writer::{Batch, in_savepoint};
use super::change::{self, Change, Head};
use crate::model::{State, Task, Transition};
use crate::store::settle::rescue;
use crate::store::{StoreError, StoreResult};

// One sweep moves at most 1,000 tasks.

/// Scheduled tasks whose time has come (index `tasks_due`).
pub(in crate::store::sqlite) const DUE: &str =
    "state = 'scheduled' AND scheduled_for <= ?1 ORDER BY scheduled_for LIMIT 1000";

/// Tasks never started before their `expires_at` (index `tasks_expiry`).
pub(in crate::store::sqlite) const OVERDUE: &str =
    "expires_at IS NOT NULL AND state IN ('scheduled', 'queued') AND expires_at <= ?1
       AND started_at IS NULL
     LIMIT 1000";

/// Running tasks whose lease has run out, a batch at a time in no particular order (index
/// `tasks_running`: running tasks are few).
pub(in crate::store::sqlite) const LAPSED_LEASES: &str =
    "state = 'running' AND lease_expires_at < ?1 LIMIT 1000";

/// Final tasks finished before a cutoff (index `tasks_finished`).
pub(in crate::store::sqlite) const FINISHED_BEFORE: &str =
    "SELECT seq FROM tasks WHERE finished_at IS NOT NULL AND finished_at < ?1 LIMIT 1000";

/// Moves scheduled tasks whose time has come to `queued`, each taking its owner's next turn.
pub(in crate::store::sqlite) fn promote_due(
    batch: &mut Batch<'_>,
    now: Timestamp,
) -> StoreResult<u64> {
    let heads = change::load_where(batch, DUE, [millis(now)])?;
    for head in &heads {
        let change = Change {
            fair_round: Some(change::next_round(
                batch,
                &head.queue,
                head.owner.as_deref(),
                head.priority,
            )?),
            ..Change::default()
        };
        change::transition(batch, head, Transition::Promote, change, now)?;
    }
    Ok(heads.len() as u64)
}

/// Expires the tasks never started before their `expires_at`.
pub(in crate::store::sqlite) fn expire_overdue(
    batch: &mut Batch<'_>,
    now: Timestamp,
) -> StoreResult<u64> {
    let heads = change::load_where(batch, OVERDUE, [millis(now)])?;
    each_alone(batch, &heads, "expire", |batch, head| {
        change::transition(batch, head, Transition::Expire, Change::default(), now)
    })
}

/// Deletes final tasks finished before `cutoff`, events older than it, and the fairness rounds
/// that no longer matter; answers how many rows it deleted.
pub(in crate::store::sqlite) fn sweep_retention(
    batch: &mut Batch<'_>,
    cutoff: Timestamp,
) -> StoreResult<u64> {
    let cutoff = millis(cutoff);
    let tasks = batch
        .tx
        .prepare_cached(&format!(
            "DELETE FROM tasks WHERE seq IN ({FINISHED_BEFORE})"
        ))?
        .execute([cutoff])?;
    // Events are numbered in time order: look at the oldest only. The newest event is always
    // kept, so that its number is never handed out again.
    let events = batch
        .tx
        .prepare_cached(
            "DELETE FROM events
             WHERE seq IN (SELECT seq FROM events ORDER BY seq LIMIT 1000) AND at < ?1
               AND seq < (SELECT max(seq) FROM events)",
        )?
        .execute([cutoff])?;
    // An owner whose last round the queue has passed at that priority takes the queue's round
    // anyway: forget it.
    let rounds = batch
        .tx
        .prepare_cached(
            "DELETE FROM owner_rounds WHERE (queue, priority, owner) IN (
                SELECT queue, priority, owner FROM owner_rounds AS o
                WHERE last_round <= coalesce(
                    (SELECT current_round FROM queue_rounds AS r
                     WHERE r.queue = o.queue AND r.priority = o.priority), 0)
                LIMIT 1000)",
        )?
        .execute([])?;
    Ok((tasks + events + rounds) as u64)
}

/// Sends back the running tasks whose lease has run out: to `queued` while attempts remain
/// (the attempt counts: the task may be what killed its worker), else to `failed`.
pub(in crate::store::sqlite) fn rescue_expired_leases(
    batch: &mut Batch<'_>,
    now: Timestamp,
) -> StoreResult<u64> {
    let heads = change::load_where(batch, LAPSED_LEASES, [millis(now)])?;
    each_alone(batch, &heads, "rescue", |batch, head| {
        debug_assert_eq!(head.state, State::Running);
        let (transition, change) = rescue(head.cancel_requested, head.attempt, head.max_attempts);
        change::transition(batch, head, transition, change, now)
    })
}

/// Applies `change` to each task on its own, so that one that cannot change (logged) does not
/// hold back the others; answers how many changed.
fn each_alone(
    batch: &mut Batch<'_>,
    heads: &[Head],
    what: &str,
    mut change: impl FnMut(&mut Batch<'_>, &Head) -> StoreResult<Task>,
) -> StoreResult<u64> {
    let mut changed = 0;
    for head in heads {
        match in_savepoint(batch, |batch| change(batch, head)) {
            Ok(_) => changed += 1,
            // This task's state or data refuses the change; the others may go on.
            Err(err @ (StoreError::Illegal { .. } | StoreError::QueueNotFound(_))) => {
                tracing::warn!(task = %head.id, error = %err, "could not {what} a task");
            }
            // The database itself failed: the whole write must fail.
            Err(err) => return Err(err),
        }
    }
    Ok(changed)
}
