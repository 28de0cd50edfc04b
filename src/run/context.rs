//! What a handler gets: its task, a way to report progress, and the signal to stop.

use std::sync::Arc;

use jiff::Timestamp;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::TaskError;
use crate::model::{Payload, Progress, Task};
use crate::store::{Lease, Store, StoreError};

/// The running attempt, as its handler sees it.
#[derive(Clone)]
pub struct TaskContext {
    task: Arc<Task>,
    store: Arc<dyn Store>,
    stop: CancellationToken,
}

impl TaskContext {
    pub(crate) fn new(task: Arc<Task>, store: Arc<dyn Store>, stop: CancellationToken) -> Self {
        TaskContext { task, store, stop }
    }

    /// The task, as claimed for this attempt.
    pub fn task(&self) -> &Task {
        &self.task
    }

    /// The payload, read as JSON into `T`. A payload that does not fit is a permanent failure.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, TaskError> {
        let value = match &self.task.payload {
            Payload::Json(value) => value.clone(),
            Payload::None => Value::Null,
            Payload::Bytes(bytes) => serde_json::from_slice(bytes).map_err(|err| {
                TaskError::new(format!("the payload is not JSON: {err}")).permanent()
            })?,
        };
        serde_json::from_value(value).map_err(|err| {
            TaskError::new(format!("the payload does not fit this task: {err}")).permanent()
        })
    }

    /// The payload as bytes (a JSON payload as its text).
    pub fn bytes(&self) -> Vec<u8> {
        match &self.task.payload {
            Payload::None => Vec::new(),
            Payload::Json(value) => value.to_string().into_bytes(),
            Payload::Bytes(bytes) => bytes.clone(),
        }
    }

    /// The user's answer, when the task was resumed after waiting for input.
    pub fn input(&self) -> Option<&Value> {
        self.task.input.as_ref()
    }

    /// Records progress, for the banner and the events. Fails (and the handler should stop) if
    /// this attempt has lost its lease.
    pub async fn progress(&self, progress: Progress) -> Result<(), TaskError> {
        let lease = Lease {
            id: self.task.id,
            fence: self.task.fence,
        };
        match self
            .store
            .report_progress(lease, progress, Timestamp::now())
            .await
        {
            Ok(_) => Ok(()),
            Err(err @ StoreError::StaleAttempt { .. }) => Err(TaskError::from(err).permanent()),
            Err(err) => Err(TaskError::from(err)),
        }
    }

    /// Whether the handler has been asked to stop: the task was cancelled, its lease was lost,
    /// or the node is draining and the grace period is over. A handler that stops because it
    /// was asked to may return any error: the outcome follows the reason, not the error.
    pub fn is_cancelled(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// Completes when the handler is asked to stop; for `tokio::select!`.
    pub async fn cancelled(&self) {
        self.stop.cancelled().await
    }
}
