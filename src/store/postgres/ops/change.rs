//! The one way a task changes state: lock its row, ask the state machine, write, record.

use jiff::Timestamp;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::super::row::{self, task_columns, task_from_row};
use super::super::write::Write;
use crate::model::{EventKind, State, Task, TaskId, Transition};
pub(in crate::store::postgres) use crate::store::settle::Change;
use crate::store::settle::TransitionColumns;
use crate::store::settle::legal;
use crate::store::{Lease, StoreError, StoreResult};

/// What a write needs to know of a task before changing it.
#[derive(Debug, Clone)]
pub(in crate::store::postgres) struct Head {
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
    /// Running, and reported on by the application rather than held by a node.
    pub reported: bool,
    pub dismissed: bool,
}

macro_rules! head_columns {
    () => {
        "id, seq, state, fence, attempt, max_attempts, queue, owner, priority, executor, \
         cancel_requested, lease_node IS NULL AND state = 'running', dismissed"
    };
}

/// The head of one task by its id, its row locked until the write ends.
const HEAD_BY_ID: &str = concat!(
    "SELECT ",
    head_columns!(),
    " FROM tasks WHERE id = $1 FOR UPDATE"
);

/// The columns of a [`Head`], for the queries of other files.
pub(in crate::store::postgres) use head_columns;

fn head_from_row(row: &Row) -> StoreResult<Head> {
    Ok(Head {
        id: TaskId(row.try_get(0)?),
        seq: row.try_get(1)?,
        state: row::state(row.try_get(2)?)?,
        fence: row.try_get(3)?,
        attempt: u32::try_from(row.try_get::<_, i32>(4)?).unwrap_or(0),
        max_attempts: u32::try_from(row.try_get::<_, i32>(5)?).unwrap_or(0),
        queue: row.try_get(6)?,
        owner: row.try_get(7)?,
        priority: row.try_get(8)?,
        tracked: row.try_get::<_, &str>(9)? == "tracked",
        cancel_requested: row.try_get(10)?,
        reported: row.try_get(11)?,
        dismissed: row.try_get(12)?,
    })
}

/// The head of task `id`, its row locked.
pub(in crate::store::postgres) async fn load(w: &Write, id: TaskId) -> StoreResult<Head> {
    let row = w.query_opt(HEAD_BY_ID, &[&id.0]).await?;
    row.as_ref()
        .map(head_from_row)
        .transpose()?
        .ok_or(StoreError::TaskNotFound(id))
}

/// The heads that `sql` selects (a query for [`HEAD_COLUMNS`] that locks its rows).
pub(in crate::store::postgres) async fn load_where(
    w: &Write,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> StoreResult<Vec<Head>> {
    w.query(sql, params)
        .await?
        .iter()
        .map(head_from_row)
        .collect()
}

/// The head of task `lease.id`, if `lease` is its current, running attempt.
pub(in crate::store::postgres) async fn load_current(w: &Write, lease: Lease) -> StoreResult<Head> {
    let head = match load(w, lease.id).await {
        Ok(head) => head,
        Err(StoreError::TaskNotFound(_)) => {
            return Err(StoreError::StaleAttempt {
                id: lease.id,
                fence: lease.fence,
            });
        }
        Err(err) => return Err(err),
    };
    if head.state != State::Running || head.fence != lease.fence {
        return Err(StoreError::StaleAttempt {
            id: lease.id,
            fence: lease.fence,
        });
    }
    Ok(head)
}

/// The task of row `seq` as it is now.
pub(in crate::store::postgres) async fn fetch(w: &Write, seq: i64) -> StoreResult<Task> {
    const TASK_BY_SEQ: &str = concat!("SELECT ", task_columns!(), " FROM tasks WHERE seq = $1");
    task_from_row(&w.query_one(TASK_BY_SEQ, &[&seq]).await?)
}

/// Sets the state and what `Change` names, on the rows that `$where` selects; a final state
/// also sets `finished_at` and erases the forwarded credentials.
macro_rules! transition_sql {
    ($where:literal) => {
        concat!(
            "UPDATE tasks SET state = $2, updated_at = $3,
                finished_at = CASE WHEN $4 THEN $3 ELSE finished_at END,
                scheduled_for = coalesce($5, scheduled_for),
                fair_round = coalesce($6, fair_round),
                result = coalesce($7, result),
                result_url = coalesce($8, result_url),
                input_url = coalesce($9, input_url),
                progress_message = coalesce($10, progress_message),
                error_message = CASE WHEN $11 THEN $12 ELSE error_message END,
                error_detail = CASE WHEN $11 THEN $13 ELSE error_detail END,
                input = CASE WHEN $14 THEN $15 ELSE input END,
                attempt = attempt - $16,
                lease_node = NULL, lease_expires_at = NULL,
                cancel_requested = false,
                sealed_headers = CASE WHEN $4 THEN NULL ELSE sealed_headers END
             WHERE ",
            $where,
            " RETURNING ",
            task_columns!()
        )
    };
}

/// A transition of the task of row `$1`.
const TRANSITION: &str = transition_sql!("seq = $1");

/// A transition of task `$1` if `$17` is its current, running attempt.
const TRANSITION_CURRENT: &str = transition_sql!("id = $1 AND fence = $17 AND state = 'running'");

/// Applies `transition` to the task of `head` (whose row the write has locked), with
/// `change`, and records the event.
pub(in crate::store::postgres) async fn transition(
    w: &Write,
    head: &Head,
    transition: Transition,
    change: Change,
    now: Timestamp,
) -> StoreResult<Task> {
    let to = legal(transition, head.state, head.id)?;
    let refund = change.refund_attempt && head.attempt > 0;
    let columns = Columns::new(to, change, refund, now);
    let row = w
        .query_one(TRANSITION, &columns.params(&head.seq, None))
        .await?;
    let task = task_from_row(&row)?;
    w.record(EventKind::StateChanged, Some(head.state), task.clone(), now);
    Ok(task)
}

/// Applies `transition`, which does not depend on the task beyond its running attempt and
/// gives nothing back (a success, a failure), to the task of `lease` if `lease` is its
/// current, running attempt: one statement, with no row read first.
pub(in crate::store::postgres) async fn transition_current(
    w: &Write,
    lease: Lease,
    transition: Transition,
    change: Change,
    now: Timestamp,
) -> StoreResult<Task> {
    let from = State::Running;
    let to = legal(transition, from, lease.id)?;
    let columns = Columns::new(to, change, false, now);
    let row = w
        .query_opt(
            TRANSITION_CURRENT,
            &columns.params(&lease.id.0, Some(&lease.fence)),
        )
        .await?
        .ok_or(StoreError::StaleAttempt {
            id: lease.id,
            fence: lease.fence,
        })?;
    let task = task_from_row(&row)?;
    w.record(EventKind::StateChanged, Some(from), task.clone(), now);
    Ok(task)
}

/// A transition's parameters `$2` to `$16`, as PostgreSQL binds them.
struct Columns {
    shared: TransitionColumns,
    refund: i32,
}

impl Columns {
    fn new(to: State, change: Change, refund: bool, now: Timestamp) -> Columns {
        Columns {
            shared: TransitionColumns::new(to, change, now),
            refund: i32::from(refund),
        }
    }

    /// The parameters: `key` (`$1`), these, and `fence` (`$17`) if the statement has it.
    fn params<'a>(
        &'a self,
        key: &'a (dyn ToSql + Sync),
        fence: Option<&'a (dyn ToSql + Sync)>,
    ) -> Vec<&'a (dyn ToSql + Sync)> {
        let c = &self.shared;
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![
            key,
            &c.to,
            &c.now,
            &c.is_final,
            &c.scheduled_for,
            &c.fair_round,
            &c.result,
            &c.result_url,
            &c.input_url,
            &c.message,
            &c.set_error,
            &c.error_message,
            &c.error_detail,
            &c.set_input,
            &c.input,
            &self.refund,
        ];
        params.extend(fence);
        params
    }
}

