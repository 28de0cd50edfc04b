//! One attempt: run the claimed task (its handler, or its dispatch to the application) under
//! its timeout and stop signal, decide the outcome, and write it with the attempt's fence. A
//! dispatch the application answers with 202 is handed over to it instead: no outcome is
//! written, and the task stays `running` until the application reports.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::task::{JoinError, JoinHandle};
use tokio::time::Instant;

use super::Shared;
use super::backoff::retry_delay;
use super::inflight::{Stop, StopReason};
use super::worker::Slot;
use crate::model::{ErrorInfo, Executor, Queue, State, Task};
use crate::run::http::Dispatched;
use crate::run::{Retry, TaskContext, TaskError, TaskOutput};
use crate::store::{Lease, Outcome, StoreError};

/// How long an aborted handler may take to stop before errand gives up waiting for it.
const ABORT_WAIT: Duration = Duration::from_secs(5);

/// How long a handler stopped by the drain (its grace period over) has to return.
const DRAIN_STOP_GRACE: Duration = Duration::from_secs(1);

/// What a run produced, when it did not fail.
enum Ran {
    /// An output that ends the attempt (a handler's, or a dispatch's answer).
    Output(TaskOutput),
    /// The application took the task over (a dispatch answered 202).
    HandedOver,
}

/// What a run resolves to.
type RunResult = Result<Ran, TaskError>;

/// A run, ready to spawn.
type Run = Pin<Box<dyn Future<Output = RunResult> + Send>>;

/// How the run ended.
enum Ended {
    /// It returned (or panicked) on its own.
    Returned(Result<RunResult, JoinError>),
    /// It ran past its timeout and was aborted (unless it returned at that very moment).
    TimedOut(Duration, Option<RunResult>),
    /// It was asked to stop, and returned within the grace period or was aborted.
    Stopped(StopReason, Option<Result<RunResult, JoinError>>),
}

/// What follows the run.
enum Next {
    /// Write this outcome.
    Record(Outcome),
    /// Hand the attempt over to the application, which reports on it.
    AwaitReports,
}

/// Registers a claimed attempt with the node (so that a drain or a cancellation reaches it from
/// now on) and answers the future that runs it to its end and records the outcome, with the
/// task as stored afterwards if the outcome was recorded. The attempt holds `slot` (none for an
/// inline run) until its outcome's write is queued, or to its end.
pub(super) fn start(
    shared: &Arc<Shared>,
    task: Task,
    slot: Option<Slot>,
) -> impl Future<Output = Option<Task>> + Send + 'static {
    let lease = Lease {
        id: task.id,
        fence: task.fence,
    };
    let stop = shared.inflight.register(lease);
    let shared = Arc::clone(shared);
    async move {
        let next = execute(&shared, task, &stop).await;
        stop.mark_ending();
        let stored = match next {
            Some(Next::Record(outcome)) => record(&shared, lease, outcome, slot).await,
            Some(Next::AwaitReports) => {
                // No longer this node's to renew (a renewal would find it lost).
                shared.inflight.remove(lease);
                hand_over(&shared, lease).await;
                None
            }
            None => None,
        };
        shared.inflight.remove(lease);
        stored
    }
}

/// Hands the attempt over to the application until its first report is due.
async fn hand_over(shared: &Shared, lease: Lease) {
    let wait = shared
        .dispatcher
        .as_ref()
        .map_or(shared.config.lease_ttl, |dispatcher| {
            dispatcher.report_timeout()
        });
    let now = Timestamp::now();
    let until = now.checked_add(wait).unwrap_or(Timestamp::MAX);
    match shared.store.await_reports(lease, until).await {
        Ok(()) => {
            tracing::debug!(task = %lease.id, "handed over to the application, which reports on it");
        }
        Err(StoreError::StaleAttempt { .. }) => {
            tracing::debug!(task = %lease.id, "the attempt lost its lease before it was handed over");
            return;
        }
        Err(err) => {
            // The lease will run out and the task go back to its queue.
            tracing::warn!(task = %lease.id, error = %err, "could not hand the task over to the application");
            return;
        }
    }
    // A cancellation asked while this node held the attempt only flagged it; now that the
    // application holds it, cancelling ends it at once.
    match shared.store.get(lease.id).await {
        Ok(Some(task)) if task.cancel_requested && task.fence == lease.fence => {
            if let Err(err) = shared.store.cancel(lease.id, Timestamp::now()).await {
                tracing::warn!(task = %lease.id, error = %err, "could not cancel a task handed over to the application");
            }
        }
        Ok(_) => {}
        Err(err) => {
            tracing::warn!(task = %lease.id, error = %err, "could not read a task handed over to the application");
        }
    }
}

