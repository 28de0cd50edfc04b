//! Claiming: which ready tasks a worker may start, under the queue's slots, the per-owner cap,
//! the ordering keys and the owners' turns.

use std::collections::HashMap;

use jiff::Timestamp;
use rusqlite::{OptionalExtension, params};
use uuid::Uuid;

use super::super::row::millis;
use super::super::writer::Batch;
use super::change::{self, Change, Head};
use crate::model::{EventKind, State, Task, TaskId, Transition};
use crate::store::settle::legal;
use crate::store::{ClaimRequest, StoreError, StoreResult};

/// How many ready tasks a claim passes over at most (owner at its cap, ordering key busy) before
/// it gives up looking for more.
const MAX_PASSED_OVER: usize = 1024;

/// The owners of the running tasks of a queue (index `tasks_running`). Counted in Rust: with
/// `GROUP BY owner`, SQLite re-prepares this statement on every run.
pub(in crate::store::sqlite) const RUNNING_BY_OWNER: &str =
    "SELECT owner FROM tasks WHERE queue = ?1 AND state = 'running'";

/// A page of `?3` ready tasks of a queue in claiming order, after the first `?2` (index
/// `tasks_claim`, no sort).
pub(in crate::store::sqlite) const CANDIDATES: &str =
    "SELECT seq, owner, ordering_key, expires_at, started_at, priority, fair_round FROM tasks
     WHERE queue = ?1 AND state = 'queued' AND executor <> 'tracked'
     ORDER BY priority DESC, fair_round, seq
     LIMIT ?3 OFFSET ?2";

