//! The clustered store: several errand nodes on one PostgreSQL database.
//!
//! The semantics are the SQLite store's (`ops/` mirrors `sqlite/ops/`); what changes is how
//! writes stay atomic when several nodes write at once:
//! - a write that changes a task locks its row (`SELECT … FOR UPDATE`) and asks the state
//!   machine before it writes, in one transaction with the change's event (`write.rs`,
//!   `ops/change.rs`);
//! - claims lock their queue's row, so that slots, per-owner caps and ordering keys hold
//!   across nodes, and take candidates with `FOR UPDATE SKIP LOCKED` (`ops/claim.rs`);
//! - dedup is decided by a unique partial index (`ops/enqueue.rs`);
//! - sweeps take batches with `SKIP LOCKED`, so any number of nodes may run them;
//! - events are numbered at commit under a lock so that they become visible in order, and
//!   reach every node through `LISTEN/NOTIFY` (`events.rs`, `listener.rs`).
//!
//! A write that PostgreSQL aborts for a deadlock is run again from the start. The hot writes
//! of a node (enqueues, claims, an attempt's writes) that arrive together share a transaction
//! and a commit (`group.rs`).

mod connection;
mod error;
mod events;
mod listener;
mod migrate;
mod ops;
#[cfg(test)]
mod query_plans;
mod row;
mod write;

use std::sync::Arc;

use async_trait::async_trait;
use deadpool_postgres::Pool;
use jiff::Timestamp;
use serde_json::Value;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub use migrate::SCHEMA_VERSION;

use self::events::Publisher;
use self::write::Write;
use super::{
    ClaimRequest, Counts, Enqueued, Lease, LeaseStatus, Outcome, Store, StoreError, StoreResult,
    TaskFilter, TaskPage,
};
use crate::model::{Event, NewTask, Progress, Queue, QueueStats, Task, TaskId};

/// How many committed events an in-process subscriber may fall behind before it is told to
/// catch up from the store.
const EVENT_BUFFER: usize = 16_384;

/// How many times a write aborted by a deadlock is run again.
const WRITE_TRIES: u32 = 5;

/// Where the PostgreSQL store lives.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// A `postgres://` URL (or key=value connection string).
    pub url: String,
    /// The schema that holds errand's tables, created if missing and first on the search path
    /// of every connection (`None`: the server's default search path). Tests use one per test.
    pub schema: Option<String>,
    /// The most connections this node opens, besides its event listener.
    pub pool_size: usize,
}

impl PostgresOptions {
    /// Options for `url` with the default schema and a pool of 16.
    pub fn new(url: impl Into<String>) -> Self {
        PostgresOptions {
            url: url.into(),
            schema: None,
            pool_size: 16,
        }
    }
}

