//! The engine: claims and runs tasks, keeps their leases, sweeps, and drains on shutdown.
//!
//! Work flows like this: an enqueue commits in the store, whose event wakes the queue's worker
//! (`worker.rs`) at once; the worker claims as many ready tasks as it has free slots, and each
//! runs as one attempt (`attempt.rs`) whose outcome is written with the attempt's fence. The
//! heartbeat (`heartbeat.rs`) renews the leases of all attempts in flight with one write; the
//! sweepers (`maintenance.rs`) promote due tasks, rescue the tasks of dead nodes, expire and
//! delete. [`Engine::shutdown`] drains: stop claiming, let attempts finish within a grace
//! period, hand the rest back, stop the heartbeat last.

mod attempt;
mod backoff;
mod builder;
mod config;
mod heartbeat;
mod inflight;
mod maintenance;
mod rate;
mod signals;
mod waker;
mod worker;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;
use tokio::sync::{Notify, Semaphore, broadcast};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

pub use backoff::retry_delay;
pub use builder::EngineBuilder;
pub use config::EngineConfig;
pub use signals::DrainSignals;

use self::inflight::{Inflight, StopReason};
use crate::model::{Event, Executor, NewTask, Queue, State, Task, TaskId};
use crate::run::Handlers;
use crate::run::http::Dispatcher;
use crate::store::{Counts, Enqueued, Store, StoreError, TaskFilter, TaskPage};

/// What the engine refused, or what failed under it.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The task names a queue this engine was not given.
    #[error("no queue named {0:?}; the queues are configured when the engine is built")]
    UnknownQueue(String),
    /// The task names a handler this engine does not have.
    #[error("no handler named {0:?} is registered")]
    UnknownHandler(String),
    /// The task cannot be enqueued as it is.
    #[error("invalid task: {0}")]
    Invalid(String),
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A queue as the engine runs it.
struct QueueRuntime {
    config: Queue,
    /// Woken when tasks of this queue become ready, or a slot frees.
    ready: Notify,
    /// Set (before `ready` is woken) when a task of this queue became ready: the worker then
    /// claims at once, rather than first reading whether there is anything to claim.
    announced: AtomicBool,
    /// This node's slots.
    slots: Arc<Semaphore>,
    /// How many slots the node was last given; held while they change, so that two changes
    /// at once cannot leave the store and the node disagreeing.
    capacity: tokio::sync::Mutex<usize>,
}

/// What the engine's tasks share.
struct Shared {
    store: Arc<dyn Store>,
    queues: HashMap<String, QueueRuntime>,
    handlers: Handlers,
    /// Runs `http` tasks; without it they fail.
    dispatcher: Option<Arc<Dispatcher>>,
    config: EngineConfig,
    node: Uuid,
    inflight: Inflight,
    /// Woken when a task is scheduled, so that the promoter recomputes its sleep.
    promoter: Notify,
    /// Cancelled first on shutdown: workers stop claiming.
    claiming: CancellationToken,
    /// Cancelled last on shutdown: heartbeat, sweepers and waker stop.
    background: CancellationToken,
    /// The queues' workers (claiming).
    workers: TaskTracker,
    /// The attempts running on this node.
    attempts: TaskTracker,
    /// The engine's own services.
    services: TaskTracker,
}

impl Shared {
    /// When a lease taken or renewed at `now` runs out.
    fn lease_until(&self, now: Timestamp) -> Timestamp {
        now.checked_add(self.config.lease_ttl)
            .unwrap_or(Timestamp::MAX)
    }
}

/// A running errand engine. Cheap to clone; all clones drive the same engine. It runs until
/// [`Engine::shutdown`]: dropping the handles does not stop it.
#[derive(Clone)]
pub struct Engine {
    shared: Arc<Shared>,
}