/// Whether an earlier task of an ordering key is not final (index `tasks_ordering`).
pub(in crate::store::sqlite) const EARLIER_IN_LINE: &str = "SELECT 1 FROM tasks
     WHERE ordering_key = ?1 AND seq < ?2
       AND (state = 'scheduled' OR state = 'queued' OR state = 'running' OR state = 'waiting')
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
pub(in crate::store::sqlite) fn claim(
    batch: &mut Batch<'_>,
    request: &ClaimRequest,
) -> StoreResult<Vec<Task>> {
    let queue = request.queue.as_str();
    let Some((concurrency, per_owner, paused)) = batch
        .tx
        .prepare_cached(
            "SELECT concurrency, per_owner_concurrency, paused FROM queues WHERE name = ?1",
        )?
        .query_row([queue], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, Option<i64>>(1)?,
                row.get::<_, bool>(2)?,
            ))
        })
        .optional()?
    else {
        return Err(StoreError::QueueNotFound(queue.to_owned()));
    };
    if paused || request.limit == 0 {
        return Ok(Vec::new());
    }
    let mut running_by_owner: HashMap<Option<String>, i64> = HashMap::new();
    {
        let mut statement = batch.tx.prepare_cached(RUNNING_BY_OWNER)?;
        let mut rows = statement.query([queue])?;
        while let Some(row) = rows.next()? {
            *running_by_owner.entry(row.get(0)?).or_insert(0) += 1;
        }
    }
    let running: i64 = running_by_owner.values().sum();
    let free = usize::try_from(concurrency - running)
        .unwrap_or(0)
        .min(request.limit);
    if free == 0 {
        return Ok(Vec::new());
    }
    let now_ms = millis(request.now);
    let mut claimed = Vec::with_capacity(free);
    // The round served at each priority, moved on by what is claimed now.
    let mut rounds: HashMap<i32, i64> = HashMap::new();
    // Per ordering key, a task known to be in line (blocked, or claimed now): every candidate
    // of that key enqueued after it is blocked too, without asking again.
    let mut in_line: HashMap<String, i64> = HashMap::new();
    // Page through the candidates until the free slots are filled, the queue has no more, or
    // too many were passed over (owner at its cap, ordering key busy).
    let mut passed_over = 0usize;
    // A page a little larger than the free slots: most candidates are claimable.
    let page = (free * 2 + 4).min(256);
    loop {
        let candidates = candidates(batch, queue, passed_over, page)?;
        let exhausted = candidates.len() < page;
        for candidate in candidates {
            if claimed.len() == free {
                break;
            }
            let never_started = candidate.started_at.is_none();
            if never_started && candidate.expires_at.is_some_and(|at| at <= now_ms) {
                let head = head_of(batch, candidate.seq)?;
                change::transition(
                    batch,
                    &head,
                    Transition::Expire,
                    Change::default(),
                    request.now,
                )?;
                continue;
            }
            let owner_running = running_by_owner.entry(candidate.owner.clone()).or_insert(0);
            if per_owner.is_some_and(|cap| *owner_running >= cap) {
                passed_over += 1;
                continue;
            }
            if let Some(key) = &candidate.ordering_key {
                let known_in_line = in_line.get(key).is_some_and(|seq| *seq < candidate.seq);
                if known_in_line || earlier_in_line(batch, key, candidate.seq)? {
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
            claimed.push(start_attempt(
                batch,
                candidate.seq,
                State::Queued,
                request.node,
                request.lease_until,
                request.now,
            )?);
        }
        if claimed.len() == free || exhausted || passed_over >= MAX_PASSED_OVER {
            break;
        }
    }
    for (priority, round) in rounds {
        batch
            .tx
            .prepare_cached(
                "INSERT INTO queue_rounds (queue, priority, current_round) VALUES (?1, ?2, ?3)
                 ON CONFLICT (queue, priority)
                 DO UPDATE SET current_round = max(current_round, excluded.current_round)",
            )?
            .execute(params![queue, priority, round])?;
    }
    Ok(claimed)
}

/// Claims task `id` whatever its queue's slots, pause, per-owner cap or ordering key: for
/// inline runs (development) and for the application starting a task it tracks.
pub(in crate::store::sqlite) fn claim_task(
    batch: &mut Batch<'_>,
    id: TaskId,
    node: Uuid,
    lease_until: Timestamp,
    now: Timestamp,
) -> StoreResult<Task> {
    let head = change::load(batch, id)?;
    legal(Transition::Claim, head.state, id)?;
    start_attempt(batch, head.seq, head.state, node, lease_until, now)
}

/// A page of `page` ready tasks of `queue` in claiming order, skipping the first `skip` (those
/// passed over). Tasks claimed or expired meanwhile have left the `queued` index, so `skip`
/// counts only the ones still there.
fn candidates(
    batch: &Batch<'_>,
    queue: &str,
    skip: usize,
    page: usize,
) -> StoreResult<Vec<Candidate>> {
    let mut statement = batch.tx.prepare_cached(CANDIDATES)?;
    let candidates = statement
        .query_map(params![queue, skip as i64, page as i64], |row| {
            Ok(Candidate {
                seq: row.get(0)?,
                owner: row.get(1)?,
                ordering_key: row.get(2)?,
                expires_at: row.get(3)?,
                started_at: row.get(4)?,
                priority: row.get(5)?,
                fair_round: row.get(6)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(candidates)
}

/// Claims a task just enqueued for an inline run, if it may run now: a task errand runs (an
/// in-process handler or an HTTP dispatch), in a queue that is not paused, first in line for its ordering key. (The queue's
/// slots and the per-owner cap do not hold back an inline run.)
pub(in crate::store::sqlite) fn claim_inline(
    batch: &mut Batch<'_>,
    task: &Task,
    node: Uuid,
    lease_until: Timestamp,
    now: Timestamp,
) -> StoreResult<Option<Task>> {
    if task.state != State::Queued || task.executor == crate::model::Executor::Tracked {
        return Ok(None);
    }
    let paused: bool = batch
        .tx
        .prepare_cached("SELECT paused FROM queues WHERE name = ?1")?
        .query_row([&task.queue], |row| row.get(0))?;
    let head = change::load(batch, task.id)?;
    let blocked = match &task.ordering_key {
        Some(key) => earlier_in_line(batch, key, head.seq)?,
        None => false,
    };
    if paused || blocked {
        return Ok(None);
    }
    start_attempt(batch, head.seq, head.state, node, lease_until, now).map(Some)
}

fn head_of(batch: &Batch<'_>, seq: i64) -> StoreResult<Head> {
    change::load_where(batch, "seq = ?1", [seq])?
        .pop()
        .ok_or_else(|| StoreError::Invalid(format!("task row {seq} vanished")))
}

/// Whether a task of ordering key `key` enqueued before `seq` is not final yet.
fn earlier_in_line(batch: &Batch<'_>, key: &str, seq: i64) -> StoreResult<bool> {
    Ok(batch
        .tx
        .prepare_cached(EARLIER_IN_LINE)?
        .query_row(params![key, seq], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Starts an attempt of the task of row `?1`.
pub(in crate::store::sqlite) const START_ATTEMPT: &str =
    "UPDATE tasks SET state = ?2, attempt = attempt + 1, fence = fence + 1,
        lease_node = ?3, lease_expires_at = ?4, started_at = coalesce(started_at, ?5),
        updated_at = ?5, cancel_requested = 0
     WHERE seq = ?1";

/// `queued → running` with a new attempt, a new fence and a lease.
fn start_attempt(
    batch: &mut Batch<'_>,
    seq: i64,
    from: State,
    node: Uuid,
    lease_until: Timestamp,
    now: Timestamp,
) -> StoreResult<Task> {
    // Callers select or check a `queued` task first.
    let to = State::Running;
    debug_assert_eq!(Transition::Claim.apply(from), Ok(to));
    change::update_and_record(
        batch,
        seq,
        START_ATTEMPT,
        params![
            seq,
            to.as_str(),
            node.as_bytes(),
            millis(lease_until),
            millis(now)
        ],
        EventKind::StateChanged,
        Some(from),
        now,
    )
}
