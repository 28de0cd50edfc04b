//! The one way a task changes state: load its head, ask the state machine, write, record.

use jiff::Timestamp;
use rusqlite::{OptionalExtension, ParamsFromIter, ToSql, params, params_from_iter};

use super::super::row::{
    TASK_BY_ID, TASK_BY_SEQ, id_bytes, json_text, record_event, task_from_row,
};
use super::super::writer::Batch;
use crate::model::{EventKind, State, Task, TaskId, Transition};
pub(in crate::store::sqlite) use crate::store::settle::Change;
use crate::store::settle::TransitionColumns;
use crate::store::settle::legal;
use crate::store::{Lease, StoreError, StoreResult};

/// What a write needs to know of a task before changing it.
#[derive(Debug, Clone)]
pub(in crate::store::sqlite) struct Head {
    pub id: TaskId,
    pub seq: i64,
    pub state: State,
    pub fence: i64,
    pub attempt: u32,
    pub max_attempts: u32,
    pub queue: String,
    pub owner: Option<String>,
    pub priority: i32,
    pub tracked: bool,
    pub cancel_requested: bool,
    /// Running, and reported on by the application rather than held by a node (a tracked
    /// task, or a dispatch answered 202).
    pub reported: bool,
}

macro_rules! head_columns {
    () => {
        "id, seq, state, fence, attempt, max_attempts, queue, owner, priority, executor, \
         cancel_requested, lease_node IS NULL AND state = 'running'"
    };
}

/// The columns of a [`Head`], in `head_from_row`'s order.
pub(in crate::store::sqlite) const HEAD_COLUMNS: &str = head_columns!();

/// The head of one task by its id.
const HEAD_BY_ID: &str = concat!("SELECT ", head_columns!(), " FROM tasks WHERE id = ?1");

fn head_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Head> {
    Ok(Head {
        id: super::super::row::id_at(row, 0)?,
        seq: row.get(1)?,
        state: super::super::row::state_at(row, 2)?,
        fence: row.get(3)?,
        attempt: row.get(4)?,
        max_attempts: row.get(5)?,
        queue: row.get(6)?,
        owner: row.get(7)?,
        priority: row.get(8)?,
        tracked: row.get_ref(9)?.as_str()? == "tracked",
        cancel_requested: row.get(10)?,
        reported: row.get(11)?,
    })
}

/// The head of task `id`.
pub(in crate::store::sqlite) fn load(batch: &Batch<'_>, id: TaskId) -> StoreResult<Head> {
    batch
        .tx
        .prepare_cached(HEAD_BY_ID)?
        .query_row([id_bytes(id)], head_from_row)
        .optional()?
        .ok_or(StoreError::TaskNotFound(id))
}

