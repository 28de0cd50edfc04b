//! Group commit of enqueues. PostgreSQL serialises the commits of transactions that send a
//! `NOTIFY` (and errand's event-numbering lock does too), so an enqueue per transaction makes
//! concurrent web requests wait for each other's commit, one WAL flush each. Instead every
//! enqueue of a node goes to one task that takes all the enqueues waiting for it, runs each in
//! a savepoint of one transaction (so that one refused enqueue leaves the others be), commits
//! once with one notification, and then answers each caller. A caller that enqueues alone pays
//! one channel hop; callers that enqueue at once share a commit.

use std::sync::Arc;

use deadpool_postgres::Pool;
use jiff::Timestamp;
use tokio::sync::{mpsc, oneshot};

use super::events::Publisher;
use super::write::Write;
use super::{WRITE_TRIES, error, ops};
use crate::model::NewTask;
use crate::store::{Enqueued, StoreError, StoreResult};

/// At most this many tasks go in one grouped transaction.
const MAX_GROUP_TASKS: usize = 4096;

/// One caller's enqueue, waiting for its group.
pub(super) struct Request {
    tasks: Vec<NewTask>,
    now: Timestamp,
    answer: oneshot::Sender<StoreResult<Vec<Enqueued>>>,
}

/// What a grouped write needs of the store: the same parts `write!` uses.
pub(super) struct Committer {
    pub pool: Pool,
    pub channel: String,
    pub publisher: Arc<Publisher>,
}

/// The way to the group-commit task.
#[derive(Clone)]
pub(super) struct Enqueuer {
    requests: mpsc::UnboundedSender<Request>,
}

impl Enqueuer {
    /// Starts the group-commit task; it ends when the last `Enqueuer` is dropped.
    pub(super) fn spawn(committer: Committer) -> Enqueuer {
        let (requests, incoming) = mpsc::unbounded_channel();
        tokio::spawn(run(committer, incoming));
        Enqueuer { requests }
    }

    /// Enqueues `tasks` in the next group; answers once it has committed.
    pub(super) async fn enqueue(
        &self,
        tasks: Vec<NewTask>,
        now: Timestamp,
    ) -> StoreResult<Vec<Enqueued>> {
        let (answer, answered) = oneshot::channel();
        self.requests
            .send(Request { tasks, now, answer })
            .map_err(|_| StoreError::Closed)?;
        answered.await.map_err(|_| StoreError::Closed)?
    }
}

async fn run(committer: Committer, mut incoming: mpsc::UnboundedReceiver<Request>) {
    while let Some(first) = incoming.recv().await {
        let mut group = vec![first];
        let mut tasks = group[0].tasks.len();
        while tasks < MAX_GROUP_TASKS {
            match incoming.try_recv() {
                Ok(request) => {
                    tasks += request.tasks.len();
                    group.push(request);
                }
                Err(_) => break,
            }
        }
        commit_group(&committer, group).await;
    }
}

/// Commits a group and answers its callers. If the group as a whole fails (the connection,
/// the commit), each caller's enqueue is tried again on its own, so that each gets its own
/// answer.
async fn commit_group(committer: &Committer, group: Vec<Request>) {
    if group.len() > 1 {
        let parts: Vec<(&[NewTask], Timestamp)> = group
            .iter()
            .map(|request| (request.tasks.as_slice(), request.now))
            .collect();
        if let Ok(answers) = write!(committer, |w| enqueue_parts(w, &parts)) {
            for (request, answer) in group.into_iter().zip(answers) {
                let _ = request.answer.send(answer);
            }
            return;
        }
    }
    for request in group {
        let (tasks, now) = (request.tasks, request.now);
        let answer = write!(committer, |w| ops::enqueue::enqueue(w, tasks.clone(), now));
        let _ = request.answer.send(answer);
    }
}

/// Each part of a group in a savepoint of its own: a part that fails is undone alone, with
/// its error as its answer.
async fn enqueue_parts(
    w: &mut Write<'_>,
    parts: &[(&[NewTask], Timestamp)],
) -> StoreResult<Vec<StoreResult<Vec<Enqueued>>>> {
    let mut answers = Vec::with_capacity(parts.len());
    for (tasks, now) in parts {
        let mark = w.savepoint().await?;
        match ops::enqueue::enqueue(w, tasks.to_vec(), *now).await {
            Ok(enqueued) => {
                w.release().await?;
                answers.push(Ok(enqueued));
            }
            Err(err) if error::is_retryable(&err) => return Err(err),
            Err(err) => {
                w.roll_back_to(mark).await?;
                answers.push(Err(err));
            }
        }
    }
    Ok(answers)
}
