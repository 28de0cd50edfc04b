//! Reads: one task, listings, the banner's counts, and the event log.

use rusqlite::types::ToSql;
use rusqlite::{Connection, OptionalExtension, params};

use super::super::row::{
    TASK_BY_ID, TASK_COLUMN_COUNT, TASK_COLUMNS, id_bytes, state_at, task_from_row,
};
use crate::model::{Event, EventKind, State, Task, TaskId};
use crate::store::{Counts, Cursor, StoreError, StoreResult, TaskFilter, TaskPage};

/// The task `id`, if it exists.
pub(in crate::store::sqlite) fn get(conn: &Connection, id: TaskId) -> StoreResult<Option<Task>> {
    Ok(conn
        .prepare_cached(TASK_BY_ID)?
        .query_row([id_bytes(id)], task_from_row)
        .optional()?)
}

/// A page of tasks, newest first.
pub(in crate::store::sqlite) fn list(
    conn: &Connection,
    filter: &TaskFilter,
) -> StoreResult<TaskPage> {
    let limit = match filter.limit {
        0 => 50,
        n => n.min(1000),
    };
    let (sql, values) = list_query(filter, limit);
    let mut statement = conn.prepare_cached(&sql)?;
    let mut rows = statement.query(rusqlite::params_from_iter(values.iter()))?;
    let mut tasks = Vec::with_capacity(limit + 1);
    let mut last_seq = None;
    while let Some(row) = rows.next()? {
        if tasks.len() == limit {
            return Ok(TaskPage {
                tasks,
                next_cursor: last_seq.map(Cursor),
            });
        }
        tasks.push(task_from_row(row)?);
        last_seq = Some(row.get::<_, i64>(39)?);
    }
    Ok(TaskPage {
        tasks,
        next_cursor: None,
    })
}

/// The SQL and parameters of a listing of at most `limit + 1` tasks (one more than a page, to
/// tell whether there is a next one). With an owner, it walks index `tasks_owner` backwards.
pub(in crate::store::sqlite) fn list_query(
    filter: &TaskFilter,
    limit: usize,
) -> (String, Vec<Box<dyn ToSql>>) {
    let mut conditions: Vec<String> = Vec::new();
    let mut values: Vec<Box<dyn ToSql>> = Vec::new();
    let mut bind = |condition: &str, value: Box<dyn ToSql>| {
        values.push(value);
        conditions.push(condition.replace('?', &format!("?{}", values.len())));
    };
    if let Some(owner) = &filter.owner {
        bind("owner = ?", Box::new(owner.clone()));
    }
    if let Some(queue) = &filter.queue {
        bind("queue = ?", Box::new(queue.clone()));
    }
    if let Some(name) = &filter.name {
        bind("name = ?", Box::new(name.clone()));
    }
    if let Some(Cursor(seq)) = filter.cursor {
        bind("seq < ?", Box::new(seq));
    }
    if !filter.states.is_empty() {
        let names: Vec<String> = filter
            .states
            .iter()
            .map(|state| format!("'{}'", state.as_str()))
            .collect();
        conditions.push(format!("state IN ({})", names.join(", ")));
    }
    let condition = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    values.push(Box::new(limit as i64 + 1));
    let sql = format!(
        "SELECT {TASK_COLUMNS} FROM tasks {condition} ORDER BY seq DESC LIMIT ?{}",
        values.len()
    );
    (sql, values)
}

/// The banner's counts of one owner (index `tasks_banner`).
pub(in crate::store::sqlite) const OWNER_COUNTS: &str = "SELECT state, count(*) FROM tasks
     WHERE owner = ?1 AND dismissed = 0
       AND (state = 'scheduled' OR state = 'queued' OR state = 'running' OR state = 'waiting'
            OR state = 'failed')
     GROUP BY state";

/// The banner's counts of everyone.
const ALL_COUNTS: &str = "SELECT state, count(*) FROM tasks
     WHERE dismissed = 0
       AND (state = 'scheduled' OR state = 'queued' OR state = 'running' OR state = 'waiting'
            OR state = 'failed')
     GROUP BY state";

