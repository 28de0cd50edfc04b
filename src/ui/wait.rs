//! `/ui/tasks/{id}/wait?return=URL`: a page for applications without the widget. It follows
//! the task (polling `/ui/tasks/{id}/status`, which answers with the same cookie), sends the
//! user on when it succeeds, explains a task that waits or failed, and says so when errand
//! stops answering instead of spinning forever.
//!
//! Where it sends the user: the task's result link, else the `return` URL if it is relative or
//! of errand's own origin (anything else would make errand an open redirect), else the
//! return link the application gave at enqueue, else the task's page.

use std::fmt::Write as _;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::header::HOST;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::UiState;
use super::html::{self, Problem, escape, href};
use super::pages::owned;
use super::session::Viewer;
use crate::model::{State as TaskState, Task};

/// `?return=` of the wait page and its status.
#[derive(Debug, Deserialize)]
pub(super) struct WaitParams {
    /// Where to go once the task succeeds (relative, or errand's own origin).
    #[serde(rename = "return")]
    return_to: Option<String>,
}

/// What the wait page's script reads.
#[derive(Debug, Serialize)]
pub(super) struct Status {
    state: TaskState,
    title: String,
    percent: Option<f64>,
    message: Option<String>,
    error: Option<String>,
    input_url: Option<String>,
    /// Where to go now: set once the task succeeded.
    next: Option<String>,
    /// Whether nothing more will happen.
    final_state: bool,
}

/// `return_to` if it may be followed: a path on this host, or a URL of `host` itself.
pub fn safe_return(return_to: &str, host: Option<&str>) -> Option<String> {
    if return_to.chars().any(|c| c.is_control() || c == '\\') {
        return None;
    }
    if return_to.starts_with('/') && !return_to.starts_with("//") {
        return Some(return_to.to_owned());
    }
    let rest = return_to
        .strip_prefix("http://")
        .or_else(|| return_to.strip_prefix("https://"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    (host.is_some_and(|host| !authority.contains('@') && authority.eq_ignore_ascii_case(host)))
        .then(|| return_to.to_owned())
}

/// Where a succeeded task sends the user.
fn next_for(task: &Task, return_to: Option<&str>, host: Option<&str>) -> String {
    task.links
        .result_url
        .as_deref()
        .filter(|url| href(url).is_some())
        .map(str::to_owned)
        .or_else(|| return_to.and_then(|url| safe_return(url, host)))
        .or_else(|| {
            task.links
                .return_url
                .as_deref()
                .filter(|url| href(url).is_some())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| format!("/ui/tasks/{}", task.id))
}

fn host(headers: &HeaderMap) -> Option<&str> {
    headers.get(HOST).and_then(|value| value.to_str().ok())
}

/// The task's state for the wait page's script.
pub(super) async fn status(
    State(state): State<UiState>,
    Viewer(owner): Viewer,
    Path(id): Path<String>,
    Query(params): Query<WaitParams>,
    headers: HeaderMap,
) -> Result<Json<Status>, Problem> {
    let task = owned(&state, &owner, &id).await?;
    let next = (task.state == TaskState::Succeeded)
        .then(|| next_for(&task, params.return_to.as_deref(), host(&headers)));
    Ok(Json(Status {
        state: task.state,
        title: task.title.clone().unwrap_or_else(|| task.name.clone()),
        percent: task.progress.percent,
        message: task.progress.message.clone(),
        error: task.error.as_ref().map(|error| error.message.clone()),
        input_url: task
            .links
            .input_url
            .clone()
            .filter(|url| href(url).is_some()),
        next,
        final_state: task.state.is_final(),
    }))
}

/// The wait page.
pub(super) async fn page(
    State(state): State<UiState>,
    Viewer(owner): Viewer,
    Path(id): Path<String>,
    Query(params): Query<WaitParams>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let task = owned(&state, &owner, &id).await?;
    let mut status_url = format!("/ui/tasks/{}/status", task.id);
    if let Some(return_to) = params
        .return_to
        .as_deref()
        .and_then(|url| safe_return(url, host(&headers)))
    {
        let _ = write!(status_url, "?return={}", encode(&return_to));
    }
    let title = task.title.clone().unwrap_or_else(|| task.name.clone());
    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>{title}</h1>\
         <div id=\"wait\" data-status-url=\"{status}\" data-details=\"/ui/tasks/{id}\">\
         <p id=\"wait-state\" role=\"status\" aria-live=\"polite\">{state}</p>\
         <progress id=\"wait-progress\" max=\"100\" value=\"{percent:.0}\"></progress> \
         <span id=\"wait-message\"></span>\
         <p id=\"wait-explain\" hidden></p>\
         <p id=\"wait-lost\" class=\"notice\" role=\"alert\" hidden>errand does not answer: \
         checking again in a moment. Your task goes on without this page.</p>\
         <p><a href=\"/ui/tasks/{id}\">Details of this task</a></p></div>\
         <noscript><p>This page follows the task with JavaScript; \
         <a href=\"/ui/tasks/{id}\">open the task's page</a> instead.</p></noscript>\
         <script>{SCRIPT}</script>",
        title = escape(&title),
        status = escape(&status_url),
        id = task.id,
        state = describe(task.state),
        percent = task.progress.percent.unwrap_or(0.0).clamp(0.0, 100.0),
    );
    Ok(html::page(StatusCode::OK, &title, "", &body))
}

/// A state in words.
fn describe(state: TaskState) -> &'static str {
    match state {
        TaskState::Scheduled | TaskState::Queued => "Waiting for its turn…",
        TaskState::Running => "Working…",
        TaskState::Waiting => "This task needs your input.",
        TaskState::Succeeded => "Done.",
        TaskState::Failed => "This task failed.",
        TaskState::Cancelled => "This task was cancelled.",
        TaskState::Expired => "This task expired before it could run.",
    }
}

/// Percent-encodes a query value.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(byte as char)
            }
            _ => {
                let _ = write!(out, "%{byte:02X}");
            }
        }
    }
    out
}