/// Runs `update`, which changes one task and returns its [`TASK_COLUMNS`](super::super::row::TASK_COLUMNS),
/// and records the event `kind` for it.
pub(in crate::store::postgres) async fn update_and_record(
    w: &Write,
    update: &str,
    params: &[&(dyn ToSql + Sync)],
    kind: EventKind,
    from: Option<State>,
    now: Timestamp,
) -> StoreResult<Task> {
    let task = task_from_row(&w.query_one(update, params).await?)?;
    w.record(kind, from, task.clone(), now);
    Ok(task)
}

/// The statement that takes the next fair round of an owner (`$owner`) in a queue (`$queue`)
/// at a priority (`$priority`), for each row of `$from`: the round after both the round
/// being served at that priority and the owner's last; answers it (`last_round`).
macro_rules! take_round {
    ($queue:literal, $priority:literal, $owner:literal, $from:literal) => {
        concat!(
            "INSERT INTO owner_rounds AS o (queue, priority, owner, last_round)
             SELECT ",
            $queue,
            ", ",
            $priority,
            ", ",
            $owner,
            ",
                    coalesce((SELECT current_round FROM queue_rounds
                              WHERE queue = ",
            $queue,
            " AND priority = ",
            $priority,
            "), 0) + 1
             ",
            $from,
            "
             ON CONFLICT (queue, priority, owner)
             DO UPDATE SET last_round = greatest(o.last_round, excluded.last_round - 1) + 1
             RETURNING last_round"
        )
    };
}

/// The statement that takes a fair round, for the queries of other files.
pub(in crate::store::postgres) use take_round;

/// The fair round for the next task of `owner` to become ready in `queue` at `priority`: the
/// round after both the round being served at that priority and the owner's last at that
/// priority. One statement (one round trip) reads the round served and writes the owner's
/// row, so that two writes for one owner take distinct rounds; no row comes back if the queue
/// does not exist.
pub(in crate::store::postgres) async fn next_round(
    w: &Write,
    queue: &str,
    owner: Option<&str>,
    priority: i32,
) -> StoreResult<i64> {
    let owner = owner.unwrap_or("");
    let round = w
        .query_opt(
            take_round!("$1", "$2", "$3", "FROM queues WHERE name = $1"),
            &[&queue, &priority, &owner],
        )
        .await?
        .ok_or_else(|| StoreError::QueueNotFound(queue.to_owned()))?
        .try_get::<_, i64>(0)?;
    Ok(round)
}
