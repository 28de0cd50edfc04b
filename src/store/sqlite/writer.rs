//! The one writer: a thread that owns the write connection and commits concurrent writes
//! together.
//!
//! SQLite allows one writer at a time, and a commit costs the same for one row as for a
//! thousand. So every write (enqueue, claim, progress, completion, sweep) is sent here as a
//! closure; the thread takes all that are waiting, runs them one after the other in one
//! transaction, commits once, publishes the batch's events, and only then answers each caller:
//! an acknowledged write is a committed write. While one batch commits, the next one gathers.
//!
//! A write that fails must not take its batch down with it. Most writes check before they
//! change anything (a stale attempt, an illegal transition), so their failure leaves nothing
//! to undo, and the batch goes on. A write that fails after it changed rows (the connection
//! counts them) has its batch rolled back; it is answered with its error, and the others run
//! again as a batch of their own. So there is no savepoint per write, whose statements and
//! statement journal every write would pay for.

use std::sync::Arc;
use std::sync::mpsc;

use rusqlite::wal::CheckpointMode;
use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::{broadcast, oneshot};

use crate::model::Event;
use crate::store::{StoreError, StoreResult};

/// The most writes committed in one transaction.
const MAX_BATCH: usize = 1024;

/// Each time the WAL grows by this much (16 MiB), the writer copies it back into the database
/// (a `PASSIVE` checkpoint, right after the commit that crossed the mark). Done by the writer
/// between two batches, the checkpoint copies every frame, and the next batch starts the WAL
/// over from its beginning: the file keeps its size and its frames are written over. (A
/// checkpointer on a thread of its own, racing the writer, never copied the last frames under a
/// steady load: the WAL was never started over, grew by hundreds of megabytes a minute, and each
/// frame was written to a newly allocated block, which cost the writer a third of its time.)
/// Rarer checkpoints copy a hot page once instead of many times.
const CHECKPOINT_BYTES: i64 = 16 * 1024 * 1024;

/// What a write sees: the open transaction, and the events it has recorded.
pub(super) struct Batch<'a> {
    /// The batch's transaction.
    pub tx: &'a Transaction<'a>,
    /// Events recorded by the writes of this batch, published after the commit. Each is
    /// allocated once, when it is recorded, and published as it is.
    pub events: Vec<Arc<Event>>,
}

/// What became of a write run in a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Applied {
    /// It succeeded.
    Done,
    /// It failed before it changed anything: the batch may go on.
    Refused,
    /// It failed after it changed rows: the batch must be rolled back.
    FailedMidway,
}

