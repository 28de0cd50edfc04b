//! The sweepers' writes: promotion of due tasks, lease rescue, expiry and retention. Each takes
//! a bounded batch of rows with `FOR UPDATE SKIP LOCKED`, so that any number of nodes sweep
//! at once without waiting for each other or doing a task twice; callers repeat while there
//! is more.

use jiff::Timestamp;

use super::super::row::millis;
use super::super::write::Write;
use super::change::{self, Change, Head, head_columns};
use crate::model::{State, Transition};
use crate::store::StoreResult;
use crate::store::settle::rescue;

// One sweep moves at most 1,000 tasks.

/// Scheduled tasks whose time has come (index `tasks_due`).
const DUE: &str = concat!(
    "SELECT ",
    head_columns!(),
    " FROM tasks WHERE state = 'scheduled' AND scheduled_for <= $1
     ORDER BY scheduled_for LIMIT 1000 FOR UPDATE SKIP LOCKED"
);

/// Tasks never started before their `expires_at` (index `tasks_expiry`).
const OVERDUE: &str = concat!(
    "SELECT ",
    head_columns!(),
    " FROM tasks WHERE expires_at IS NOT NULL AND state IN ('scheduled', 'queued')
       AND expires_at <= $1 AND started_at IS NULL
     LIMIT 1000 FOR UPDATE SKIP LOCKED"
);

/// Running tasks whose lease has run out (index `tasks_lease`).
const LAPSED_LEASES: &str = concat!(
    "SELECT ",
    head_columns!(),
    " FROM tasks WHERE state = 'running' AND lease_expires_at < $1
     ORDER BY lease_expires_at LIMIT 1000 FOR UPDATE SKIP LOCKED"
);

/// Moves scheduled tasks whose time has come to `queued`, each taking its owner's next turn.
pub(in crate::store::postgres) async fn promote_due(w: &Write, now: Timestamp) -> StoreResult<u64> {
    let heads = change::load_where(w, DUE, &[&millis(now)]).await?;
    for head in &heads {
        let change = Change {
            fair_round: Some(
                change::next_round(w, &head.queue, head.owner.as_deref(), head.priority).await?,
            ),
            ..Change::default()
        };
        change::transition(w, head, Transition::Promote, change, now).await?;
    }
    Ok(heads.len() as u64)
}

/// Expires the tasks never started before their `expires_at`.
pub(in crate::store::postgres) async fn expire_overdue(
    w: &Write,
    now: Timestamp,
) -> StoreResult<u64> {
    let heads = change::load_where(w, OVERDUE, &[&millis(now)]).await?;
    let mut changed = 0;
    for head in &heads {
        if took_effect(
            head,
            "expire",
            change::transition(w, head, Transition::Expire, Change::default(), now).await,
        )? {
            changed += 1;
        }
    }
    Ok(changed)
}

/// Deletes final tasks finished before `cutoff`, events older than it, and the fairness rounds
/// that no longer matter; answers how many rows it deleted. The event numbers come from a
/// sequence, so they are never handed out again whatever is deleted.
pub(in crate::store::postgres) async fn sweep_retention(
    w: &Write,
    cutoff: Timestamp,
) -> StoreResult<u64> {
    let cutoff = millis(cutoff);
    let tasks = w
        .execute(
            "DELETE FROM tasks WHERE seq IN (
                SELECT seq FROM tasks WHERE finished_at IS NOT NULL AND finished_at < $1
                LIMIT 1000 FOR UPDATE SKIP LOCKED)",
            &[&cutoff],
        )
        .await?;
    let events = w
        .execute(
            "DELETE FROM events WHERE seq IN (
                SELECT seq FROM events WHERE at < $1 ORDER BY seq LIMIT 1000
                FOR UPDATE SKIP LOCKED)",
            &[&cutoff],
        )
        .await?;
    let rounds = w
        .execute(
            "DELETE FROM owner_rounds WHERE (queue, priority, owner) IN (
                SELECT queue, priority, owner FROM owner_rounds AS o
                WHERE last_round <= coalesce(
                    (SELECT current_round FROM queue_rounds AS r
                     WHERE r.queue = o.queue AND r.priority = o.priority), 0)
                LIMIT 1000 FOR UPDATE SKIP LOCKED)",
            &[],
        )
        .await?;
    Ok(tasks + events + rounds)
}

/// Sends back the running tasks whose lease has run out: to `queued` while attempts remain
/// (the attempt counts: the task may be what killed its worker), else to `failed`.
pub(in crate::store::postgres) async fn rescue_expired_leases(
    w: &Write,
    now: Timestamp,
) -> StoreResult<u64> {
    let heads = change::load_where(w, LAPSED_LEASES, &[&millis(now)]).await?;
    let mut changed = 0;
    for head in &heads {
        debug_assert_eq!(head.state, State::Running);
        let (transition, change) = rescue(head.cancel_requested, head.attempt, head.max_attempts);
        let outcome = change::transition(w, head, transition, change, now).await;
        if took_effect(head, "rescue", outcome)? {
            changed += 1;
        }
    }
    Ok(changed)
}

/// Whether one task's change happened; a refusal by its state is logged and passed over (it
/// is checked before anything is written, so the write goes on), a database failure fails it.
fn took_effect<T>(head: &Head, what: &str, outcome: StoreResult<T>) -> StoreResult<bool> {
    match outcome {
        Ok(_) => Ok(true),
        Err(err @ crate::store::StoreError::Illegal { .. }) => {
            tracing::warn!(task = %head.id, error = %err, "could not {what} a task");
            Ok(false)
        }
        Err(err) => Err(err),
    }
}
