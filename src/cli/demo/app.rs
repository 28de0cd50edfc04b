//! The demo application's pages: a folder of items with buttons that enqueue tasks, the
//! `<errand-tasks>` widget in the layout, and the fragment the widget's `inject` hint fetches.
//! Who is signed in is a cookie (`?user=bob` switches), so that two users can be compared.

use std::fmt::Write as _;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use errand::auth::UserTokens;
use errand::engine::Engine;
use errand::model::{Executor, NewTask, Payload, TaskId};
use errand::ui::html_escape as escape;
use serde::Deserialize;
use serde_json::json;

use super::items::{Item, Items};
use super::work::{self, Answers};

/// The demo application's state.
#[derive(Clone)]
pub struct App {
    engine: Engine,
    user_tokens: UserTokens,
    /// The folder.
    pub items: Items,
    /// The users' answers to tasks that asked.
    pub answers: Answers,
    /// Reports to errand.
    pub http: reqwest::Client,
}

impl App {
    /// The application over `engine`, with a dozen items.
    pub fn new(engine: Engine, user_tokens: UserTokens) -> App {
        App {
            engine,
            user_tokens,
            items: Items::sample(),
            answers: Answers::default(),
            http: errand::run::http::client_builder()
                .build()
                .unwrap_or_default(),
        }
    }
}

/// The application's routes, under `/demo`.
pub fn router(app: App) -> Router {
    Router::new()
        .route("/demo", get(|| async { Redirect::to("/demo/") }))
        .route("/demo/", get(home))
        .route("/demo/items", get(fragment))
        .route("/demo/items/{id}", get(item_page))
        .route("/demo/actions/{action}", post(act))
        .route("/demo/actions/{action}/{item}", post(act_on))
        .route("/demo/input/{task}", get(input_form).post(input_answer))
        .route("/demo/work/{kind}", post(work::run))
        .with_state(app)
}

/// `?user=` (switch users) and `?still=1` (a page never reloaded by a hint) of the home page.
#[derive(Debug, Deserialize)]
struct Who {
    user: Option<String>,
    still: Option<String>,
}

/// The signed-in user: the `demo_user` cookie, or alice.
fn user(headers: &HeaderMap) -> String {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| pair.trim().strip_prefix("demo_user="))
        .filter(|name| valid_user(name))
        .unwrap_or("alice")
        .to_owned()
}

fn valid_user(name: &str) -> bool {
    !name.is_empty() && name.len() <= 32 && name.chars().all(|c| c.is_ascii_alphanumeric())
}

