//! The REST API under `/v1`, and the health endpoints.
//!
//! - `caller.rs`: who is calling, and what each kind of caller may do.
//! - `error.rs`: the one mapping from errors to `{"error": {"code", "message"}}` answers.
//! - `wire.rs`: request and answer bodies.
//! - `tasks.rs` (enqueue, read, long-poll), `events.rs` (the Server-Sent Events stream),
//!   `fanout.rs` (each event handed to the streams that show it),
//!   `actions.rs` (cancel, retry, dismiss, resume),
//!   `reports.rs` (the application's start, progress and outcome), `queues.rs`, `tokens.rs`,
//!   `health.rs` (`/healthz`, `/readyz`, `/metrics`, self-test).
//! - `openapi.rs`: the OpenAPI 3.1 document, generated from the handlers' annotations; a test
//!   holds it to [`ROUTES`], the table the router is built from.

mod actions;
mod caller;
mod error;
mod events;
mod fanout;
mod health;
mod openapi;
mod queues;
mod reports;
mod tasks;
mod tokens;
mod wire;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Method};
use axum::routing::{MethodRouter, get, patch, post};

pub use caller::Caller;
pub use caller::percent_decode;
pub use error::{ApiError, ErrorBody};
pub use health::{PROBE_HANDLER, PROBE_QUEUE, probe_handler};
pub use openapi::document;

use tokio_util::sync::CancellationToken;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::auth::{ApiKeys, Sealer, TaskTokens, UserTokens};
use crate::engine::Engine;
use crate::metrics::Metrics;

/// What the API runs with.
pub struct ApiSettings {
    /// The engine it drives.
    pub engine: Engine,
    /// Accepted API keys.
    pub api_keys: ApiKeys,
    /// User tokens.
    pub user_tokens: UserTokens,
    /// Per-task tokens.
    pub task_tokens: TaskTokens,
    /// Seals forwarded credentials at enqueue.
    pub sealer: Sealer,
    /// How long the application has between two reports on a task it runs itself.
    pub report_timeout: Duration,
    /// The largest request body.
    pub max_body_bytes: usize,
    /// The counters `/metrics` shows.
    pub metrics: Arc<Metrics>,
    /// Cancelled when the server stops: open event streams end then.
    pub shutdown: CancellationToken,
    /// Origins whose pages may call the API and follow the event stream (CORS).
    pub allowed_origins: Vec<HeaderValue>,
}

/// The API's shared state. Cheap to clone.
#[derive(Clone)]
pub struct ApiState {
    inner: Arc<ApiSettings>,
    fanout: Arc<fanout::Fanout>,
}

impl ApiState {
    fn engine(&self) -> &Engine {
        &self.inner.engine
    }
}

/// One route: its method and path (in the OpenAPI form), and its handler.
pub struct Route {
    /// `GET`, `POST` or `PATCH`.
    pub method: &'static str,
    /// The path, with `{param}`s.
    pub path: &'static str,
    handler: fn() -> MethodRouter<ApiState>,
}

/// Every route. The router is built from this table, and a test compares it with the OpenAPI
/// document.
pub const ROUTES: &[Route] = &[
    Route {
        method: "POST",
        path: "/v1/tasks",
        handler: || post(tasks::enqueue),
    },
    Route {
        method: "GET",
        path: "/v1/tasks",
        handler: || get(tasks::list),
    },
    Route {
        method: "POST",
        path: "/v1/tasks:batch",
        handler: || post(tasks::enqueue_batch),
    },
    Route {
        method: "GET",
        path: "/v1/tasks/{id}",
        handler: || get(tasks::get),
    },
    Route {
        method: "POST",
        path: "/v1/tasks/{id}/cancel",
        handler: || post(actions::cancel),
    },
    Route {
        method: "POST",
        path: "/v1/tasks/{id}/retry",
        handler: || post(actions::retry),
    },
    Route {
        method: "POST",
        path: "/v1/tasks/{id}/dismiss",
        handler: || post(actions::dismiss),
    },
    Route {
        method: "POST",
        path: "/v1/tasks/{id}/resume",
        handler: || post(actions::resume),
    },
    Route {
        method: "POST",
        path: "/v1/tasks/{id}/start",
        handler: || post(reports::start),
    },
    Route {
        method: "POST",
        path: "/v1/tasks/{id}/progress",
        handler: || post(reports::progress),
    },
    Route {
        method: "POST",
        path: "/v1/tasks/{id}/complete",
        handler: || post(reports::complete),
    },
    Route {
        method: "POST",
        path: "/v1/tasks/{id}/fail",
        handler: || post(reports::fail),
    },
    Route {
        method: "GET",
        path: "/v1/events",
        handler: || get(events::stream),
    },
    Route {
        method: "GET",
        path: "/v1/queues",
        handler: || get(queues::list),
    },
    Route {
        method: "PATCH",
        path: "/v1/queues/{name}",
        handler: || patch(queues::update),
    },
    Route {
        method: "POST",
        path: "/v1/queues/{name}/pause",
        handler: || post(queues::pause),
    },
    Route {
        method: "POST",
        path: "/v1/queues/{name}/resume",
        handler: || post(queues::resume),
    },
    Route {
        method: "POST",
        path: "/v1/tokens",
        handler: || post(tokens::mint),
    },
    Route {
        method: "GET",
        path: "/v1/selftest",
        handler: || get(health::selftest),
    },
    Route {
        method: "GET",
        path: "/v1/openapi.json",
        handler: || get(openapi::serve),
    },
    Route {
        method: "GET",
        path: "/healthz",
        handler: || get(health::healthz),
    },
    Route {
        method: "GET",
        path: "/readyz",
        handler: || get(health::readyz),
    },
    Route {
        method: "GET",
        path: "/metrics",
        handler: || get(health::metrics),
    },
];

/// The API's router.
pub fn router(settings: ApiSettings) -> Router {
    let max_body_bytes = settings.max_body_bytes;
    let cors = cors(&settings.allowed_origins);
    let ui = crate::ui::router(crate::ui::UiState {
        engine: settings.engine.clone(),
        user_tokens: settings.user_tokens.clone(),
    });
    let state = ApiState {
        fanout: Arc::new(fanout::Fanout::new(settings.engine.clone())),
        inner: Arc::new(settings),
    };
    let mut router = Router::new();
    let mut paths: Vec<&str> = ROUTES.iter().map(|route| route.path).collect();
    paths.sort_unstable();
    paths.dedup();
    for path in paths {
        let mut methods: MethodRouter<ApiState> = MethodRouter::new();
        for route in ROUTES.iter().filter(|route| route.path == path) {
            methods = methods.merge((route.handler)());
        }
        router = router.route(
            path,
            methods.fallback(|method: Method| async move {
                ApiError::new(
                    axum::http::StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    format!("{method} is not allowed here"),
                )
            }),
        );
    }
    router
        .fallback(|uri: axum::http::Uri| async move {
            ApiError::not_found(format!("no route {}", uri.path()))
        })
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(cors)
        .with_state(state)
        // The widget and the pages: not API, so outside `ROUTES` and the OpenAPI document.
        .merge(ui)
}

/// CORS for pages of the allowed origins (a widget embedded in another site): they may call
/// the API and follow the event stream with a user token; no other origin may.
fn cors(origins: &[HeaderValue]) -> CorsLayer {
    use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderName};
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins.iter().cloned()))
        .allow_methods([Method::GET, Method::POST, Method::PATCH])
        .allow_headers([
            AUTHORIZATION,
            CONTENT_TYPE,
            HeaderName::from_static("last-event-id"),
        ])
        .max_age(Duration::from_secs(3600))
}
