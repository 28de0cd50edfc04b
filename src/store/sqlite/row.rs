//! Between rows and the model: the task's columns, conversions of times, ids and JSON, and the
//! event log.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use rusqlite::types::Type;
use rusqlite::{Row, params};
use serde_json::Value;
use uuid::Uuid;

use super::writer::Batch;
use crate::model::{
    ErrorInfo, Event, EventKind, Executor, Links, Payload, Progress, State, Task, TaskId,
};
use crate::store::StoreResult;

/// The columns [`task_from_row`] reads, in its order; a macro, so that the statements built on
/// it are constants rather than strings formatted on every write.
macro_rules! task_columns {
    () => {
        "id, name, queue, owner, title, description, executor, handler, target, path, \
         payload_format, payload, state, priority, attempt, max_attempts, fence, timeout_ms, \
         expires_at, created_at, scheduled_for, started_at, finished_at, cancel_requested, \
         dismissed, ordering_key, dedup_key, progress_percent, progress_message, \
         progress_current, progress_total, result_url, return_url, input_url, error_message, \
         error_detail, result, context, input, seq, sealed_headers, \
         lease_node IS NULL AND state = 'running'"
    };
}

/// The columns [`task_from_row`] reads, in its order.
pub(super) const TASK_COLUMNS: &str = task_columns!();

/// How many columns [`TASK_COLUMNS`] has: a query's own columns come after them.
pub(super) const TASK_COLUMN_COUNT: usize = 42;

/// One task by its id.
pub(super) const TASK_BY_ID: &str =
    concat!("SELECT ", task_columns!(), " FROM tasks WHERE id = ?1");

/// One task by its row number.
pub(super) const TASK_BY_SEQ: &str =
    concat!("SELECT ", task_columns!(), " FROM tasks WHERE seq = ?1");

/// A time as stored: milliseconds since the epoch.
pub(super) fn millis(at: Timestamp) -> i64 {
    at.as_millisecond()
}

/// An id as stored: 16 bytes.
pub(super) fn id_bytes(id: TaskId) -> [u8; 16] {
    id.0.into_bytes()
}

/// JSON as stored: text.
pub(super) fn json_text(value: &Option<Value>) -> Option<String> {
    value.as_ref().map(Value::to_string)
}

fn conversion(
    index: usize,
    ty: Type,
    err: impl std::error::Error + Send + Sync + 'static,
) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(index, ty, Box::new(err))
}

fn time_at(row: &Row<'_>, index: usize) -> rusqlite::Result<Option<Timestamp>> {
    row.get::<_, Option<i64>>(index)?
        .map(|ms| Timestamp::from_millisecond(ms).map_err(|e| conversion(index, Type::Integer, e)))
        .transpose()
}

fn required_time_at(row: &Row<'_>, index: usize) -> rusqlite::Result<Timestamp> {
    time_at(row, index)?.ok_or(rusqlite::Error::InvalidColumnType(
        index,
        "time".into(),
        Type::Null,
    ))
}

fn json_at(row: &Row<'_>, index: usize) -> rusqlite::Result<Option<Value>> {
    row.get::<_, Option<String>>(index)?
        .map(|text| serde_json::from_str(&text).map_err(|e| conversion(index, Type::Text, e)))
        .transpose()
}

/// Reads a task id stored as 16 bytes.
pub(super) fn id_at(row: &Row<'_>, index: usize) -> rusqlite::Result<TaskId> {
    let bytes: [u8; 16] = row.get(index)?;
    Ok(TaskId(Uuid::from_bytes(bytes)))
}

/// Reads a state stored as its name.
pub(super) fn state_at(row: &Row<'_>, index: usize) -> rusqlite::Result<State> {
    let name: String = row.get(index)?;
    name.parse().map_err(|e| conversion(index, Type::Text, e))
}

fn unsigned_at(row: &Row<'_>, index: usize) -> rusqlite::Result<Option<u64>> {
    row.get::<_, Option<i64>>(index)?
        .map(|n| u64::try_from(n).map_err(|e| conversion(index, Type::Integer, e)))
        .transpose()
}

fn count_at(row: &Row<'_>, index: usize) -> rusqlite::Result<u32> {
    let n: i64 = row.get(index)?;
    u32::try_from(n).map_err(|e| conversion(index, Type::Integer, e))
}

/// Reads a task from a row that starts with [`TASK_COLUMNS`].
pub(super) fn task_from_row(row: &Row<'_>) -> rusqlite::Result<Task> {
    let executor = match row.get_ref(6)?.as_str()? {
        "handler" => Executor::Handler {
            handler: row.get(7)?,
        },
        "http" => Executor::Http {
            target: row.get(8)?,
            path: row.get(9)?,
        },
        _ => Executor::Tracked,
    };
    let payload = match row.get::<_, Option<String>>(10)?.as_deref() {
        Some("json") => {
            let bytes: Vec<u8> = row.get(11)?;
            Payload::Json(
                serde_json::from_slice(&bytes).map_err(|e| conversion(11, Type::Blob, e))?,
            )
        }
        Some("bytes") => Payload::Bytes(row.get(11)?),
        _ => Payload::None,
    };
    let error = row
        .get::<_, Option<String>>(34)?
        .map(|message| -> rusqlite::Result<ErrorInfo> {
            Ok(ErrorInfo {
                message,
                detail: row.get(35)?,
            })
        })
        .transpose()?;
    Ok(Task {
        id: id_at(row, 0)?,
        name: row.get(1)?,
        queue: row.get(2)?,
        owner: row.get(3)?,
        title: row.get(4)?,
        description: row.get(5)?,
        executor,
        payload,
        state: state_at(row, 12)?,
        priority: row.get(13)?,
        attempt: count_at(row, 14)?,
        max_attempts: count_at(row, 15)?,
        fence: row.get(16)?,
        timeout: row
            .get::<_, Option<i64>>(17)?
            .map(|ms| Duration::from_millis(ms.max(0) as u64)),
        expires_at: time_at(row, 18)?,
        created_at: required_time_at(row, 19)?,
        scheduled_for: required_time_at(row, 20)?,
        started_at: time_at(row, 21)?,
        finished_at: time_at(row, 22)?,
        cancel_requested: row.get(23)?,
        dismissed: row.get(24)?,
        ordering_key: row.get(25)?,
        dedup_key: row.get(26)?,
        progress: Progress {
            percent: row.get(27)?,
            message: row.get(28)?,
            current: unsigned_at(row, 29)?,
            total: unsigned_at(row, 30)?,
        },
        links: Links {
            result_url: row.get(31)?,
            return_url: row.get(32)?,
            input_url: row.get(33)?,
        },
        error,
        result: json_at(row, 36)?,
        context: json_at(row, 37)?,
        input: json_at(row, 38)?,
        sealed_headers: row.get(40)?,
        reported: row.get(41)?,
    })
}

/// Appends an event for `task` to the log and to the batch's events to publish.
pub(super) fn record_event(
    batch: &mut Batch<'_>,
    kind: EventKind,
    from: Option<State>,
    task: Task,
    now: Timestamp,
) -> StoreResult<()> {
    batch
        .tx
        .prepare_cached(
            "INSERT INTO events (at, task_id, owner, kind, state, from_state) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            millis(now),
            id_bytes(task.id),
            task.owner,
            kind.as_str(),
            task.state.as_str(),
            from.map(State::as_str),
        ])?;
    batch.events.push(Arc::new(Event {
        seq: batch.tx.last_insert_rowid(),
        at: now,
        kind,
        from,
        task,
    }));
    Ok(())
}
