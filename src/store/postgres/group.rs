//! Group commit. PostgreSQL serialises the commits of transactions that send a `NOTIFY` (and
//! errand's event-numbering lock does too; see `events.rs`), so a transaction per write makes
//! the node's writes wait for each other's commit, one WAL flush each. Instead the hot writes
//! of a node go to a group-commit task, which takes all the writes waiting for it, runs them
//! in one transaction, commits once with one notification, and then answers each caller; the
//! writes that arrive meanwhile form the next group. A write alone pays one channel hop;
//! writes that arrive together share a commit, as they do in the SQLite writer.
//!
//! A node has two such tasks (lanes), each with its connection: one for enqueues, one for
//! claims and the writes of running attempts. An enqueue, which a web request waits for, so
//! never waits behind a claim's statements; and the attempts' writes, which arrive one by one
//! as handlers end, gather in larger groups than they would if every free connection started
//! a group at once (BENCHMARKS.md compares the two).
//!
//! A write of a group that fails (a stale attempt, an unknown queue) must not take the others
//! down with it. Rather than a savepoint per write (two more round trips each, on every
//! write), the group is then rolled back and each of its writes run again in a transaction of
//! its own, so that each gets its own answer; refused writes are rare.
//!
//! The writes of a group also share the round trips: writes that touch different rows (the
//! outcomes of different tasks, enqueues without a dedup key, claims of different queues) run
//! concurrently on the group's connection, so that their statements travel together
//! (tokio-postgres pipelines requests in flight on one connection) and sixteen outcomes cost
//! the round trips of one. Writes that touch the same rows run one after the other, in the
//! order they arrived: each statement of a write reads what the ones before it wrote.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use deadpool_postgres::Pool;
use futures_util::future::join_all;
use tokio::sync::{mpsc, oneshot};

use super::events::Publisher;
use super::write::Write;
use super::{WRITE_TRIES, error};
use crate::model::TaskId;
use crate::store::{StoreError, StoreResult};

/// At most this many writes go in one group.
const MAX_GROUP: usize = 1024;

/// A write's future, borrowing the group's transaction.
pub(super) type WriteFuture<'w, T> = Pin<Box<dyn Future<Output = StoreResult<T>> + Send + 'w>>;

/// What a grouped write needs of the store: the same parts `write!` uses.
pub(super) struct Committer {
    pub pool: Pool,
    pub channel: String,
    pub publisher: Arc<Publisher>,
}

/// What a grouped write reads and writes, beyond rows that no other write of the group can
/// touch (the tasks it inserts): writes that touch the same thing run one after the other,
/// others concurrently.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Touches {
    /// Only rows of its own: an enqueue without a dedup key.
    Own,
    /// One task's row: a running attempt's progress, outcome or hand-over.
    Task(TaskId),
    /// A queue and any of its tasks that are ready: a claim.
    Queue(String),
    /// Rows that no key names (an enqueue with a dedup key, a renewal of many leases): the
    /// write runs alone.
    Anything,
}

/// One caller's write, type-erased, waiting for its group.
trait Part: Send {
    /// What the write touches.
    fn touches(&self) -> &Touches;
    /// Runs the write in the group's transaction (again from the start if the transaction is
    /// run again), keeping its value for the answer.
    fn run<'w>(&'w mut self, w: &'w Write) -> WriteFuture<'w, ()>;
    /// Answers the caller: the value kept, if `committed`.
    fn answer(self: Box<Self>, committed: StoreResult<()>);
}

struct Pending<T, F> {
    touches: Touches,
    work: F,
    value: Option<T>,
    answer: oneshot::Sender<StoreResult<T>>,
}

impl<T, F> Part for Pending<T, F>
where
    T: Send,
    F: for<'w> Fn(&'w Write) -> WriteFuture<'w, T> + Send,
{
    fn touches(&self) -> &Touches {
        &self.touches
    }

    fn run<'w>(&'w mut self, w: &'w Write) -> WriteFuture<'w, ()> {
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
    /// Starts the group-commit task, which commits one group at a time; it ends when the
    /// last `Group` is dropped.
    pub(super) fn spawn(committer: Committer) -> Group {
        let (parts, incoming) = mpsc::unbounded_channel();
        tokio::spawn(run(committer, incoming));
        Group { parts }
    }

    /// Runs `work`, which touches what `touches` says, in the next group; answers once that
    /// group has committed. `work` may run more than once (a transaction aborted by a
    /// deadlock, a group run again write by write), and only its last run counts.
    pub(super) async fn write<T, F>(&self, touches: Touches, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'w> Fn(&'w Write) -> WriteFuture<'w, T> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let part = Box::new(Pending {
            touches,
            work,
            value: None,
            answer,
        });
        self.parts.send(part).map_err(|_| StoreError::Closed)?;
        answered.await.map_err(|_| StoreError::Closed)?
    }
}

