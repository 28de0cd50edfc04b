//! Enqueueing: new tasks, dedup hits and debounces.
//!
//! Dedup is race-free across nodes: the unique partial index `tasks_dedup_pending` admits one
//! never-started task per key, and the insert names it (`ON CONFLICT … DO NOTHING`). An
//! insert that loses the race finds the winner and answers with it (or debounces it).

use futures_util::future::join_all;
use jiff::Timestamp;

use super::super::row::{millis, task_columns, task_from_row};
use super::super::write::Write;
use super::change::{self, Change, head_columns, take_round};
use crate::model::{DedupPolicy, EventKind, NewTask, State, Task, Transition};
use crate::store::settle::{executor_columns, payload_columns};
use crate::store::{Enqueued, StoreError, StoreResult};

/// How often an enqueue looks again after losing a dedup race before it gives up.
const DEDUP_TRIES: usize = 8;

/// Inserts a task, in one statement (one round trip): if its queue exists (`queue`), and, if
/// `$15` (the task is ready), takes the owner's next fair round (`round`). On a conflict over
/// a pending dedup key, or if the queue does not exist, inserts nothing. (The parameters are
/// cast: in an `INSERT … SELECT` their types are not inferred from the columns.)
const INSERT: &str = concat!(
    "WITH queue AS (
         SELECT name FROM queues WHERE name = $3::text
     ), round AS (",
    take_round!(
        "$3::text",
        "$14::integer",
        "coalesce($4::text, '')",
        "FROM queue WHERE $15::boolean"
    ),
    ")
     INSERT INTO tasks (id, name, queue, owner, title, description, executor, handler,
        target, path, payload_format, payload, state, priority, fair_round, max_attempts,
        timeout_ms, expires_at, created_at, scheduled_for, updated_at, ordering_key,
        dedup_key, context, return_url, sealed_headers, attempt_budget)
     SELECT $1::uuid, $2::text, name, $4::text, $5::text, $6::text, $7::text, $8::text,
        $9::text, $10::text, $11::text, $12::bytea, $13::text, $14::integer,
        coalesce((SELECT last_round FROM round), 0), $16::integer, $17::bigint, $18::bigint,
        $19::bigint, $20::bigint, $19::bigint, $21::text, $22::text, $23::jsonb, $24::text,
        $25::bytea, $16::integer
     FROM queue
     ON CONFLICT (dedup_key)
        WHERE dedup_key IS NOT NULL AND started_at IS NULL AND state IN ('scheduled', 'queued')
     DO NOTHING
     RETURNING ",
    task_columns!()
);

/// Enqueues `tasks` in order.
///
/// A task without a dedup key needs no answer from the database before the next one is sent,
/// so consecutive such tasks are inserted together: their statements travel at once, and
/// PostgreSQL runs them in the order sent, each taking its fair round after the one before.
/// (Sent one after the other, a batch of 1,000 cost 1,000 round trips.) A task with a dedup
/// key looks for its key first, alone.
pub(in crate::store::postgres) async fn enqueue(
    w: &Write,
    tasks: Vec<NewTask>,
    now: Timestamp,
) -> StoreResult<Vec<Enqueued>> {
    w.prepare(&[INSERT]).await?;
    let mut answers = Vec::with_capacity(tasks.len());
    let mut tasks = tasks.into_iter().peekable();
    while let Some(task) = tasks.next() {
        if task.dedup_key.is_some() {
            answers.push(enqueue_one(w, task, now).await?);
            continue;
        }
        let mut together = vec![task];
        together.extend(std::iter::from_fn(|| {
            tasks.next_if(|next| next.dedup_key.is_none())
        }));
        let inserted = join_all(together.iter().map(|new| insert(w, new, now))).await;
        for (new, inserted) in together.iter().zip(inserted) {
            // Without a dedup key, nothing inserted means no such queue.
            let task = inserted?.ok_or_else(|| StoreError::QueueNotFound(new.queue.clone()))?;
            w.record(EventKind::Created, None, task.clone(), now);
            answers.push(Enqueued {
                task,
                created: true,
            });
        }
    }
    Ok(answers)
}

async fn enqueue_one(w: &Write, new: NewTask, now: Timestamp) -> StoreResult<Enqueued> {
    for _ in 0..DEDUP_TRIES {
        if let Some(key) = &new.dedup_key
            && let Some(existing) = dedup_hit(w, key, &new, now).await?
        {
            return Ok(Enqueued {
                task: existing,
                created: false,
            });
        }
        if let Some(task) = insert(w, &new, now).await? {
            w.record(EventKind::Created, None, task.clone(), now);
            return Ok(Enqueued {
                task,
                created: true,
            });
        }
        // Another write inserted a pending task of this key since we looked: look again.
    }
    Err(StoreError::Invalid(format!(
        "dedup key {:?}: too many concurrent enqueues",
        new.dedup_key
    )))
}

