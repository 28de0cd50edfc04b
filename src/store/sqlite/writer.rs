//! The one writer: a thread that owns the write connection and commits concurrent writes
//! together.
//!
//! SQLite allows one writer at a time, and a commit costs the same for one row as for a
//! thousand. So every write (enqueue, claim, progress, completion, sweep) is sent here as a
//! closure; the thread takes all that are waiting, runs each inside its own savepoint in one
//! transaction, commits once, publishes the batch's events, and only then answers each caller:
//! an acknowledged write is a committed write. While one batch commits, the next one gathers.

use std::sync::Arc;
use std::sync::mpsc;

use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::{broadcast, oneshot};

use crate::model::Event;
use crate::store::{StoreError, StoreResult};

/// The most writes committed in one transaction.
const MAX_BATCH: usize = 1024;

/// Each time the WAL grows by this many pages (32 MiB of 4 KiB pages), the checkpointer is
/// asked to copy it back into the database. Rarer checkpoints copy a hot page once instead of
/// many times.
const CHECKPOINT_PAGES: i32 = 8192;

/// What a write sees: the open transaction, and the events it has recorded.
pub(super) struct Batch<'a> {
    /// The batch's transaction, positioned inside the write's own savepoint.
    pub tx: &'a Transaction<'a>,
    /// Events recorded by the writes of this batch, published after the commit.
    pub events: Vec<Event>,
}

/// A write waiting for the thread, type-erased.
trait Job: Send {
    /// Runs the write inside the batch's transaction; answers whether it succeeded. A write
    /// that is `alone` in its batch runs without a savepoint: if it fails, the batch is rolled
    /// back instead.
    fn apply(&mut self, batch: &mut Batch<'_>, alone: bool) -> bool;
    /// Answers the caller once the batch is committed (or failed to be).
    fn reply(self: Box<Self>, commit: Result<(), &rusqlite::Error>);
}

struct Pending<T, F> {
    work: Option<F>,
    outcome: Option<StoreResult<T>>,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<T, F> Job for Pending<T, F>
where
    T: Send,
    F: FnOnce(&mut Batch<'_>) -> StoreResult<T> + Send,
{
    fn apply(&mut self, batch: &mut Batch<'_>, alone: bool) -> bool {
        let Some(work) = self.work.take() else {
            return false;
        };
        let outcome = if alone {
            work(batch)
        } else {
            in_savepoint(batch, work)
        };
        let succeeded = outcome.is_ok();
        self.outcome = Some(outcome);
        succeeded
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
    /// Starts the thread on `conn`; committed events go to `events`.
    ///
    /// Checkpoints run on `checkpointer`'s own thread, so that a commit never waits for the
    /// copy of the WAL into the database (nor for its fsync).
    pub(super) fn spawn(
        mut conn: Connection,
        checkpointer: Connection,
        events: broadcast::Sender<Arc<Event>>,
    ) -> Result<Writer, StoreError> {
        let (jobs, queue) = mpsc::channel();
        let (nudge, nudged) = mpsc::sync_channel(1);
        let mut next_checkpoint = CHECKPOINT_PAGES;
        conn.wal_hook(Some(move |_: &mut rusqlite::hooks::Wal, pages: i32| {
            if pages < next_checkpoint - CHECKPOINT_PAGES {
                // The WAL was restarted after a checkpoint.
                next_checkpoint = CHECKPOINT_PAGES;
            }
            if pages >= next_checkpoint {
                next_checkpoint = pages + CHECKPOINT_PAGES;
                // A checkpoint already asked for will do.
                let _ = nudge.try_send(());
            }
            Ok(())
        }))?;
        let spawn_failed = |err: std::io::Error| StoreError::Database(Box::new(err));
        std::thread::Builder::new()
            .name("errand-sqlite-checkpointer".into())
            .spawn(move || checkpoint_when_nudged(checkpointer, nudged))
            .map_err(spawn_failed)?;
        std::thread::Builder::new()
            .name("errand-sqlite-writer".into())
            .spawn(move || run(conn, queue, events))
            .map_err(spawn_failed)?;
        Ok(Writer { jobs })
    }

    /// Runs `work` in the next batch and answers once that batch is committed.
    pub(super) async fn write<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Batch<'_>) -> StoreResult<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Pending {
            work: Some(work),
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
    while let Ok(first) = queue.recv() {
        jobs.push(first);
        while jobs.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let committed = commit_batch(&mut conn, &mut jobs);
        match committed {
            Ok(batch_events) => {
                for event in batch_events {
                    // No subscriber is not an error.
                    let _ = events.send(Arc::new(event));
                }
                for job in jobs.drain(..) {
                    job.reply(Ok(()));
                }
            }
            Err(err) => {
                tracing::error!(error = %err, writes = jobs.len(), "a write batch failed to commit");
                for job in jobs.drain(..) {
                    job.reply(Err(&err));
                }
            }
        }
    }
    tracing::debug!("the sqlite writer stopped");
}

/// Copies the WAL into the database each time the writer asks, and once more at the end.
/// `PASSIVE` never blocks writers or readers; what it cannot copy now, a later one will.
fn checkpoint_when_nudged(conn: Connection, nudged: mpsc::Receiver<()>) {
    let checkpoint = || {
        if let Err(err) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %err, "a WAL checkpoint failed");
        }
    };
    while nudged.recv().is_ok() {
        checkpoint();
    }
    checkpoint();
}

fn commit_batch(
    conn: &mut Connection,
    jobs: &mut [Box<dyn Job>],
) -> Result<Vec<Event>, rusqlite::Error> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut batch = Batch {
        tx: &tx,
        events: Vec::new(),
    };
    let alone = jobs.len() == 1;
    let mut succeeded = true;
    for job in jobs.iter_mut() {
        succeeded &= job.apply(&mut batch, alone);
    }
    if alone && !succeeded {
        // The failed write's error is its answer; nothing of it may stay.
        tx.rollback()?;
        return Ok(Vec::new());
    }
    let events = batch.events;
    tx.commit()?;
    Ok(events)
}