/// The PostgreSQL store. Dropping it stops its event listener.
pub struct PostgresStore {
    pool: Pool,
    /// The notification channel of this schema.
    channel: String,
    publisher: Arc<Publisher>,
    /// Enqueues, committed in groups.
    enqueues: group::Group,
    /// Claims and the writes of running attempts, committed in groups.
    attempts: group::Group,
    stop: CancellationToken,
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Runs a write in a transaction, again from the start if PostgreSQL aborts it for a
/// deadlock, and publishes its events once committed. `$body` is an expression of `$w`
/// (`&Write`) that evaluates to a future of a `StoreResult`.
macro_rules! write {
    ($store:expr, |$w:ident| $body:expr) => {{
        // A `PostgresStore` or a `group::Committer`: anything with its pool, channel and
        // publisher.
        let store = $store;
        let mut tries = 0;
        loop {
            tries += 1;
            let attempt = async {
                let write = Write::begin(store.pool.get().await?);
                let value = {
                    let $w = &write;
                    $body.await
                };
                let value = match value {
                    Ok(value) => value,
                    Err(err) => {
                        // The write's answer is its own error, whatever the rollback says.
                        if let Err(rollback) = write.rollback().await {
                            tracing::debug!(error = %rollback, "a rollback failed");
                        }
                        return Err(err);
                    }
                };
                let events = write.commit(&store.channel).await?;
                Ok::<_, StoreError>((value, events))
            }
            .await;
            match attempt {
                Ok((value, events)) => {
                    store.publisher.publish_own(events).await;
                    break Ok(value);
                }
                Err(err) if tries < WRITE_TRIES && error::is_retryable(&err) => {
                    tracing::debug!(error = %err, "a write was aborted; running it again");
                }
                Err(err) => break Err(err),
            }
        }
    }};
}

// After the macro, which it uses.
mod group;

use self::group::Touches;

impl PostgresStore {
    /// Connects, migrates the schema to the current version, and starts the event listener.
    /// Fails (never panics) if the database cannot be reached.
    pub async fn connect(options: PostgresOptions) -> StoreResult<PostgresStore> {
        let applied = migrate::migrate(&options).await?;
        if !applied.is_empty() {
            tracing::info!(schema = ?options.schema, versions = ?applied, "migrated the database");
        }
        let pool = connection::pool(&options)?;
        let last: i64 = {
            let client = pool.get().await?;
            client
                .query_one("SELECT coalesce(max(seq), 0) FROM events", &[])
                .await?
                .try_get(0)?
        };
        let channel = match &options.schema {
            Some(schema) => format!("errand_events_{schema}"),
            None => "errand_events".to_owned(),
        };
        let (sender, _) = broadcast::channel(EVENT_BUFFER);
        let publisher = Arc::new(Publisher::new(pool.clone(), sender, last));
        let stop = CancellationToken::new();
        listener::spawn(
            connection::config(&options)?,
            channel.clone(),
            Arc::clone(&publisher),
            stop.clone(),
        );
        let committer = || group::Committer {
            pool: pool.clone(),
            channel: channel.clone(),
            publisher: Arc::clone(&publisher),
        };
        let enqueues = group::Group::spawn(committer());
        let attempts = group::Group::spawn(committer());
        Ok(PostgresStore {
            pool,
            channel,
            publisher,
            enqueues,
            attempts,
            stop,
        })
    }

    /// Applies the pending migrations; answers the versions applied (for `errand migrate`).
    pub async fn migrate(options: &PostgresOptions) -> StoreResult<Vec<i64>> {
        migrate::migrate(options).await
    }

