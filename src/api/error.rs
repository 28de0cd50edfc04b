//! The one place errors become HTTP answers: `{"error": {"code", "message"}}` with a fitting
//! status. Bad input is a 4xx that says what to change; a failure inside errand is a 5xx whose
//! cause goes to the log, not to the caller. The extractors here ([`ApiJson`], [`ApiQuery`])
//! give axum's own rejections (malformed JSON, unknown fields, numbers out of range, oversized
//! bodies) the same shape.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

use crate::engine::EngineError;
use crate::store::StoreError;

/// An answer that is not a success.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

/// The error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// What went wrong, for a program (`code`) and for a person (`message`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable name: `invalid_request`, `invalid_json`, `unauthorized`, `forbidden`,
    /// `not_found`, `conflict`, `stale_attempt`, `payload_too_large`, `unavailable`, `internal`.
    pub code: &'static str,
    /// What to change.
    pub message: String,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 422: the request is well-formed but asks for something that cannot be.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", message)
    }

    /// 401: no credentials, or credentials errand does not accept.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403: credentials that may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 409: the task's state does not allow it.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// The same error, its message prefixed (with the place in a batch).
    pub fn prefixed(mut self, prefix: &str) -> Self {
        self.message.insert_str(0, prefix);
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = %self.status, code = self.code, error = %self.message, "request failed");
        }
        let message = if self.status == StatusCode::INTERNAL_SERVER_ERROR {
            "errand failed to answer; the cause is in its log".to_owned()
        } else {
            self.message
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match &err {
            StoreError::TaskNotFound(_) => ApiError::not_found(err.to_string()),
            StoreError::QueueNotFound(_) => ApiError::not_found(err.to_string()),
            StoreError::Illegal { .. }
            | StoreError::NotFinal { .. }
            | StoreError::Conflict { .. } => ApiError::conflict(err.to_string()),
            StoreError::StaleAttempt { .. } => ApiError::new(
                StatusCode::CONFLICT,
                "stale_attempt",
                "this report is from an attempt that is no longer current; the task has moved on",
            ),
            StoreError::Invalid(_) => ApiError::invalid(err.to_string()),
            StoreError::Closed | StoreError::Database(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                err.to_string(),
            ),
            StoreError::SchemaNewerThanBinary { .. } => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                err.to_string(),
            ),
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(err: EngineError) -> Self {
        match err {
            EngineError::UnknownQueue(_)
            | EngineError::UnknownHandler(_)
            | EngineError::Invalid(_) => ApiError::invalid(err.to_string()),
            EngineError::Store(err) => err.into(),
        }
    }
}

/// A JSON body, rejected in errand's error shape.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = request
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| {
                let essence = value.split(';').next().unwrap_or("").trim();
                essence == "application/json" || essence.ends_with("+json")
            });
        if !json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "invalid_request",
                "send the body as JSON, with Content-Type: application/json",
            ));
        }
        let RawBody(body) = RawBody::from_request(request, state).await?;
        json_body(&body).map(ApiJson)
    }
}

/// A body read whole (up to `max_body_bytes`), rejected in errand's error shape: for the
/// routes that check the caller before they read the body.
#[derive(Debug, Clone, Default)]
pub struct RawBody(pub axum::body::Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::body::Bytes::from_request(request, state).await {
            Ok(bytes) => Ok(RawBody(bytes)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "the request body is larger than errand takes (max_body_bytes)",
                ))
            }
            Err(rejection) => Err(ApiError::new(
                rejection.status(),
                "invalid_request",
                rejection.body_text(),
            )),
        }
    }
}

/// A JSON document: 400 if it is not JSON, 422 if it does not fit (unknown fields, missing
/// ones, numbers out of range), with the place of the problem.
pub fn json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = match serde_path_to_error::deserialize(&mut deserializer) {
        Ok(value) => value,
        Err(err) => {
            let path = err.path().to_string();
            let inner = err.into_inner();
            let message = match path.as_str() {
                "." | "" => inner.to_string(),
                path => format!("{path}: {inner}"),
            };
            return Err(json_error(&inner, message));
        }
    };
    deserializer
        .end()
        .map_err(|err| json_error(&err, err.to_string()))?;
    Ok(value)
}

/// 422 for JSON that does not fit, 400 for what is not JSON.
fn json_error(err: &serde_json::Error, message: String) -> ApiError {
    match err.classify() {
        serde_json::error::Category::Data => ApiError::invalid(message),
        _ => ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", message),
    }
}

/// An optional JSON body: empty is the default.
pub fn optional_json_body<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    json_body(body)
}

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        Json(self.0).into_response()
    }
}

/// Query parameters, rejected in errand's error shape.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(ApiQuery(value)),
            Err(rejection) => Err(query_rejection(rejection)),
        }
    }
}

fn query_rejection(rejection: QueryRejection) -> ApiError {
    ApiError::invalid(rejection.body_text())
}
