//! errand: durable background tasks for web applications, and a live view of them for the
//! person who started them.
//!
//! The crate is a map of the design (`DESIGN.md`):
//!
//! - [`model`]: tasks, their states and the transitions between them (a pure function),
//!   queues and events. No I/O.
//! - [`store`]: the [`Store`](store::Store) trait and its SQLite implementation: group-committed
//!   writes, fenced attempts, numbered events.
//! - [`engine`]: claiming with slots, fairness and ordering keys; leases, heartbeats, timeouts,
//!   retries, sweeps and the graceful drain.
//! - [`run`]: how a claimed task runs: in-process [handlers](run::Handler) and their
//!   [context](run::TaskContext).
//! - [`api`]: the REST API under `/v1` and the health endpoints.
//! - [`ui`]: what the end user sees in a browser: the `<errand-tasks>` widget and the task
//!   pages under `/ui`.
//!
//! # Example
//!
//! ```no_run
//! use errand::prelude::*;
//! use std::time::Duration;
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let engine = Engine::builder()
//!     .sqlite("errand.db")
//!     .queue(Queue::new("default").concurrency(8).per_owner_concurrency(2))
//!     .handler("content.delete", |ctx: TaskContext| async move {
//!         let paths: Vec<String> = ctx.json()?;
//!         for (done, _path) in paths.iter().enumerate() {
//!             if ctx.is_cancelled() {
//!                 return Err(TaskError::new("cancelled"));
//!             }
//!             ctx.progress(Progress::steps(done as u64 + 1, paths.len() as u64)).await?;
//!         }
//!         Ok(TaskOutput::done().message("deleted"))
//!     })
//!     .start()
//!     .await?;
//!
//! let task = NewTask::new("content.delete")
//!     .owner("alice")
//!     .title("Deleting 2 items from /news")
//!     .json(serde_json::json!(["/news/a", "/news/b"]));
//! let enqueued = engine.enqueue(task).await?;
//! println!("enqueued {}", enqueued.task.id);
//! engine.shutdown(Duration::from_secs(30)).await;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

pub mod api;
pub mod auth;
pub mod config;
pub mod engine;
pub mod metrics;
pub mod model;
pub mod run;
pub mod store;
pub mod ui;

/// The names an application needs, in one import.
pub mod prelude {
    pub use crate::engine::{Engine, EngineConfig, EngineError};
    pub use crate::model::{
        DedupPolicy, Event, EventKind, NewTask, Progress, Queue, State, Task, TaskId,
    };
    pub use crate::run::{TaskContext, TaskError, TaskOutput};
    pub use crate::store::{Counts, Enqueued, Store, TaskFilter};
}
