//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` annotations and
//! the bodies' `ToSchema` derives. Served at `/v1/openapi.json`.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{actions, events, health, queues, reports, tasks, tokens, wire};
use crate::model::{
    DedupPolicy, ErrorInfo, Executor, Links, Progress, QueueStats, State, Task, TaskId,
};
use crate::store::Counts;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "errand",
        description = "Durable background tasks for web applications, with a live view for the person who started them."
    ),
    paths(
        tasks::enqueue, tasks::enqueue_batch, tasks::get, tasks::list,
        actions::cancel, actions::retry, actions::dismiss, actions::resume,
        reports::start, reports::progress, reports::complete, reports::fail,
        events::stream,
        queues::list, queues::update, queues::pause, queues::resume,
        tokens::mint,
        health::selftest, health::healthz, health::readyz, health::metrics,
        serve,
    ),
    components(schemas(
        Task, TaskId, State, Executor, Progress, Links, ErrorInfo, DedupPolicy, Counts,
        super::ErrorBody, super::error::ErrorDetail,
        wire::EnqueueRequest, wire::EnqueueLinks, wire::BatchRequest, wire::BatchAnswer,
        wire::BatchEntry, wire::TaskList, wire::ResumeRequest, wire::ProgressReport,
        wire::CompleteReport, wire::FailReport, QueueStats, wire::QueueList,
        wire::QueueUpdate, wire::TokenRequest, wire::TokenAnswer, wire::Health, wire::Check,
        wire::CheckStatus, wire::SelfTest,
    )),
    modifiers(&Bearer),
)]
struct Document;

/// Declares the bearer scheme: an API key, a user token or a task token.
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key, a user token (HS256 JWT, also as ?token=), or a task's token",
                    ))
                    .build(),
            ),
        );
    }
}

/// The OpenAPI document.
pub fn document() -> utoipa::openapi::OpenApi {
    Document::openapi()
}

/// This document.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "health",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")))]
pub(super) async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(document())
}
