//! The embedded store: one SQLite file in WAL mode, one writer thread that commits concurrent
//! writes together (`writer.rs`), and read connections that never wait for it (`readers.rs`).

mod connection;
mod migrate;
mod ops;
#[cfg(test)]
mod query_plans;
mod readers;
mod row;
mod vfs;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use jiff::Timestamp;
use serde_json::Value;
use tokio::sync::broadcast;
use uuid::Uuid;

pub use connection::{Durability, PAGE_SIZE};
pub use migrate::SCHEMA_VERSION;

use self::readers::Readers;
use self::writer::Writer;
use super::{
    ClaimRequest, Counts, Enqueued, Lease, LeaseStatus, Outcome, Store, StoreResult, TaskFilter,
    TaskPage,
};
use crate::model::{Event, NewTask, Progress, Queue, QueueStats, Task, TaskId};

/// How many committed events an in-process subscriber may fall behind before it is told to
/// catch up from the store.
const EVENT_BUFFER: usize = 16_384;

/// The SQLite store.
pub struct SqliteStore {
    path: PathBuf,
    writer: Writer,
    readers: Arc<Readers>,
    events: broadcast::Sender<Arc<Event>>,
}

impl SqliteStore {
    /// Opens (creating it) the database at `path`, migrated to the current schema, with the
    /// default durability.
    pub fn open(path: impl AsRef<Path>) -> StoreResult<SqliteStore> {
        Self::open_with(path, Durability::default())
    }

    /// Opens the database at `path` with the given durability.
    pub fn open_with(path: impl AsRef<Path>, durability: Durability) -> StoreResult<SqliteStore> {
        let path = path.as_ref().to_path_buf();
        let applied = Self::migrate(&path)?;
        if !applied.is_empty() {
            tracing::info!(path = %path.display(), versions = ?applied, "migrated the database");
        }
        let conn = connection::open_writer(&path, durability)?;
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let writer = Writer::spawn(conn, events.clone())?;
        Ok(SqliteStore {
            readers: Readers::new(path.clone()),
            path,
            writer,
            events,
        })
    }