/// The wait page's script: polls the status, with backoff after failures.
const SCRIPT: &str = r#"
(() => {
  const root = document.getElementById("wait");
  const stateText = document.getElementById("wait-state");
  const bar = document.getElementById("wait-progress");
  const message = document.getElementById("wait-message");
  const explain = document.getElementById("wait-explain");
  const lost = document.getElementById("wait-lost");
  const words = { queued: "Waiting for its turn…", scheduled: "Waiting for its turn…",
    running: "Working…", waiting: "This task needs your input.", succeeded: "Done.",
    failed: "This task failed.", cancelled: "This task was cancelled.",
    expired: "This task expired before it could run." };
  let failures = 0;
  async function tick() {
    try {
      const response = await fetch(root.dataset.statusUrl, { credentials: "same-origin", cache: "no-store" });
      if (!response.ok) throw new Error(String(response.status));
      const status = await response.json();
      failures = 0;
      lost.hidden = true;
      stateText.textContent = words[status.state] || status.state;
      bar.value = Math.max(0, Math.min(100, Number(status.percent) || 0));
      message.textContent = status.message || "";
      if (status.next) { location.replace(status.next); return; }
      if (status.state === "failed") {
        explain.textContent = status.error || "";
        explain.hidden = false;
      } else if (status.state === "waiting" && status.input_url) {
        explain.textContent = "";
        const link = document.createElement("a");
        link.href = status.input_url;
        link.textContent = "Give your input";
        explain.appendChild(link);
        explain.hidden = false;
      }
      if (status.final_state) return;
    } catch (_) {
      failures += 1;
      if (failures >= 3) lost.hidden = false;
    }
    setTimeout(tick, Math.min(1000 * 2 ** Math.max(0, failures - 1), 15000));
  }
  tick();
})();
"#;

#[cfg(test)]
mod tests {
    use super::safe_return;

    #[test]
    fn only_relative_or_same_origin_returns_are_followed() {
        let host = Some("app.test:8000");
        assert_eq!(safe_return("/news?x=1", host).as_deref(), Some("/news?x=1"));
        assert_eq!(
            safe_return("http://app.test:8000/news", host).as_deref(),
            Some("http://app.test:8000/news")
        );
        assert_eq!(safe_return("//evil.test/x", host), None);
        assert_eq!(safe_return("/\\evil.test", host), None);
        assert_eq!(safe_return("https://evil.test/", host), None);
        assert_eq!(safe_return("http://app.test:8000@evil.test/", host), None);
        assert_eq!(safe_return("javascript:alert(1)", host), None);
        assert_eq!(safe_return("news", host), None);
    }
}
