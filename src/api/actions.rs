//! What a user or the application does to a task: cancel, retry, dismiss, resume. A user
//! token acts on its owner's tasks only; a key needs the `enqueue` scope.

use axum::extract::{Path, State};

use super::ApiState;
use super::caller::Caller;
use super::error::{ApiError, ApiJson, RawBody, optional_json_body};
use super::tasks::task_id;
use super::wire::ResumeRequest;
use crate::auth::Scope;
use crate::model::{Task, TaskId};

/// Cancel a task: at once unless it is running; a running task is asked to stop.
#[utoipa::path(post, path = "/v1/tasks/{id}/cancel", tag = "tasks",
    params(("id" = String, Path, description = "The task's id")),
    responses(
        (status = 200, description = "Cancelled, or asked to stop", body = Task),
        (status = 404, description = "No such task", body = super::ErrorBody),
        (status = 409, description = "Already final", body = super::ErrorBody),
    ),
    security(("bearer" = [])))]
pub(super) async fn cancel(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<ApiJson<Task>, ApiError> {
    let id = state.acting_on(&caller, &id).await?;
    Ok(ApiJson(state.engine().cancel(id).await?))
}

/// Run a failed, cancelled or expired task again, with a fresh budget of attempts.
#[utoipa::path(post, path = "/v1/tasks/{id}/retry", tag = "tasks",
    params(("id" = String, Path, description = "The task's id")),
    responses(
        (status = 200, description = "Queued again", body = Task),
        (status = 404, description = "No such task", body = super::ErrorBody),
        (status = 409, description = "Not failed, cancelled or expired", body = super::ErrorBody),
    ),
    security(("bearer" = [])))]
pub(super) async fn retry(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<ApiJson<Task>, ApiError> {
    let id = state.acting_on(&caller, &id).await?;
    Ok(ApiJson(state.engine().retry(id).await?))
}

/// Hide a final task from its owner's banner (it stays in the list).
#[utoipa::path(post, path = "/v1/tasks/{id}/dismiss", tag = "tasks",
    params(("id" = String, Path, description = "The task's id")),
    responses(
        (status = 200, description = "Dismissed", body = Task),
        (status = 404, description = "No such task", body = super::ErrorBody),
        (status = 409, description = "Not final yet", body = super::ErrorBody),
    ),
    security(("bearer" = [])))]
pub(super) async fn dismiss(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<ApiJson<Task>, ApiError> {
    let id = state.acting_on(&caller, &id).await?;
    Ok(ApiJson(state.engine().dismiss(id).await?))
}

/// Answer a task that waits for the user's input: it goes back to its queue with the input.
#[utoipa::path(post, path = "/v1/tasks/{id}/resume", tag = "tasks",
    params(("id" = String, Path, description = "The task's id")),
    request_body(content = Option<ResumeRequest>, description = "The user's answer (optional)"),
    responses(
        (status = 200, description = "Queued again", body = Task),
        (status = 404, description = "No such task", body = super::ErrorBody),
        (status = 409, description = "Not waiting", body = super::ErrorBody),
    ),
    security(("bearer" = [])))]
pub(super) async fn resume(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> Result<ApiJson<Task>, ApiError> {
    let id = state.acting_on(&caller, &id).await?;
    let request: ResumeRequest = optional_json_body(&body)?;
    Ok(ApiJson(state.engine().resume(id, request.input).await?))
}

impl ApiState {
    /// The id of a task `caller` may act on (a key with `enqueue`, or the owner's token).
    async fn acting_on(&self, caller: &Caller, id: &str) -> Result<TaskId, ApiError> {
        let id = task_id(id)?;
        caller.see(self.engine().get(id).await?, id, Scope::Enqueue)?;
        Ok(id)
    }
}