impl Engine {
    /// Starts building an engine.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    fn start(shared: Shared) -> Engine {
        let shared = Arc::new(shared);
        // Subscribed before anything is enqueued or claimed, so that no wake-up is missed.
        let events = shared.store.subscribe();
        shared
            .services
            .spawn(waker::run(Arc::clone(&shared), events));
        shared.services.spawn(maintenance::run(Arc::clone(&shared)));
        // Inline runs hold leases too, with or without workers.
        shared.services.spawn(heartbeat::run(Arc::clone(&shared)));
        if shared.config.run_workers {
            for queue in shared.queues.keys() {
                shared
                    .workers
                    .spawn(worker::run(Arc::clone(&shared), queue.clone()));
            }
        }
        shared.workers.close();
        tracing::info!(
            node = %shared.node,
            queues = shared.queues.len(),
            workers = shared.config.run_workers,
            inline = shared.config.inline,
            "engine started"
        );
        Engine { shared }
    }

    /// The store the engine runs on.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.shared.store
    }

    /// The dispatcher that runs `http` tasks, if the engine has one.
    pub fn dispatcher(&self) -> Option<&Arc<Dispatcher>> {
        self.shared.dispatcher.as_ref()
    }

    /// Enqueues one task. Under inline mode, its first attempt runs before this returns.
    pub async fn enqueue(&self, task: NewTask) -> Result<Enqueued, EngineError> {
        let mut enqueued = self.enqueue_batch(vec![task]).await?;
        enqueued
            .pop()
            .ok_or_else(|| EngineError::Invalid("the store answered no task".into()))
    }

    /// Enqueues tasks in order, in one transaction. Under inline mode, each new task that is
    /// ready is claimed in that same transaction, and its first attempt runs before this returns.
    pub async fn enqueue_batch(&self, tasks: Vec<NewTask>) -> Result<Vec<Enqueued>, EngineError> {
        self.enqueue_batch_with(tasks, self.shared.config.inline)
            .await
    }

    /// Enqueues tasks like [`Engine::enqueue_batch`], inline or not whatever the engine's mode
    /// (an API caller may ask for an inline run of its own enqueue).
    pub async fn enqueue_batch_with(
        &self,
        tasks: Vec<NewTask>,
        inline: bool,
    ) -> Result<Vec<Enqueued>, EngineError> {
        let tasks = tasks
            .into_iter()
            .map(|task| self.resolve(task))
            .collect::<Result<Vec<_>, _>>()?;
        let now = Timestamp::now();
        if !inline {
            return Ok(self.shared.store.enqueue(tasks, now).await?);
        }
        let mut enqueued = self
            .shared
            .store
            .enqueue_claimed(tasks, self.shared.node, self.shared.lease_until(now), now)
            .await?;
        // Every claimed task is registered (its lease renewed) and run at once, and the runs
        // go on to their end even if the caller stops waiting for them.
        let runs: Vec<_> = enqueued
            .iter()
            .enumerate()
            .filter(|(_, answer)| answer.created && answer.task.state == State::Running)
            .map(|(index, answer)| {
                let attempt = attempt::start(&self.shared, answer.task.clone(), None);
                (index, self.shared.attempts.spawn(attempt))
            })
            .collect();
        for (index, run) in runs {
            if let Ok(Some(task)) = run.await {
                enqueued[index].task = task;
            }
        }
        Ok(enqueued)
    }

    /// Fills in the queue's defaults and checks what the store cannot.
    fn resolve(&self, mut task: NewTask) -> Result<NewTask, EngineError> {
        if task.name.trim().is_empty() {
            return Err(EngineError::Invalid("a task needs a name".into()));
        }
        let queue = self
            .shared
            .queues
            .get(&task.queue)
            .ok_or_else(|| EngineError::UnknownQueue(task.queue.clone()))?;
        if let Executor::Handler { handler } = &task.executor
            && self.shared.handlers.get(handler).is_none()
        {
            return Err(EngineError::UnknownHandler(handler.clone()));
        }
        // An engine without a dispatcher may enqueue for another node that has one.
        if let (Executor::Http { target, path }, Some(dispatcher)) =
            (&task.executor, &self.shared.dispatcher)
        {
            let target = dispatcher.target(target).ok_or_else(|| {
                EngineError::Invalid(format!("no target named {target:?} is configured"))
            })?;
            target.url_for(path).map_err(EngineError::Invalid)?;
        }
        task.max_attempts = Some(
            task.max_attempts
                .unwrap_or(queue.config.max_attempts)
                .max(1),
        );
        task.timeout = task.timeout.or(queue.config.timeout);
        Ok(task)
    }

    /// The task, if it exists.
    pub async fn get(&self, id: TaskId) -> Result<Option<Task>, EngineError> {
        Ok(self.shared.store.get(id).await?)
    }

    /// A page of tasks, newest first.
    pub async fn list(&self, filter: &TaskFilter) -> Result<TaskPage, EngineError> {
        Ok(self.shared.store.list(filter).await?)
    }

    /// The banner's counts for one owner (or for all).
    pub async fn counts(&self, owner: Option<&str>) -> Result<Counts, EngineError> {
        Ok(self.shared.store.counts(owner).await?)
    }

    /// Cancels a task: at once unless it is running; a running handler sees
    /// [`TaskContext::is_cancelled`](crate::run::TaskContext::is_cancelled) and the task ends
    /// `cancelled` when it returns.
    pub async fn cancel(&self, id: TaskId) -> Result<Task, EngineError> {
        let task = self.shared.store.cancel(id, Timestamp::now()).await?;
        if task.cancel_requested {
            self.shared.inflight.stop(id, StopReason::Cancel);
        }
        Ok(task)
    }

    /// Queues a failed, cancelled or expired task again, with a fresh budget of attempts.
    pub async fn retry(&self, id: TaskId) -> Result<Task, EngineError> {
        Ok(self.shared.store.retry(id, Timestamp::now()).await?)
    }

    /// The settings of the queue named `name`, if this engine runs it.
    pub fn queue(&self, name: &str) -> Option<&Queue> {
        self.shared.queues.get(name).map(|runtime| &runtime.config)
    }

    /// Whether every enqueue runs its task before it returns.
    pub fn inline(&self) -> bool {
        self.shared.config.inline
    }

    /// This node's identity (the holder of its leases).
    pub fn node(&self) -> Uuid {
        self.shared.node
    }

    /// Changes how many tasks of a queue may run at once, on every node (the store enforces
    /// it at each claim); this node's own slots follow. It lasts until a node starts again with
    /// the queue's configuration.
    pub async fn set_queue_concurrency(&self, name: &str, slots: u32) -> Result<(), EngineError> {
        let runtime = self
            .shared
            .queues
            .get(name)
            .ok_or_else(|| EngineError::UnknownQueue(name.to_owned()))?;
        let slots = slots.max(1);
        let mut queue = runtime.config.clone();
        queue.concurrency = slots;
        let mut current = runtime.capacity.lock().await;
        self.shared.store.upsert_queue(&queue).await?;
        let wanted = slots as usize;
        if wanted > *current {
            runtime.slots.add_permits(wanted - *current);
        } else {
            // The free slots are withdrawn now. Busy ones come back to the node as they free,
            // but the store holds every claim to the queue's new size anyway.
            runtime.slots.forget_permits(*current - wanted);
        }
        *current = wanted;
        runtime.ready.notify_one();
        Ok(())
    }

    /// Hides a final task from its owner's banner.
    pub async fn dismiss(&self, id: TaskId) -> Result<Task, EngineError> {
        Ok(self.shared.store.dismiss(id, Timestamp::now()).await?)
    }

    /// Puts a waiting task back in its queue with the user's input.
    pub async fn resume(&self, id: TaskId, input: Option<Value>) -> Result<Task, EngineError> {
        Ok(self
            .shared
            .store
            .resume(id, input, Timestamp::now())
            .await?)
    }

    /// Pauses or resumes claiming from a queue (on every node).
    pub async fn set_queue_paused(&self, queue: &str, paused: bool) -> Result<(), EngineError> {
        self.shared.store.set_queue_paused(queue, paused).await?;
        if let Some(runtime) = self.shared.queues.get(queue) {
            runtime.ready.notify_one();
        }
        Ok(())
    }

    /// Events as they are committed.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.shared.store.subscribe()
    }

    /// How many attempts run on this node now.
    pub fn running(&self) -> usize {
        self.shared.inflight.len()
    }

    /// Drains: stops claiming, lets running attempts finish for up to `grace`, hands the rest
    /// back to their queues (the attempt not counted), then stops the heartbeat and sweepers.
    pub async fn shutdown(&self, grace: Duration) {
        let shared = &self.shared;
        shared.claiming.cancel();
        // A claim under way finishes and starts its attempts before its worker stops.
        shared.workers.wait().await;
        shared.attempts.close();
        let running = shared.inflight.len();
        if running > 0 {
            tracing::info!(running, grace = ?grace, "draining: waiting for running tasks");
        }
        if tokio::time::timeout(grace, shared.attempts.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                running = shared.inflight.len(),
                "grace period over: handing the remaining tasks back"
            );
            shared.inflight.stop_all(StopReason::Drain);
            // Stopped handlers are aborted at once; only their hand-back writes remain.
            let bound = shared.config.cancel_grace + Duration::from_secs(10);
            if tokio::time::timeout(bound, shared.attempts.wait())
                .await
                .is_err()
            {
                tracing::warn!(
                    running = shared.inflight.len(),
                    "some attempts did not end; their leases will run out"
                );
            }
        }
        shared.background.cancel();
        shared.services.close();
        shared.services.wait().await;
        tracing::info!("engine stopped");
    }

    /// Runs until one of `signals` (SIGTERM, SIGINT or SIGQUIT) arrives, then drains with
    /// `grace`. A second signal during the drain stops at once: the tasks still running are
    /// rescued by the next start (or another node) when their leases run out.
    pub async fn run_until_signal(&self, mut signals: DrainSignals, grace: Duration) {
        let signal = signals.next().await;
        tracing::info!(signal, "draining on signal");
        tokio::select! {
            () = self.shutdown(grace) => {}
            second = signals.next() => {
                tracing::warn!(
                    signal = second,
                    running = self.running(),
                    "second signal: stopping without waiting; running tasks return to their queue when their lease runs out"
                );
            }
        }
    }
}
