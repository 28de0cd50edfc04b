//! Health: `/healthz` (the process answers), `/readyz` (the store answers), `/metrics`
//! (Prometheus), and the self-test (`GET /v1/selftest`, also `errand doctor`): the store, each
//! target's reachability, and the round trip of a probe task through a queue of its own.

use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use tokio::time::Instant;

use super::ApiState;
use super::caller::Caller;
use super::error::{ApiError, ApiJson};
use super::wire::{Check, CheckStatus, Health, SelfTest};
use crate::auth::Scope;
use crate::model::{NewTask, State as TaskState};
use crate::run::{HandlerResult, TaskContext, TaskOutput};

/// The queue the self-test's probe runs in (one slot, so that it never competes with work).
pub const PROBE_QUEUE: &str = "errand.selftest";
/// The handler of the probe task.
pub const PROBE_HANDLER: &str = "errand.probe";
/// How long the probe may take to run before the self-test gives up on it.
const PROBE_WAIT: Duration = Duration::from_secs(5);
/// How long a target may take to answer the reachability check.
const TARGET_WAIT: Duration = Duration::from_secs(3);

/// The probe task's handler: it does nothing, so that its round trip measures errand alone.
pub async fn probe_handler(_ctx: TaskContext) -> HandlerResult {
    Ok(TaskOutput::done().message("probe"))
}

/// The process answers.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "Alive", body = Health)))]
pub(super) async fn healthz() -> ApiJson<Health> {
    ApiJson(Health { status: "ok" })
}

/// The store answers: this node can serve.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "The store does not answer", body = super::ErrorBody),
    ))]
pub(super) async fn readyz(State(state): State<ApiState>) -> Result<ApiJson<Health>, ApiError> {
    state.engine().store().ping().await?;
    Ok(ApiJson(Health { status: "ready" }))
}

/// Metrics in the Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
pub(super) async fn metrics(State(state): State<ApiState>) -> Result<impl IntoResponse, ApiError> {
    let queues = state.engine().store().queues().await?;
    let answers = state
        .engine()
        .dispatcher()
        .map(|dispatcher| dispatcher.answers())
        .unwrap_or_default();
    let text = crate::metrics::render(&state.inner.metrics, &queues, &answers);
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    ))
}

/// Checks the store, each target and a probe task's round trip.
#[utoipa::path(get, path = "/v1/selftest", tag = "health",
    responses(
        (status = 200, description = "The checks", body = SelfTest),
    ),
    security(("bearer" = [])))]
pub(super) async fn selftest(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<ApiJson<SelfTest>, ApiError> {
    caller.require(Scope::Admin)?;
    let mut checks = vec![state.check_store().await];
    checks.extend(state.check_targets().await);
    checks.push(state.check_probe().await);
    Ok(ApiJson(SelfTest { checks }))
}

fn check(name: impl Into<String>, status: CheckStatus, reason: impl Into<String>) -> Check {
    Check {
        name: name.into(),
        status,
        reason: reason.into(),
    }
}

impl ApiState {
    async fn check_store(&self) -> Check {
        let started = Instant::now();
        match self.engine().store().ping().await {
            Ok(()) => check(
                "store",
                CheckStatus::Ok,
                format!("answered in {} ms", started.elapsed().as_millis()),
            ),
            Err(err) => check("store", CheckStatus::Fail, err.to_string()),
        }
    }

    async fn check_targets(&self) -> Vec<Check> {
        let Some(dispatcher) = self.engine().dispatcher() else {
            return Vec::new();
        };
        let client = match crate::run::http::client_builder()
            .timeout(TARGET_WAIT)
            .build()
        {
            Ok(client) => client,
            Err(err) => return vec![check("targets", CheckStatus::Fail, err.to_string())],
        };
        let mut checks = Vec::new();
        for target in dispatcher.targets() {
            let name = format!("target:{}", target.name);
            // Named without the credentials a base URL may carry.
            let mut shown = target.base_url.clone();
            let _ = shown.set_password(None);
            let _ = shown.set_username("");
            let answer = client.get(target.base_url.clone()).send().await;
            checks.push(match answer {
                Ok(answer) => check(
                    name,
                    CheckStatus::Ok,
                    format!("{shown} answered {}", answer.status()),
                ),
                Err(err) if err.is_timeout() => check(
                    name,
                    CheckStatus::Fail,
                    format!("{shown} did not answer within {TARGET_WAIT:?}"),
                ),
                Err(err) => check(
                    name,
                    CheckStatus::Fail,
                    format!("{shown} is unreachable: {}", err.without_url()),
                ),
            });
        }
        checks
    }

    async fn check_probe(&self) -> Check {
        let engine = self.engine();
        let started = Instant::now();
        let mut events = engine.subscribe();
        let task = NewTask::new(PROBE_HANDLER)
            .queue(PROBE_QUEUE)
            .title("errand self-test probe")
            .max_attempts(1);
        let id = match engine.enqueue(task).await {
            Ok(enqueued) if enqueued.task.state == TaskState::Succeeded => {
                return check("probe", CheckStatus::Ok, "ran inline");
            }
            Ok(enqueued) => enqueued.task.id,
            Err(err) => return check("probe", CheckStatus::Fail, format!("enqueue: {err}")),
        };
        let outcome = tokio::time::timeout(PROBE_WAIT, async {
            loop {
                match events.recv().await {
                    Ok(event) if event.task.id == id && event.task.state.is_final() => {
                        return Some(event.task.state);
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        // Missed events: ask the store instead.
                        if let Ok(Some(task)) = engine.get(id).await
                            && task.state.is_final()
                        {
                            return Some(task.state);
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
        .await;
        match outcome {
            Ok(Some(TaskState::Succeeded)) => check(
                "probe",
                CheckStatus::Ok,
                format!(
                    "a task's round trip took {} ms",
                    started.elapsed().as_millis()
                ),
            ),
            Ok(Some(state)) => check(
                "probe",
                CheckStatus::Fail,
                format!("the probe ended {state}"),
            ),
            Ok(None) => check("probe", CheckStatus::Fail, "the engine stopped"),
            Err(_) => {
                let _ = engine.cancel(id).await;
                check(
                    "probe",
                    CheckStatus::Warn,
                    format!(
                        "no worker ran the probe within {PROBE_WAIT:?}: is a node with workers \
                         running, and is the queue {PROBE_QUEUE:?} paused?"
                    ),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn store_failures_make_a_node_unready() {
        let err: super::ApiError = crate::store::StoreError::Closed.into();
        assert_eq!(err.status(), axum::http::StatusCode::SERVICE_UNAVAILABLE);
    }
}
