//! What can go wrong in a store, named for what happened.

use crate::model::{IllegalTransition, State, TaskId};

/// A store operation that did not happen, and why.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No task has this id (or it was swept by retention).
    #[error("no task {0}")]
    TaskNotFound(TaskId),
    /// No queue has this name.
    #[error("no queue named {0:?}")]
    QueueNotFound(String),
    /// The task's state does not allow what was asked.
    #[error("task {id}: {source}")]
    Illegal {
        /// The task.
        id: TaskId,
        /// The refused transition.
        #[source]
        source: IllegalTransition,
    },
    /// Another task holds what this one would take (the pending task of its dedup key).
    #[error("task {id}: {reason}")]
    Conflict {
        /// The task.
        id: TaskId,
        /// What is in the way.
        reason: String,
    },
    /// Only a final task can be dismissed.
    #[error("task {id} is {state}: only a finished task can be dismissed")]
    NotFinal {
        /// The task.
        id: TaskId,
        /// Its state.
        state: State,
    },
    /// A write from an attempt that is no longer current: its lease was lost and the task
    /// has moved on.
    #[error("task {id}: attempt with fence {fence} is no longer current")]
    StaleAttempt {
        /// The task.
        id: TaskId,
        /// The stale attempt's fencing number.
        fence: i64,
    },
    /// Something in a request the store cannot take (too long, out of range).
    #[error("invalid: {0}")]
    Invalid(String),
    /// The database was written by a newer errand.
    #[error(
        "the database is at schema version {found}, newer than this errand knows ({supported}); \
         run a newer errand or restore a backup"
    )]
    SchemaNewerThanBinary {
        /// The database's version.
        found: i64,
        /// The newest version this binary knows.
        supported: i64,
    },
    /// The store is shutting down.
    #[error("the store is closed")]
    Closed,
    /// The database failed.
    #[error("database: {0}")]
    Database(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        StoreError::Database(Box::new(err))
    }
}
