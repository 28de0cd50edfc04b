//! One attempt: run the claimed task's handler under its timeout and stop signal, decide the
//! outcome, and write it with the attempt's fence.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::task::{JoinError, JoinHandle};
use tokio::time::Instant;

use super::Shared;
use super::backoff::retry_delay;
use super::inflight::{Stop, StopReason};
use crate::model::{ErrorInfo, Executor, Queue, State, Task};
use crate::run::{HandlerResult, Retry, TaskContext, TaskError, TaskOutput};
use crate::store::{Lease, Outcome, StoreError};

/// How long an aborted handler may take to stop before errand gives up waiting for it.
const ABORT_WAIT: Duration = Duration::from_secs(5);

/// How long a handler stopped by the drain (its grace period over) has to return.
const DRAIN_STOP_GRACE: Duration = Duration::from_secs(1);

/// How the handler's run ended.
enum Ended {
    /// It returned (or panicked) on its own.
    Returned(Result<HandlerResult, JoinError>),
    /// It ran past its timeout and was aborted (unless it returned at that very moment).
    TimedOut(Duration, Option<HandlerResult>),
    /// It was asked to stop, and returned within the grace period or was aborted.
    Stopped(StopReason, Option<Result<HandlerResult, JoinError>>),
}

/// Registers a claimed attempt with the node (so that a drain or a cancellation reaches it from
/// now on) and answers the future that runs it to its end and records the outcome, with the
/// task as stored afterwards if the outcome was recorded.
pub(super) fn start(
    shared: &Arc<Shared>,
    task: Task,
) -> impl Future<Output = Option<Task>> + Send + 'static {
    let lease = Lease {
        id: task.id,
        fence: task.fence,
    };
    let stop = shared.inflight.register(lease);
    let shared = Arc::clone(shared);
    async move {
        let outcome = execute(&shared, task, &stop).await;
        let stored = match outcome {
            Some(outcome) => record(&shared, lease, outcome).await,
            None => None,
        };
        shared.inflight.remove(lease);
        stored
    }
}

async fn record(shared: &Shared, lease: Lease, outcome: Outcome) -> Option<Task> {
    match shared.store.finish(lease, outcome, Timestamp::now()).await {
        Ok(task) => {
            match (&task.state, &task.error) {
                (State::Succeeded, _) | (_, None) => {
                    tracing::debug!(task = %task.id, name = %task.name, state = %task.state, "attempt ended");
                }
                (state, Some(error)) => tracing::warn!(
                    task = %task.id, name = %task.name, state = %state, attempt = task.attempt,
                    error = %error.message, "attempt failed"
                ),
            }
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
        // A stop is looked at first: a handler that returns because it was asked to stop is
        // judged by the reason, not by the error it returns.
        biased;
        () = stop.token().cancelled() => {
            let reason = stop.reason().unwrap_or(StopReason::Cancel);
            let grace = match reason {
                StopReason::Cancel => shared.config.cancel_grace,
                StopReason::Drain => DRAIN_STOP_GRACE,
                StopReason::LeaseLost => Duration::ZERO,
            };
            let grace_end = Instant::now() + grace;
            let grace_end = deadline.map_or(grace_end, |deadline| deadline.min(grace_end));
            match tokio::time::timeout_at(grace_end, &mut running).await {
                Ok(returned) => Ended::Stopped(reason, Some(returned)),
                Err(_) => Ended::Stopped(reason, abort(&task, running).await.map(Ok)),
            }
        }
        returned = &mut running => Ended::Returned(returned),
        () = until_deadline => {
            Ended::TimedOut(timeout.unwrap_or_default(), abort(&task, running).await)
        }
    };
    match ended {
        // Work that got done stands, whatever asked it to stop meanwhile.
        Ended::Returned(Ok(Ok(output)))
        | Ended::TimedOut(_, Some(Ok(output)))
        | Ended::Stopped(_, Some(Ok(Ok(output)))) => Some(done(output)),
        Ended::Stopped(reason, _) => stopped(reason),
        Ended::Returned(Ok(Err(err))) => Some(failure(shared, &task, err)),
        Ended::Returned(Err(join)) => Some(failure(shared, &task, panicked(join))),
        Ended::TimedOut(after, _) => Some(failure(
            shared,
            &task,
            TaskError::new(format!("timed out after {}", humane(after))),
        )),
    }
}

/// A handler's successful answer as an outcome.
fn done(output: TaskOutput) -> Outcome {
    match output.needs_input {
        Some(input_url) => Outcome::NeedsInput {
            input_url,
            message: output.message,
        },
        None => Outcome::Succeeded {
            result: output.result,
            result_url: output.result_url,
            message: output.message,
        },
    }
}

/// What an attempt stopped for `reason` comes to.
fn stopped(reason: StopReason) -> Option<Outcome> {
    match reason {
        StopReason::Cancel => Some(Outcome::Cancelled),
        StopReason::Drain => Some(Outcome::HandedBack),
        StopReason::LeaseLost => None,
    }
}

/// Aborts a handler and waits until it has stopped (an async handler stops at its next await;
/// one stuck in blocking code cannot be stopped, and is left behind with a warning). Answers
/// the handler's result if it returned at that very moment, before the abort took hold.
async fn abort(task: &Task, mut running: JoinHandle<HandlerResult>) -> Option<HandlerResult> {
    running.abort();
    match tokio::time::timeout(ABORT_WAIT, &mut running).await {
        Ok(Ok(result)) => Some(result),
        Ok(Err(_)) => None,
        Err(_) => {
            tracing::warn!(
                task = %task.id, name = %task.name,
                "an aborted handler has not stopped after {ABORT_WAIT:?}: it blocks without awaiting"
            );
            None
        }
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
        Retry::Backoff => {
            let (base, max) = match shared.queues.get(&task.queue) {
                Some(queue) => (queue.config.retry_base, queue.config.retry_max),
                None => {
                    let defaults = Queue::new(&task.queue);
                    (defaults.retry_base, defaults.retry_max)
                }
            };
            Some(retry_delay(base, max, task.attempt))
        }
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
