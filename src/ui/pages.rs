//! `/ui/tasks` (the user's tasks) and `/ui/tasks/{id}` (one task, with its buttons), and the
//! buttons' form posts. A task of another owner is "not found", as in the API.

use std::fmt::Write as _;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::{IntoResponse, Response};

use super::UiState;
use super::html::{Problem, escape, href, page, when};
use super::session::Viewer;
use crate::model::{State as TaskState, Task, TaskId};
use crate::store::TaskFilter;

/// How many finished tasks the list shows.
const RECENT_FINISHED: usize = 20;
/// How often a page with tasks in motion reloads itself, in seconds.
const REFRESH_SECONDS: u32 = 3;

/// The user's tasks: running (with progress), waiting, failed, and recently finished.
pub(super) async fn list(
    State(state): State<UiState>,
    Viewer(owner): Viewer,
) -> Result<Response, Problem> {
    let open = state
        .engine
        .list(&TaskFilter {
            owner: Some(owner.clone()),
            states: vec![
                TaskState::Running,
                TaskState::Waiting,
                TaskState::Queued,
                TaskState::Scheduled,
            ],
            limit: 200,
            ..TaskFilter::default()
        })
        .await?;
    let finished = state
        .engine
        .list(&TaskFilter {
            owner: Some(owner.clone()),
            states: vec![
                TaskState::Succeeded,
                TaskState::Failed,
                TaskState::Cancelled,
                TaskState::Expired,
            ],
            limit: RECENT_FINISHED * 3,
            ..TaskFilter::default()
        })
        .await?;
    let failed: Vec<&Task> = finished
        .tasks
        .iter()
        .filter(|task| task.state == TaskState::Failed && !task.dismissed)
        .collect();
    let recent: Vec<&Task> = finished
        .tasks
        .iter()
        .filter(|task| task.state != TaskState::Failed || task.dismissed)
        .take(RECENT_FINISHED)
        .collect();
    let by_state = |wanted: &[TaskState]| -> Vec<&Task> {
        open.tasks
            .iter()
            .filter(|task| wanted.contains(&task.state))
            .collect()
    };
    let mut body = String::from("<h1>Your tasks</h1>");
    section(
        &mut body,
        "running",
        "Running",
        &by_state(&[TaskState::Running]),
    );
    section(
        &mut body,
        "waiting",
        "Waiting for you",
        &by_state(&[TaskState::Waiting]),
    );
    section(
        &mut body,
        "queued",
        "Queued",
        &by_state(&[TaskState::Queued, TaskState::Scheduled]),
    );
    section(&mut body, "failed", "Failed", &failed);
    section(&mut body, "finished", "Recently finished", &recent);
    if open.tasks.is_empty() && finished.tasks.is_empty() {
        body.push_str("<p class=\"notice\">You have no tasks.</p>");
    }
    let head = refresh_while(!open.tasks.is_empty());
    Ok(page(StatusCode::OK, "Your tasks", &head, &body))
}

/// A `<meta>` that reloads the page while tasks move.
fn refresh_while(moving: bool) -> String {
    if moving {
        format!("<meta http-equiv=\"refresh\" content=\"{REFRESH_SECONDS}\">")
    } else {
        String::new()
    }
}

/// One table of tasks, or nothing when there are none.
fn section(body: &mut String, id: &str, heading: &str, tasks: &[&Task]) {
    if tasks.is_empty() {
        return;
    }
    let _ = write!(
        body,
        "<section id=\"{id}\"><h2>{heading}</h2><table><thead><tr><th>Task</th><th>State</th>\
         <th>Progress</th><th>Started</th></tr></thead><tbody>"
    );
    for task in tasks {
        let _ = write!(
            body,
            "<tr data-task=\"{id}\"><td><a href=\"/ui/tasks/{id}\">{title}</a></td>\
             <td class=\"state-{state}\">{state}</td><td>{progress}</td><td>{started}</td></tr>",
            id = task.id,
            title = escape(title(task)),
            state = task.state.as_str(),
            progress = progress(task),
            started = when(task.started_at),
        );
    }
    body.push_str("</tbody></table></section>");
}

/// What a task is called.
fn title(task: &Task) -> &str {
    task.title.as_deref().unwrap_or(&task.name)
}

/// A progress bar and message, for a running task.
fn progress(task: &Task) -> String {
    if task.state != TaskState::Running && task.state != TaskState::Waiting {
        return task
            .error
            .as_ref()
            .filter(|_| task.state == TaskState::Failed)
            .map(|error| escape(&error.message))
            .unwrap_or_default();
    }
    let percent = task.progress.percent.unwrap_or(0.0).clamp(0.0, 100.0);
    let message = task
        .progress
        .message
        .as_deref()
        .map(escape)
        .unwrap_or_default();
    format!(
        "<progress max=\"100\" value=\"{percent:.0}\" aria-label=\"{label}\">{percent:.0}%</progress> {message}",
        label = escape(title(task)),
    )
}