    async fn client(&self) -> StoreResult<deadpool_postgres::Client> {
        Ok(self.pool.get().await?)
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn upsert_queue(&self, queue: &Queue) -> StoreResult<()> {
        write!(self, |w| ops::queues::upsert_queue(w, queue))
    }

    async fn queues(&self) -> StoreResult<Vec<QueueStats>> {
        ops::queues::queues(&self.client().await?).await
    }

    async fn set_queue_paused(&self, queue: &str, paused: bool) -> StoreResult<()> {
        write!(self, |w| ops::queues::set_paused(w, queue, paused))
    }

    async fn enqueue(&self, tasks: Vec<NewTask>, now: Timestamp) -> StoreResult<Vec<Enqueued>> {
        let touches = if tasks.iter().any(|task| task.dedup_key.is_some()) {
            Touches::Anything
        } else {
            Touches::Own
        };
        self.enqueues
            .write(touches, move |w| {
                let tasks = tasks.clone();
                Box::pin(ops::enqueue::enqueue(w, tasks, now))
            })
            .await
    }

    async fn enqueue_claimed(
        &self,
        tasks: Vec<NewTask>,
        node: Uuid,
        lease_until: Timestamp,
        now: Timestamp,
    ) -> StoreResult<Vec<Enqueued>> {
        write!(self, |w| async {
            let mut enqueued = ops::enqueue::enqueue(w, tasks.clone(), now).await?;
            for answer in enqueued.iter_mut().filter(|answer| answer.created) {
                if let Some(claimed) =
                    ops::claim::claim_inline(w, &answer.task, node, lease_until, now).await?
                {
                    answer.task = claimed;
                }
            }
            Ok::<_, StoreError>(enqueued)
        })
    }

    async fn has_ready(&self, queue: &str) -> StoreResult<bool> {
        ops::read::has_ready(&self.client().await?, queue).await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.client().await?.simple_query("SELECT 1").await?;
        Ok(())
    }

    async fn get(&self, id: TaskId) -> StoreResult<Option<Task>> {
        ops::read::get(&self.client().await?, id).await
    }

    async fn list(&self, filter: &TaskFilter) -> StoreResult<TaskPage> {
        ops::read::list(&self.client().await?, filter).await
    }

    async fn counts(&self, owner: Option<&str>) -> StoreResult<Counts> {
        ops::read::counts(&self.client().await?, owner).await
    }

    async fn claim(&self, request: &ClaimRequest) -> StoreResult<Vec<Task>> {
        let request = request.clone();
        self.attempts
            .write(Touches::Queue(request.queue.clone()), move |w| {
                let request = request.clone();
                Box::pin(async move { ops::claim::claim(w, &request).await })
            })
            .await
    }

    async fn claim_task(
        &self,
        id: TaskId,
        node: Uuid,
        lease_until: Timestamp,
        now: Timestamp,
    ) -> StoreResult<Task> {
        write!(self, |w| ops::claim::claim_task(
            w,
            id,
            node,
            lease_until,
            now
        ))
    }

    async fn renew_leases(
        &self,
        leases: &[Lease],
        lease_until: Timestamp,
    ) -> StoreResult<Vec<LeaseStatus>> {
        let leases = leases.to_vec();
        self.attempts
            .write(Touches::Anything, move |w| {
                let leases = leases.clone();
                Box::pin(async move { ops::attempt::renew_leases(w, &leases, lease_until).await })
            })
            .await
    }

    async fn await_reports(&self, lease: Lease, until: Timestamp) -> StoreResult<()> {
        self.attempts
            .write(Touches::Task(lease.id), move |w| {
                Box::pin(ops::attempt::await_reports(w, lease, until))
            })
            .await
    }

    async fn report_progress(
        &self,
        lease: Lease,
        progress: Progress,
        now: Timestamp,
    ) -> StoreResult<Task> {
        self.attempts
            .write(Touches::Task(lease.id), move |w| {
                let progress = progress.clone();
                Box::pin(ops::attempt::report_progress(w, lease, progress, now))
            })
            .await
    }

    async fn finish(&self, lease: Lease, outcome: Outcome, now: Timestamp) -> StoreResult<Task> {
        self.attempts
            .write(Touches::Task(lease.id), move |w| {
                let outcome = outcome.clone();
                Box::pin(ops::attempt::finish(w, lease, outcome, now))
            })
            .await
    }

    async fn cancel(&self, id: TaskId, now: Timestamp) -> StoreResult<Task> {
        write!(self, |w| ops::control::cancel(w, id, now))
    }

    async fn dismiss(&self, id: TaskId, now: Timestamp) -> StoreResult<Task> {
        write!(self, |w| ops::control::dismiss(w, id, now))
    }

    async fn resume(&self, id: TaskId, input: Option<Value>, now: Timestamp) -> StoreResult<Task> {
        write!(self, |w| ops::control::resume(w, id, input.clone(), now))
    }

    async fn retry(&self, id: TaskId, now: Timestamp) -> StoreResult<Task> {
        write!(self, |w| ops::control::retry(w, id, now))
    }

    async fn promote_due(&self, now: Timestamp) -> StoreResult<u64> {
        write!(self, |w| ops::sweep::promote_due(w, now))
    }

    async fn next_due(&self) -> StoreResult<Option<Timestamp>> {
        ops::read::next_due(&self.client().await?).await
    }

    async fn rescue_expired_leases(&self, now: Timestamp) -> StoreResult<u64> {
        write!(self, |w| ops::sweep::rescue_expired_leases(w, now))
    }

    async fn expire_overdue(&self, now: Timestamp) -> StoreResult<u64> {
        write!(self, |w| ops::sweep::expire_overdue(w, now))
    }

    async fn sweep_retention(&self, cutoff: Timestamp) -> StoreResult<u64> {
        write!(self, |w| ops::sweep::sweep_retention(w, cutoff))
    }

    async fn events_since(
        &self,
        after: i64,
        owner: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<Event>> {
        ops::read::events_since(&self.client().await?, after, owner, limit).await
    }

    async fn last_event_seq(&self) -> StoreResult<i64> {
        let client = self.client().await?;
        let row = client
            .query_one("SELECT coalesce(max(seq), 0) FROM events", &[])
            .await?;
        Ok(row.try_get(0)?)
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.publisher.subscribe()
    }
}

/// Options for the unit tests' database (`ERRAND_TEST_DATABASE_URL`), or `None`, saying that
/// the test is skipped, if it is not set.
#[cfg(test)]
fn test_options() -> Option<PostgresOptions> {
    let url = std::env::var("ERRAND_TEST_DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty());
    if url.is_none() {
        eprintln!("skipped: ERRAND_TEST_DATABASE_URL is not set");
    }
    url.map(PostgresOptions::new)
}
