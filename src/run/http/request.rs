//! The request of one dispatch: the URL, the body, and the headers (forwarded credentials,
//! errand's own, the signature). Built before anything is sent, so that a task that cannot be
//! dispatched as it is fails without reaching the application.

use reqwest::Url;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};

use super::dispatcher::DispatchSettings;
use super::forwarded::Forwarded;
use super::sign::{ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, signature};
use super::target::Target;
use crate::model::{Payload, Task};
use crate::run::TaskError;

/// The task's id.
pub(crate) const TASK_ID_HEADER: &str = "errand-task-id";
/// The task's name (so that a proxy can route kinds of tasks to separate worker pools).
pub(crate) const TASK_NAME_HEADER: &str = "errand-task-name";
/// The attempt's number.
pub(crate) const ATTEMPT_HEADER: &str = "errand-attempt";
/// The task's queue.
pub(crate) const QUEUE_HEADER: &str = "errand-queue";
/// The task's URL in errand's API, where the application reports.
pub(crate) const CALLBACK_HEADER: &str = "errand-callback";
/// The per-task token the application reports with.
pub(crate) const TASK_TOKEN_HEADER: &str = "errand-task-token";
/// The W3C trace context.
pub(crate) const TRACEPARENT_HEADER: &str = "traceparent";

/// Headers that are never forwarded: errand sets them itself, or they belong to the connection.
const RESERVED: [&str; 12] = [
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "upgrade",
    "te",
    "trailer",
    "expect",
    TRACEPARENT_HEADER,
];

/// Whether a forwarded header named `name` (lowercase) would clash with what errand sends.
pub(crate) fn is_reserved(name: &str) -> bool {
    RESERVED.contains(&name) || name.starts_with("errand-") || name.starts_with("webhook-")
}

/// A dispatch's request, ready to send.
pub(crate) struct Request {
    /// Where it goes.
    pub(crate) url: Url,
    /// Its headers.
    pub(crate) headers: HeaderMap,
    /// Its body, exactly as signed.
    pub(crate) body: Vec<u8>,
}

/// The request that dispatches `task` to `target`, signed at `timestamp` (Unix seconds).
/// Fails for good if the task cannot be dispatched as it is.
pub(crate) fn build(
    task: &Task,
    path: &str,
    target: &Target,
    settings: &DispatchSettings,
    timestamp: i64,
) -> Result<Request, TaskError> {
    let url = target.url_for(path).map_err(|why| {
        TaskError::new("the task's path is refused")
            .detail(why)
            .permanent()
    })?;
    let forwarded = Forwarded::open(&settings.sealer, task.id, task.sealed_headers.as_deref())
        .map_err(|err| {
            TaskError::new("the forwarded credentials could not be opened")
                .detail(err.to_string())
                .permanent()
        })?;
    let (body, content_type) = match &task.payload {
        Payload::None => (Vec::new(), None),
        Payload::Json(value) => (value.to_string().into_bytes(), Some("application/json")),
        Payload::Bytes(bytes) => (bytes.clone(), Some("application/octet-stream")),
    };

    let mut headers = HeaderMap::new();
    // The user's credentials first, so that nothing below can be overridden by them; only the
    // names the target allows today, whatever was allowed at enqueue.
    for (name, value) in &forwarded.headers {
        let name = name.to_ascii_lowercase();
        if !target
            .forward_headers
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(&name))
            || is_reserved(&name)
        {
            continue;
        }
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            (Ok(name), Ok(mut value)) => {
                value.set_sensitive(true);
                headers.append(name, value);
            }
            _ => {
                tracing::debug!(task = %task.id, header = %name, "a forwarded header is not a valid header; not sent");
            }
        }
    }
    if let Some(content_type) = content_type {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    let text = |value: &str, what: &str| {
        HeaderValue::from_bytes(value.as_bytes()).map_err(|_| {
            TaskError::new(format!("the task's {what} cannot be sent in a header")).permanent()
        })
    };
    set(
        &mut headers,
        TASK_ID_HEADER,
        text(&task.id.to_string(), "id")?,
    );
    set(&mut headers, TASK_NAME_HEADER, text(&task.name, "name")?);
    set(
        &mut headers,
        ATTEMPT_HEADER,
        HeaderValue::from(task.attempt),
    );
    set(&mut headers, QUEUE_HEADER, text(&task.queue, "queue")?);
    if let Some(base) = &settings.callback_base {
        let callback = format!("{}/v1/tasks/{}", base.trim_end_matches('/'), task.id);
        set(
            &mut headers,
            CALLBACK_HEADER,
            text(&callback, "callback URL")?,
        );
    }
    let mut token = text(&settings.task_tokens.mint(task.id, task.fence), "token")?;
    token.set_sensitive(true);
    set(&mut headers, TASK_TOKEN_HEADER, token);
    if let Some(traceparent) = &forwarded.traceparent
        && let Ok(value) = HeaderValue::from_str(traceparent)
    {
        set(&mut headers, TRACEPARENT_HEADER, value);
    }
    if let Some(key) = &target.secret {
        // One message per attempt: a retry is a new attempt, with its own fence.
        let id = format!("{}-{}", task.id, task.fence);
        let signed = signature(key, &id, timestamp, &body);
        set(&mut headers, ID_HEADER, text(&id, "message id")?);
        set(&mut headers, TIMESTAMP_HEADER, HeaderValue::from(timestamp));
        set(&mut headers, SIGNATURE_HEADER, text(&signed, "signature")?);
    }
    Ok(Request { url, headers, body })
}

/// Sets header `name` (a lowercase constant) to `value`, replacing any value.
fn set(headers: &mut HeaderMap, name: &'static str, value: HeaderValue) {
    headers.insert(HeaderName::from_static(name), value);
}