/// One task: what it is, where it stands, why it failed, and what can be done with it.
pub(super) async fn details(
    State(state): State<UiState>,
    Viewer(owner): Viewer,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let task = owned(&state, &owner, &id).await?;
    let mut body = String::new();
    let _ = write!(
        body,
        "<p><a href=\"/ui/tasks\">← Your tasks</a></p><h1>{}</h1>",
        escape(title(&task))
    );
    if let Some(description) = &task.description {
        let _ = write!(body, "<p>{}</p>", escape(description));
    }
    let _ = write!(
        body,
        "<dl><dt>State</dt><dd class=\"state-{state}\" id=\"state\">{state}{dismissed}</dd>\
         <dt>Kind</dt><dd>{name} (queue {queue})</dd>\
         <dt>Attempts</dt><dd>{attempt} of {max}</dd>\
         <dt>Created</dt><dd>{created}</dd><dt>Started</dt><dd>{started}</dd>\
         <dt>Finished</dt><dd>{finished}</dd><dt>Progress</dt><dd>{progress}</dd></dl>",
        state = task.state.as_str(),
        dismissed = if task.dismissed { " (dismissed)" } else { "" },
        name = escape(&task.name),
        queue = escape(&task.queue),
        attempt = task.attempt,
        max = task.max_attempts,
        created = when(Some(task.created_at)),
        started = when(task.started_at),
        finished = when(task.finished_at),
        progress = running_progress(&task),
    );
    if let Some(error) = &task.error {
        let _ = write!(
            body,
            "<h2>What went wrong</h2><p id=\"error-message\">{}</p>",
            escape(&error.message)
        );
        if let Some(detail) = &error.detail {
            let _ = write!(
                body,
                "<pre id=\"error-detail\" tabindex=\"0\" aria-label=\"Error detail\">{}</pre>",
                escape(detail)
            );
        }
    }
    if let Some(result) = &task.result {
        let pretty = serde_json::to_string_pretty(result).unwrap_or_default();
        let _ = write!(
            body,
            "<h2>Result</h2><pre id=\"result\">{}</pre>",
            escape(&pretty)
        );
    }
    links(&mut body, &task);
    buttons(&mut body, &task);
    let head = refresh_while(!task.state.is_final());
    Ok(page(StatusCode::OK, title(&task), &head, &body))
}

/// The progress of a task that has any.
fn running_progress(task: &Task) -> String {
    match task.progress.percent {
        None if task.progress.message.is_none() => "—".to_owned(),
        _ => {
            let percent = task.progress.percent.unwrap_or(0.0).clamp(0.0, 100.0);
            let message = task
                .progress
                .message
                .as_deref()
                .map(escape)
                .unwrap_or_default();
            format!(
                "<progress max=\"100\" value=\"{percent:.0}\">{percent:.0}%</progress> {percent:.0}% {message}"
            )
        }
    }
}

/// The result, input and return links.
fn links(body: &mut String, task: &Task) {
    let links = [
        (&task.links.result_url, "View the result", "result-link"),
        (&task.links.input_url, "Give your input", "input-link"),
        (
            &task.links.return_url,
            "Back to the application",
            "return-link",
        ),
    ];
    let mut any = false;
    for (url, text, id) in links {
        if let Some(url) = url.as_deref().and_then(href) {
            body.push_str(if any { " · " } else { "<p>" });
            let _ = write!(body, "<a id=\"{id}\" href=\"{url}\">{text}</a>");
            any = true;
        }
    }
    if any {
        body.push_str("</p>");
    }
}

/// Cancel, retry and dismiss, where they apply.
fn buttons(body: &mut String, task: &Task) {
    let mut actions = Vec::new();
    if !task.state.is_final() && !task.cancel_requested {
        actions.push(("cancel", "Cancel"));
    }
    if matches!(
        task.state,
        TaskState::Failed | TaskState::Cancelled | TaskState::Expired
    ) {
        actions.push(("retry", "Retry"));
    }
    if task.state.is_final() && !task.dismissed {
        actions.push(("dismiss", "Dismiss"));
    }
    if actions.is_empty() {
        return;
    }
    body.push_str("<div class=\"actions\">");
    for (action, label) in actions {
        let _ = write!(
            body,
            "<form method=\"post\" action=\"/ui/tasks/{id}/{action}\"><button type=\"submit\" \
             id=\"{action}\">{label}</button></form>",
            id = task.id
        );
    }
    body.push_str("</div>");
}

/// The task `id` if it is `owner`'s; "not found" otherwise, as if it did not exist.
pub(super) async fn owned(state: &UiState, owner: &str, id: &str) -> Result<Task, Problem> {
    let id: TaskId = id.parse().map_err(|_| Problem::not_found())?;
    match state.engine.get(id).await? {
        Some(task) if task.owner.as_deref() == Some(owner) => Ok(task),
        _ => Err(Problem::not_found()),
    }
}

/// Cancels the task, then shows it.
pub(super) async fn cancel(
    State(state): State<UiState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let task = owned(&state, &viewer.0, &id).await?;
    state.engine.cancel(task.id).await?;
    Ok(back_to(task.id))
}

/// Retries the task, then shows it.
pub(super) async fn retry(
    State(state): State<UiState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let task = owned(&state, &viewer.0, &id).await?;
    state.engine.retry(task.id).await?;
    Ok(back_to(task.id))
}

/// Dismisses the task, then shows it.
pub(super) async fn dismiss(
    State(state): State<UiState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let task = owned(&state, &viewer.0, &id).await?;
    state.engine.dismiss(task.id).await?;
    Ok(back_to(task.id))
}

/// 303 to the task's page (post, redirect, get).
fn back_to(id: TaskId) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(LOCATION, format!("/ui/tasks/{id}"))],
    )
        .into_response()
}
