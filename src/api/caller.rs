//! Who is calling, from `Authorization: Bearer …` or `?token=…` (EventSource cannot set
//! headers): an application's API key with its scopes, an end user's token, or a task's own
//! token. Every route says what it needs through the methods here, so that the rules live in
//! one place:
//!
//! | caller | may |
//! |---|---|
//! | key with `read` | read every task and queue |
//! | key with `enqueue` | enqueue, act on tasks (cancel, retry, dismiss, resume), report, mint user tokens |
//! | key with `admin` | all of that, and pause, resume and size queues, run the self-test |
//! | user token | read and act on its owner's tasks alone; any other task is "not found" |
//! | task token | report on its own task's attempt, nothing else |

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use jiff::Timestamp;

use super::ApiState;
use super::error::ApiError;
use crate::auth::{Scope, TaskTokens, TokenError};
use crate::model::{Task, TaskId};

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq)]
pub enum Caller {
    /// An application's API key, with its scopes.
    Key(Vec<Scope>),
    /// An end user, by owner.
    User(String),
    /// A dispatched task's token: its attempt's reports only.
    Task {
        /// The task.
        id: TaskId,
        /// The attempt's fence.
        fence: i64,
    },
}

impl Caller {
    /// Refuses callers other than a key with `scope` (or `admin`).
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        match self {
            Caller::Key(scopes) if scopes.contains(&scope) || scopes.contains(&Scope::Admin) => {
                Ok(())
            }
            Caller::Key(_) => Err(ApiError::forbidden(format!(
                "this API key lacks the {:?} scope",
                scope.as_str()
            ))),
            Caller::User(_) | Caller::Task { .. } => Err(ApiError::forbidden(format!(
                "this needs an API key with the {:?} scope",
                scope.as_str()
            ))),
        }
    }

    /// The owner a user token is limited to (`None` for keys).
    pub fn owner(&self) -> Option<&str> {
        match self {
            Caller::User(owner) => Some(owner),
            _ => None,
        }
    }

    /// `task` if this caller may see it with `scope`: a key with the scope sees every task,
    /// a user token its owner's; anything else is answered as if the task did not exist.
    pub fn see(&self, task: Option<Task>, id: TaskId, scope: Scope) -> Result<Task, ApiError> {
        let not_found = || ApiError::not_found(format!("no task {id}"));
        let task = task.ok_or_else(not_found)?;
        match self {
            Caller::User(owner) if task.owner.as_deref() == Some(owner.as_str()) => Ok(task),
            Caller::User(_) => Err(not_found()),
            Caller::Task { .. } => Err(ApiError::forbidden(
                "a task token is good for its task's reports only",
            )),
            Caller::Key(_) => self.require(scope).map(|()| task),
        }
    }
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        match bearer(parts)? {
            Some(token) => state.identify(&token),
            None => match query_token(parts) {
                // Only a user token may travel in a URL (EventSource cannot set headers): a
                // key there would end up in access logs.
                Some(token) => state.identify_user(&token),
                None => Err(ApiError::unauthorized(
                    "send an API key or a user token as `Authorization: Bearer …` \
                     (or a user token as `?token=`)",
                )),
            },
        }
    }
}

impl ApiState {
    /// Who presents `token`.
    pub(super) fn identify(&self, token: &str) -> Result<Caller, ApiError> {
        let auth = &self.inner;
        if TaskTokens::looks_like(token) {
            return match auth.task_tokens.verify(token) {
                Some((id, fence)) => Ok(Caller::Task { id, fence }),
                None => Err(ApiError::unauthorized("the task token is not valid")),
            };
        }
        if let Some(scopes) = auth.api_keys.scopes(token) {
            return Ok(Caller::Key(scopes.to_vec()));
        }
        if token.split('.').count() != 3 {
            return Err(ApiError::unauthorized("the API key is not valid"));
        }
        self.identify_user(token)
    }

    /// The owner of a user token.
    fn identify_user(&self, token: &str) -> Result<Caller, ApiError> {
        match self.inner.user_tokens.verify(token, Timestamp::now()) {
            Ok(owner) => Ok(Caller::User(owner)),
            Err(TokenError::Expired) => Err(ApiError::new(
                axum::http::StatusCode::UNAUTHORIZED,
                "token_expired",
                "the user token has expired: mint a new one",
            )),
            Err(err) => Err(ApiError::unauthorized(err.to_string())),
        }
    }
}

/// The bearer token of the `Authorization` header.
fn bearer(parts: &Parts) -> Result<Option<String>, ApiError> {
    if let Some(value) = parts.headers.get(AUTHORIZATION) {
        let value = value
            .to_str()
            .map_err(|_| ApiError::unauthorized("the Authorization header is not text"))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| ApiError::unauthorized("use `Authorization: Bearer <key or token>`"))?;
        return Ok(Some(token.trim().to_owned()));
    }
    Ok(None)
}

/// The `token` query parameter.
fn query_token(parts: &Parts) -> Option<String> {
    let query = parts.uri.query().unwrap_or("");
    query.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        (name == "token").then(|| percent_decode(value))
    })
}

/// Decodes the `%XX` escapes and `+` of a query value.
pub fn percent_decode(value: &str) -> String {
    let mut out = Vec::with_capacity(value.len());
    let mut rest = value.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        let escaped = (byte == b'%')
            .then(|| tail.get(..2))
            .flatten()
            .and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
        match escaped {
            Some(decoded) => {
                out.push(decoded);
                rest = &tail[2..];
            }
            None => {
                out.push(if byte == b'+' { b' ' } else { byte });
                rest = tail;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn query_tokens_are_unescaped() {
        assert_eq!(percent_decode("a%2Eb+c"), "a.b c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