/// Inserts `new`; `None` if a pending task of its dedup key won the race.
async fn insert(w: &Write, new: &NewTask, now: Timestamp) -> StoreResult<Option<Task>> {
    let scheduled_for = new.run_at.unwrap_or(now).max(now);
    let state = if scheduled_for > now {
        State::Scheduled
    } else {
        State::Queued
    };
    // A scheduled task takes its round when it becomes ready.
    let takes_round = state == State::Queued;
    let max_attempts = new.max_attempts.ok_or_else(|| {
        StoreError::Invalid("max_attempts must be resolved before enqueue".into())
    })?;
    let max_attempts = i32::try_from(max_attempts).unwrap_or(i32::MAX);
    let (handler, target, path) = executor_columns(&new.executor);
    let (payload_format, payload) = payload_columns(&new.payload);
    let timeout_ms = new
        .timeout
        .map(|t| i64::try_from(t.as_millis()).unwrap_or(i64::MAX));
    let row = w
        .query_opt(
            INSERT,
            &[
                &new.id.0,
                &new.name,
                &new.queue,
                &new.owner,
                &new.title,
                &new.description,
                &new.executor.kind(),
                &handler,
                &target,
                &path,
                &payload_format,
                &payload,
                &state.as_str(),
                &new.priority,
                &takes_round,
                &max_attempts,
                &timeout_ms,
                &new.expires_at.map(millis),
                &millis(now),
                &millis(scheduled_for),
                &new.ordering_key,
                &new.dedup_key,
                &new.context,
                &new.return_url,
                &new.sealed_headers,
            ],
        )
        .await?;
    match row {
        Some(row) => task_from_row(&row).map(Some),
        // Nothing inserted: the queue does not exist, or (only with a dedup key) a pending
        // task of the key won the race.
        None if new.dedup_key.is_none() => Err(StoreError::QueueNotFound(new.queue.clone())),
        None => require_queue(w, &new.queue).await.map(|()| None),
    }
}

async fn require_queue(w: &Write, queue: &str) -> StoreResult<()> {
    w.query_opt("SELECT 1 FROM queues WHERE name = $1", &[&queue])
        .await?
        .map(|_| ())
        .ok_or_else(|| StoreError::QueueNotFound(queue.to_owned()))
}

/// The task of a dedup key that has never started (index `tasks_dedup_pending`), locked.
pub(in crate::store::postgres) const DEDUP_PENDING: &str = concat!(
    "SELECT ",
    head_columns!(),
    " FROM tasks WHERE dedup_key = $1 AND started_at IS NULL
       AND state IN ('scheduled', 'queued') FOR UPDATE"
);

/// The latest task of a dedup key that has started and is not final (index
/// `tasks_dedup_started`).
const DEDUP_STARTED: &str = concat!(
    "SELECT ",
    head_columns!(),
    " FROM tasks WHERE dedup_key = $1 AND started_at IS NOT NULL
       AND state IN ('scheduled', 'queued', 'running', 'waiting')
     ORDER BY seq DESC LIMIT 1"
);

/// The task that answers an enqueue with dedup key `key`, if any: under `keep`, any task of the
/// key that is not final; under `debounce`, the task of the key that has never started, now
/// carrying the new payload and start time.
async fn dedup_hit(
    w: &Write,
    key: &str,
    new: &NewTask,
    now: Timestamp,
) -> StoreResult<Option<Task>> {
    let pending = change::load_where(w, DEDUP_PENDING, &[&key]).await?.pop();
    match (new.dedup, pending) {
        (DedupPolicy::Keep, Some(head)) => change::fetch(w, head.seq).await.map(Some),
        (DedupPolicy::Keep, None) => {
            match change::load_where(w, DEDUP_STARTED, &[&key]).await?.pop() {
                Some(head) => change::fetch(w, head.seq).await.map(Some),
                None => Ok(None),
            }
        }
        (DedupPolicy::Debounce, Some(head)) => {
            let (payload_format, payload) = payload_columns(&new.payload);
            w.execute(
                "UPDATE tasks SET payload_format = $2, payload = $3,
                    context = coalesce($4, context) WHERE seq = $1",
                &[&head.seq, &payload_format, &payload, &new.context],
            )
            .await?;
            let scheduled_for = new.run_at.unwrap_or(now).max(now);
            let change = Change {
                scheduled_for: Some(scheduled_for),
                ..Change::default()
            };
            change::transition(w, &head, Transition::Debounce, change, now)
                .await
                .map(Some)
        }
        (DedupPolicy::Debounce, None) => Ok(None),
    }
}
