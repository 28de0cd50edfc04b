//! The SQLite write-ahead log stays bounded under a steady load: the writer copies it into the
//! database between batches, and the log starts over from its beginning, rather than growing
//! for as long as writes keep coming.

use std::sync::Arc;

use errand::model::{NewTask, Queue};
use errand::store::Store;
use jiff::Timestamp;

use crate::util::TestDb;

/// The writer checkpoints each time the log grows by this much.
const CHECKPOINT_BYTES: u64 = 16 * 1024 * 1024;

#[tokio::test]
async fn the_wal_starts_over_under_a_steady_load() {
    let db = TestDb::new();
    let store = db.store();
    store.upsert_queue(&Queue::new("default")).await.unwrap();
    // Eight writers at once, never pausing, about 120 MiB of log in all: seven times what
    // sets off a checkpoint.
    let writers: Vec<_> = (0..8)
        .map(|writer| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                for n in 0..60 {
                    let tasks = (0..4)
                        .map(|i| {
                            NewTask::new(format!("big-{writer}-{n}-{i}"))
                                .max_attempts(1)
                                .bytes(vec![b'x'; 64 * 1024])
                        })
                        .collect();
                    store.enqueue(tasks, Timestamp::now()).await.unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    let counts = store.counts(None).await.unwrap();
    assert_eq!(counts.queued, 8 * 60 * 4);
    let database = std::fs::metadata(db.path()).unwrap().len();
    let wal = std::fs::metadata(db.path().with_extension("db-wal"))
        .unwrap()
        .len();
    assert!(
        wal < 2 * CHECKPOINT_BYTES,
        "the log kept growing: {wal} bytes for a database of {database}"
    );
}

fn page_size(path: &std::path::Path) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.pragma_query_value(None, "page_size", |row| row.get(0))
        .unwrap()
}

/// A new database is made with small pages (each commit writes every page it changed in
/// full); one made before keeps its pages, and errand works on it all the same.
#[tokio::test]
async fn a_new_database_has_small_pages_and_an_older_one_keeps_its_own() {
    let new = TestDb::new();
    new.store();
    assert_eq!(page_size(&new.path()), 1024);

    let older = TestDb::new();
    {
        let conn = rusqlite::Connection::open(older.path()).unwrap();
        conn.pragma_update(None, "page_size", 4096).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.execute_batch("CREATE TABLE made_before (n INTEGER)")
            .unwrap();
    }
    let store = older.store();
    store.upsert_queue(&Queue::new("default")).await.unwrap();
    store
        .enqueue(
            vec![NewTask::new("on-old-pages").max_attempts(1)],
            Timestamp::now(),
        )
        .await
        .unwrap();
    assert_eq!(store.counts(None).await.unwrap().queued, 1);
    assert_eq!(page_size(&older.path()), 4096);
}
