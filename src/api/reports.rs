//! The application's reports on a task it runs: `start` (a tracked task), `progress`,
//! `complete` and `fail`. They come with the task's own token (sent with the dispatch) or an
//! API key with `enqueue`. Each report names an attempt, by the token's fence or, for a key,
//! the task's current one; a report for an attempt that is no longer current gets 409.
//! Every report from the application moves the deadline of its next one.

use axum::extract::{Path, State};
use jiff::Timestamp;

use super::ApiState;
use super::caller::Caller;
use super::error::{ApiError, ApiJson, RawBody, json_body, optional_json_body};
use super::tasks::task_id;
use super::wire::{CompleteReport, FailReport, ProgressReport};
use crate::auth::Scope;
use crate::engine::retry_delay;
use crate::model::{ErrorInfo, Executor, Progress, State as TaskState, Task, TaskId};
use crate::store::{Lease, Outcome};

/// The application started a task it tracks (or confirms one dispatched with a 202).
#[utoipa::path(post, path = "/v1/tasks/{id}/start", tag = "reports",
    params(("id" = String, Path, description = "The task's id")),
    responses(
        (status = 200, description = "Running", body = Task),
        (status = 409, description = "Not startable, or a stale attempt", body = super::ErrorBody),
    ),
    security(("bearer" = [])))]
pub(super) async fn start(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<ApiJson<Task>, ApiError> {
    let (task, lease) = state.reporting(&caller, &id).await?;
    let now = Timestamp::now();
    let until = state.report_deadline(now);
    if task.state == TaskState::Queued && task.executor == Executor::Tracked {
        let engine = state.engine();
        let claimed = engine
            .store()
            .claim_task(task.id, engine.node(), until, now)
            .await?;
        let lease = Lease {
            id: claimed.id,
            fence: claimed.fence,
        };
        engine.store().await_reports(lease, until).await?;
        return state.current(task.id).await;
    }
    if task.state != TaskState::Running || !task.reported {
        return Err(ApiError::conflict(format!(
            "task {} is {}{}: only a queued tracked task, or one whose dispatch was answered \
             with 202, can be started",
            task.id,
            task.state,
            if task.state == TaskState::Running {
                " on a node of errand's"
            } else {
                ""
            },
        )));
    }
    state.engine().store().await_reports(lease, until).await?;
    state.current(task.id).await
}

/// How far the task has come.
#[utoipa::path(post, path = "/v1/tasks/{id}/progress", tag = "reports",
    params(("id" = String, Path, description = "The task's id")),
    request_body = ProgressReport,
    responses(
        (status = 200, description = "Recorded", body = Task),
        (status = 409, description = "A stale attempt, or not running", body = super::ErrorBody),
    ),
    security(("bearer" = [])))]
pub(super) async fn progress(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> Result<ApiJson<Task>, ApiError> {
    let (task, lease) = state.reporting(&caller, &id).await?;
    let report: ProgressReport = optional_json_body(&body)?;
    if report.percent.is_some_and(|p| !(0.0..=100.0).contains(&p)) {
        return Err(ApiError::invalid("percent must be between 0 and 100"));
    }
    if let (Some(current), Some(total)) = (report.current, report.total)
        && current > total
    {
        return Err(ApiError::invalid("current must not be more than total"));
    }
    let now = Timestamp::now();
    let mut progress = Progress {
        percent: report.percent,
        message: report.message,
        current: report.current,
        total: report.total,
    };
    if progress.percent.is_none()
        && let (Some(current), Some(total)) = (progress.current, progress.total)
    {
        progress.percent = Progress::steps(current, total).percent;
    }
    let store = state.engine().store();
    let updated = store.report_progress(lease, progress, now).await?;
    if task.reported {
        // The progress is recorded; if the attempt ended meanwhile (its outcome reported at
        // the same moment), there is no deadline left to move.
        match store.await_reports(lease, state.report_deadline(now)).await {
            Ok(()) | Err(crate::store::StoreError::StaleAttempt { .. }) => {}
            Err(err) => return Err(err.into()),
        }
    }
    Ok(ApiJson(updated))
}

/// The task is done.
#[utoipa::path(post, path = "/v1/tasks/{id}/complete", tag = "reports",
    params(("id" = String, Path, description = "The task's id")),
    request_body = CompleteReport,
    responses(
        (status = 200, description = "Succeeded", body = Task),
        (status = 409, description = "A stale attempt, or not running", body = super::ErrorBody),
    ),
    security(("bearer" = [])))]