async fn run(committer: Committer, mut incoming: mpsc::UnboundedReceiver<Box<dyn Part>>) {
    let mut group: Vec<Box<dyn Part>> = Vec::new();
    // The next group forms while this one commits.
    while incoming.recv_many(&mut group, MAX_GROUP).await > 0 {
        // Let the tasks that are ready run first: handlers that end together send their
        // outcomes a moment apart, and they join this group rather than each start the next.
        tokio::task::yield_now().await;
        while group.len() < MAX_GROUP {
            match incoming.try_recv() {
                Ok(part) => group.push(part),
                Err(_) => break,
            }
        }
        commit_group(&committer, std::mem::take(&mut group)).await;
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

/// Runs every write of a group in one transaction, wave after wave: a wave is a run of
/// consecutive writes that touch different things, which run concurrently. Stops after the
/// first wave with a write that fails.
async fn run_all(w: &Write, group: &mut [Box<dyn Part>]) -> StoreResult<()> {
    let writes = group.len();
    let mut rest = group;
    while !rest.is_empty() {
        let (wave, after) = rest.split_at_mut(wave_len(rest));
        rest = after;
        let results = join_all(wave.iter_mut().map(|part| part.run(w))).await;
        // A failed statement fails the ones after it in the transaction: the cause is the
        // first error, unless another is worth running the group again for.
        let mut errors = results.into_iter().filter_map(Result::err);
        let Some(first) = errors.next() else {
            continue;
        };
        let err = if error::is_retryable(&first) {
            first
        } else {
            errors.find(error::is_retryable).unwrap_or(first)
        };
        if !error::is_retryable(&err) {
            tracing::debug!(error = %err, writes, "a grouped write was refused; running the group's writes one by one");
        }
        return Err(err);
    }
    Ok(())
}

/// How many of the first writes of `parts` form a wave: each touches something the ones
/// before it in the wave do not.
fn wave_len(parts: &[Box<dyn Part>]) -> usize {
    first_wave(parts.iter().map(|part| part.touches()))
}

/// How many of the first of `touches` may run concurrently, in order: a wave ends before a
/// task or queue it already holds, and a write that touches anything runs alone.
fn first_wave<'a>(touches: impl IntoIterator<Item = &'a Touches>) -> usize {
    let mut held: HashSet<&Touches> = HashSet::new();
    let mut len = 0;
    for touches in touches {
        match touches {
            Touches::Anything if len == 0 => return 1,
            Touches::Anything => break,
            Touches::Own => {}
            keyed => {
                if !held.insert(keyed) {
                    break;
                }
            }
        }
        len += 1;
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_that_touch_the_same_thing_go_in_separate_waves_in_order() {
        let (a, b) = (TaskId(uuid::Uuid::now_v7()), TaskId(uuid::Uuid::now_v7()));
        let own = Touches::Own;
        let (task_a, task_b) = (Touches::Task(a), Touches::Task(b));
        let (queue_q, queue_r) = (Touches::Queue("q".into()), Touches::Queue("r".into()));
        let anything = Touches::Anything;

        // Different tasks, queues and own rows: one wave.
        assert_eq!(
            first_wave([&own, &task_a, &own, &task_b, &queue_q, &queue_r]),
            6
        );
        // The same task, or the same queue, a second time: the wave ends before it.
        assert_eq!(first_wave([&task_a, &own, &task_b, &task_a, &own]), 3);
        assert_eq!(first_wave([&queue_q, &task_a, &queue_q]), 2);
        // Anything runs alone, first or after others.
        assert_eq!(first_wave([&anything, &own]), 1);
        assert_eq!(first_wave([&own, &task_a, &anything]), 2);
        assert_eq!(first_wave(Vec::<&Touches>::new()), 0);
    }
}