async fn record(
    shared: &Shared,
    lease: Lease,
    outcome: Outcome,
    slot: Option<Slot>,
) -> Option<Task> {
    let finish = shared.store.finish(lease, outcome, Timestamp::now());
    match freeing_when_queued(finish, slot).await {
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

/// Awaits `write`, dropping `slot` right after `write` is first polled: the stores queue a write
/// for their writer (SQLite) or their commit group (PostgreSQL) when it is first polled. The
/// claim that fills the slot is then queued behind the outcome, joins the same commit and finds
/// the slot free there, rather than wait for the next one. (Were the claim to go first, it would
/// count the task as still running; the outcome's event wakes the worker again once committed.)
/// The run is over: the node never runs more handlers than it has slots.
async fn freeing_when_queued<T, S>(write: impl Future<Output = T>, slot: S) -> T {
    let mut write = std::pin::pin!(write);
    let mut slot = Some(slot);
    std::future::poll_fn(|cx| {
        let polled = write.as_mut().poll(cx);
        drop(slot.take());
        polled
    })
    .await
}

/// Runs the task; answers what follows (`None`: nothing, the lease is gone).
async fn execute(shared: &Shared, task: Task, stop: &Stop) -> Option<Next> {
    let timeout = task.timeout;
    let task = Arc::new(task);
    let (run, stoppable) = match runner(shared, &task, stop) {
        Ok(runner) => runner,
        Err(err) => return Some(Next::Record(failure(shared, &task, err))),
    };
    let mut running = tokio::spawn(run);
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
                // A request cannot see the stop signal: waiting would only delay the stop.
                _ if !stoppable => Duration::ZERO,
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
        // The application took over a task the user cancelled meanwhile: it ends now, and
        // the application's reports will be refused.
        Ended::Stopped(StopReason::Cancel, Some(Ok(Ok(Ran::HandedOver)))) => {
            Some(Next::Record(Outcome::Cancelled))
        }
        // Work that got done stands, whatever asked it to stop meanwhile.
        Ended::Returned(Ok(Ok(ran)))
        | Ended::TimedOut(_, Some(Ok(ran)))
        | Ended::Stopped(_, Some(Ok(Ok(ran)))) => Some(match ran {
            Ran::Output(output) => Next::Record(done(output)),
            Ran::HandedOver => Next::AwaitReports,
        }),
        Ended::Stopped(reason, _) => stopped(reason).map(Next::Record),
        Ended::Returned(Ok(Err(err))) => Some(Next::Record(failure(shared, &task, err))),
        Ended::Returned(Err(join)) => Some(Next::Record(failure(shared, &task, panicked(join)))),
        Ended::TimedOut(after, _) => Some(Next::Record(failure(
            shared,
            &task,
            TaskError::new(format!("timed out after {}", crate::run::humane(after))),
        ))),
    }
}

/// The run of `task` by its executor, and whether it sees the stop signal (a handler does; a
/// request does not, and is dropped at once).
fn runner(shared: &Shared, task: &Arc<Task>, stop: &Stop) -> Result<(Run, bool), TaskError> {
    match &task.executor {
        Executor::Handler { handler } => {
            let handler = shared.handlers.get(handler).ok_or_else(|| {
                TaskError::new(format!("no handler named {handler:?} is registered")).permanent()
            })?;
            let ctx = TaskContext::new(
                Arc::clone(task),
                Arc::clone(&shared.store),
                stop.token().clone(),
            );
            let run = handler.run(ctx);
            Ok((Box::pin(async move { run.await.map(Ran::Output) }), true))
        }
        Executor::Http { .. } => {
            let dispatcher = shared.dispatcher.clone().ok_or_else(|| {
                TaskError::new(
                    "this errand has no HTTP dispatch configured (no targets), so it cannot run http tasks",
                )
                .permanent()
            })?;
            let task = Arc::clone(task);
            let run = async move {
                match dispatcher.dispatch(&task).await? {
                    Dispatched::Done(output) => Ok(Ran::Output(output)),
                    Dispatched::Accepted => Ok(Ran::HandedOver),
                }
            };
            Ok((Box::pin(run), false))
        }
        Executor::Tracked => Err(TaskError::new(
            "a tracked task is run by the application, not by errand",
        )
        .permanent()),
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
async fn abort(task: &Task, mut running: JoinHandle<RunResult>) -> Option<RunResult> {
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::task::{Context, Poll, Waker};

    use super::*;

    struct SetOnDrop(Arc<AtomicBool>);

    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    /// The slot is freed once the outcome's write is queued (first polled), not once it is
    /// committed (ready).
    #[test]
    fn the_slot_is_freed_once_the_write_is_first_polled_while_it_is_pending() {
        let dropped = Arc::new(AtomicBool::new(false));
        let (commit, committed) = tokio::sync::oneshot::channel::<u32>();
        let polls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&polls);
        let write = async move {
            counted.fetch_add(1, Ordering::SeqCst);
            committed.await.unwrap()
        };
        let held = SetOnDrop(Arc::clone(&dropped));
        let mut waiting = std::pin::pin!(freeing_when_queued(write, held));
        let mut cx = Context::from_waker(Waker::noop());

        assert!(waiting.as_mut().poll(&mut cx).is_pending());
        assert_eq!(polls.load(Ordering::SeqCst), 1, "the work was polled");
        assert!(
            dropped.load(Ordering::SeqCst),
            "dropped while the work is pending"
        );

        commit.send(7).unwrap();
        assert_eq!(waiting.as_mut().poll(&mut cx), Poll::Ready(7));
    }
}