/// A write waiting for the thread, type-erased.
trait Job: Send {
    /// Runs the write inside the batch's transaction (again from the start if the batch runs
    /// again), keeping its outcome for the reply.
    fn apply(&mut self, batch: &mut Batch<'_>) -> Applied;
    /// Answers the caller once the batch is committed (or failed to be).
    fn reply(self: Box<Self>, commit: Result<(), &rusqlite::Error>);
}

struct Pending<T, F> {
    work: F,
    outcome: Option<StoreResult<T>>,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<T, F> Job for Pending<T, F>
where
    T: Send,
    F: Fn(&mut Batch<'_>) -> StoreResult<T> + Send,
{
    fn apply(&mut self, batch: &mut Batch<'_>) -> Applied {
        let changes = batch.tx.total_changes();
        let recorded = batch.events.len();
        let outcome = (self.work)(batch);
        let applied = match &outcome {
            Ok(_) => Applied::Done,
            Err(_) if batch.tx.total_changes() == changes => {
                batch.events.truncate(recorded);
                Applied::Refused
            }
            Err(_) => Applied::FailedMidway,
        };
        self.outcome = Some(outcome);
        applied
    }

    fn reply(self: Box<Self>, commit: Result<(), &rusqlite::Error>) {
        let outcome = match (commit, self.outcome) {
            (Ok(()), Some(outcome)) => outcome,
            (Err(err), _) => Err(StoreError::Database(
                format!("the batch's commit failed: {err}").into(),
            )),
            (Ok(()), None) => Err(StoreError::Closed),
        };
        // The caller may have gone away; the write stands all the same.
        let _ = self.reply.send(outcome);
    }
}

/// Runs one write in a savepoint, so that its failure undoes it alone, not its batch.
pub(super) fn in_savepoint<T>(
    batch: &mut Batch<'_>,
    work: impl FnOnce(&mut Batch<'_>) -> StoreResult<T>,
) -> StoreResult<T> {
    let recorded = batch.events.len();
    batch.tx.prepare_cached("SAVEPOINT write")?.execute([])?;
    match work(batch) {
        Ok(value) => {
            batch.tx.prepare_cached("RELEASE write")?.execute([])?;
            Ok(value)
        }
        Err(err) => {
            batch.events.truncate(recorded);
            batch.tx.prepare_cached("ROLLBACK TO write")?.execute([])?;
            batch.tx.prepare_cached("RELEASE write")?.execute([])?;
            Err(err)
        }
    }
}

/// The handle to the writer thread. Dropping every handle stops the thread after the writes
/// already sent.
pub(super) struct Writer {
    jobs: mpsc::Sender<Box<dyn Job>>,
}

impl Writer {
    /// Starts the thread on `conn`; committed events go to `events`. The writer also runs the
    /// checkpoints (see [`CHECKPOINT_BYTES`]), in place of SQLite's automatic ones.
    pub(super) fn spawn(
        mut conn: Connection,
        events: broadcast::Sender<Arc<Event>>,
    ) -> Result<Writer, StoreError> {
        let (jobs, queue) = mpsc::channel();
        let page_size: i64 = conn.pragma_query_value(None, "page_size", |row| row.get(0))?;
        let checkpoint_pages =
            i32::try_from(CHECKPOINT_BYTES / page_size.max(512)).unwrap_or(i32::MAX);
        let mut next_checkpoint = checkpoint_pages;
        conn.wal_hook(Some(move |wal: &mut rusqlite::hooks::Wal, pages: i32| {
            if pages < next_checkpoint - checkpoint_pages {
                // The WAL was started over after a checkpoint.
                next_checkpoint = checkpoint_pages;
            }
            if pages >= next_checkpoint {
                // If a reader holds back part of the WAL, the next try waits for as many
                // pages again.
                next_checkpoint = pages.saturating_add(checkpoint_pages);
                if let Err(err) = wal.checkpoint_v2(CheckpointMode::PASSIVE) {
                    tracing::warn!(error = %err, "a WAL checkpoint failed");
                }
            }
            Ok(())
        }))?;
        let spawn_failed = |err: std::io::Error| StoreError::Database(Box::new(err));
        std::thread::Builder::new()
            .name("errand-sqlite-writer".into())
            .spawn(move || run(conn, queue, events))
            .map_err(spawn_failed)?;
        Ok(Writer { jobs })
    }

    /// Runs `work` in the next batch and answers once that batch is committed. `work` may run
    /// more than once (its batch rolled back for another write's failure), and only its last
    /// run counts.
    pub(super) async fn write<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: Fn(&mut Batch<'_>) -> StoreResult<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Pending {
            work,
            outcome: None,
            reply,
        });
        self.jobs.send(job).map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

fn run(
    mut conn: Connection,
    queue: mpsc::Receiver<Box<dyn Job>>,
    events: broadcast::Sender<Arc<Event>>,
) {
    let mut jobs: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = next_job(&queue) {
        jobs.push(first);
        while jobs.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        commit_and_reply(&mut conn, std::mem::take(&mut jobs), &events);
    }
    if let Err(err) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
        tracing::warn!(error = %err, "the last WAL checkpoint failed");
    }
    tracing::debug!("the sqlite writer stopped");
}

/// How long the writer looks for the next write before it sleeps.
const SPIN: std::time::Duration = std::time::Duration::from_micros(50);

/// The next write: spinning a moment first, since a write often follows the reply to the last
/// (its caller's next step), and a sleeping thread takes long to wake.
fn next_job(queue: &mpsc::Receiver<Box<dyn Job>>) -> Option<Box<dyn Job>> {
    let deadline = std::time::Instant::now() + SPIN;
    loop {
        match queue.try_recv() {
            Ok(job) => return Some(job),
            Err(mpsc::TryRecvError::Disconnected) => return None,
            Err(mpsc::TryRecvError::Empty) if std::time::Instant::now() < deadline => {
                std::hint::spin_loop();
            }
            Err(mpsc::TryRecvError::Empty) => return queue.recv().ok(),
        }
    }
}

/// Commits `jobs` as one batch and answers each. A write that failed midway is answered with
/// its error, and the others are committed again without it.
fn commit_and_reply(
    conn: &mut Connection,
    mut jobs: Vec<Box<dyn Job>>,
    events: &broadcast::Sender<Arc<Event>>,
) {
    loop {
        match commit_batch(conn, &mut jobs) {
            Ok(Committed::All(batch_events)) => {
                for event in batch_events {
                    // No subscriber is not an error.
                    let _ = events.send(event);
                }
                for job in jobs {
                    job.reply(Ok(()));
                }
                return;
            }
            Ok(Committed::NoneFor(failed)) => {
                // Its outcome is its error; nothing of it stays.
                jobs.remove(failed).reply(Ok(()));
                if jobs.is_empty() {
                    return;
                }
            }
            Err(err) => {
                tracing::error!(error = %err, writes = jobs.len(), "a write batch failed to commit");
                for job in jobs {
                    job.reply(Err(&err));
                }
                return;
            }
        }
    }
}

/// What became of a batch.
enum Committed {
    /// Committed, with these events.
    All(Vec<Arc<Event>>),
    /// Rolled back because the write at this index failed midway.
    NoneFor(usize),
}

fn commit_batch(
    conn: &mut Connection,
    jobs: &mut [Box<dyn Job>],
) -> Result<Committed, rusqlite::Error> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut batch = Batch {
        tx: &tx,
        events: Vec::new(),
    };
    for (index, job) in jobs.iter_mut().enumerate() {
        if job.apply(&mut batch) == Applied::FailedMidway {
            tx.rollback()?;
            return Ok(Committed::NoneFor(index));
        }
    }
    let events = batch.events;
    tx.commit()?;
    Ok(Committed::All(events))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn job<F>(work: F) -> (Box<dyn Job>, oneshot::Receiver<StoreResult<i64>>)
    where
        F: Fn(&mut Batch<'_>) -> StoreResult<i64> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            work,
            outcome: None,
            reply,
        };
        (Box::new(pending), answer)
    }