    /// Applies the pending migrations to the database at `path`; answers the versions applied.
    pub fn migrate(path: impl AsRef<Path>) -> StoreResult<Vec<i64>> {
        let mut conn = connection::open(path.as_ref(), Durability::default())?;
        migrate::migrate(&mut conn)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn upsert_queue(&self, queue: &Queue) -> StoreResult<()> {
        let queue = queue.clone();
        self.writer
            .write(move |batch| ops::queues::upsert_queue(batch, &queue))
            .await
    }

    async fn queues(&self) -> StoreResult<Vec<QueueStats>> {
        self.readers.read(ops::queues::queues).await
    }

    async fn set_queue_paused(&self, queue: &str, paused: bool) -> StoreResult<()> {
        let queue = queue.to_owned();
        self.writer
            .write(move |batch| ops::queues::set_paused(batch, &queue, paused))
            .await
    }

    async fn enqueue(&self, tasks: Vec<NewTask>, now: Timestamp) -> StoreResult<Vec<Enqueued>> {
        self.writer
            .write(move |batch| ops::enqueue::enqueue(batch, &tasks, now))
            .await
    }

    async fn enqueue_claimed(
        &self,
        tasks: Vec<NewTask>,
        node: Uuid,
        lease_until: Timestamp,
        now: Timestamp,
    ) -> StoreResult<Vec<Enqueued>> {
        self.writer
            .write(move |batch| {
                let mut enqueued = ops::enqueue::enqueue(batch, &tasks, now)?;
                for answer in enqueued.iter_mut().filter(|answer| answer.created) {
                    if let Some(claimed) =
                        ops::claim::claim_inline(batch, &answer.task, node, lease_until, now)?
                    {
                        answer.task = claimed;
                    }
                }
                Ok(enqueued)
            })
            .await
    }

    async fn has_ready(&self, queue: &str) -> StoreResult<bool> {
        let queue = queue.to_owned();
        self.readers
            .read(move |conn| ops::read::has_ready(conn, &queue))
            .await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.readers
            .read(|conn| Ok(conn.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
    }

    async fn get(&self, id: TaskId) -> StoreResult<Option<Task>> {
        self.readers
            .read(move |conn| ops::read::get(conn, id))
            .await
    }

    async fn list(&self, filter: &TaskFilter) -> StoreResult<TaskPage> {
        let filter = filter.clone();
        self.readers
            .read(move |conn| ops::read::list(conn, &filter))
            .await
    }

    async fn counts(&self, owner: Option<&str>) -> StoreResult<Counts> {
        let owner = owner.map(str::to_owned);
        self.readers
            .read(move |conn| ops::read::counts(conn, owner.as_deref()))
            .await
    }

    async fn claim(&self, request: &ClaimRequest) -> StoreResult<Vec<Task>> {
        let request = request.clone();
        self.writer
            .write(move |batch| ops::claim::claim(batch, &request))
            .await
    }

    async fn claim_task(
        &self,
        id: TaskId,
        node: Uuid,
        lease_until: Timestamp,
        now: Timestamp,
    ) -> StoreResult<Task> {
        self.writer
            .write(move |batch| ops::claim::claim_task(batch, id, node, lease_until, now))
            .await
    }

    async fn renew_leases(
        &self,
        leases: &[Lease],
        lease_until: Timestamp,
    ) -> StoreResult<Vec<LeaseStatus>> {
        let leases = leases.to_vec();
        self.writer
            .write(move |batch| ops::attempt::renew_leases(batch, &leases, lease_until))
            .await
    }

    async fn await_reports(&self, lease: Lease, until: Timestamp) -> StoreResult<()> {
        self.writer
            .write(move |batch| ops::attempt::await_reports(batch, lease, until))
            .await
    }

    async fn report_progress(
        &self,
        lease: Lease,
        progress: Progress,
        now: Timestamp,
    ) -> StoreResult<Task> {
        self.writer
            .write(move |batch| ops::attempt::report_progress(batch, lease, progress.clone(), now))
            .await
    }

    async fn finish(&self, lease: Lease, outcome: Outcome, now: Timestamp) -> StoreResult<Task> {
        self.writer
            .write(move |batch| ops::attempt::finish(batch, lease, outcome.clone(), now))
            .await
    }

    async fn cancel(&self, id: TaskId, now: Timestamp) -> StoreResult<Task> {
        self.writer
            .write(move |batch| ops::control::cancel(batch, id, now))
            .await
    }

    async fn dismiss(&self, id: TaskId, now: Timestamp) -> StoreResult<Task> {
        self.writer
            .write(move |batch| ops::control::dismiss(batch, id, now))
            .await
    }

    async fn resume(&self, id: TaskId, input: Option<Value>, now: Timestamp) -> StoreResult<Task> {
        self.writer
            .write(move |batch| ops::control::resume(batch, id, input.clone(), now))
            .await
    }

    async fn retry(&self, id: TaskId, now: Timestamp) -> StoreResult<Task> {
        self.writer
            .write(move |batch| ops::control::retry(batch, id, now))
            .await
    }

    async fn promote_due(&self, now: Timestamp) -> StoreResult<u64> {
        self.writer
            .write(move |batch| ops::sweep::promote_due(batch, now))
            .await
    }

    async fn next_due(&self) -> StoreResult<Option<Timestamp>> {
        self.readers.read(ops::read::next_due).await
    }

    async fn rescue_expired_leases(&self, now: Timestamp) -> StoreResult<u64> {
        self.writer
            .write(move |batch| ops::sweep::rescue_expired_leases(batch, now))
            .await
    }

    async fn expire_overdue(&self, now: Timestamp) -> StoreResult<u64> {
        self.writer
            .write(move |batch| ops::sweep::expire_overdue(batch, now))
            .await
    }

    async fn sweep_retention(&self, cutoff: Timestamp) -> StoreResult<u64> {
        self.writer
            .write(move |batch| ops::sweep::sweep_retention(batch, cutoff))
            .await
    }

    async fn events_since(
        &self,
        after: i64,
        owner: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<Event>> {
        let owner = owner.map(str::to_owned);
        self.readers
            .read(move |conn| ops::read::events_since(conn, after, owner.as_deref(), limit))
            .await
    }

    async fn last_event_seq(&self) -> StoreResult<i64> {
        self.readers
            .read(|conn| {
                Ok(
                    conn.query_row("SELECT coalesce(max(seq), 0) FROM events", [], |row| {
                        row.get(0)
                    })?,
                )
            })
            .await
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.events.subscribe()
    }
}