pub(super) async fn complete(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> Result<ApiJson<Task>, ApiError> {
    let (_, lease) = state.reporting(&caller, &id).await?;
    let report: CompleteReport = optional_json_body(&body)?;
    let outcome = Outcome::Succeeded {
        result: report.result,
        result_url: report.result_url,
        message: report.message,
    };
    let task = state
        .engine()
        .store()
        .finish(lease, outcome, Timestamp::now())
        .await?;
    Ok(ApiJson(task))
}

/// The task failed: for good, or (`retry`) to be tried again after the queue's backoff while
/// attempts remain.
#[utoipa::path(post, path = "/v1/tasks/{id}/fail", tag = "reports",
    params(("id" = String, Path, description = "The task's id")),
    request_body = FailReport,
    responses(
        (status = 200, description = "Failed, or scheduled for a retry", body = Task),
        (status = 409, description = "A stale attempt, or not running", body = super::ErrorBody),
    ),
    security(("bearer" = [])))]
pub(super) async fn fail(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> Result<ApiJson<Task>, ApiError> {
    let (task, lease) = state.reporting(&caller, &id).await?;
    let report: FailReport = json_body(&body)?;
    let error = ErrorInfo {
        message: report.message,
        detail: report.detail,
    };
    let now = Timestamp::now();
    let outcome = match state.engine().queue(&task.queue) {
        Some(queue) if report.retry && task.attempt < task.max_attempts => Outcome::RetryAt {
            error,
            at: now
                .checked_add(retry_delay(queue.retry_base, queue.retry_max, task.attempt))
                .unwrap_or(Timestamp::MAX),
        },
        _ => Outcome::Failed(error),
    };
    let task = state.engine().store().finish(lease, outcome, now).await?;
    Ok(ApiJson(task))
}

impl ApiState {
    /// The task a report is about, and the attempt it names: a task token's own, or the
    /// current one for a key.
    async fn reporting(&self, caller: &Caller, id: &str) -> Result<(Task, Lease), ApiError> {
        let id: TaskId = task_id(id)?;
        let task = self.engine().get(id).await?;
        match caller {
            Caller::Task {
                id: token_id,
                fence,
            } => {
                let task = task
                    .filter(|_| *token_id == id)
                    .ok_or_else(|| ApiError::not_found(format!("no task {id}")))?;
                let fence = *fence;
                Ok((task, Lease { id, fence }))
            }
            Caller::Key(_) => {
                caller.require(Scope::Enqueue)?;
                let task = task.ok_or_else(|| ApiError::not_found(format!("no task {id}")))?;
                let fence = task.fence;
                Ok((task, Lease { id, fence }))
            }
            Caller::User(_) => {
                // Another owner's task is not found, whatever the route.
                caller.see(task, id, Scope::Read)?;
                Err(ApiError::forbidden(
                    "reports come from the application: use the task's token or an API key",
                ))
            }
        }
    }

    /// When the application's next report is due, if it reports at `now`.
    fn report_deadline(&self, now: Timestamp) -> Timestamp {
        now.checked_add(self.inner.report_timeout)
            .unwrap_or(Timestamp::MAX)
    }

    /// The task as stored now.
    async fn current(&self, id: TaskId) -> Result<ApiJson<Task>, ApiError> {
        let task = self.engine().get(id).await?;
        task.map(ApiJson)
            .ok_or_else(|| ApiError::not_found(format!("no task {id}")))
    }
}
