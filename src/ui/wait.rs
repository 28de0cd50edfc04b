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
use super::text::{Locale, Text};
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
fn next_for(task: &Task, return_to: Option<&str>, host: Option<&str>, locale: Locale) -> String {
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
        .unwrap_or_else(|| locale.link(&format!("/ui/tasks/{}", task.id)))
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
    locale: Locale,
) -> Result<Json<Status>, Problem> {
    let task = owned(&state, &owner, &id).await?;
    let next = (task.state == TaskState::Succeeded)
        .then(|| next_for(&task, params.return_to.as_deref(), host(&headers), locale));
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
    locale: Locale,
) -> Result<Response, Problem> {
    let task = owned(&state, &owner, &id).await?;
    let text = locale.text();
    let mut status_url = locale.link(&format!("/ui/tasks/{}/status", task.id));
    if let Some(return_to) = params
        .return_to
        .as_deref()
        .and_then(|url| safe_return(url, host(&headers)))
    {
        let separator = if locale.pinned { '&' } else { '?' };
        let _ = write!(status_url, "{separator}return={}", encode(&return_to));
    }
    let details = locale.link(&format!("/ui/tasks/{}", task.id));
    let title = task.title.clone().unwrap_or_else(|| task.name.clone());
    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>{title}</h1>\
         <div id=\"wait\" data-status-url=\"{status}\" data-details=\"{details}\" \
         data-words=\"{words}\">\
         <p id=\"wait-state\" role=\"status\" aria-live=\"polite\">{state}</p>\
         <progress id=\"wait-progress\" max=\"100\" value=\"{percent:.0}\"></progress> \
         <span id=\"wait-message\"></span>\
         <p id=\"wait-explain\" hidden></p>\
         <p id=\"wait-lost\" class=\"notice\" role=\"alert\" hidden>{lost}</p>\
         <p><a href=\"{details}\">{details_text}</a></p></div>\
         <noscript><p>{noscript} <a href=\"{details}\">{noscript_link}</a>.</p></noscript>\
         <script>{SCRIPT}</script>",
        title = escape(&title),
        status = escape(&status_url),
        details = escape(&details),
        words = escape(&script_words(text)),
        state = text.describe(task.state),
        lost = text.wait_lost,
        details_text = text.wait_details,
        noscript = text.wait_noscript,
        noscript_link = text.wait_noscript_link,
        percent = task.progress.percent.unwrap_or(0.0).clamp(0.0, 100.0),
    );
    Ok(html::page(StatusCode::OK, locale.lang, &title, "", &body))
}

/// The words the wait page's script shows, as JSON: each state in a sentence, and the input
/// link's text.
fn script_words(text: &Text) -> String {
    let states = [
        TaskState::Scheduled,
        TaskState::Queued,
        TaskState::Running,
        TaskState::Waiting,
        TaskState::Succeeded,
        TaskState::Failed,
        TaskState::Cancelled,
        TaskState::Expired,
    ]
    .into_iter()
    .map(|state| (state.as_str().to_owned(), text.describe(state).into()))
    .collect::<serde_json::Map<String, serde_json::Value>>();
    serde_json::json!({ "states": states, "give_input": text.give_input }).to_string()
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
  const words = JSON.parse(root.dataset.words);
  let failures = 0;
  async function tick() {
    try {
      const response = await fetch(root.dataset.statusUrl, { credentials: "same-origin", cache: "no-store" });
      if (!response.ok) throw new Error(String(response.status));
      const status = await response.json();
      failures = 0;
      lost.hidden = true;
      stateText.textContent = words.states[status.state] || status.state;
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
        link.textContent = words.give_input;
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
