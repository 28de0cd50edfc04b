//! Persistence: the [`Store`] trait that the engine runs on, and its implementations.
//!
//! Every write is one atomic operation: it checks the state machine ([`Transition`](crate::model::Transition)) and, for
//! an attempt's writes, its fence, before it changes anything; it appends one numbered [`Event`]
//! per change in the same transaction, and publishes the events to in-process subscribers once
//! committed. (SQLite has one writer, so reading a row and then writing it is atomic; a store
//! with concurrent writers puts the same checks in its `WHERE` clauses.) Times are passed in
//! (`now`) rather than read inside, so that callers and tests control the clock.

mod error;
pub mod postgres;
pub(crate) mod settle;
pub mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use jiff::Timestamp;
use serde_json::Value;
use tokio::sync::broadcast;
use uuid::Uuid;

pub use error::StoreError;

use crate::model::{ErrorInfo, Event, NewTask, Progress, Queue, QueueStats, State, Task, TaskId};

/// What a store operation returns.
pub type StoreResult<T> = Result<T, StoreError>;

/// The answer to one enqueued task.
#[derive(Debug, Clone, PartialEq)]
pub struct Enqueued {
    /// The task as stored: the new one, or the existing one on a dedup hit.
    pub task: Task,
    /// Whether a new task was created (`false`: a dedup hit).
    pub created: bool,
}

/// Which tasks a worker asks for.
#[derive(Debug, Clone)]
pub struct ClaimRequest {
    /// The queue to claim from.
    pub queue: String,
    /// At most this many (the worker's free slots); the store also keeps the queue's
    /// concurrency, the per-owner cap and the ordering keys.
    pub limit: usize,
    /// The claiming node.
    pub node: Uuid,
    /// The lease runs until then unless renewed.
    pub lease_until: Timestamp,
    /// The time of the claim.
    pub now: Timestamp,
}

/// An attempt's lease, as its node holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// The task.
    pub id: TaskId,
    /// The attempt's fencing number.
    pub fence: i64,
}

/// What became of a lease renewal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseStatus {
    /// Renewed; `cancel_requested` tells whether someone asked to cancel the task.
    Renewed {
        /// Whether a cancellation was asked.
        cancel_requested: bool,
    },
    /// The attempt is no longer current: stop it, its outcome would be refused.
    Lost,
}

/// How an attempt ended, as the engine decided it.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The work is done.
    Succeeded {
        /// What it produced.
        result: Option<Value>,
        /// "View the result".
        result_url: Option<String>,
        /// A last word for the user.
        message: Option<String>,
    },
    /// Failed for good.
    Failed(ErrorInfo),
    /// Failed, to be tried again at `at`.
    RetryAt {
        /// Why this attempt failed.
        error: ErrorInfo,
        /// When to try again.
        at: Timestamp,
    },
    /// The task needs the user's input.
    NeedsInput {
        /// Where the user answers.
        input_url: Option<String>,
        /// What is asked.
        message: Option<String>,
    },
    /// Stopped because a cancellation was asked.
    Cancelled,
    /// Handed back unfinished (graceful drain): queued again, the attempt not counted.
    HandedBack,
}

/// Which tasks to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    /// Only this owner's.
    pub owner: Option<String>,
    /// Only in one of these states (empty: any).
    pub states: Vec<State>,
    /// Only in this queue.
    pub queue: Option<String>,
    /// Only of this kind.
    pub name: Option<String>,
    /// At most this many (clamped to 1–1000; 0 means 50).
    pub limit: usize,
    /// Continue after this page's `next_cursor`.
    pub cursor: Option<Cursor>,
}

/// Where a listing continues: opaque to callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor(pub i64);

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskPage {
    /// The tasks, newest first.
    pub tasks: Vec<Task>,
    /// Where the next page starts, if there is one.
    pub next_cursor: Option<Cursor>,
}

/// What the banner shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, utoipa::ToSchema)]
pub struct Counts {
    /// Waiting to run (`queued` and `scheduled`).
    pub queued: u64,
    /// Running.
    pub running: u64,
    /// Waiting for the user.
    pub waiting: u64,
    /// Failed and not dismissed.
    pub failed_undismissed: u64,
}

