//! The demo application's task endpoints: errand dispatches each task here as
//! `POST /demo/work/{kind}`, as it would to any application, and the answer decides:
//!
//! | kind | answer |
//! |---|---|
//! | `delete`, `publish` | 200 after a moment's work |
//! | `convert` | 202 at once, then progress reports and the outcome to `Errand-Callback`, with `Errand-Task-Token` |
//! | `import` | 422 with a traceback: failed for good |
//! | `rename` | `Errand-Needs-Input: <link>` until the user answered, then 200 |
//!
//! The pauses stand for real work, so that a person sees the tasks run.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::app::App;

/// The target the demo's tasks are dispatched to.
pub const TARGET: &str = "demo";
/// Deletes run two at a time.
pub const DELETE_QUEUE: &str = "delete";
/// Publishes run in order per item (ordering key).
pub const PUBLISH_QUEUE: &str = "publish";
/// Conversions report their progress.
pub const CONVERT_QUEUE: &str = "convert";
/// Imports always fail, once.
pub const IMPORT_QUEUE: &str = "import";

/// What the user answered to tasks waiting for input, by task id.
#[derive(Clone, Default)]
pub struct Answers(Arc<Mutex<HashMap<String, String>>>);

impl Answers {
    /// Keeps the user's answer for a task.
    pub fn give(&self, task: &str, answer: String) {
        self.lock().insert(task.to_owned(), answer);
    }

    fn take(&self, task: &str) -> Option<String> {
        self.lock().remove(task)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A task's payload.
#[derive(Debug, Deserialize)]
pub(super) struct Payload {
    item: u32,
}

/// `POST /demo/work/{kind}`.
pub(super) async fn run(
    State(app): State<App>,
    Path(kind): Path<String>,
    headers: HeaderMap,
    Json(payload): Json<Payload>,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let item = payload.item;
    match kind.as_str() {
        "delete" => {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            app.items.remove(item);
            Json(json!({"message": format!("item {item} deleted")})).into_response()
        }
        "publish" => {
            tokio::time::sleep(Duration::from_millis(1000)).await;
            app.items.update(item, |item| item.published = true);
            Json(json!({"message": "published", "result_url": format!("/demo/items/{item}")}))
                .into_response()
        }
        "convert" => {
            let callback = header("errand-callback");
            let token = header("errand-task-token");
            tokio::spawn(convert(app, item, callback, token));
            StatusCode::ACCEPTED.into_response()
        }
        "import" => (
            StatusCode::UNPROCESSABLE_ENTITY,
            IMPORT_TRACEBACK.replace("{item}", &item.to_string()),
        )
            .into_response(),
        "rename" => {
            let task = header("errand-task-id");
            match app.answers.take(&task) {
                Some(name) => {
                    let name = name.trim().chars().take(80).collect::<String>();
                    app.items.update(item, |item| item.name = name.clone());
                    Json(json!({"message": format!("renamed to {name}")})).into_response()
                }
                None => (
                    [(
                        "errand-needs-input",
                        format!("/demo/input/{task}?item={item}"),
                    )],
                    Json(json!({"message": "what should the new name be?"})),
                )
                    .into_response(),
            }
        }
        _ => (StatusCode::NOT_FOUND, "no such kind of task").into_response(),
    }
}

/// Converts an item in ten steps, reporting each to errand, then the outcome.
async fn convert(app: App, item: u32, callback: String, token: String) {
    let report = |what: &'static str, body: serde_json::Value| {
        app.http
            .post(format!("{callback}/{what}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    const STEPS: u64 = 10;
    for step in 1..=STEPS {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let body =
            json!({"current": step, "total": STEPS, "message": format!("page {step} of {STEPS}")});
        if let Err(err) = report("progress", body).await {
            tracing::warn!(error = %err, "the demo could not report progress");
            return;
        }
    }
    app.items.update(item, |item| item.converted = true);
    let outcome = json!({"message": "converted", "result_url": format!("/demo/items/{item}")});
    if let Err(err) = report("complete", outcome).await {
        tracing::warn!(error = %err, "the demo could not report the outcome");
    }
}

/// What the import that always fails answers with.
const IMPORT_TRACEBACK: &str = "Traceback (most recent call last):
  File \"/srv/demo/importer.py\", line 42, in import_item
    rows = parse(source)
  File \"/srv/demo/importer.py\", line 17, in parse
    raise ValueError(f\"line {n}: expected 3 columns, found {len(cells)}\")
ValueError: line 7 of item {item}: expected 3 columns, found 2";
