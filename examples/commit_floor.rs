//! The commit floor: how many durable commits per second this machine's disk and SQLite allow,
//! one insert per transaction, sequentially, in WAL mode with `synchronous = NORMAL` (errand's
//! setting). No engine, no threads: the ceiling for a producer that waits for each commit.
//!
//! ```text
//! cargo run --release --example commit_floor
//! ```
//!
//! Measured twice: into a table with no index, and into one with five indexes (an enqueue
//! touches about as many pages: the task, its indexes, its event).

use std::time::Instant;

use rusqlite::Connection;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("errand-floor-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    for indexes in [0, 5] {
        let conn = Connection::open(dir.join(format!("floor-{indexes}.db")))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // As in errand, checkpoints are left out of the commit path.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, a BLOB, b TEXT, c INTEGER)")?;
        for i in 0..indexes {
            conn.execute_batch(&format!("CREATE INDEX i{i} ON t (b, c, id)"))?;
        }
        let commits = 20_000;
        let started = Instant::now();
        for i in 0..commits {
            conn.execute_batch("BEGIN IMMEDIATE")?;
            conn.prepare_cached("INSERT INTO t (a, b, c) VALUES (?1, ?2, ?3)")?
                .execute(rusqlite::params![[7u8; 16], "owner", i])?;
            conn.execute_batch("COMMIT")?;
        }
        let elapsed = started.elapsed();
        println!(
            "{indexes} indexes: {:>7.0} commits/s ({:.1} µs each)",
            commits as f64 / elapsed.as_secs_f64(),
            elapsed.as_secs_f64() * 1e6 / commits as f64
        );
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
