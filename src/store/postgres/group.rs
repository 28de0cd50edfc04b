//! Group commit. PostgreSQL serialises the commits of transactions that send a `NOTIFY` (and
//! errand's event-numbering lock does too; see `events.rs`), so a transaction per write makes
//! the node's writes wait for each other's commit, one WAL flush each. Instead the hot writes
//! of a node (enqueues, claims, progress, outcomes, renewals) go to one task, which takes all
//! the writes waiting for it, runs them one after the other in one transaction, commits once
//! with one notification, and then answers each caller. A write alone pays one channel hop;
//! writes that arrive together share a commit, as they do in the SQLite writer.
//!
//! A write of a group that fails (a stale attempt, an unknown queue) must not take the others
//! down with it. Rather than a savepoint per write (two more round trips each, on every
//! write), the group is then rolled back and each of its writes run again in a transaction of
//! its own, so that each gets its own answer; refused writes are rare.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use deadpool_postgres::Pool;
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::events::Publisher;
use super::write::Write;
use super::{WRITE_TRIES, error};
use crate::store::{StoreError, StoreResult};

/// At most this many writes go in one group.
const MAX_GROUP: usize = 1024;

/// How many groups commit at once, each on a connection of its own: while one waits for its
/// commit (the events lock, the WAL flush), the next runs its statements.
const IN_FLIGHT: usize = 2;

/// A write's future, borrowing the group's transaction.
pub(super) type WriteFuture<'w, T> = Pin<Box<dyn Future<Output = StoreResult<T>> + Send + 'w>>;

/// What a grouped write needs of the store: the same parts `write!` uses.
pub(super) struct Committer {
    pub pool: Pool,
    pub channel: String,
    pub publisher: Arc<Publisher>,
}

/// One caller's write, type-erased, waiting for its group.
trait Part: Send {
    /// Runs the write in the group's transaction (again from the start if the transaction is
    /// run again), keeping its value for the answer.
    fn run<'w>(&'w mut self, w: &'w mut Write) -> WriteFuture<'w, ()>;
    /// Answers the caller: the value kept, if `committed`.
    fn answer(self: Box<Self>, committed: StoreResult<()>);
}

struct Pending<T, F> {
    work: F,
    value: Option<T>,
    answer: oneshot::Sender<StoreResult<T>>,
}

impl<T, F> Part for Pending<T, F>
where
    T: Send,
    F: for<'w> Fn(&'w mut Write) -> WriteFuture<'w, T> + Send,
{
    fn run<'w>(&'w mut self, w: &'w mut Write) -> WriteFuture<'w, ()> {
        Box::pin(async move {
            self.value = Some((self.work)(w).await?);
            Ok(())
        })
    }

    fn answer(self: Box<Self>, committed: StoreResult<()>) {
        let Pending { value, answer, .. } = *self;
        // The caller may have gone away; the write stands all the same.
        let _ = answer.send(committed.and_then(|()| value.ok_or(StoreError::Closed)));
    }
}

/// The way to the group-commit task.
#[derive(Clone)]
pub(super) struct Group {
    parts: mpsc::UnboundedSender<Box<dyn Part>>,
}

impl Group {
    /// Starts the group-commit task; it ends when the last `Group` is dropped.
    pub(super) fn spawn(committer: Committer) -> Group {
        let (parts, incoming) = mpsc::unbounded_channel();
        tokio::spawn(run(committer, incoming));
        Group { parts }
    }

    /// Runs `work` in the next group; answers once that group has committed. `work` may run
    /// more than once (a transaction aborted by a deadlock, a group run again write by write),
    /// and only its last run counts.
    pub(super) async fn write<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'w> Fn(&'w mut Write) -> WriteFuture<'w, T> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let part = Box::new(Pending {
            work,
            value: None,
            answer,
        });
        self.parts.send(part).map_err(|_| StoreError::Closed)?;
        answered.await.map_err(|_| StoreError::Closed)?
    }
}

async fn run(committer: Committer, mut incoming: mpsc::UnboundedReceiver<Box<dyn Part>>) {
    let committer = Arc::new(committer);
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
    loop {
        // A group forms while the groups in flight commit: take a turn first, then every
        // write waiting.
        let Ok(turn) = Arc::clone(&in_flight).acquire_owned().await else {
            return;
        };
        let mut group: Vec<Box<dyn Part>> = Vec::new();
        if incoming.recv_many(&mut group, MAX_GROUP).await == 0 {
            return;
        }
        let committer = Arc::clone(&committer);
        tokio::spawn(async move {
            commit_group(&committer, group).await;
            drop(turn);
        });
    }
}

/// Commits a group and answers its writes. If the group fails as a whole (a write refused,
/// the connection, the commit), each write is run again on its own, so that each gets its own
/// answer.
async fn commit_group(committer: &Committer, mut group: Vec<Box<dyn Part>>) {
    if group.len() > 1 {
        let together = write!(committer, |w| run_all(w, &mut group));
        if together.is_ok() {
            for part in group {
                part.answer(Ok(()));
            }
            return;
        }
    }
    for mut part in group {
        let alone = write!(committer, |w| part.run(w));
        part.answer(alone);
    }
}

/// Runs every write of a group in one transaction; stops at the first that fails.
async fn run_all(w: &mut Write, group: &mut [Box<dyn Part>]) -> StoreResult<()> {
    for part in group.iter_mut() {
        if let Err(err) = part.run(w).await {
            if !error::is_retryable(&err) {
                tracing::debug!(error = %err, writes = group.len(), "a grouped write was refused; running the group's writes one by one");
            }
            return Err(err);
        }
    }
    Ok(())
}
