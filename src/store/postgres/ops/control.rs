//! What a user or an operator does to a task: cancel, dismiss, resume, retry.

use jiff::Timestamp;
use serde_json::Value;

use super::super::row::{millis, task_columns};
use super::super::write::Write;
use super::change::{self, Change};
use crate::model::{EventKind, State, Task, TaskId, Transition};
use crate::store::settle::legal;
use crate::store::{StoreError, StoreResult};

/// Cancels a task. A running task that a node runs is asked to stop; anything else not final,
/// including a running task that the application reports on, is cancelled at once.
pub(in crate::store::postgres) async fn cancel(
    w: &Write,
    id: TaskId,
    now: Timestamp,
) -> StoreResult<Task> {
    const ASK: &str = concat!(
        "UPDATE tasks SET cancel_requested = true, updated_at = $2 WHERE seq = $1 RETURNING ",
        task_columns!()
    );
    let head = change::load(w, id).await?;
    if head.state == State::Running && !head.tracked && !head.reported {
        if head.cancel_requested {
            return change::fetch(w, head.seq).await;
        }
        return change::update_and_record(
            w,
            ASK,
            &[&head.seq, &millis(now)],
            EventKind::CancelRequested,
            None,
            now,
        )
        .await;
    }
    change::transition(w, &head, Transition::Cancel, Change::default(), now).await
}

/// Hides a final task from the banner. Dismissing twice is harmless.
pub(in crate::store::postgres) async fn dismiss(
    w: &Write,
    id: TaskId,
    now: Timestamp,
) -> StoreResult<Task> {
    const DISMISS: &str = concat!(
        "UPDATE tasks SET dismissed = true, updated_at = $2 WHERE seq = $1 RETURNING ",
        task_columns!()
    );
    let head = change::load(w, id).await?;
    if !head.state.is_final() {
        return Err(StoreError::NotFinal {
            id,
            state: head.state,
        });
    }
    if head.dismissed {
        return change::fetch(w, head.seq).await;
    }
    change::update_and_record(
        w,
        DISMISS,
        &[&head.seq, &millis(now)],
        EventKind::Dismissed,
        None,
        now,
    )
    .await
}

/// Puts a waiting task back in its queue with the user's input. Answering is not a retry: the
/// attempt it was waiting in goes on.
pub(in crate::store::postgres) async fn resume(
    w: &Write,
    id: TaskId,
    input: Option<Value>,
    now: Timestamp,
) -> StoreResult<Task> {
    let head = change::load(w, id).await?;
    legal(Transition::Resume, head.state, id)?;
    let change = Change {
        fair_round: Some(
            change::next_round(w, &head.queue, head.owner.as_deref(), head.priority).await?,
        ),
        input: Some(input),
        refund_attempt: true,
        ..Change::default()
    };
    change::transition(w, &head, Transition::Resume, change, now).await
}

/// Queues a failed, cancelled or expired task again, with as many attempts ahead of it as it
/// was given at enqueue, and no expiry. Its error, result, progress and dismissal are
/// cleared. Refused while another task of its dedup key is pending.
pub(in crate::store::postgres) async fn retry(
    w: &Write,
    id: TaskId,
    now: Timestamp,
) -> StoreResult<Task> {
    let head = change::load(w, id).await?;
    legal(Transition::Retry, head.state, id)?;
    let key: Option<String> = w
        .query_one("SELECT dedup_key FROM tasks WHERE seq = $1", &[&head.seq])
        .await?
        .get(0);
    if let Some(key) = key
        && change::load_where(w, super::enqueue::DEDUP_PENDING, &[&key])
            .await?
            .iter()
            .any(|pending| pending.id != id)
    {
        return Err(StoreError::Conflict {
            id,
            reason: format!("another task of dedup key {key:?} is waiting to run"),
        });
    }
    w.execute(
        "UPDATE tasks SET max_attempts = attempt + coalesce(attempt_budget, max_attempts),
            finished_at = NULL, expires_at = NULL,
            dismissed = false, result = NULL, result_url = NULL, progress_percent = NULL,
            progress_message = NULL, progress_current = NULL, progress_total = NULL,
            scheduled_for = $2
         WHERE seq = $1",
        &[&head.seq, &millis(now)],
    )
    .await?;
    let change = Change {
        fair_round: Some(
            change::next_round(w, &head.queue, head.owner.as_deref(), head.priority).await?,
        ),
        error: Some(None),
        ..Change::default()
    };
    change::transition(w, &head, Transition::Retry, change, now).await
}