/// The home page: the folder, the actions, and the widget.
async fn home(State(app): State<App>, Query(who): Query<Who>, headers: HeaderMap) -> Response {
    if let Some(name) = who.user.filter(|name| valid_user(name)) {
        let cookie = format!("demo_user={name}; Path=/demo; SameSite=Lax");
        return (
            StatusCode::SEE_OTHER,
            [(LOCATION, "/demo/".to_owned()), (SET_COOKIE, cookie)],
        )
            .into_response();
    }
    let user = user(&headers);
    let token = match app
        .user_tokens
        .mint(&user, Duration::from_secs(3600), jiff::Timestamp::now())
    {
        Ok(minted) => minted.token,
        Err(err) => return (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response(),
    };
    let other = if user == "alice" { "bob" } else { "alice" };
    let mut page = String::new();
    let _ = write!(
        page,
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Demo content manager</title>
<script src="/widget/errand.js" defer></script>
<style>
  body {{ font: 16px/1.45 system-ui, sans-serif; max-width: 56rem; margin: 1rem auto; padding: 0 1rem; color: #1d2125; }}
  header {{ display: flex; justify-content: space-between; align-items: baseline; border-bottom: 1px solid #d0d4da; margin-bottom: 1rem; }}
  errand-tasks {{ margin-bottom: 1rem; --errand-accent: #0b7a5c; }}
  table {{ border-collapse: collapse; width: 100%; }} td, th {{ padding: .3rem .5rem; border-bottom: 1px solid #e3e6ea; text-align: left; }}
  form {{ display: inline; }} .actions {{ margin: 1rem 0; display: flex; gap: .5rem; flex-wrap: wrap; }}
  .tag {{ font-size: .8em; padding: 0 .4rem; border-radius: 4px; background: #e4f3ee; }}
</style></head>
<body{still}>
<header><h1>Demo content manager</h1>
<p>Signed in as <strong id="user">{user}</strong> · <a href="/demo/?user={other}">switch to {other}</a>
 · <a id="tasks-link" href="/ui/tasks?token={token}">your tasks</a></p></header>
<errand-tasks base-url="" token="{token}" poll-seconds="5"></errand-tasks>
<div class="actions">
<form method="post" action="/demo/actions/delete"><button id="delete-many">Delete the first 6 items</button></form>
<form method="post" action="/demo/actions/import"><button id="import">Import a spreadsheet (always fails)</button></form>
<form method="post" action="/demo/actions/refill"><button id="refill">Add a dozen items</button></form>
</div>
<form id="note" onsubmit="return false"><label>A note in progress (while it holds unsaved text, no hint reloads this page)
<input id="note-text" name="note" size="40"></label></form>
<div id="items">{items}</div>
<p><small>Deletes run two at a time (queue <code>delete</code>, 2 slots) and reload this listing when
they finish (<code>reload_if_path</code>); a publish or conversion updates the listing in place
(<code>inject</code>); a rename asks you a question first.</small></p>
</body></html>"#,
        user = escape(&user),
        other = other,
        still = if who.still.is_some() {
            " data-errand-no-reload"
        } else {
            ""
        },
        token = escape(&token),
        items = listing(&app.items.all()),
    );
    Html(page).into_response()
}

/// The listing, as the `inject` hint fetches it.
async fn fragment(State(app): State<App>) -> Response {
    (
        [(CONTENT_TYPE, "text/html; charset=utf-8")],
        listing(&app.items.all()),
    )
        .into_response()
}

/// The folder as a table.
fn listing(items: &[Item]) -> String {
    let mut html = format!(
        "<table data-count=\"{}\"><thead><tr><th>Item</th><th>State</th><th>Actions</th></tr></thead><tbody>",
        items.len()
    );
    for item in items {
        let _ = write!(
            html,
            "<tr data-item=\"{id}\"><td><a href=\"/demo/items/{id}\">{name}</a></td><td>{published}{converted}</td>\
             <td><form method=\"post\" action=\"/demo/actions/publish/{id}\"><button>Publish</button></form> \
             <form method=\"post\" action=\"/demo/actions/convert/{id}\"><button>Convert to PDF</button></form> \
             <form method=\"post\" action=\"/demo/actions/rename/{id}\"><button>Rename</button></form></td></tr>",
            id = item.id,
            name = escape(&item.name),
            published = if item.published {
                "<span class=\"tag published\">published</span> "
            } else {
                ""
            },
            converted = if item.converted {
                "<span class=\"tag converted\">PDF</span>"
            } else {
                ""
            },
        );
    }
    html.push_str("</tbody></table>");
    html
}

/// One item (a result link).
async fn item_page(State(app): State<App>, Path(id): Path<u32>) -> Response {
    match app.items.get(id) {
        Some(item) => Html(format!(
            "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>{name}</title>\
             <h1>{name}</h1><p>{published} · {converted}</p><p><a href=\"/demo/\">Back to the folder</a></p>",
            name = escape(&item.name),
            published = if item.published { "Published" } else { "Not published" },
            converted = if item.converted { "converted to PDF" } else { "not converted" },
        ))
        .into_response(),
        None => (StatusCode::NOT_FOUND, "no such item").into_response(),
    }
}

/// The actions without an item: delete many, import, refill.
async fn act(State(app): State<App>, Path(action): Path<String>, headers: HeaderMap) -> Response {
    let owner = user(&headers);
    let result = match action.as_str() {
        "delete" => {
            let mut tasks = Vec::new();
            for item in app.items.all().into_iter().take(6) {
                tasks.push(task(
                    &owner,
                    work::DELETE_QUEUE,
                    "delete",
                    format!("Deleting “{}”", item.name),
                    item.id,
                    json!({"affects": ["/demo/"], "reload_if_path": ["/demo/"]}),
                ));
            }
            app.engine.enqueue_batch(tasks).await.map(drop)
        }
        "import" => {
            let item = app.items.all().first().map_or(0, |item| item.id);
            let task = task(
                &owner,
                work::IMPORT_QUEUE,
                "import",
                "Importing a spreadsheet".to_owned(),
                item,
                json!(null),
            );
            app.engine.enqueue(task).await.map(drop)
        }
        "refill" => {
            app.items.refill();
            Ok(())
        }
        _ => return (StatusCode::NOT_FOUND, "no such action").into_response(),
    };
    back(result)
}

/// The actions on one item: publish, convert, rename.
async fn act_on(
    State(app): State<App>,
    Path((action, id)): Path<(String, u32)>,
    headers: HeaderMap,
) -> Response {
    let owner = user(&headers);
    let Some(item) = app.items.get(id) else {
        return (StatusCode::NOT_FOUND, "no such item").into_response();
    };
    let inject = json!({"inject": {"url": "/demo/items", "target": "#items"}});
    let (queue, title, context) = match action.as_str() {
        "publish" => (
            work::PUBLISH_QUEUE,
            format!("Publishing “{}”", item.name),
            inject,
        ),
        "convert" => (
            work::CONVERT_QUEUE,
            format!("Converting “{}” to PDF", item.name),
            inject,
        ),
        "rename" => ("default", format!("Renaming “{}”", item.name), inject),
        _ => return (StatusCode::NOT_FOUND, "no such action").into_response(),
    };
    let mut new = task(&owner, queue, &action, title, item.id, context);
    if action == "publish" {
        // Two publishes of one item never race: they run in the order they were asked for.
        new.ordering_key = Some(format!("item:{}", item.id));
    }
    back(app.engine.enqueue(new).await.map(drop))
}

/// A task dispatched to the demo's own `/demo/work/{kind}`.
fn task(
    owner: &str,
    queue: &str,
    kind: &str,
    title: String,
    item: u32,
    context: serde_json::Value,
) -> NewTask {
    let mut task = NewTask::new(format!("demo.{kind}"));
    task.queue = queue.to_owned();
    task.owner = Some(owner.to_owned());
    task.title = Some(title);
    task.executor = Executor::Http {
        target: work::TARGET.to_owned(),
        path: format!("/{kind}"),
    };
    task.payload = Payload::Json(json!({"item": item}));
    task.context = (!context.is_null()).then_some(context);
    task.return_url = Some("/demo/".to_owned());
    task
}

/// Back to the folder, or the error.
fn back(result: Result<(), errand::engine::EngineError>) -> Response {
    match result {
        Ok(()) => Redirect::to("/demo/").into_response(),
        Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response(),
    }
}

/// `?item=` of the input page.
#[derive(Debug, Deserialize)]
struct InputFor {
    item: Option<u32>,
}

/// The question a rename asks.
async fn input_form(
    State(app): State<App>,
    Path(task): Path<String>,
    Query(input): Query<InputFor>,
) -> Response {
    if task.parse::<TaskId>().is_err() {
        return (StatusCode::NOT_FOUND, "no such task").into_response();
    }
    let name = input
        .item
        .and_then(|id| app.items.get(id))
        .map(|item| item.name)
        .unwrap_or_default();
    Html(format!(
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Rename</title>\
         <h1>Rename “{name}”</h1><form method=\"post\"><label>New name \
         <input name=\"name\" value=\"{name}\" required maxlength=\"80\"></label> \
         <button id=\"answer\">Rename</button></form><p><a href=\"/demo/\">Back</a></p>",
        name = escape(&name),
    ))
    .into_response()
}

/// The user's answer: kept for the task's next dispatch, and the task resumed.
async fn input_answer(
    State(app): State<App>,
    Path(task): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let Ok(id) = task.parse::<TaskId>() else {
        return (StatusCode::NOT_FOUND, "no such task").into_response();
    };
    let owner = user(&headers);
    match app.engine.get(id).await {
        Ok(Some(found)) if found.owner.as_deref() == Some(owner.as_str()) => {}
        Ok(_) => return (StatusCode::NOT_FOUND, "no such task").into_response(),
        Err(err) => return (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response(),
    }
    let name = body
        .split('&')
        .find_map(|pair| pair.strip_prefix("name="))
        .map(errand::api::percent_decode)
        .unwrap_or_default();
    if name.trim().is_empty() {
        return (StatusCode::UNPROCESSABLE_ENTITY, "give a name").into_response();
    }
    app.answers.give(&task, name);
    back(app.engine.resume(id, None).await.map(drop))
}
