//! Enqueueing: new tasks, dedup hits and debounces.

use jiff::Timestamp;
use rusqlite::{OptionalExtension, params};

use super::super::row::{id_bytes, json_text, millis, record_event};
use super::super::writer::Batch;
use super::change::{self, Change};
use crate::model::{DedupPolicy, EventKind, NewTask, State, Task, Transition};
use crate::store::settle::{created_task, executor_columns, payload_columns};
use crate::store::{Enqueued, StoreError, StoreResult};

/// The task of a dedup key that has never started (unique index `tasks_dedup_pending`).
pub(in crate::store::sqlite) const DEDUP_PENDING: &str = "dedup_key = ?1 AND dedup_key IS NOT NULL
     AND started_at IS NULL AND state IN ('scheduled', 'queued')";

/// The latest task of a dedup key that has started and is not final, running or waiting for a
/// retry (index `tasks_dedup_started`).
pub(in crate::store::sqlite) const DEDUP_STARTED: &str = "dedup_key = ?1 AND dedup_key IS NOT NULL
     AND started_at IS NOT NULL
     AND (state = 'scheduled' OR state = 'queued' OR state = 'running' OR state = 'waiting')
     ORDER BY seq DESC LIMIT 1";

/// A new task.
pub(in crate::store::sqlite) const INSERT_TASK: &str =
    "INSERT INTO tasks (id, name, queue, owner, title, description, executor, handler,
        target, path, payload_format, payload, state, priority, fair_round, max_attempts,
        timeout_ms, expires_at, created_at, scheduled_for, updated_at, ordering_key,
        dedup_key, context, return_url, sealed_headers, attempt_budget)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
        ?18, ?19, ?20, ?19, ?21, ?22, ?23, ?24, ?25, ?16)";

/// Enqueues `tasks` in order.
pub(in crate::store::sqlite) fn enqueue(
    batch: &mut Batch<'_>,
    tasks: &[NewTask],
    now: Timestamp,
) -> StoreResult<Vec<Enqueued>> {
    tasks
        .iter()
        .map(|task| enqueue_one(batch, task, now))
        .collect()
}

fn enqueue_one(batch: &mut Batch<'_>, new: &NewTask, now: Timestamp) -> StoreResult<Enqueued> {
    if let Some(key) = &new.dedup_key
        && let Some(existing) = dedup_hit(batch, key, new, now)?
    {
        return Ok(Enqueued {
            task: existing,
            created: false,
        });
    }
    let scheduled_for = new.run_at.unwrap_or(now).max(now);
    let state = if scheduled_for > now {
        State::Scheduled
    } else {
        State::Queued
    };
    let fair_round = match state {
        State::Queued => change::next_round(batch, &new.queue, new.owner.as_deref(), new.priority)?,
        // The round is taken when it becomes ready, so that tasks waiting for their time do not
        // count as their owner's backlog.
        _ => {
            require_queue(batch, &new.queue)?;
            0
        }
    };
    let max_attempts = new.max_attempts.ok_or_else(|| {
        StoreError::Invalid("max_attempts must be resolved before enqueue".into())
    })?;
    let (handler, target, path) = executor_columns(&new.executor);
    let (payload_format, payload) = payload_columns(&new.payload);
    let timeout_ms = new
        .timeout
        .map(|t| i64::try_from(t.as_millis()).unwrap_or(i64::MAX));
    batch.tx.prepare_cached(INSERT_TASK)?.execute(params![
        id_bytes(new.id),
        new.name,
        new.queue,
        new.owner,
        new.title,
        new.description,
        new.executor.kind(),
        handler,
        target,
        path,
        payload_format,
        payload,
        state.as_str(),
        new.priority,
        fair_round,
        max_attempts,
        timeout_ms,
        new.expires_at.map(millis),
        millis(now),
        millis(scheduled_for),
        new.ordering_key,
        new.dedup_key,
        json_text(&new.context),
        new.return_url,
        new.sealed_headers,
    ])?;
    // Built from what was inserted rather than read back.
    let task = created_task(new, state, max_attempts, scheduled_for, now);
    record_event(batch, EventKind::Created, None, task.clone(), now)?;
    Ok(Enqueued {
        task,
        created: true,
    })
}

fn require_queue(batch: &Batch<'_>, queue: &str) -> StoreResult<()> {
    batch
        .tx
        .prepare_cached("SELECT 1 FROM queues WHERE name = ?1")?
        .query_row([queue], |_| Ok(()))
        .optional()?
        .ok_or_else(|| StoreError::QueueNotFound(queue.to_owned()))
}

/// The task that answers an enqueue with dedup key `key`, if any: under `keep`, any task of the
/// key that is not final; under `debounce`, the task of the key that has never started, now
/// carrying the new payload and start time.
fn dedup_hit(
    batch: &mut Batch<'_>,
    key: &str,
    new: &NewTask,
    now: Timestamp,
) -> StoreResult<Option<Task>> {
    let pending = change::load_where(batch, DEDUP_PENDING, [key])?.pop();
    match (new.dedup, pending) {
        (DedupPolicy::Keep, Some(head)) => change::fetch(batch, head.seq).map(Some),
        (DedupPolicy::Keep, None) => {
            let started = change::load_where(batch, DEDUP_STARTED, [key])?.pop();
            started
                .map(|head| change::fetch(batch, head.seq))
                .transpose()
        }
        (DedupPolicy::Debounce, Some(head)) => {
            let (payload_format, payload) = payload_columns(&new.payload);
            batch
                .tx
                .prepare_cached(
                    "UPDATE tasks SET payload_format = ?2, payload = ?3,
                        context = coalesce(?4, context) WHERE seq = ?1",
                )?
                .execute(params![
                    head.seq,
                    payload_format,
                    payload,
                    json_text(&new.context)
                ])?;
            let scheduled_for = new.run_at.unwrap_or(now).max(now);
            let change = Change {
                scheduled_for: Some(scheduled_for),
                ..Change::default()
            };
            change::transition(batch, &head, Transition::Debounce, change, now).map(Some)
        }
        (DedupPolicy::Debounce, None) => Ok(None),
    }
}
