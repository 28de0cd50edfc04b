//! The commit floor: how many durable commits per second the store's database allows, one
//! insert per transaction, sequentially, with no engine. A producer that waits for each
//! enqueue's commit (W1) cannot beat it.
//!
//! Measured into a table with no index and into one with five (an enqueue touches about as
//! many pages: the task, its indexes, its event). SQLite: a file with errand's connection
//! settings (WAL, the same `synchronous`, checkpoints off the commit path). PostgreSQL: a
//! schema of the same database, with `synchronous_commit = on`.

use std::path::Path;
use std::time::Instant;

use anyhow::Context as _;
use errand::store::sqlite::{Durability, PAGE_SIZE};
use rusqlite::Connection;

use crate::report::Report;
use crate::setup::{Backend, TempDir, connect};

/// The table, and its five indexes in the second case.
const TABLE: &str = "CREATE TABLE t (id INTEGER PRIMARY KEY, a BLOB, b TEXT, c BIGINT)";

/// How many indexes each measure has.
const INDEXES: [usize; 2] = [0, 5];

/// Runs the floor `runs` times with `commits` commits per table.
pub async fn run(
    backend: &Backend,
    commits: usize,
    runs: usize,
    report: &mut Report,
) -> anyhow::Result<()> {
    for _ in 0..runs {
        for indexes in INDEXES {
            let rate = match backend {
                Backend::Sqlite { durability, .. } => {
                    let durability = *durability;
                    tokio::task::spawn_blocking(move || sqlite(durability, indexes, commits))
                        .await
                        .context("the SQLite commit floor was interrupted")??
                }
                Backend::Postgres { url, .. } => postgres(url, indexes, commits).await?,
            };
            report.record(
                "floor",
                &format!("commits, {indexes} indexes"),
                "commits/s",
                rate,
            );
        }
    }
    Ok(())
}

/// The SQLite floor, in commits per second.
fn sqlite(durability: Durability, indexes: usize, commits: usize) -> anyhow::Result<f64> {
    let dir = TempDir::new("errand-bench-floor")?;
    let conn = open(&dir.path().join("floor.db"), durability)?;
    conn.execute_batch(TABLE)?;
    for i in 0..indexes {
        conn.execute_batch(&format!("CREATE INDEX i{i} ON t (b, c, id)"))?;
    }
    let started = Instant::now();
    for i in 0..commits {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        conn.prepare_cached("INSERT INTO t (a, b, c) VALUES (?1, ?2, ?3)")?
            .execute(rusqlite::params![[7u8; 16], "owner", i as i64])?;
        conn.execute_batch("COMMIT")?;
    }
    Ok(commits as f64 / started.elapsed().as_secs_f64())
}

/// A connection with the settings of errand's SQLite connections that bear on a commit
/// (`store/sqlite/connection.rs`), its page size included; checkpoints are left out of the
/// commit path.
fn open(path: &Path, durability: Durability) -> anyhow::Result<Connection> {
    let conn = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
    conn.pragma_update(None, "page_size", PAGE_SIZE)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    let synchronous = match durability {
        Durability::Normal => "NORMAL",
        Durability::Full => "FULL",
    };
    conn.pragma_update(None, "synchronous", synchronous)?;
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "secure_delete", "ON")?;
    conn.pragma_update(None, "cache_size", -16_000)?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    Ok(conn)
}

/// The PostgreSQL floor, in commits per second, in a schema of its own.
async fn postgres(url: &str, indexes: usize, commits: usize) -> anyhow::Result<f64> {
    let client = connect(url).await?;
    let schema = format!("errand_bench_floor_{:08x}", fastrand::u32(..));
    client
        .batch_execute(&format!(
            "CREATE SCHEMA {schema}; SET search_path = {schema}; SET synchronous_commit = on"
        ))
        .await
        .context("creating the floor's schema")?;
    let measured = async {
        client
            .batch_execute(
                &TABLE
                    .replace("INTEGER PRIMARY KEY", "BIGSERIAL PRIMARY KEY")
                    .replace("BLOB", "BYTEA"),
            )
            .await?;
        for i in 0..indexes {
            client
                .batch_execute(&format!("CREATE INDEX i{i} ON t (b, c, id)"))
                .await?;
        }
        let insert = client
            .prepare("INSERT INTO t (a, b, c) VALUES ($1, $2, $3)")
            .await?;
        let started = Instant::now();
        for i in 0..commits {
            // Outside a transaction block, each statement commits on its own.
            client
                .execute(&insert, &[&&[7u8; 16][..], &"owner", &(i as i64)])
                .await?;
        }
        anyhow::Ok(commits as f64 / started.elapsed().as_secs_f64())
    }
    .await
    .context("measuring the PostgreSQL commit floor");
    let dropped = client
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .with_context(|| format!("dropping the schema {schema}"));
    let rate = measured?;
    dropped?;
    Ok(rate)
}
