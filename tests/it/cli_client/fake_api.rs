//! A fake errand API for the client commands' tests: every route of the contract (DESIGN.md)
//! they use, answered from a script each test sets, every request recorded. It runs on its own
//! runtime, since the tests block on the binary.

use std::collections::{HashMap, VecDeque};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// One request the fake API received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    pub path: String,
    pub query: HashMap<String, String>,
    pub body: Value,
}

/// What the fake API answers, set by each test.
#[derive(Default)]
pub struct Script {
    /// Every call must carry `Authorization: Bearer` this key.
    pub api_key: Option<String>,
    /// The answers of `GET /v1/tasks/{id}`, in turn; the last one repeats. When the last one is
    /// not final, it is held for the `wait` asked, like a real long poll.
    pub polls: Mutex<VecDeque<Value>>,
    /// The pages of `GET /v1/tasks`, by cursor (`""` for the first).
    pub pages: HashMap<String, Value>,
    /// The answer of `GET /v1/selftest`.
    pub selftest: Value,
    /// Every request received, in order.
    pub seen: Mutex<Vec<Seen>>,
}

/// The fake API on a port of its own, with its own runtime (the tests block on the binary).
pub struct FakeApi {
    /// Its base URL, `http://127.0.0.1:PORT`.
    pub url: String,
    script: Arc<Script>,
    _runtime: tokio::runtime::Runtime,
}

impl FakeApi {
    /// Serves `script` on a free port of 127.0.0.1.
    pub fn start(script: Script) -> FakeApi {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let script = Arc::new(script);
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new().fallback(answer).with_state(script.clone());
        runtime.spawn(async move { axum::serve(listener, app).await });
        FakeApi {
            url,
            script,
            _runtime: runtime,
        }
    }

    /// Runs `errand ARGS` against this API (given by `ERRAND_URL`).
    pub fn run(&self, args: &[&str]) -> Output {
        errand(args).env("ERRAND_URL", &self.url).output().unwrap()
    }

    /// The requests received so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.script.seen.lock().unwrap().clone()
    }
}

/// The binary with no errand settings inherited from the environment.
pub fn errand(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_errand"));
    command
        .args(args)
        .env_remove("ERRAND_URL")
        .env_remove("ERRAND_API_KEY")
        .stdin(Stdio::null());
    command
}

/// The command's standard output as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The command's standard error as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A task as the API shows it, with `fields` over the defaults.
pub fn task(id: &str, state: &str, fields: Value) -> Value {
    let mut task = json!({
        "id": id, "name": "content.delete", "queue": "default", "owner": "alice",
        "title": null, "description": null, "executor": "tracked", "state": state,
        "progress": {"percent": null, "message": null, "current": null, "total": null},
        "links": {"result_url": null, "return_url": null, "input_url": null},
        "error": null, "result": null, "attempt": 1, "max_attempts": 3, "priority": 0,
        "created_at": "2025-11-27T13:57:01.250Z", "scheduled_for": "2025-11-27T13:57:01Z",
        "started_at": null, "finished_at": null, "dismissed": false, "context": null,
        "ordering_key": null, "dedup_key": null, "cancel_requested": false
    });
    for (key, value) in fields.as_object().unwrap() {
        task[key] = value.clone();
    }
    task
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

/// The fake API: every route of the contract the client uses, in one function.
async fn answer(
    State(script): State<Arc<Script>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query: HashMap<String, String> = reqwest::Url::parse(&format!("http://fake{uri}"))
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    script.seen.lock().unwrap().push(Seen {
        method: method.clone(),
        path: uri.path().to_owned(),
        query: query.clone(),
        body: body.clone(),
    });
    if let Some(key) = &script.api_key {
        let sent = headers.get("authorization").and_then(|v| v.to_str().ok());
        if sent != Some(&format!("Bearer {key}")) {
            return error(StatusCode::UNAUTHORIZED, "unauthorized", "bad API key");
        }
    }
    let segments: Vec<&str> = uri.path().trim_start_matches("/v1/").split('/').collect();
    let json = |status: StatusCode, value: Value| (status, axum::Json(value)).into_response();
    match (method.as_str(), segments.as_slice()) {
        ("POST", ["tasks"]) => json(
            StatusCode::CREATED,
            task("0190-new", "queued", json!({"name": body["name"]})),
        ),
        ("GET", ["tasks"]) => {
            let cursor = query.get("cursor").map_or("", String::as_str);
            json(StatusCode::OK, script.pages[cursor].clone())
        }
        ("GET", ["tasks", "missing"]) => error(
            StatusCode::NOT_FOUND,
            "not_found",
            "no task with id missing",
        ),
        ("GET", ["tasks", _id]) => {
            let (next, last) = {
                let mut polls = script.polls.lock().unwrap();
                match polls.len() {
                    1 => (polls[0].clone(), true),
                    _ => (polls.pop_front().unwrap(), false),
                }
            };
            let held = matches!(next["state"].as_str(), Some("queued" | "running"));
            if last && held {
                // A long poll: the answer comes when the wait asked for is over.
                let wait = query.get("wait").and_then(|w| w.parse().ok()).unwrap_or(0);
                tokio::time::sleep(Duration::from_secs(wait)).await;
            }
            json(StatusCode::OK, next)
        }
        ("POST", ["tasks", id, verb]) => {
            let after = match *verb {
                "cancel" => task(id, "cancelled", json!({})),
                "dismiss" => task(id, "failed", json!({"dismissed": true})),
                _ => task(id, "queued", json!({})),
            };
            json(StatusCode::OK, after)
        }
        ("POST", ["tokens"]) => json(
            StatusCode::OK,
            json!({"token": format!("tok-{}", body["owner"].as_str().unwrap()),
                   "expires_at": "2025-11-27T14:57:01Z"}),
        ),
        ("GET", ["selftest"]) => json(StatusCode::OK, script.selftest.clone()),
        _ => error(StatusCode::NOT_FOUND, "not_found", "no such route"),
    }
}

/// A fake whose task `0190-a` answers `polls` in turn.
pub fn polling(polls: Vec<Value>) -> FakeApi {
    FakeApi::start(Script {
        polls: Mutex::new(polls.into()),
        ..Script::default()
    })
}
