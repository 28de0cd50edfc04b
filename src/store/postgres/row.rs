//! Between rows and the model: the task's columns and the conversions of times, ids and JSON.
//! Times are stored as milliseconds since the epoch, as in the SQLite store.

use std::time::Duration;

use jiff::Timestamp;
use tokio_postgres::Row;

use crate::model::{ErrorInfo, Executor, Links, Payload, Progress, State, Task, TaskId};
use crate::store::{StoreError, StoreResult};

/// The columns [`task_from_row`] reads, in its order; a macro, so that the statements built on
/// it are constants.
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
pub(super) use task_columns;

/// The columns [`task_from_row`] reads, in its order.
pub(super) const TASK_COLUMNS: &str = task_columns!();

/// How many columns [`TASK_COLUMNS`] has: a query's own columns come after them.
pub(super) const TASK_COLUMN_COUNT: usize = 42;

/// The column of [`TASK_COLUMNS`] that holds the row number.
pub(super) const SEQ_COLUMN: usize = 39;

/// One task by its id.
pub(super) const TASK_BY_ID: &str =
    concat!("SELECT ", task_columns!(), " FROM tasks WHERE id = $1");

/// A time as stored: milliseconds since the epoch.
pub(super) fn millis(at: Timestamp) -> i64 {
    at.as_millisecond()
}

/// A stored time.
pub(super) fn time(ms: i64) -> StoreResult<Timestamp> {
    Timestamp::from_millisecond(ms).map_err(|err| StoreError::Database(Box::new(err)))
}

fn optional_time(ms: Option<i64>) -> StoreResult<Option<Timestamp>> {
    ms.map(time).transpose()
}

/// A state stored as its name.
pub(super) fn state(name: &str) -> StoreResult<State> {
    name.parse()
        .map_err(|err| StoreError::Database(Box::new(err)))
}

fn unsigned(n: Option<i64>) -> Option<u64> {
    n.map(|n| u64::try_from(n).unwrap_or(0))
}

fn count(n: i32) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

/// A count as stored (PostgreSQL integers are signed).
pub(super) fn count_column(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Reads a task from a row that starts with [`TASK_COLUMNS`].
pub(super) fn task_from_row(row: &Row) -> StoreResult<Task> {
    let executor = match row.try_get::<_, &str>(6)? {
        "handler" => Executor::Handler {
            handler: row.try_get(7)?,
        },
        "http" => Executor::Http {
            target: row.try_get(8)?,
            path: row.try_get(9)?,
        },
        _ => Executor::Tracked,
    };
    let payload = match row.try_get::<_, Option<&str>>(10)? {
        Some("json") => {
            let bytes: &[u8] = row.try_get(11)?;
            Payload::Json(
                serde_json::from_slice(bytes).map_err(|err| StoreError::Database(Box::new(err)))?,
            )
        }
        Some("bytes") => Payload::Bytes(row.try_get(11)?),
        _ => Payload::None,
    };
    let error = row
        .try_get::<_, Option<String>>(34)?
        .map(|message| -> StoreResult<ErrorInfo> {
            Ok(ErrorInfo {
                message,
                detail: row.try_get(35)?,
            })
        })
        .transpose()?;
    Ok(Task {
        id: TaskId(row.try_get(0)?),
        name: row.try_get(1)?,
        queue: row.try_get(2)?,
        owner: row.try_get(3)?,
        title: row.try_get(4)?,
        description: row.try_get(5)?,
        executor,
        payload,
        state: state(row.try_get(12)?)?,
        priority: row.try_get(13)?,
        attempt: count(row.try_get(14)?),
        max_attempts: count(row.try_get(15)?),
        fence: row.try_get(16)?,
        timeout: row
            .try_get::<_, Option<i64>>(17)?
            .map(|ms| Duration::from_millis(ms.max(0) as u64)),
        expires_at: optional_time(row.try_get(18)?)?,
        created_at: time(row.try_get(19)?)?,
        scheduled_for: time(row.try_get(20)?)?,
        started_at: optional_time(row.try_get(21)?)?,
        finished_at: optional_time(row.try_get(22)?)?,
        cancel_requested: row.try_get(23)?,
        dismissed: row.try_get(24)?,
        ordering_key: row.try_get(25)?,
        dedup_key: row.try_get(26)?,
        progress: Progress {
            percent: row.try_get(27)?,
            message: row.try_get(28)?,
            current: unsigned(row.try_get(29)?),
            total: unsigned(row.try_get(30)?),
        },
        links: Links {
            result_url: row.try_get(31)?,
            return_url: row.try_get(32)?,
            input_url: row.try_get(33)?,
        },
        error,
        result: row.try_get(36)?,
        context: row.try_get(37)?,
        input: row.try_get(38)?,
        sealed_headers: row.try_get(40)?,
        reported: row.try_get(41)?,
    })
}
