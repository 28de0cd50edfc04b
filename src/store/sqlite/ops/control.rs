//! What a user or an operator does to a task: cancel, dismiss, resume, retry.

use jiff::Timestamp;
use rusqlite::params;
use serde_json::Value;

use super::super::row::millis;
use super::super::writer::Batch;
use super::change::{self, Change};
use crate::model::{EventKind, State, Task, TaskId, Transition};
use crate::store::settle::legal;
use crate::store::{StoreError, StoreResult};

/// Cancels a task. A running task that a node runs is asked to stop (its runner confirms with
/// the `cancelled` outcome); anything else not final, including a running task that the
/// application reports on, is cancelled at once.
pub(in crate::store::sqlite) fn cancel(
    batch: &mut Batch<'_>,
    id: TaskId,
    now: Timestamp,
) -> StoreResult<Task> {
    let head = change::load(batch, id)?;
    if head.state == State::Running && !head.tracked && !head.reported {
        if head.cancel_requested {
            return change::fetch(batch, head.seq);
        }
        return change::update_and_record(
            batch,
            head.seq,
            "UPDATE tasks SET cancel_requested = 1, updated_at = ?2 WHERE seq = ?1",
            params![head.seq, millis(now)],
            EventKind::CancelRequested,
            None,
            now,
        );
    }
    change::transition(batch, &head, Transition::Cancel, Change::default(), now)
}

/// Hides a final task from the banner. Dismissing twice is harmless.
pub(in crate::store::sqlite) fn dismiss(
    batch: &mut Batch<'_>,
    id: TaskId,
    now: Timestamp,
) -> StoreResult<Task> {
    let head = change::load(batch, id)?;
    if !head.state.is_final() {
        return Err(StoreError::NotFinal {
            id,
            state: head.state,
        });
    }
    let already = batch
        .tx
        .prepare_cached("SELECT dismissed FROM tasks WHERE seq = ?1")?
        .query_row([head.seq], |row| row.get::<_, bool>(0))?;
    if already {
        return change::fetch(batch, head.seq);
    }
    change::update_and_record(
        batch,
        head.seq,
        "UPDATE tasks SET dismissed = 1, updated_at = ?2 WHERE seq = ?1",
        params![head.seq, millis(now)],
        EventKind::Dismissed,
        None,
        now,
    )
}

/// Puts a waiting task back in its queue with the user's input. Answering is not a retry: the
/// attempt it was waiting in goes on.
pub(in crate::store::sqlite) fn resume(
    batch: &mut Batch<'_>,
    id: TaskId,
    input: Option<Value>,
    now: Timestamp,
) -> StoreResult<Task> {
    let head = change::load(batch, id)?;
    legal(Transition::Resume, head.state, id)?;
    let change = Change {
        fair_round: Some(change::next_round(
            batch,
            &head.queue,
            head.owner.as_deref(),
            head.priority,
        )?),
        input: Some(input),
        refund_attempt: true,
        ..Change::default()
    };
    change::transition(batch, &head, Transition::Resume, change, now)
}

/// Queues a failed, cancelled or expired task again, with as many attempts ahead of it as it
/// was given at enqueue, and no expiry. Its error and result are cleared; its progress and
/// dismissal too, so that the banner shows it afresh. Refused while another task of its dedup
/// key is pending.
pub(in crate::store::sqlite) fn retry(
    batch: &mut Batch<'_>,
    id: TaskId,
    now: Timestamp,
) -> StoreResult<Task> {
    let head = change::load(batch, id)?;
    legal(Transition::Retry, head.state, id)?;
    let key: Option<String> = batch
        .tx
        .prepare_cached("SELECT dedup_key FROM tasks WHERE seq = ?1")?
        .query_row([head.seq], |row| row.get(0))?;
    if let Some(key) = key
        && change::load_where(batch, super::enqueue::DEDUP_PENDING, [&key])?
            .iter()
            .any(|pending| pending.id != id)
    {
        return Err(StoreError::Conflict {
            id,
            reason: format!("another task of dedup key {key:?} is waiting to run"),
        });
    }
    batch
        .tx
        .prepare_cached(
            "UPDATE tasks SET max_attempts = attempt + coalesce(attempt_budget, max_attempts),
                finished_at = NULL, expires_at = NULL,
                dismissed = 0, result = NULL, result_url = NULL, progress_percent = NULL,
                progress_message = NULL, progress_current = NULL, progress_total = NULL,
                scheduled_for = ?2
             WHERE seq = ?1",
        )?
        .execute(params![head.seq, millis(now)])?;
    let change = Change {
        fair_round: Some(change::next_round(
            batch,
            &head.queue,
            head.owner.as_deref(),
            head.priority,
        )?),
        error: Some(None),
        ..Change::default()
    };
    change::transition(batch, &head, Transition::Retry, change, now)
}
