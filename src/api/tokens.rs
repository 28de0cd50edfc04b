//! `POST /v1/tokens`: a user token for an application that does not want a JWT library.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use jiff::Timestamp;

use super::ApiState;
use super::caller::Caller;
use super::error::{ApiError, ApiJson};
use super::wire::{TokenAnswer, TokenRequest};
use crate::auth::Scope;

/// The longest a user token may live: 30 days.
const MAX_TTL_SECONDS: u64 = 30 * 86_400;

/// Mint a user token for one owner.
#[utoipa::path(post, path = "/v1/tokens", tag = "auth",
    request_body = TokenRequest,
    responses(
        (status = 201, description = "Minted", body = TokenAnswer),
        (status = 422, description = "Invalid owner or lifetime", body = super::ErrorBody),
    ),
    security(("bearer" = [])))]
pub(super) async fn mint(
    State(state): State<ApiState>,
    caller: Caller,
    ApiJson(request): ApiJson<TokenRequest>,
) -> Result<(StatusCode, ApiJson<TokenAnswer>), ApiError> {
    caller.require(Scope::Enqueue)?;
    if request.owner.is_empty() || request.owner.chars().count() > 200 {
        return Err(ApiError::invalid("owner must have 1 to 200 characters"));
    }
    let ttl = request.ttl_seconds.unwrap_or(3600);
    if !(1..=MAX_TTL_SECONDS).contains(&ttl) {
        return Err(ApiError::invalid(format!(
            "ttl_seconds must be between 1 and {MAX_TTL_SECONDS}"
        )));
    }
    let minted = state
        .inner
        .user_tokens
        .mint(&request.owner, Duration::from_secs(ttl), Timestamp::now())
        .map_err(|err| ApiError::invalid(err.to_string()))?;
    Ok((
        StatusCode::CREATED,
        ApiJson(TokenAnswer {
            token: minted.token,
            expires_at: minted.expires_at,
        }),
    ))
}