/// Where tasks, queues and events live. One implementation per database; all pass the same
/// conformance suite.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates the queue or updates its settings (its paused switch is kept).
    async fn upsert_queue(&self, queue: &Queue) -> StoreResult<()>;

    /// The queues with their depths.
    async fn queues(&self) -> StoreResult<Vec<QueueStats>>;

    /// Pauses or resumes claiming from a queue.
    async fn set_queue_paused(&self, queue: &str, paused: bool) -> StoreResult<()>;

    /// Enqueues tasks, in order; each is created or, on a dedup hit, answered by the existing task.
    /// `max_attempts` must be resolved by the caller. The batch commits as a whole.
    async fn enqueue(&self, tasks: Vec<NewTask>, now: Timestamp) -> StoreResult<Vec<Enqueued>>;

    /// Enqueues tasks like [`Store::enqueue`], and in the same transaction claims for `node`
    /// each new task that errand runs (a handler's or a dispatch) and that may run now (ready, its queue not paused, first
    /// in line for its ordering key), whatever the queue's slots: inline runs, which no worker
    /// can take first.
    async fn enqueue_claimed(
        &self,
        tasks: Vec<NewTask>,
        node: Uuid,
        lease_until: Timestamp,
        now: Timestamp,
    ) -> StoreResult<Vec<Enqueued>>;

    /// Whether `queue` has a task that a claim could take (queued, and run by errand): a read
    /// that spares a worker its claim, a write, when a wake-up finds nothing to do (a slot
    /// that freed with the queue empty, another node's claim).
    async fn has_ready(&self, queue: &str) -> StoreResult<bool>;

    /// Answers once the database does (readiness).
    async fn ping(&self) -> StoreResult<()>;

    /// The task, if it exists.
    async fn get(&self, id: TaskId) -> StoreResult<Option<Task>>;

    /// A page of tasks, newest first.
    async fn list(&self, filter: &TaskFilter) -> StoreResult<TaskPage>;

    /// The banner's counts, for one owner or for all.
    async fn counts(&self, owner: Option<&str>) -> StoreResult<Counts>;

    /// Claims ready tasks for a worker: `queued → running`, with a new attempt and fence.
    async fn claim(&self, request: &ClaimRequest) -> StoreResult<Vec<Task>>;

    /// Claims one given task whatever its queue's slots, pause, per-owner cap or ordering key
    /// (the application starting a task it tracks).
    async fn claim_task(
        &self,
        id: TaskId,
        node: Uuid,
        lease_until: Timestamp,
        now: Timestamp,
    ) -> StoreResult<Task>;

    /// Extends the leases a node holds, and tells which it has lost (an attempt handed over
    /// to the application by [`Store::await_reports`] counts as lost to the node).
    async fn renew_leases(
        &self,
        leases: &[Lease],
        lease_until: Timestamp,
    ) -> StoreResult<Vec<LeaseStatus>>;

    /// Hands a running attempt over to the application, which reports on it (a tracked task
    /// it started, or a dispatch it answered with 202): no node holds the attempt any more, a
    /// cancellation ends it at once, and unless a report comes (and calls this again) before
    /// `until`, lease rescue takes it back. Refused if the attempt is not current.
    async fn await_reports(&self, lease: Lease, until: Timestamp) -> StoreResult<()>;

    /// Records an attempt's progress; refused if the attempt is not current.
    async fn report_progress(
        &self,
        lease: Lease,
        progress: Progress,
        now: Timestamp,
    ) -> StoreResult<Task>;

    /// Ends an attempt; refused if the attempt is not current.
    async fn finish(&self, lease: Lease, outcome: Outcome, now: Timestamp) -> StoreResult<Task>;

    /// Cancels a task: at once if it is not running, else by asking its runner to stop.
    async fn cancel(&self, id: TaskId, now: Timestamp) -> StoreResult<Task>;

    /// Hides a final task from the banner.
    async fn dismiss(&self, id: TaskId, now: Timestamp) -> StoreResult<Task>;

    /// Puts a waiting task back in its queue with the user's input.
    async fn resume(&self, id: TaskId, input: Option<Value>, now: Timestamp) -> StoreResult<Task>;

    /// Queues a failed, cancelled or expired task again, with a fresh budget of attempts.
    async fn retry(&self, id: TaskId, now: Timestamp) -> StoreResult<Task>;

    /// Moves scheduled tasks whose time has come to `queued`; answers how many.
    async fn promote_due(&self, now: Timestamp) -> StoreResult<u64>;

    /// When the next scheduled task is due, if any.
    async fn next_due(&self) -> StoreResult<Option<Timestamp>>;

    /// Sends running tasks whose lease ran out back to `queued`, or to `failed` once their
    /// attempts are spent; answers how many.
    async fn rescue_expired_leases(&self, now: Timestamp) -> StoreResult<u64>;

    /// Expires tasks that were never started before their `expires_at`; answers how many.
    async fn expire_overdue(&self, now: Timestamp) -> StoreResult<u64>;

    /// Deletes (a bounded batch of) final tasks that finished before `cutoff`, and events older
    /// than it; answers how many rows it deleted, so that callers repeat until it answers 0.
    async fn sweep_retention(&self, cutoff: Timestamp) -> StoreResult<u64>;

    /// Stored events after `after`, oldest first, for one owner or for all.
    async fn events_since(
        &self,
        after: i64,
        owner: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<Event>>;

    /// The number of the latest stored event (0 if there is none): where a new reader of the
    /// stream starts.
    async fn last_event_seq(&self) -> StoreResult<i64>;

    /// Events as they are committed. A receiver that falls behind gets `Lagged` and should
    /// catch up with [`Store::events_since`].
    fn subscribe(&self) -> broadcast::Receiver<Arc<Event>>;
}
