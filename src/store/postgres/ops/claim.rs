//! Claiming: which ready tasks a worker may start, under the queue's slots, the per-owner cap,
//! the ordering keys and the owners' turns, across every node.
//!
//! A claim locks its queue's row first, so that the claimers of one queue take turns across
//! nodes: each counts the running tasks after the previous one committed, and the slots, the
//! per-owner cap and the ordering keys hold cluster-wide. Claimers of different queues run in
//! parallel. Candidates are locked with `FOR UPDATE SKIP LOCKED`, so that a claim never waits
//! for a task that another write (a cancel, a sweep) holds.

use std::collections::HashMap;

use futures_util::future::try_join_all;
use jiff::Timestamp;
use tokio_postgres::types::Type;
use uuid::Uuid;

use super::super::row::{SEQ_COLUMN, millis, task_columns, task_from_row};
use super::super::write::Write;
use super::change::{self, Change, Head, head_columns};
use crate::model::{EventKind, State, Task, TaskId, Transition};
use crate::store::settle::legal;
use crate::store::{ClaimRequest, StoreError, StoreResult};

/// How many ready tasks a claim passes over at most (owner at its cap, ordering key busy) before
/// it gives up looking for more.
const MAX_PASSED_OVER: usize = 1024;

/// A queue's settings, its row locked: claims of a queue take turns across nodes.
const LOCK_QUEUE: &str =
    "SELECT concurrency, per_owner_concurrency, paused FROM queues WHERE name = $1 FOR UPDATE";

/// How many tasks of queue `$1` run, per owner (index `tasks_running`).
const RUNNING_BY_OWNER: &str = "SELECT owner, count(*) FROM tasks
     WHERE queue = $1 AND state = 'running' GROUP BY owner";

/// A page of `$3` ready tasks of a queue in claiming order, after the first `$2` (index
/// `tasks_claim`), locked unless another write holds them.
const CANDIDATES: &str =
    "SELECT seq, owner, ordering_key, expires_at, started_at, priority, fair_round FROM tasks
     WHERE queue = $1 AND state = 'queued' AND executor <> 'tracked'
     ORDER BY priority DESC, fair_round, seq
     LIMIT $3 OFFSET $2
     FOR UPDATE SKIP LOCKED";

/// Whether a task of ordering key `$1` other than row `$2` holds the line: one enqueued
/// before it that is not final, or one running or waiting whatever its place (a task
/// enqueued on another node may commit after a later one of its key was claimed).
const IN_LINE_BEFORE: &str = "SELECT 1 FROM tasks
     WHERE ordering_key = $1 AND seq <> $2
       AND state IN ('scheduled', 'queued', 'running', 'waiting')
       AND (seq < $2 OR state IN ('running', 'waiting'))
     LIMIT 1";

struct Candidate {
    seq: i64,
    owner: Option<String>,
    ordering_key: Option<String>,
    expires_at: Option<i64>,
    started_at: Option<i64>,
    priority: i32,
    fair_round: i64,
}