/// The banner's counts, for one owner or for all.
pub(in crate::store::sqlite) fn counts(
    conn: &Connection,
    owner: Option<&str>,
) -> StoreResult<Counts> {
    let mut statement;
    let mut rows = match owner {
        Some(owner) => {
            statement = conn.prepare_cached(OWNER_COUNTS)?;
            statement.query([owner])?
        }
        None => {
            statement = conn.prepare_cached(ALL_COUNTS)?;
            statement.query([])?
        }
    };
    let mut counts = Counts::default();
    while let Some(row) = rows.next()? {
        let n = row.get::<_, i64>(1)?.max(0) as u64;
        match state_at(row, 0)? {
            State::Scheduled | State::Queued => counts.queued += n,
            State::Running => counts.running = n,
            State::Waiting => counts.waiting = n,
            State::Failed => counts.failed_undismissed = n,
            _ => {}
        }
    }
    Ok(counts)
}

/// One owner's events after `?1` (index `events_owner`).
pub(in crate::store::sqlite) const OWNER_EVENTS: &str = "SELECT seq AS event_seq, at AS event_at,
        kind AS event_kind, from_state AS event_from, state AS event_state, task_id
     FROM events WHERE owner = ?3 AND seq > ?1 ORDER BY seq LIMIT ?2";

/// Everyone's events after `?1`.
const ALL_EVENTS: &str = "SELECT seq AS event_seq, at AS event_at, kind AS event_kind,
        from_state AS event_from, state AS event_state, task_id
     FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2";

/// The events that `events` selects, each with its task.
fn events_query(events: &str) -> String {
    format!(
        "SELECT {TASK_COLUMNS}, event_seq, event_at, event_kind, event_from, event_state
         FROM ({events}) JOIN tasks ON tasks.id = task_id
         ORDER BY event_seq"
    )
}

/// Stored events after `after`, oldest first, one owner's or everyone's.
/// Each carries its task as it is now, with the state the event left it in.
pub(in crate::store::sqlite) fn events_since(
    conn: &Connection,
    after: i64,
    owner: Option<&str>,
    limit: usize,
) -> StoreResult<Vec<Event>> {
    let limit = limit.min(10_000) as i64;
    let event = |row: &rusqlite::Row<'_>| {
        let mut task = task_from_row(row)?;
        let column = |k: usize| TASK_COLUMN_COUNT + k;
        task.state = state_at(row, column(4))?;
        let kind: String = row.get(column(2))?;
        let from: Option<String> = row.get(column(3))?;
        Ok(Event {
            task,
            seq: row.get(column(0))?,
            at: jiff::Timestamp::from_millisecond(row.get(column(1))?).unwrap_or_default(),
            kind: EventKind::parse(&kind).unwrap_or(EventKind::StateChanged),
            from: from.and_then(|name| name.parse().ok()),
        })
    };
    let events = match owner {
        Some(owner) => conn
            .prepare_cached(&events_query(OWNER_EVENTS))?
            .query_map(params![after, limit, owner], event)?
            .collect::<Result<Vec<_>, _>>()?,
        None => conn
            .prepare_cached(&events_query(ALL_EVENTS))?
            .query_map(params![after, limit], event)?
            .collect::<Result<Vec<_>, _>>()?,
    };
    Ok(events)
}

/// The time of the next scheduled task (index `tasks_due`).
pub(in crate::store::sqlite) const NEXT_DUE: &str =
    "SELECT min(scheduled_for) FROM tasks WHERE state = 'scheduled'";

/// When the next scheduled task is due.
pub(in crate::store::sqlite) fn next_due(
    conn: &Connection,
) -> StoreResult<Option<jiff::Timestamp>> {
    let due: Option<i64> = conn
        .prepare_cached(NEXT_DUE)?
        .query_row([], |row| row.get(0))?;
    due.map(jiff::Timestamp::from_millisecond)
        .transpose()
        .map_err(|err| StoreError::Database(Box::new(err)))
}

/// Whether a queue has a task a claim could take (index `tasks_claim`).
pub(in crate::store::sqlite) const HAS_READY: &str = "SELECT EXISTS (SELECT 1 FROM tasks
     WHERE queue = ?1 AND state = 'queued' AND executor <> 'tracked')";

/// Whether `queue` has a task a claim could take.
pub(in crate::store::sqlite) fn has_ready(conn: &Connection, queue: &str) -> StoreResult<bool> {
    Ok(conn
        .prepare_cached(HAS_READY)?
        .query_row([queue], |row| row.get(0))?)
}
