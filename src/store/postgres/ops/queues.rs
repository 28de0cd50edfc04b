//! Queue settings and depths.

use std::collections::HashMap;

use deadpool_postgres::Client;

use super::super::write::Write;
use crate::model::{Queue, QueueStats};
use crate::store::{StoreError, StoreResult};

fn slots(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Creates the queue or updates its slots; its paused switch and round are kept.
pub(in crate::store::postgres) async fn upsert_queue(w: &Write, queue: &Queue) -> StoreResult<()> {
    w.execute(
        "INSERT INTO queues (name, concurrency, per_owner_concurrency) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET concurrency = excluded.concurrency,
            per_owner_concurrency = excluded.per_owner_concurrency",
        &[
            &queue.name,
            &slots(queue.concurrency),
            &queue.per_owner_concurrency.map(slots),
        ],
    )
    .await?;
    Ok(())
}

/// Pauses or resumes claiming from `queue`.
pub(in crate::store::postgres) async fn set_paused(
    w: &Write,
    queue: &str,
    paused: bool,
) -> StoreResult<()> {
    let changed = w
        .execute(
            "UPDATE queues SET paused = $2 WHERE name = $1",
            &[&queue, &paused],
        )
        .await?;
    if changed == 0 {
        return Err(StoreError::QueueNotFound(queue.to_owned()));
    }
    Ok(())
}

/// Every queue with its depths.
pub(in crate::store::postgres) async fn queues(client: &Client) -> StoreResult<Vec<QueueStats>> {
    let depths_query = client
        .prepare_cached(
            "SELECT queue, state, count(*) FROM tasks
             WHERE state IN ('scheduled', 'queued', 'running', 'waiting') GROUP BY queue, state",
        )
        .await?;
    let mut depths: HashMap<(String, String), u64> = HashMap::new();
    for row in client.query(&depths_query, &[]).await? {
        let n: i64 = row.try_get(2)?;
        depths.insert((row.try_get(0)?, row.try_get(1)?), n.max(0) as u64);
    }
    let queues_query = client
        .prepare_cached(
            "SELECT name, concurrency, per_owner_concurrency, paused FROM queues ORDER BY name",
        )
        .await?;
    client
        .query(&queues_query, &[])
        .await?
        .iter()
        .map(|row| {
            let name: String = row.try_get(0)?;
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
                concurrency: u32::try_from(row.try_get::<_, i32>(1)?).unwrap_or(0),
                per_owner_concurrency: row
                    .try_get::<_, Option<i32>>(2)?
                    .map(|n| u32::try_from(n).unwrap_or(0)),
                paused: row.try_get(3)?,
                name,
            })
        })
        .collect()
}
