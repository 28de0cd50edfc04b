//! Opening a connection with the settings every errand connection shares.

use std::path::Path;
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};

/// How durable a commit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous = NORMAL` in WAL mode: a commit survives a crash of the process; the last
    /// commits may be lost on a power cut. The default.
    #[default]
    Normal,
    /// `synchronous = FULL`: every commit is flushed to disk and survives a power cut.
    Full,
}

/// The page size of a new database, in bytes. Every commit writes each page it changed to the
/// log in full, and a task's change of state touches a page in each of several indexes: with
/// SQLite's default 4 KiB pages, small commits (one producer's enqueues, one dispatch's outcome)
/// spent a quarter of the writer's time writing the log, mostly bytes that had not changed.
/// With 1 KiB pages, W1 gained 50 % and W2 36 % (BENCHMARKS.md), while listing among a million
/// tasks did not slow.
pub const PAGE_SIZE: u32 = 1024;

/// Opens `path` (creating it) in WAL mode with the settings all errand connections share.
pub(super) fn open(path: &Path, durability: Durability) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(path, open_flags())?;
    configure(conn, durability)
}

/// Opens `path` for the store's one writer: as [`open`], through the VFS that writes each
/// commit's log in one system call (`vfs.rs`), and with cache spills off, which that VFS
/// requires: a transaction larger than the page cache keeps its pages in memory until it
/// commits rather than writing some to the log before (the writer's batches are bounded).
pub(super) fn open_writer(path: &Path, durability: Durability) -> rusqlite::Result<Connection> {
    let vfs = super::vfs::register().map_err(|code| {
        rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(code),
            Some("could not register errand's SQLite VFS".into()),
        )
    })?;
    let conn = configure(
        Connection::open_with_flags_and_vfs(path, open_flags(), vfs)?,
        durability,
    )?;
    conn.pragma_update(None, "cache_spill", false)?;
    Ok(conn)
}

fn open_flags() -> OpenFlags {
    OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
}

/// Applies the settings every errand connection shares.
fn configure(conn: Connection, durability: Durability) -> rusqlite::Result<Connection> {
    // Another process (a second errand, a backup) may hold the write lock for a moment.
    conn.busy_timeout(Duration::from_secs(5))?;
    // Set before anything is written; an existing database keeps the page size it was made with.
    conn.pragma_update(None, "page_size", PAGE_SIZE)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    let synchronous = match durability {
        Durability::Normal => "NORMAL",
        Durability::Full => "FULL",
    };
    conn.pragma_update(None, "synchronous", synchronous)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // After a checkpoint lets the WAL start over, its file is cut back to 64 MiB.
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // Deleted content is overwritten with zeros, in b-tree pages and freed pages alike: the
    // sealed credentials of a task that became final (and every older version of a row) are
    // gone from the file once the log is checkpointed, not left in free space. `FAST` would
    // leave freed overflow pages, where a large task's last columns live, as they were.
    conn.pragma_update(None, "secure_delete", "ON")?;
    // 16 MiB of page cache per connection keeps the hot indexes in memory.
    conn.pragma_update(None, "cache_size", -16_000)?;
    // Plans depend on the SQL alone, never on bound values. Without this, SQLite marks
    // statements whose plan could use a bound value, and every reuse from the statement cache
    // (which clears the bindings) prepares them again.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}
