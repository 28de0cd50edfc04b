//! Building an engine: its store, queues, handlers and timings.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use super::{Engine, EngineConfig, EngineError, QueueRuntime, Shared};
use crate::model::Queue;
use crate::run::http::Dispatcher;
use crate::run::{Handler, Handlers};
use crate::store::Store;
use crate::store::sqlite::SqliteStore;

/// Where the engine keeps its tasks.
enum StoreChoice {
    Sqlite(PathBuf),
    Given(Arc<dyn Store>),
}

/// Builds an [`Engine`]:
///
/// ```no_run
/// # async fn example() -> Result<(), errand::engine::EngineError> {
/// use errand::prelude::*;
///
/// let engine = Engine::builder()
///     .sqlite("errand.db")
///     .queue(Queue::new("default").concurrency(4))
///     .handler("hello", |ctx: TaskContext| async move {
///         ctx.progress(Progress::percent(50.0)).await?;
///         Ok(TaskOutput::done())
///     })
///     .start()
///     .await?;
/// engine.enqueue(NewTask::new("hello").owner("alice")).await?;
/// # Ok(()) }
/// ```
#[derive(Default)]
pub struct EngineBuilder {
    store: Option<StoreChoice>,
    queues: Vec<Queue>,
    handlers: Handlers,
    dispatcher: Option<Arc<Dispatcher>>,
    config: EngineConfig,
}

impl EngineBuilder {
    /// Keeps tasks in the SQLite file at `path` (created if missing).
    pub fn sqlite(mut self, path: impl Into<PathBuf>) -> Self {
        self.store = Some(StoreChoice::Sqlite(path.into()));
        self
    }

    /// Keeps tasks in this store.
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(StoreChoice::Given(store));
        self
    }

    /// Runs this queue (a later queue of the same name replaces it).
    pub fn queue(mut self, queue: Queue) -> Self {
        self.queues.retain(|q| q.name != queue.name);
        self.queues.push(queue);
        self
    }

    /// Runs tasks whose handler is `name` with `handler`.
    pub fn handler(mut self, name: impl Into<String>, handler: impl Handler) -> Self {
        self.handlers.insert(name, handler);
        self
    }

    /// Runs `http` tasks with `dispatcher` (without one, they fail for good).
    pub fn dispatcher(mut self, dispatcher: Arc<Dispatcher>) -> Self {
        self.dispatcher = Some(dispatcher);
        self
    }

    /// With these settings. They replace all of them, including those given before by
    /// [`inline`](Self::inline) or [`lease_ttl`](Self::lease_ttl): call this first.
    pub fn config(mut self, config: EngineConfig) -> Self {
        self.config = config;
        self
    }

    /// Whether an enqueue runs the task's first attempt before it returns (tests, development).
    pub fn inline(mut self, inline: bool) -> Self {
        self.config.inline = inline;
        self
    }

    /// How long a lease lasts; the heartbeat renews it four times in that span.
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.config.lease_ttl = ttl;
        self.config.heartbeat_interval = ttl / 4;
        self
    }

    /// Opens the store, registers the queues and starts the workers and services. Needs a
    /// tokio runtime. Without a queue, one named `default` with one slot is run.
    pub async fn start(self) -> Result<Engine, EngineError> {
        validate(&self.config)?;
        let store: Arc<dyn Store> = match self.store {
            Some(StoreChoice::Given(store)) => store,
            Some(StoreChoice::Sqlite(path)) => open_sqlite(path).await?,
            None => open_sqlite(PathBuf::from("errand.db")).await?,
        };
        let mut queues = self.queues;
        if queues.is_empty() {
            queues.push(Queue::new("default"));
        }
        let mut runtimes = HashMap::new();
        for queue in queues {
            store.upsert_queue(&queue).await?;
            runtimes.insert(
                queue.name.clone(),
                QueueRuntime {
                    slots: Arc::new(Semaphore::new(queue.concurrency as usize)),
                    capacity: tokio::sync::Mutex::new(queue.concurrency as usize),
                    ready: Notify::new(),
                    announced: AtomicBool::new(false),
                    config: queue,
                },
            );
        }
        Ok(Engine::start(Shared {
            store,
            queues: runtimes,
            handlers: self.handlers,
            dispatcher: self.dispatcher,
            config: self.config,
            node: Uuid::now_v7(),
            inflight: Default::default(),
            promoter: Notify::new(),
            claiming: CancellationToken::new(),
            background: CancellationToken::new(),
            workers: TaskTracker::new(),
            attempts: TaskTracker::new(),
            services: TaskTracker::new(),
        }))
    }
}

async fn open_sqlite(path: PathBuf) -> Result<Arc<dyn Store>, EngineError> {
    let store = tokio::task::spawn_blocking(move || SqliteStore::open(path))
        .await
        .map_err(|err| {
            EngineError::Invalid(format!("opening the store was interrupted: {err}"))
        })??;
    Ok(Arc::new(store))
}

/// Refuses timings the engine cannot run with.
fn validate(config: &EngineConfig) -> Result<(), EngineError> {
    let invalid = |what: &str| Err(EngineError::Invalid(what.to_owned()));
    if config.heartbeat_interval.is_zero() || config.heartbeat_interval >= config.lease_ttl {
        return invalid("heartbeat_interval must be more than zero and less than lease_ttl");
    }
    if config.poll_interval.is_zero() || config.retention_interval.is_zero() {
        return invalid("poll_interval and retention_interval must be more than zero");
    }
    Ok(())
}