    fn insert(batch: &Batch<'_>, n: i64) -> StoreResult<i64> {
        batch.tx.execute("INSERT INTO t (n) VALUES (?1)", [n])?;
        Ok(n)
    }

    /// A refused write leaves the batch be; one that fails after writing is answered with its
    /// error, nothing of it stays, and the others are committed without it.
    #[test]
    fn a_failed_write_takes_nothing_of_its_batch_with_it() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (n INTEGER NOT NULL)")
            .unwrap();
        let first_runs = Arc::new(AtomicUsize::new(0));
        let runs = Arc::clone(&first_runs);
        let (first, first_answer) = job(move |batch| {
            runs.fetch_add(1, Ordering::SeqCst);
            insert(batch, 1)
        });
        let (refused, refused_answer) =
            job(|_| Err(StoreError::Invalid("refused before writing".into())));
        let (midway, midway_answer) = job(|batch| {
            insert(batch, 3)?;
            Err(StoreError::Invalid("failed after writing".into()))
        });
        let (last, last_answer) = job(|batch| insert(batch, 4));
        let (events, _) = broadcast::channel(4);

        commit_and_reply(&mut conn, vec![first, refused, midway, last], &events);

        assert_eq!(first_answer.blocking_recv().unwrap().unwrap(), 1);
        assert!(refused_answer.blocking_recv().unwrap().is_err());
        assert!(midway_answer.blocking_recv().unwrap().is_err());
        assert_eq!(last_answer.blocking_recv().unwrap().unwrap(), 4);
        let mut stored = conn.prepare("SELECT n FROM t ORDER BY n").unwrap();
        let stored: Vec<i64> = stored
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(stored, vec![1, 4]);
        assert_eq!(
            first_runs.load(Ordering::SeqCst),
            2,
            "run again after the rollback"
        );
    }
}