/// Claims up to `request.limit` ready tasks of a queue.
pub(in crate::store::postgres) async fn claim(
    w: &Write,
    request: &ClaimRequest,
) -> StoreResult<Vec<Task>> {
    let queue = request.queue.as_str();
    // The queue's row is locked first; the running tasks are counted, and the first page of
    // candidates read, after it (PostgreSQL runs the statements in the order they arrive, and
    // each sees what committed before it started: a claim of another node that committed
    // while this one waited for the lock is counted), in the same round trip.
    let page = (request.limit * 2 + 4).min(256);
    w.prepare(&[LOCK_QUEUE, RUNNING_BY_OWNER, CANDIDATES])
        .await?;
    let (queue_row, running_by_owner, first_page) = tokio::join!(
        lock_queue(w, queue),
        running_by_owner(w, queue),
        candidates(w, queue, 0, page)
    );
    let Some(row) = queue_row? else {
        return Err(StoreError::QueueNotFound(queue.to_owned()));
    };
    let concurrency = i64::from(row.try_get::<_, i32>(0)?);
    let per_owner = row.try_get::<_, Option<i32>>(1)?.map(i64::from);
    let paused: bool = row.try_get(2)?;
    if paused || request.limit == 0 {
        return Ok(Vec::new());
    }
    let mut running_by_owner = running_by_owner?;
    let mut first_page = Some(first_page?);
    let running: i64 = running_by_owner.values().sum();
    let free = usize::try_from(concurrency - running)
        .unwrap_or(0)
        .min(request.limit);
    if free == 0 {
        return Ok(Vec::new());
    }
    let now_ms = millis(request.now);
    // The rows to start, in claiming order.
    let mut claimed: Vec<i64> = Vec::with_capacity(free);
    // The round served at each priority, moved on by what is claimed now.
    let mut rounds: HashMap<i32, i64> = HashMap::new();
    // Per ordering key, a task known to be in line (blocked, or claimed now).
    let mut in_line: HashMap<String, i64> = HashMap::new();
    let mut passed_over = 0usize;
    loop {
        let candidates = match first_page.take() {
            Some(candidates) => candidates,
            None => candidates(w, queue, passed_over, page).await?,
        };
        let exhausted = candidates.len() < page;
        for candidate in candidates {
            if claimed.len() == free {
                break;
            }
            if candidate.started_at.is_none() && candidate.expires_at.is_some_and(|at| at <= now_ms)
            {
                let head = head_of(w, candidate.seq).await?;
                change::transition(w, &head, Transition::Expire, Change::default(), request.now)
                    .await?;
                continue;
            }
            let owner_running = running_by_owner.entry(candidate.owner.clone()).or_insert(0);
            if per_owner.is_some_and(|cap| *owner_running >= cap) {
                passed_over += 1;
                continue;
            }
            if let Some(key) = &candidate.ordering_key {
                let known_in_line = in_line.get(key).is_some_and(|seq| *seq < candidate.seq);
                if known_in_line || in_line_before(w, key, candidate.seq).await? {
                    let seq = in_line.entry(key.clone()).or_insert(candidate.seq);
                    *seq = (*seq).min(candidate.seq);
                    passed_over += 1;
                    continue;
                }
                in_line.insert(key.clone(), candidate.seq);
            }
            *owner_running += 1;
            let round = rounds.entry(candidate.priority).or_insert(0);
            *round = (*round).max(candidate.fair_round);
            claimed.push(candidate.seq);
        }
        if claimed.len() == free || exhausted || passed_over >= MAX_PASSED_OVER {
            break;
        }
    }
    // The tasks start, and the rounds served move on, in one round trip.
    let serve_rounds = rounds.into_iter().map(|(priority, round)| async move {
        w.execute(
            "INSERT INTO queue_rounds AS r (queue, priority, current_round) VALUES ($1, $2, $3)
             ON CONFLICT (queue, priority)
             DO UPDATE SET current_round = greatest(r.current_round, excluded.current_round)",
            &[&queue, &priority, &round],
        )
        .await
    });
    let (claimed, served) = tokio::join!(
        start_attempts(w, &claimed, request),
        try_join_all(serve_rounds)
    );
    served?;
    claimed
}

/// Claims task `id` whatever its queue's slots, pause, per-owner cap or ordering key.
pub(in crate::store::postgres) async fn claim_task(
    w: &Write,
    id: TaskId,
    node: Uuid,
    lease_until: Timestamp,
    now: Timestamp,
) -> StoreResult<Task> {
    let head = change::load(w, id).await?;
    legal(Transition::Claim, head.state, id)?;
    start_attempt(w, head.seq, head.state, node, lease_until, now).await
}

/// Claims a task just enqueued for an inline run, if it may run now: a task errand runs, in a
/// queue that is not paused, first in line for its ordering key. (The queue's slots and the
/// per-owner cap do not hold back an inline run.)
pub(in crate::store::postgres) async fn claim_inline(
    w: &Write,
    task: &Task,
    node: Uuid,
    lease_until: Timestamp,
    now: Timestamp,
) -> StoreResult<Option<Task>> {
    if task.state != State::Queued || task.executor == crate::model::Executor::Tracked {
        return Ok(None);
    }
    let paused: bool = w
        .query_one("SELECT paused FROM queues WHERE name = $1", &[&task.queue])
        .await?
        .try_get(0)?;
    let head = change::load(w, task.id).await?;
    let blocked = match &task.ordering_key {
        Some(key) => in_line_before(w, key, head.seq).await?,
        None => false,
    };
    if paused || blocked || head.state != State::Queued {
        return Ok(None);
    }
    start_attempt(w, head.seq, head.state, node, lease_until, now)
        .await
        .map(Some)
}

/// The settings of `queue`, its row locked, if it exists.
async fn lock_queue(w: &Write, queue: &str) -> StoreResult<Option<tokio_postgres::Row>> {
    w.query_opt(LOCK_QUEUE, &[&queue]).await
}

/// How many tasks of `queue` run, per owner.
async fn running_by_owner(w: &Write, queue: &str) -> StoreResult<HashMap<Option<String>, i64>> {
    let rows = w.query(RUNNING_BY_OWNER, &[&queue]).await?;
    rows.iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect()
}

