//! Queues: their depths, and the operator's switches (pause, resume, size).

use axum::extract::{Path, State};

use super::ApiState;
use super::caller::Caller;
use super::error::{ApiError, ApiJson};
use super::wire::{QueueList, QueueUpdate};
use crate::auth::Scope;

/// The queues, with how many tasks wait and run in each.
#[utoipa::path(get, path = "/v1/queues", tag = "queues",
    responses((status = 200, description = "The queues", body = QueueList)),
    security(("bearer" = [])))]
pub(super) async fn list(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<ApiJson<QueueList>, ApiError> {
    caller.require(Scope::Read)?;
    state.queue_list().await.map(ApiJson)
}

/// Stop claiming from a queue, on every node (running tasks go on).
#[utoipa::path(post, path = "/v1/queues/{name}/pause", tag = "queues",
    params(("name" = String, Path, description = "The queue")),
    responses(
        (status = 200, description = "The queues", body = QueueList),
        (status = 404, description = "No such queue", body = super::ErrorBody),
    ),
    security(("bearer" = [])))]
pub(super) async fn pause(
    state: State<ApiState>,
    caller: Caller,
    name: Path<String>,
) -> Result<ApiJson<QueueList>, ApiError> {
    set_paused(state, caller, name, true).await
}

/// Claim from a paused queue again.
#[utoipa::path(post, path = "/v1/queues/{name}/resume", tag = "queues",
    params(("name" = String, Path, description = "The queue")),
    responses(
        (status = 200, description = "The queues", body = QueueList),
        (status = 404, description = "No such queue", body = super::ErrorBody),
    ),
    security(("bearer" = [])))]
pub(super) async fn resume(
    state: State<ApiState>,
    caller: Caller,
    name: Path<String>,
) -> Result<ApiJson<QueueList>, ApiError> {
    set_paused(state, caller, name, false).await
}

async fn set_paused(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
    paused: bool,
) -> Result<ApiJson<QueueList>, ApiError> {
    caller.require(Scope::Admin)?;
    state.known_queue(&name)?;
    state.engine().set_queue_paused(&name, paused).await?;
    state.queue_list().await.map(ApiJson)
}

/// Change a queue's number of slots, across all nodes.
#[utoipa::path(patch, path = "/v1/queues/{name}", tag = "queues",
    params(("name" = String, Path, description = "The queue")),
    request_body = QueueUpdate,
    responses(
        (status = 200, description = "The queues", body = QueueList),
        (status = 404, description = "No such queue", body = super::ErrorBody),
        (status = 422, description = "Out of range", body = super::ErrorBody),
    ),
    security(("bearer" = [])))]
pub(super) async fn update(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(update): ApiJson<QueueUpdate>,
) -> Result<ApiJson<QueueList>, ApiError> {
    caller.require(Scope::Admin)?;
    state.known_queue(&name)?;
    if !(1..=10_000).contains(&update.concurrency) {
        return Err(ApiError::invalid("concurrency must be between 1 and 10000"));
    }
    state
        .engine()
        .set_queue_concurrency(&name, update.concurrency)
        .await?;
    state.queue_list().await.map(ApiJson)
}

impl ApiState {
    fn known_queue(&self, name: &str) -> Result<(), ApiError> {
        match self.engine().queue(name) {
            Some(_) => Ok(()),
            None => Err(ApiError::not_found(format!("no queue named {name:?}"))),
        }
    }

    async fn queue_list(&self) -> Result<QueueList, ApiError> {
        let queues = self.engine().store().queues().await?;
        Ok(QueueList { queues })
    }
}
