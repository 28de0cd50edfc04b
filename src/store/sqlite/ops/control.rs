//! What a user or an operator does to a task: cancel, dismiss, resume.

use jiff::Timestamp;
use rusqlite::params;
use serde_json::Value;

use super::super::row::{TASK_COLUMNS, millis, record_event, task_from_row};
use super::super::writer::Batch;
use super::change::{self, Change};
use crate::model::{EventKind, State, Task, TaskId, Transition};
use crate::store::{StoreError, StoreResult};

/// Cancels a task. A running task of an executor errand runs is asked to stop (its runner
/// confirms with the `cancelled` outcome); anything else not final is cancelled at once.
pub(in crate::store::sqlite) fn cancel(
    batch: &mut Batch<'_>,
    id: TaskId,
    now: Timestamp,
) -> StoreResult<Task> {
    let head = change::load(batch, id)?;
    if head.state == State::Running && !head.tracked {
        if head.cancel_requested {
            return change::fetch(batch, head.seq);
        }
        let task = batch
            .tx
            .prepare_cached(&format!(
                "UPDATE tasks SET cancel_requested = 1, updated_at = ?2 WHERE seq = ?1
                 RETURNING {TASK_COLUMNS}"
            ))?
            .query_row(params![head.seq, millis(now)], task_from_row)?;
        record_event(batch, EventKind::CancelRequested, None, task.clone(), now)?;
        return Ok(task);
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
    let task = batch
        .tx
        .prepare_cached(&format!(
            "UPDATE tasks SET dismissed = 1, updated_at = ?2 WHERE seq = ?1 AND dismissed = 0
             RETURNING {TASK_COLUMNS}"
        ))?
        .query_row(params![head.seq, millis(now)], task_from_row);
    match task {
        Ok(task) => {
            record_event(batch, EventKind::Dismissed, None, task.clone(), now)?;
            Ok(task)
        }
        Err(rusqlite::Error::QueryReturnedNoRows) => change::fetch(batch, head.seq),
        Err(err) => Err(err.into()),
    }
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
    Transition::Resume
        .apply(head.state)
        .map_err(|source| StoreError::Illegal { id, source })?;
    let change = Change {
        fair_round: Some(change::next_round(
            batch,
            &head.queue,
            head.owner.as_deref(),
            head.priority,
        )?),
        input: Some(input.map(|value| value.to_string())),
        refund_attempt: true,
        ..Change::default()
    };
    change::transition(batch, &head, Transition::Resume, change, now)
}