async fn candidates(
    w: &Write,
    queue: &str,
    skip: usize,
    page: usize,
) -> StoreResult<Vec<Candidate>> {
    let rows = w
        .query(CANDIDATES, &[&queue, &(skip as i64), &(page as i64)])
        .await?;
    rows.iter()
        .map(|row| {
            Ok(Candidate {
                seq: row.try_get(0)?,
                owner: row.try_get(1)?,
                ordering_key: row.try_get(2)?,
                expires_at: row.try_get(3)?,
                started_at: row.try_get(4)?,
                priority: row.try_get(5)?,
                fair_round: row.try_get(6)?,
            })
        })
        .collect()
}

async fn head_of(w: &Write, seq: i64) -> StoreResult<Head> {
    const HEAD_BY_SEQ: &str = concat!(
        "SELECT ",
        head_columns!(),
        " FROM tasks WHERE seq = $1 FOR UPDATE"
    );
    change::load_where(w, HEAD_BY_SEQ, &[&seq])
        .await?
        .pop()
        .ok_or_else(|| StoreError::Invalid(format!("task row {seq} vanished")))
}

/// Whether another task of ordering key `key` holds the line before row `seq`.
async fn in_line_before(w: &Write, key: &str, seq: i64) -> StoreResult<bool> {
    Ok(w.query_opt(IN_LINE_BEFORE, &[&key, &seq]).await?.is_some())
}

/// Starts attempts of the `queued` tasks of rows `$1` at once, like [`START_ATTEMPT`].
const START_ATTEMPTS: &str = concat!(
    "UPDATE tasks SET state = 'running', attempt = attempt + 1, fence = fence + 1,
        lease_node = $2, lease_expires_at = $3, started_at = coalesce(started_at, $4),
        updated_at = $4, cancel_requested = false
     WHERE seq = ANY($1)
     RETURNING ",
    task_columns!()
);

/// `queued → running` for the tasks of rows `seqs` (selected as `queued` by the claim, their
/// rows locked), in one statement; answers them, and records their events, in that order.
async fn start_attempts(w: &Write, seqs: &[i64], request: &ClaimRequest) -> StoreResult<Vec<Task>> {
    match seqs {
        [] => return Ok(Vec::new()),
        // One task, by its key: a cached plan is as good as any, and costs no planning.
        [seq] => {
            let task = start_attempt(
                w,
                *seq,
                State::Queued,
                request.node,
                request.lease_until,
                request.now,
            )
            .await?;
            return Ok(vec![task]);
        }
        _ => {}
    }
    debug_assert_eq!(Transition::Claim.apply(State::Queued), Ok(State::Running));
    // Planned for its rows each time: a plan cached for any rows scans the whole table when
    // it was made while the table was small.
    let rows = w
        .query_planned_each_time(
            START_ATTEMPTS,
            &[
                (&seqs, Type::INT8_ARRAY),
                (&request.node, Type::UUID),
                (&millis(request.lease_until), Type::INT8),
                (&millis(request.now), Type::INT8),
            ],
        )
        .await?;
    let mut started = rows
        .iter()
        .map(|row| Ok((row.try_get::<_, i64>(SEQ_COLUMN)?, task_from_row(row)?)))
        .collect::<StoreResult<HashMap<i64, Task>>>()?;
    let mut tasks = Vec::with_capacity(seqs.len());
    for seq in seqs {
        let task = started
            .remove(seq)
            .ok_or_else(|| StoreError::Invalid(format!("task row {seq} vanished")))?;
        w.record(
            EventKind::StateChanged,
            Some(State::Queued),
            task.clone(),
            request.now,
        );
        tasks.push(task);
    }
    Ok(tasks)
}

/// `queued → running` with a new attempt, a new fence and a lease.
const START_ATTEMPT: &str = concat!(
    "UPDATE tasks SET state = $2, attempt = attempt + 1, fence = fence + 1,
        lease_node = $3, lease_expires_at = $4, started_at = coalesce(started_at, $5),
        updated_at = $5, cancel_requested = false
     WHERE seq = $1
     RETURNING ",
    task_columns!()
);

async fn start_attempt(
    w: &Write,
    seq: i64,
    from: State,
    node: Uuid,
    lease_until: Timestamp,
    now: Timestamp,
) -> StoreResult<Task> {
    let to = State::Running;
    debug_assert_eq!(Transition::Claim.apply(from), Ok(to));
    change::update_and_record(
        w,
        START_ATTEMPT,
        &[
            &seq,
            &to.as_str(),
            &node,
            &millis(lease_until),
            &millis(now),
        ],
        EventKind::StateChanged,
        Some(from),
        now,
    )
    .await
}
