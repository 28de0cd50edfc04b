//! Reads: one task, listings, the banner's counts, the event log and the next due time.

use deadpool_postgres::Client;
use tokio_postgres::types::ToSql;

use super::super::row::{
    self, SEQ_COLUMN, TASK_BY_ID, TASK_COLUMN_COUNT, TASK_COLUMNS, task_columns, task_from_row,
};
use crate::model::{Event, EventKind, State, Task, TaskId};
use crate::store::{Counts, Cursor, StoreResult, TaskFilter, TaskPage};

/// The task `id`, if it exists.
pub(in crate::store::postgres) async fn get(
    client: &Client,
    id: TaskId,
) -> StoreResult<Option<Task>> {
    let statement = client.prepare_cached(TASK_BY_ID).await?;
    client
        .query_opt(&statement, &[&id.0])
        .await?
        .as_ref()
        .map(task_from_row)
        .transpose()
}

/// A page of tasks, newest first.
pub(in crate::store::postgres) async fn list(
    client: &Client,
    filter: &TaskFilter,
) -> StoreResult<TaskPage> {
    let limit = match filter.limit {
        0 => 50,
        n => n.min(1000),
    };
    let mut conditions: Vec<String> = Vec::new();
    let mut values: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
    let mut bind = |condition: &str, value: Box<dyn ToSql + Sync + Send>| {
        values.push(value);
        conditions.push(condition.replace('?', &format!("${}", values.len())));
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
            .map(|state| state.as_str().to_owned())
            .collect();
        bind("state = ANY(?)", Box::new(names));
    }
    let condition = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    values.push(Box::new(limit as i64 + 1));
    let sql = format!(
        "SELECT {TASK_COLUMNS} FROM tasks {condition} ORDER BY seq DESC LIMIT ${}",
        values.len()
    );
    let params: Vec<&(dyn ToSql + Sync)> = values
        .iter()
        .map(|value| value.as_ref() as &(dyn ToSql + Sync))
        .collect();
    let statement = client.prepare_cached(&sql).await?;
    let rows = client.query(&statement, &params).await?;
    let mut tasks = Vec::with_capacity(limit);
    let mut last_seq = None;
    for row in &rows {
        if tasks.len() == limit {
            return Ok(TaskPage {
                tasks,
                next_cursor: last_seq.map(Cursor),
            });
        }
        tasks.push(task_from_row(row)?);
        last_seq = Some(row.try_get::<_, i64>(SEQ_COLUMN)?);
    }
    Ok(TaskPage {
        tasks,
        next_cursor: None,
    })
}

/// The banner's counts of one owner (index `tasks_banner`).
const OWNER_COUNTS: &str = "SELECT state, count(*) FROM tasks
     WHERE owner = $1 AND NOT dismissed
       AND state IN ('scheduled', 'queued', 'running', 'waiting', 'failed')
     GROUP BY state";

/// The banner's counts of everyone.
const ALL_COUNTS: &str = "SELECT state, count(*) FROM tasks
     WHERE NOT dismissed AND state IN ('scheduled', 'queued', 'running', 'waiting', 'failed')
     GROUP BY state";

/// The banner's counts, for one owner or for all.
pub(in crate::store::postgres) async fn counts(
    client: &Client,
    owner: Option<&str>,
) -> StoreResult<Counts> {
    let rows = match owner {
        Some(owner) => {
            let statement = client.prepare_cached(OWNER_COUNTS).await?;
            client.query(&statement, &[&owner]).await?
        }
        None => {
            let statement = client.prepare_cached(ALL_COUNTS).await?;
            client.query(&statement, &[]).await?
        }
    };
    let mut counts = Counts::default();
    for row in rows {
        let n = row.try_get::<_, i64>(1)?.max(0) as u64;
        match row::state(row.try_get(0)?)? {
            State::Scheduled | State::Queued => counts.queued += n,
            State::Running => counts.running = n,
            State::Waiting => counts.waiting = n,
            State::Failed => counts.failed_undismissed = n,
            _ => {}
        }
    }
    Ok(counts)
}

/// The events that `$events` selects (columns renamed so that the task's own are not
/// shadowed), each with its task as it is now. Each task is looked up by its id (a subquery
/// with a `LIMIT` is joined as it is written): a join left to the planner was made a scan of
/// every task, hashed, when its plan was cached while the table was small.
macro_rules! events_query {
    ($events:literal) => {
        concat!(
            "SELECT t.*, event_seq, event_at, event_kind, event_from, event_state FROM (",
            $events,
            ") AS e CROSS JOIN LATERAL (SELECT ",
            task_columns!(),
            " FROM tasks WHERE tasks.id = e.task_id LIMIT 1) AS t ORDER BY event_seq"
        )
    };
}

/// One owner's events after `$1` (index `events_owner`).
pub(in crate::store::postgres) const OWNER_EVENTS: &str = events_query!(
    "SELECT seq AS event_seq, at AS event_at, kind AS event_kind, from_state AS event_from,
        state AS event_state, task_id
     FROM events WHERE owner = $3 AND seq > $1 ORDER BY seq LIMIT $2"
);

/// Everyone's events after `$1`.
pub(in crate::store::postgres) const ALL_EVENTS: &str = events_query!(
    "SELECT seq AS event_seq, at AS event_at, kind AS event_kind, from_state AS event_from,
        state AS event_state, task_id
     FROM events WHERE seq > $1 ORDER BY seq LIMIT $2"
);

/// Stored events after `after`, oldest first, one owner's or everyone's.
/// Each carries its task as it is now, with the state the event left it in.
pub(in crate::store::postgres) async fn events_since(
    client: &Client,
    after: i64,
    owner: Option<&str>,
    limit: usize,
) -> StoreResult<Vec<Event>> {
    let limit = limit.min(10_000) as i64;
    let rows = match owner {
        Some(owner) => {
            let statement = client.prepare_cached(OWNER_EVENTS).await?;
            client.query(&statement, &[&after, &limit, &owner]).await?
        }
        None => {
            let statement = client.prepare_cached(ALL_EVENTS).await?;
            client.query(&statement, &[&after, &limit]).await?
        }
    };
    let column = |k: usize| TASK_COLUMN_COUNT + k;
    rows.iter()
        .map(|row| {
            let mut task = task_from_row(row)?;
            task.state = row::state(row.try_get(column(4))?)?;
            let kind: &str = row.try_get(column(2))?;
            let from: Option<&str> = row.try_get(column(3))?;
            Ok(Event {
                task,
                seq: row.try_get(column(0))?,
                at: row::time(row.try_get(column(1))?)?,
                kind: EventKind::parse(kind).unwrap_or(EventKind::StateChanged),
                from: from.and_then(|name| name.parse().ok()),
            })
        })
        .collect()
}

/// When the next scheduled task is due (index `tasks_due`).
pub(in crate::store::postgres) async fn next_due(
    client: &Client,
) -> StoreResult<Option<jiff::Timestamp>> {
    let statement = client
        .prepare_cached("SELECT min(scheduled_for) FROM tasks WHERE state = 'scheduled'")
        .await?;
    let due: Option<i64> = client.query_one(&statement, &[]).await?.try_get(0)?;
    due.map(row::time).transpose()
}

/// Whether `queue` has a task a claim could take (index `tasks_claim`).
pub(in crate::store::postgres) async fn has_ready(
    client: &Client,
    queue: &str,
) -> StoreResult<bool> {
    let statement = client
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM tasks
             WHERE queue = $1 AND state = 'queued' AND executor <> 'tracked')",
        )
        .await?;
    Ok(client.query_one(&statement, &[&queue]).await?.try_get(0)?)
}
