//! Enqueueing and reading tasks: `POST /v1/tasks`, `POST /v1/tasks:batch`, `GET /v1/tasks`,
//! and `GET /v1/tasks/{id}` with its long-poll (`?wait=SECONDS`).

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use jiff::Timestamp;
use serde::Deserialize;

use super::ApiState;
use super::caller::Caller;
use super::error::{ApiError, ApiJson, ApiQuery};
use super::fanout::{Follows, Received};
use super::wire::{BatchAnswer, BatchEntry, BatchRequest, EnqueueRequest, TaskList};
use crate::auth::Scope;
use crate::model::{Executor, NewTask, Payload, Task, TaskId};
use crate::run::http::Forwarded;
use crate::store::{Cursor, TaskFilter};

/// The most tasks one batch may carry.
const MAX_BATCH: usize = 1000;
/// The longest a long-poll waits.
const MAX_WAIT_SECONDS: u64 = 60;

/// Enqueue a task.
#[utoipa::path(post, path = "/v1/tasks", tag = "tasks",
    request_body = EnqueueRequest,
    responses(
        (status = 201, description = "Enqueued", body = Task),
        (status = 200, description = "A dedup hit: the existing task", body = Task),
        (status = 422, description = "Invalid task", body = super::ErrorBody),
    ),
    security(("bearer" = [])))]
pub(super) async fn enqueue(
    State(state): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(request): ApiJson<EnqueueRequest>,
) -> Result<(StatusCode, ApiJson<Task>), ApiError> {
    caller.require(Scope::Enqueue)?;
    let inline = request.inline.unwrap_or(state.inner.engine.inline());
    let task = state.new_task(request, &headers)?;
    let mut answers = state
        .engine()
        .enqueue_batch_with(vec![task], inline)
        .await?;
    let answer = answers.pop().ok_or_else(|| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the store answered no task",
        )
    })?;
    let status = if answer.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, ApiJson(answer.task)))
}

/// Enqueue several tasks in order, in one transaction. The batch runs inline if the server
/// does or any of its tasks asks to.
#[utoipa::path(post, path = "/v1/tasks:batch", tag = "tasks",
    request_body = BatchRequest,
    responses(
        (status = 201, description = "Enqueued, in order", body = BatchAnswer),
        (status = 422, description = "A task is invalid: none was enqueued", body = super::ErrorBody),
    ),
    security(("bearer" = [])))]
pub(super) async fn enqueue_batch(
    State(state): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(request): ApiJson<BatchRequest>,
) -> Result<(StatusCode, ApiJson<BatchAnswer>), ApiError> {
    caller.require(Scope::Enqueue)?;
    if request.tasks.is_empty() || request.tasks.len() > MAX_BATCH {
        return Err(ApiError::invalid(format!(
            "a batch carries 1 to {MAX_BATCH} tasks"
        )));
    }
    let mut inline = state.inner.engine.inline();
    let mut tasks = Vec::with_capacity(request.tasks.len());
    for (index, task) in request.tasks.into_iter().enumerate() {
        inline |= task.inline.unwrap_or(false);
        let task = state
            .new_task(task, &headers)
            .map_err(|err| err.prefixed(&format!("tasks[{index}]: ")))?;
        tasks.push(task);
    }
    let answers = state.engine().enqueue_batch_with(tasks, inline).await?;
    let tasks = answers
        .into_iter()
        .map(|answer| BatchEntry {
            created: answer.created,
            task: answer.task,
        })
        .collect();
    Ok((StatusCode::CREATED, ApiJson(BatchAnswer { tasks })))
}

/// `?wait=` of `GET /v1/tasks/{id}`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(super) struct GetParams {
    /// Wait up to this many seconds (at most 60) for the task to be final or to wait for input.
    wait: Option<u64>,
    /// A user token, for callers that cannot set headers (read by [`Caller`]).
    #[serde(rename = "token")]
    _token: Option<String>,
}

/// A task; with `?wait=SECONDS`, once it is final or waits for the user's input, or the wait
/// is over.
#[utoipa::path(get, path = "/v1/tasks/{id}", tag = "tasks",
    params(("id" = String, Path, description = "The task's id"), GetParams),
    responses(
        (status = 200, description = "The task", body = Task),
        (status = 404, description = "No such task (or another owner's)", body = super::ErrorBody),
    ),
    security(("bearer" = [])))]
pub(super) async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<GetParams>,
) -> Result<ApiJson<Task>, ApiError> {
    let id = task_id(&id)?;
    let wait = params.wait.unwrap_or(0);
    if wait > MAX_WAIT_SECONDS {
        return Err(ApiError::invalid(format!(
            "wait is at most {MAX_WAIT_SECONDS} seconds; ask again to wait longer"
        )));
    }
    let read = async || -> Result<Task, ApiError> {
        caller.see(state.engine().get(id).await?, id, Scope::Read)
    };
    if wait == 0 {
        // A plain read follows no events.
        return Ok(ApiJson(read().await?));
    }
    // Subscribed before reading, so that a change between the read and the wait is seen; to
    // this task's events only (`fanout.rs`).
    let mut events = state.fanout.subscribe(Follows::Task(id));
    let task = read().await?;
    if settled(task.state) {
        return Ok(ApiJson(task));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Err(_) => break,
            Ok(Received::Event(event)) if settled(event.task.state) => {
                return Ok(ApiJson(event.task.clone()));
            }
            Ok(Received::Event(_)) => {}
            Ok(Received::Lagged) => {
                let task = read().await?;
                if settled(task.state) {
                    return Ok(ApiJson(task));
                }
            }
            Ok(Received::Closed) => break,
        }
    }
    Ok(ApiJson(read().await?))
}