/// The heads of the tasks that `query` selects (its columns must be the head's).
pub(in crate::store::sqlite) fn load_where(
    batch: &Batch<'_>,
    condition: &str,
    params: impl rusqlite::Params,
) -> StoreResult<Vec<Head>> {
    let sql = format!("SELECT {HEAD_COLUMNS} FROM tasks WHERE {condition}");
    let mut statement = batch.tx.prepare_cached(&sql)?;
    let heads = statement
        .query_map(params, head_from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(heads)
}

/// The head of task `lease.id`, if `lease` is its current, running attempt.
pub(in crate::store::sqlite) fn load_current(batch: &Batch<'_>, lease: Lease) -> StoreResult<Head> {
    let head = load(batch, lease.id)?;
    if head.state != State::Running || head.fence != lease.fence {
        return Err(StoreError::StaleAttempt {
            id: lease.id,
            fence: lease.fence,
        });
    }
    Ok(head)
}

/// The task as it is now.
pub(in crate::store::sqlite) fn fetch(batch: &Batch<'_>, seq: i64) -> StoreResult<Task> {
    Ok(batch
        .tx
        .prepare_cached(TASK_BY_SEQ)?
        .query_row([seq], task_from_row)?)
}

/// A change of state, with what [`Change`] names, of the task that `$where` selects.
macro_rules! transition_sql {
    ($where:literal) => {
        concat!(
            "UPDATE tasks SET state = ?2, updated_at = ?3,
                finished_at = CASE WHEN ?4 THEN ?3 ELSE finished_at END,
                scheduled_for = coalesce(?5, scheduled_for),
                fair_round = coalesce(?6, fair_round),
                result = coalesce(?7, result),
                result_url = coalesce(?8, result_url),
                input_url = coalesce(?9, input_url),
                progress_message = coalesce(?10, progress_message),
                error_message = CASE WHEN ?11 THEN ?12 ELSE error_message END,
                error_detail = CASE WHEN ?11 THEN ?13 ELSE error_detail END,
                input = CASE WHEN ?14 THEN ?15 ELSE input END,
                attempt = attempt - ?16,
                lease_node = NULL, lease_expires_at = NULL,
                cancel_requested = 0,
                sealed_headers = CASE WHEN ?4 THEN NULL ELSE sealed_headers END
             WHERE ",
            $where
        )
    };
}

/// A change of state of the task of row `?1`.
pub(in crate::store::sqlite) const TRANSITION: &str = transition_sql!("seq = ?1");

/// A change of state of task `?1` if `?17` is its current, running attempt.
pub(in crate::store::sqlite) const TRANSITION_CURRENT: &str =
    transition_sql!("id = ?1 AND fence = ?17 AND state = 'running'");

/// Applies `transition` to the task of `head`, with `change`, and records the event.
pub(in crate::store::sqlite) fn transition(
    batch: &mut Batch<'_>,
    head: &Head,
    transition: Transition,
    change: Change,
    now: Timestamp,
) -> StoreResult<Task> {
    let to = legal(transition, head.state, head.id)?;
    let refund = change.refund_attempt && head.attempt > 0;
    let columns = Columns::new(to, change, refund, now);
    update_and_record(
        batch,
        head.seq,
        TRANSITION,
        columns.params(&head.seq, None),
        EventKind::StateChanged,
        Some(head.state),
        now,
    )
}

/// Applies `transition`, which does not depend on the task beyond its running attempt (a
/// success, a failure), to the task of `lease` if `lease` is its current, running attempt:
/// one statement, with no row read first.
pub(in crate::store::sqlite) fn transition_current(
    batch: &mut Batch<'_>,
    lease: Lease,
    transition: Transition,
    change: Change,
    now: Timestamp,
) -> StoreResult<Task> {
    let from = State::Running;
    let to = legal(transition, from, lease.id)?;
    let columns = Columns::new(to, change, false, now);
    let id = id_bytes(lease.id);
    let changed = batch
        .tx
        .prepare_cached(TRANSITION_CURRENT)?
        .execute(columns.params(&id, Some(&lease.fence)))?;
    if changed == 0 {
        return Err(StoreError::StaleAttempt {
            id: lease.id,
            fence: lease.fence,
        });
    }
    let task = batch
        .tx
        .prepare_cached(TASK_BY_ID)?
        .query_row([&id], task_from_row)?;
    record_event(
        batch,
        EventKind::StateChanged,
        Some(from),
        task.clone(),
        now,
    )?;
    Ok(task)
}

/// A transition's parameters `?2` to `?16`, as SQLite binds them (JSON as text).
struct Columns {
    shared: TransitionColumns,
    result: Option<String>,
    input: Option<String>,
    refund: i64,
}

impl Columns {
    fn new(to: State, change: Change, refund: bool, now: Timestamp) -> Columns {
        let shared = TransitionColumns::new(to, change, now);
        Columns {
            result: json_text(&shared.result),
            input: json_text(&shared.input),
            refund: i64::from(refund),
            shared,
        }
    }

    /// The parameters: `key` (`?1`), these, and `fence` (`?17`) if the statement has it.
    fn params<'a>(
        &'a self,
        key: &'a dyn ToSql,
        fence: Option<&'a i64>,
    ) -> ParamsFromIter<Vec<&'a dyn ToSql>> {
        let c = &self.shared;
        let mut params: Vec<&dyn ToSql> = vec![
            key,
            &c.to,
            &c.now,
            &c.is_final,
            &c.scheduled_for,
            &c.fair_round,
            &self.result,
            &c.result_url,
            &c.input_url,
            &c.message,
            &c.set_error,
            &c.error_message,
            &c.error_detail,
            &c.set_input,
            &self.input,
            &self.refund,
        ];
        if let Some(fence) = fence {
            params.push(fence);
        }
        params_from_iter(params)
    }
}

/// Runs `update`, which changes the task of row `seq`, reads the task back and records the
/// event `kind` for it.
pub(in crate::store::sqlite) fn update_and_record(
    batch: &mut Batch<'_>,
    seq: i64,
    update: &str,
    params: impl rusqlite::Params,
    kind: EventKind,
    from: Option<State>,
    now: Timestamp,
) -> StoreResult<Task> {
    batch.tx.prepare_cached(update)?.execute(params)?;
    // Read back rather than `RETURNING`, which builds a temporary table on every run.
    let task = fetch(batch, seq)?;
    record_event(batch, kind, from, task.clone(), now)?;
    Ok(task)
}

/// The fair round for the next task of `owner` to become ready in `queue` at `priority`: the
/// round after both the round being served at that priority and the owner's last at that
/// priority, so that owners take turns within each priority.
pub(in crate::store::sqlite) fn next_round(
    batch: &Batch<'_>,
    queue: &str,
    owner: Option<&str>,
    priority: i32,
) -> StoreResult<i64> {
    let owner = owner.unwrap_or("");
    let current: i64 = batch
        .tx
        .prepare_cached(
            "SELECT coalesce((SELECT current_round FROM queue_rounds
                              WHERE queue = ?1 AND priority = ?2), 0)
             FROM queues WHERE name = ?1",
        )?
        .query_row(params![queue, priority], |row| row.get(0))
        .optional()?
        .ok_or_else(|| StoreError::QueueNotFound(queue.to_owned()))?;
    let last: i64 = batch
        .tx
        .prepare_cached(
            "SELECT last_round FROM owner_rounds
             WHERE queue = ?1 AND priority = ?2 AND owner = ?3",
        )?
        .query_row(params![queue, priority, owner], |row| row.get(0))
        .optional()?
        .unwrap_or(0);
    let round = current.max(last) + 1;
    batch
        .tx
        .prepare_cached(
            "INSERT INTO owner_rounds (queue, priority, owner, last_round) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (queue, priority, owner) DO UPDATE SET last_round = excluded.last_round",
        )?
        .execute(params![queue, priority, owner, round])?;
    Ok(round)
}
