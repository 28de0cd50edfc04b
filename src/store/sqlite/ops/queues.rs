//! Queue settings and depths.

use std::collections::HashMap;

use rusqlite::{Connection, params};

use super::super::writer::Batch;
use crate::model::{Queue, QueueStats};
use crate::store::{StoreError, StoreResult};

/// Creates the queue or updates its slots; its paused switch and round are kept.
pub(in crate::store::sqlite) fn upsert_queue(
    batch: &mut Batch<'_>,
    queue: &Queue,
) -> StoreResult<()> {
    batch
        .tx
        .prepare_cached(
            "INSERT INTO queues (name, concurrency, per_owner_concurrency) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE SET concurrency = excluded.concurrency,
                per_owner_concurrency = excluded.per_owner_concurrency",
        )?
        .execute(params![
            queue.name,
            queue.concurrency,
            queue.per_owner_concurrency
        ])?;
    Ok(())
}

/// Pauses or resumes claiming from `queue`.
pub(in crate::store::sqlite) fn set_paused(
    batch: &mut Batch<'_>,
    queue: &str,
    paused: bool,
) -> StoreResult<()> {
    let changed = batch
        .tx
        .prepare_cached("UPDATE queues SET paused = ?2 WHERE name = ?1")?
        .execute(params![queue, paused])?;
    if changed == 0 {
        return Err(StoreError::QueueNotFound(queue.to_owned()));
    }
    Ok(())
}

/// Every queue with its depths.
pub(in crate::store::sqlite) fn queues(conn: &Connection) -> StoreResult<Vec<QueueStats>> {
    let mut depths: HashMap<(String, String), u64> = HashMap::new();
    {
        let mut statement = conn.prepare_cached(
            "SELECT queue, state, count(*) FROM tasks
             WHERE state IN ('scheduled', 'queued', 'running', 'waiting') GROUP BY queue, state",
        )?;
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            depths.insert(
                (row.get(0)?, row.get(1)?),
                row.get::<_, i64>(2)?.max(0) as u64,
            );
        }
    }
    let mut statement = conn.prepare_cached(
        "SELECT name, concurrency, per_owner_concurrency, paused FROM queues ORDER BY name",
    )?;
    let queues = statement
        .query_map([], |row| {
            let name: String = row.get(0)?;
            let depth = |state: &str| {
                depths
                    .get(&(name.clone(), state.to_owned()))
                    .copied()
                    .unwrap_or(0)
            };
            Ok(QueueStats {
                queued: depth("queued"),
                scheduled: depth("scheduled"),
                running: depth("running"),
                waiting: depth("waiting"),
                concurrency: row.get(1)?,
                per_owner_concurrency: row.get(2)?,
                paused: row.get(3)?,
                name,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(queues)
}