/// A page of tasks, newest first, with the banner's counts.
#[utoipa::path(get, path = "/v1/tasks", tag = "tasks",
    params(
        ("owner" = Option<String>, Query, description = "Only this owner's (a user token sees its own only)"),
        ("state" = Option<String>, Query, description = "Only in these states: repeat it, or separate them by commas"),
        ("queue" = Option<String>, Query, description = "Only in this queue"),
        ("name" = Option<String>, Query, description = "Only of this kind"),
        ("limit" = Option<u32>, Query, description = "At most this many (1 to 1000, default 50)"),
        ("cursor" = Option<String>, Query, description = "The previous page's next_cursor"),
    ),
    responses((status = 200, description = "A page", body = TaskList)),
    security(("bearer" = [])))]
pub(super) async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<ApiJson<TaskList>, ApiError> {
    let mut filter = TaskFilter {
        limit: 50,
        ..TaskFilter::default()
    };
    for (name, value) in params {
        match name.as_str() {
            "owner" => filter.owner = Some(value),
            "state" => {
                for state in value.split(',').filter(|s| !s.is_empty()) {
                    filter.states.push(state.parse().map_err(|_| {
                        ApiError::invalid(format!(
                            "state {state:?} is not one of scheduled, queued, running, waiting, \
                             succeeded, failed, cancelled, expired"
                        ))
                    })?);
                }
            }
            "queue" => filter.queue = Some(value),
            "name" => filter.name = Some(value),
            "limit" => {
                filter.limit = value
                    .parse()
                    .ok()
                    .filter(|limit| (1..=1000).contains(limit))
                    .ok_or_else(|| ApiError::invalid("limit must be between 1 and 1000"))?;
            }
            "cursor" => {
                let cursor = value
                    .parse()
                    .map_err(|_| ApiError::invalid("cursor is not one errand gave"))?;
                filter.cursor = Some(Cursor(cursor));
            }
            "token" => {}
            other => {
                return Err(ApiError::invalid(format!(
                    "unknown parameter {other:?}: use owner, state, queue, name, limit, cursor"
                )));
            }
        }
    }
    match (&caller, caller.owner()) {
        (_, Some(owner)) => {
            if filter.owner.as_deref().is_some_and(|asked| asked != owner) {
                return Err(ApiError::forbidden("a user token lists its own tasks only"));
            }
            filter.owner = Some(owner.to_owned());
        }
        _ => caller.require(Scope::Read)?,
    }
    let page = state.engine().list(&filter).await?;
    let counts = state.engine().counts(filter.owner.as_deref()).await?;
    Ok(ApiJson(TaskList {
        tasks: page.tasks,
        next_cursor: page.next_cursor.map(|cursor| cursor.0.to_string()),
        counts,
    }))
}

/// Whether a long poll has nothing more to wait for: the task is final, or only the user can
/// move it on.
fn settled(state: crate::model::State) -> bool {
    state.is_final() || state == crate::model::State::Waiting
}

/// A task id from a path.
pub(super) fn task_id(text: &str) -> Result<TaskId, ApiError> {
    text.parse()
        .map_err(|_| ApiError::not_found(format!("no task {text:?}: not a task id")))
}

/// The longest text fields, in characters.
const MAX_SHORT: usize = 200;
const MAX_TEXT: usize = 2000;
const MAX_LONG: usize = 10_000;
/// The longest delays, in seconds (about a year).
const MAX_DELAY_SECONDS: u64 = 366 * 86_400;

