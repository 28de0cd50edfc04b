//! The SQLite write-ahead log stays bounded under a steady load: the writer copies it into the
//! database between batches, and the log starts over from its beginning, rather than growing
//! for as long as writes keep coming.

use std::sync::Arc;

use errand::model::{NewTask, Queue};
use errand::store::Store;
use jiff::Timestamp;

use crate::util::TestDb;

/// The writer checkpoints each time the log grows by this much (4,096 pages of 4 KiB).
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
