//! Versioned schema migrations, applied in one transaction under an advisory lock, so that
//! several nodes starting at once apply each migration once.

use super::PostgresOptions;
use super::connection;
use crate::store::{StoreError, StoreResult};

/// The migrations, in order; a migration's version is its position, starting at 1.
const MIGRATIONS: &[(&str, &str)] = &[("tasks", include_str!("migrations/0001_tasks.sql"))];

/// The newest schema version this binary knows.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The advisory lock (first key) that migrations take; the second is the schema's hash, so
/// that errands in different schemas of one database do not wait for each other.
const MIGRATION_LOCK: i32 = 0x6572_6d31;

/// Brings the schema of `options` to [`SCHEMA_VERSION`], creating the schema if it is
/// missing; answers the versions applied now. A schema newer than this binary is refused.
pub(super) async fn migrate(options: &PostgresOptions) -> StoreResult<Vec<i64>> {
    let config = connection::config(options)?;
    let mut client = connection::connect_one(&config).await?;
    let tx = client.transaction().await?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext(coalesce($2, current_schema(), '')))",
        &[&MIGRATION_LOCK, &options.schema],
    )
    .await?;
    if let Some(schema) = &options.schema {
        // Checked by `connection::config`: the name needs no quoting.
        tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
            .await?;
    }
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version bigint PRIMARY KEY,
             name text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
         )",
    )
    .await?;
    let current: i64 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            &[],
        )
        .await?
        .try_get(0)?;
    if current > SCHEMA_VERSION {
        // Released now rather than whenever the dropped connection gets to it.
        tx.rollback().await?;
        return Err(StoreError::SchemaNewerThanBinary {
            found: current,
            supported: SCHEMA_VERSION,
        });
    }
    let mut applied = Vec::new();
    for (index, (name, sql)) in MIGRATIONS.iter().enumerate() {
        let version = index as i64 + 1;
        if version <= current {
            continue;
        }
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[&version, name],
        )
        .await?;
        applied.push(version);
    }
    tx.commit().await?;
    Ok(applied)
}