impl ApiState {
    /// The engine's task for an enqueue request, checked and with its credentials sealed.
    fn new_task(&self, request: EnqueueRequest, headers: &HeaderMap) -> Result<NewTask, ApiError> {
        let name = request.name.trim();
        check_len("name", name, MAX_SHORT)?;
        if name.is_empty() {
            return Err(ApiError::invalid("name must not be empty"));
        }
        let mut task = NewTask::new(name);
        if let Some(queue) = request.queue {
            if self.engine().queue(&queue).is_none() {
                return Err(ApiError::invalid(format!("no queue named {queue:?}")));
            }
            task.queue = queue;
        }
        for (field, value, max) in [
            ("owner", &request.owner, MAX_SHORT),
            ("title", &request.title, MAX_TEXT),
            ("description", &request.description, MAX_LONG),
            ("ordering_key", &request.ordering_key, MAX_TEXT),
            ("dedup_key", &request.dedup_key, MAX_TEXT),
        ] {
            if let Some(value) = value {
                check_len(field, value, max)?;
            }
        }
        task.owner = request.owner;
        task.title = request.title;
        task.description = request.description;
        task.ordering_key = request.ordering_key;
        if let Some(key) = request.dedup_key {
            task = task.dedup_key(key, request.dedup.unwrap_or_default());
        } else if request.dedup.is_some() {
            return Err(ApiError::invalid("dedup needs a dedup_key"));
        }
        task.executor = self.executor(request.target, request.path, request.handler)?;
        task.payload = request.payload.map_or(Payload::None, Payload::Json);
        task.sealed_headers = self.seal_headers(&task, request.forward_headers, headers)?;
        task.run_at = match (request.delay_seconds, request.run_at) {
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid("give delay_seconds or run_at, not both"));
            }
            (Some(delay), None) => Some(Timestamp::now() + seconds("delay_seconds", delay)?),
            (None, run_at) => run_at,
        };
        task.priority = request.priority.unwrap_or(0);
        if let Some(attempts) = request.max_attempts {
            if !(1..=100).contains(&attempts) {
                return Err(ApiError::invalid("max_attempts must be between 1 and 100"));
            }
            task.max_attempts = Some(attempts);
        }
        if let Some(timeout) = request.timeout_seconds {
            task.timeout = Some(seconds("timeout_seconds", timeout)?);
        }
        if let Some(ttl) = request.expires_in_seconds {
            task.expires_at = Some(Timestamp::now() + seconds("expires_in_seconds", ttl)?);
        }
        task.context = request.context;
        if let Some(url) = request.links.and_then(|links| links.return_url) {
            check_len("links.return_url", &url, MAX_TEXT)?;
            task.return_url = Some(url);
        }
        Ok(task)
    }

    fn executor(
        &self,
        target: Option<String>,
        path: Option<String>,
        handler: Option<String>,
    ) -> Result<Executor, ApiError> {
        match (target, path, handler) {
            (None, None, None) => Ok(Executor::Tracked),
            (None, None, Some(handler)) => Ok(Executor::Handler { handler }),
            (Some(target), Some(path), None) => {
                let dispatcher = self.engine().dispatcher().ok_or_else(|| {
                    ApiError::invalid("no targets are configured: add [targets.NAME]")
                })?;
                let configured = dispatcher
                    .target(&target)
                    .ok_or_else(|| ApiError::invalid(format!("no target named {target:?}")))?;
                configured
                    .url_for(&path)
                    .map_err(|err| ApiError::invalid(format!("path {path:?}: {err}")))?;
                Ok(Executor::Http { target, path })
            }
            (Some(_), None, _) => Err(ApiError::invalid("a target needs a path")),
            (None, Some(_), _) => Err(ApiError::invalid("a path needs a target")),
            (Some(_), Some(_), Some(_)) => Err(ApiError::invalid(
                "a task runs by a target or by a handler, not both",
            )),
        }
    }

    /// The credentials to forward (only the names the target allows) and the caller's
    /// `traceparent`, sealed for the task.
    fn seal_headers(
        &self,
        task: &NewTask,
        forward: Option<std::collections::BTreeMap<String, String>>,
        headers: &HeaderMap,
    ) -> Result<Option<Vec<u8>>, ApiError> {
        let Executor::Http { target, .. } = &task.executor else {
            if forward.is_some_and(|headers| !headers.is_empty()) {
                return Err(ApiError::invalid(
                    "forward_headers go with a target: only a dispatch carries them",
                ));
            }
            return Ok(None);
        };
        let allowed = self
            .engine()
            .dispatcher()
            .and_then(|dispatcher| dispatcher.target(target))
            .map(|target| target.forward_headers.clone())
            .unwrap_or_default();
        let mut forwarded = Forwarded::default();
        for (name, value) in forward.unwrap_or_default() {
            let name = name.to_ascii_lowercase();
            if axum::http::HeaderValue::from_str(&value).is_err() {
                return Err(ApiError::invalid(format!(
                    "forward_headers.{name} is not a valid header value"
                )));
            }
            if allowed.contains(&name) {
                forwarded.headers.insert(name, value);
            }
        }
        forwarded.traceparent = headers
            .get("traceparent")
            .and_then(|value| value.to_str().ok())
            .filter(|value| value.len() <= 128)
            .map(str::to_owned);
        forwarded.seal(&self.inner.sealer, task.id).map_err(|err| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                err.to_string(),
            )
        })
    }
}

fn check_len(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.chars().count() > max {
        return Err(ApiError::invalid(format!(
            "{field} is longer than {max} characters"
        )));
    }
    Ok(())
}

fn seconds(field: &str, value: u64) -> Result<Duration, ApiError> {
    if value > MAX_DELAY_SECONDS {
        return Err(ApiError::invalid(format!(
            "{field} must be at most {MAX_DELAY_SECONDS} (a year)"
        )));
    }
    Ok(Duration::from_secs(value))
}
