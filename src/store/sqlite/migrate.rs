//! Versioned schema migrations, applied in order inside one transaction each.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use crate::store::{StoreError, StoreResult};

/// The migrations, in order; a migration's version is its position, starting at 1.
const MIGRATIONS: &[(&str, &str)] = &[
    ("tasks", include_str!("migrations/0001_tasks.sql")),
    ("dispatch", include_str!("migrations/0002_dispatch.sql")),
    (
        "conditions_without_in_lists",
        include_str!("migrations/0003_conditions_without_in_lists.sql"),
    ),
];

/// The newest schema version this binary knows.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database to [`SCHEMA_VERSION`]; answers the versions applied now.
///
/// Each migration runs in an immediate transaction that re-reads the version, so two processes
/// migrating at once apply each migration once.
pub(super) fn migrate(conn: &mut Connection) -> StoreResult<Vec<i64>> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version INTEGER PRIMARY KEY,
             name TEXT NOT NULL,
             applied_at INTEGER NOT NULL
         ) STRICT",
    )?;
    let mut applied = Vec::new();
    for (index, (name, sql)) in MIGRATIONS.iter().enumerate() {
        let version = index as i64 + 1;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current = current_version(&tx)?;
        if current > SCHEMA_VERSION {
            return Err(StoreError::SchemaNewerThanBinary {
                found: current,
                supported: SCHEMA_VERSION,
            });
        }
        if current >= version {
            continue;
        }
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![version, name, jiff::Timestamp::now().as_millisecond()],
        )?;
        tx.commit()?;
        applied.push(version);
    }
    let current = current_version(conn)?;
    if current > SCHEMA_VERSION {
        return Err(StoreError::SchemaNewerThanBinary {
            found: current,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(applied)
}

fn current_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT max(version) FROM schema_migrations", [], |row| {
        row.get::<_, Option<i64>>(0)
    })
    .optional()
    .map(|version| version.flatten().unwrap_or(0))
}
