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
use super::text::{Locale, Text};
use crate::engine::{Engine, EngineError};
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
    locale: Locale,
) -> Result<Response, Problem> {
    let text = locale.text();
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
    let mut body = format!("<h1>{}</h1>", text.your_tasks);
    let sections = [
        ("running", text.running, by_state(&[TaskState::Running])),
        (
            "waiting",
            text.waiting_for_you,
            by_state(&[TaskState::Waiting]),
        ),
        (
            "queued",
            text.queued,
            by_state(&[TaskState::Queued, TaskState::Scheduled]),
        ),
        ("failed", text.failed, failed),
        ("finished", text.recently_finished, recent),
    ];
    for (id, heading, tasks) in sections {
        section(&mut body, locale, id, heading, &tasks);
    }
    if open.tasks.is_empty() && finished.tasks.is_empty() {
        let _ = write!(body, "<p class=\"notice\">{}</p>", text.no_tasks);
    }
    let head = refresh_while(!open.tasks.is_empty());
    Ok(page(
        StatusCode::OK,
        locale.lang,
        text.your_tasks,
        &head,
        &body,
    ))
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
fn section(body: &mut String, locale: Locale, id: &str, heading: &str, tasks: &[&Task]) {
    if tasks.is_empty() {
        return;
    }
    let text = locale.text();
    let _ = write!(
        body,
        "<section id=\"{id}\"><h2>{heading}</h2><table><thead><tr><th>{task}</th>\
         <th>{state}</th><th>{progress}</th><th>{started}</th></tr></thead><tbody>",
        task = text.col_task,
        state = text.col_state,
        progress = text.col_progress,
        started = text.col_started,
    );
    for task in tasks {
        let _ = write!(
            body,
            "<tr data-task=\"{id}\"><td><a href=\"{link}\">{title}</a></td>\
             <td class=\"state-{state}\">{name}</td><td>{progress}</td><td>{started}</td></tr>",
            id = task.id,
            link = locale.link(&format!("/ui/tasks/{}", task.id)),
            title = escape(title(task)),
            state = task.state.as_str(),
            name = text.state_name(task.state),
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
    locale: Locale,
) -> Result<Response, Problem> {
    let task = owned(&state, &owner, &id).await?;
    let text = locale.text();
    let mut body = String::new();
    let _ = write!(
        body,
        "<p><a href=\"{}\">{}</a></p><h1>{}</h1>",
        locale.link("/ui/tasks"),
        text.back_to_tasks,
        escape(title(&task))
    );
    if let Some(description) = &task.description {
        let _ = write!(body, "<p>{}</p>", escape(description));
    }
    let _ = write!(
        body,
        "<dl><dt>{t_state}</dt><dd class=\"state-{state}\" id=\"state\">{state_name}{dismissed}</dd>\
         <dt>{t_kind}</dt><dd>{name} ({t_queue} {queue})</dd>\
         <dt>{t_attempts}</dt><dd>{attempt} {t_of} {max}</dd>\
         <dt>{t_created}</dt><dd>{created}</dd><dt>{t_started}</dt><dd>{started}</dd>\
         <dt>{t_finished}</dt><dd>{finished}</dd><dt>{t_progress}</dt><dd>{progress}</dd></dl>",
        t_state = text.state,
        t_kind = text.kind,
        t_queue = text.queue,
        t_attempts = text.attempts,
        t_of = text.of,
        t_created = text.created,
        t_started = text.started,
        t_finished = text.finished,
        t_progress = text.progress,
        state = task.state.as_str(),
        state_name = text.state_name(task.state),
        dismissed = if task.dismissed {
            format!(" ({})", text.dismissed)
        } else {
            String::new()
        },
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
            "<h2>{}</h2><p id=\"error-message\">{}</p>",
            text.what_went_wrong,
            escape(&error.message)
        );
        if let Some(detail) = &error.detail {
            let _ = write!(
                body,
                "<pre id=\"error-detail\" tabindex=\"0\" aria-label=\"{}\">{}</pre>",
                text.error_detail,
                escape(detail)
            );
        }
    }
    if let Some(result) = &task.result {
        let pretty = serde_json::to_string_pretty(result).unwrap_or_default();
        let _ = write!(
            body,
            "<h2>{}</h2><pre id=\"result\">{}</pre>",
            text.result,
            escape(&pretty)
        );
    }
    links(&mut body, text, &task);
    buttons(&mut body, locale, &task);
    let head = refresh_while(!task.state.is_final());
    Ok(page(
        StatusCode::OK,
        locale.lang,
        title(&task),
        &head,
        &body,
    ))
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
fn links(body: &mut String, text: &Text, task: &Task) {
    let links = [
        (&task.links.result_url, text.view_result, "result-link"),
        (&task.links.input_url, text.give_input, "input-link"),
        (&task.links.return_url, text.back_to_app, "return-link"),
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
fn buttons(body: &mut String, locale: Locale, task: &Task) {
    let text = locale.text();
    let mut actions = Vec::new();
    if !task.state.is_final() && !task.cancel_requested {
        actions.push(("cancel", text.cancel));
    }
    if matches!(
        task.state,
        TaskState::Failed | TaskState::Cancelled | TaskState::Expired
    ) {
        actions.push(("retry", text.retry));
    }
    if task.state.is_final() && !task.dismissed {
        actions.push(("dismiss", text.dismiss));
    }
    if actions.is_empty() {
        return;
    }
    body.push_str("<div class=\"actions\">");
    for (action, label) in actions {
        let _ = write!(
            body,
            "<form method=\"post\" action=\"{target}\"><button type=\"submit\" \
             id=\"{action}\">{label}</button></form>",
            target = locale.link(&format!("/ui/tasks/{}/{action}", task.id)),
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
    locale: Locale,
) -> Result<Response, Problem> {
    act(&state, &viewer, &id, locale, Engine::cancel).await
}

/// Retries the task, then shows it.
pub(super) async fn retry(
    State(state): State<UiState>,
    viewer: Viewer,
    Path(id): Path<String>,
    locale: Locale,
) -> Result<Response, Problem> {
    act(&state, &viewer, &id, locale, Engine::retry).await
}

/// Dismisses the task, then shows it.
pub(super) async fn dismiss(
    State(state): State<UiState>,
    viewer: Viewer,
    Path(id): Path<String>,
    locale: Locale,
) -> Result<Response, Problem> {
    act(&state, &viewer, &id, locale, Engine::dismiss).await
}

/// Applies a button's `action` to the viewer's task `id`, then redirects to its page.
async fn act(
    state: &UiState,
    viewer: &Viewer,
    id: &str,
    locale: Locale,
    action: impl AsyncFnOnce(&Engine, TaskId) -> Result<Task, EngineError>,
) -> Result<Response, Problem> {
    let task = owned(state, &viewer.0, id).await?;
    action(&state.engine, task.id).await?;
    Ok(back_to(task.id, locale))
}

/// 303 to the task's page (post, redirect, get), in the language the post was asked in.
fn back_to(id: TaskId, locale: Locale) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(LOCATION, locale.link(&format!("/ui/tasks/{id}")))],
    )
        .into_response()
}
