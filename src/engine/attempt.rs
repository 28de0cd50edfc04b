//! One attempt: run the claimed task's handler under its timeout and stop signal, decide the
//! outcome, and write it with the attempt's fence.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::task::JoinError;
use tokio::time::Instant;

use super::Shared;
use super::backoff::retry_delay;
use super::inflight::{Stop, StopReason};
use crate::model::{ErrorInfo, Executor, Task};
use crate::run::{HandlerResult, Retry, TaskContext, TaskError};
use crate::store::{Lease, Outcome, StoreError};

/// How the handler's run ended.
enum Ended {
    /// It returned (or panicked).
    Returned(Result<HandlerResult, JoinError>),
    /// It ran past its timeout and was aborted.
    TimedOut(Duration),
    /// It was asked to stop and did not return in time; it was aborted.
    Stopped(StopReason),
}

/// Runs one claimed attempt to its end and records the outcome. Answers the task as stored
/// afterwards, if the outcome was recorded.
pub(super) async fn run(shared: Arc<Shared>, task: Task) -> Option<Task> {
    let lease = Lease {
        id: task.id,
        fence: task.fence,
    };
    let stop = shared.inflight.register(lease);
    let outcome = execute(&shared, task, &stop).await;
    let stored = match outcome {
        Some(outcome) => match shared.store.finish(lease, outcome, Timestamp::now()).await {
            Ok(task) => {
                log_outcome(&task);
                Some(task)
            }
            Err(StoreError::StaleAttempt { .. }) => {
                tracing::debug!(task = %lease.id, "the attempt lost its lease; its outcome was discarded");
                None
            }
            Err(err) => {
                // The lease will run out and the task go back to its queue.
                tracing::warn!(task = %lease.id, error = %err, "could not record the attempt's outcome");
                None
            }
        },
        None => None,
    };
    shared.inflight.remove(lease);
    stored
}

fn log_outcome(task: &Task) {
    match &task.error {
        Some(error) if !matches!(task.state, crate::model::State::Succeeded) => tracing::warn!(
            task = %task.id, name = %task.name, state = %task.state, attempt = task.attempt,
            error = %error.message, "attempt failed"
        ),
        _ => {
            tracing::debug!(task = %task.id, name = %task.name, state = %task.state, "attempt ended")
        }
    }
}

/// Runs the handler; answers the outcome to record (`None`: nothing, the lease is gone).
async fn execute(shared: &Shared, task: Task, stop: &Stop) -> Option<Outcome> {
    let handler = match &task.executor {
        Executor::Handler { handler } => shared.handlers.get(handler).ok_or_else(|| {
            TaskError::new(format!("no handler named {handler:?} is registered")).permanent()
        }),
        other => Err(TaskError::new(format!(
            "this engine cannot run tasks of executor {:?}",
            other.kind()
        ))
        .permanent()),
    };
    let handler = match handler {
        Ok(handler) => handler,
        Err(err) => return Some(failure(shared, &task, err)),
    };
    let timeout = task.timeout;
    let task = Arc::new(task);
    let ctx = TaskContext::new(
        Arc::clone(&task),
        Arc::clone(&shared.store),
        stop.token().clone(),
    );
    let mut running = tokio::spawn(handler.run(ctx));
    let deadline = timeout.map(|t| Instant::now() + t);
    let until_deadline = async {
        match deadline {
            Some(deadline) => tokio::time::sleep_until(deadline).await,
            None => std::future::pending().await,
        }
    };
    let ended = tokio::select! {
        returned = &mut running => Ended::Returned(returned),
        () = until_deadline => {
            running.abort();
            Ended::TimedOut(timeout.unwrap_or_default())
        }
        () = stop.token().cancelled() => {
            let reason = stop.reason().unwrap_or(StopReason::Cancel);
            let grace = match reason {
                StopReason::Cancel => shared.config.cancel_grace,
                StopReason::Drain | StopReason::LeaseLost => Duration::ZERO,
            };
            let grace_end = deadline.map_or(Instant::now() + grace, |d| d.min(Instant::now() + grace));
            match tokio::time::timeout_at(grace_end, &mut running).await {
                Ok(returned) => Ended::Returned(returned),
                Err(_) => {
                    running.abort();
                    Ended::Stopped(reason)
                }
            }
        }
    };
    let cancelled = stop.reason() == Some(StopReason::Cancel);
    match ended {
        Ended::Returned(Ok(Ok(output))) => Some(match output.needs_input {
            Some(input_url) => Outcome::NeedsInput {
                input_url,
                message: output.message,
            },
            None => Outcome::Succeeded {
                result: output.result,
                result_url: output.result_url,
                message: output.message,
            },
        }),
        Ended::Returned(Ok(Err(_))) if cancelled => Some(Outcome::Cancelled),
        Ended::Returned(Ok(Err(err))) => Some(failure(shared, &task, err)),
        Ended::Returned(Err(join)) => Some(failure(shared, &task, panicked(join))),
        Ended::TimedOut(after) => Some(failure(
            shared,
            &task,
            TaskError::new(format!("timed out after {}", humane(after))),
        )),
        Ended::Stopped(StopReason::Cancel) => Some(Outcome::Cancelled),
        Ended::Stopped(StopReason::Drain) => Some(Outcome::HandedBack),
        Ended::Stopped(StopReason::LeaseLost) => None,
    }
}

/// A failed attempt: retried after a backoff while attempts remain and the error allows.
fn failure(shared: &Shared, task: &Task, err: TaskError) -> Outcome {
    let error = ErrorInfo {
        message: err.message,
        detail: err.detail,
    };
    let delay = match err.retry {
        _ if task.attempt >= task.max_attempts => None,
        Retry::Never => None,
        Retry::After(delay) => Some(delay),
        Retry::Backoff => Some(match shared.queues.get(&task.queue) {
            Some(queue) => retry_delay(
                queue.config.retry_base,
                queue.config.retry_max,
                task.attempt,
            ),
            None => retry_delay(
                Duration::from_secs(1),
                Duration::from_secs(300),
                task.attempt,
            ),
        }),
    };
    match delay {
        Some(delay) => Outcome::RetryAt {
            error,
            at: Timestamp::now()
                .checked_add(delay)
                .unwrap_or(Timestamp::MAX),
        },
        None => Outcome::Failed(error),
    }
}

fn panicked(join: JoinError) -> TaskError {
    let detail = match join.try_into_panic() {
        Ok(panic) => panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_owned()),
        Err(join) => join.to_string(),
    };
    TaskError::new("the handler panicked").detail(detail)
}

fn humane(duration: Duration) -> String {
    if duration.as_secs() >= 1 && duration.subsec_millis() == 0 {
        format!("{} s", duration.as_secs())
    } else {
        format!("{} ms", duration.as_millis())
    }
}
