//! An errand API on an ephemeral port, over an engine on a temporary SQLite file, with known
//! keys and secrets; and a client that answers `(status, JSON)`.

use std::sync::Arc;
use std::time::Duration;

use errand::api::{self, ApiSettings};
use errand::auth::{ApiKeys, Scope, Sealer, TaskTokens, UserTokens};
use errand::engine::EngineBuilder;
use errand::metrics::Metrics;
use errand::prelude::*;
use errand::run::http::{DispatchSettings, Target};
use reqwest::Method;
use serde_json::Value;

use crate::util::{TestDb, engine_on};

/// An API key with every scope.
pub const ADMIN: &str = "admin-key-0123456789";
/// The application's key: enqueue and read.
pub const APP: &str = "app-key-0123456789abcdef";
/// A key that may only read.
pub const READER: &str = "reader-key-0123456789";

const USER_SECRET: &str = "the user token secret, 32 bytes";

/// A running API.
pub struct Api {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The engine behind it.
    pub engine: Engine,
    /// Its database.
    pub db: TestDb,
    /// Stops the server's event streams.
    pub shutdown: tokio_util::sync::CancellationToken,
    http: reqwest::Client,
}

/// The sealer the API and its dispatcher share.
pub fn sealer() -> Sealer {
    Sealer::new([42; 32])
}

/// The task tokens the API and its dispatcher share.
pub fn task_tokens() -> TaskTokens {
    TaskTokens::new(b"task token secret for the api tests")
}

/// Dispatch settings for `targets` with the harness's secrets.
pub fn dispatch_settings(targets: Vec<Target>, report_timeout: Duration) -> DispatchSettings {
    DispatchSettings {
        targets,
        callback_base: Some("http://127.0.0.1:1".into()),
        sealer: sealer(),
        task_tokens: task_tokens(),
        report_timeout,
        max_error_body: 64 * 1024,
    }
}

/// Options of [`Api::start_with`].
pub struct Options {
    /// How long the application has between reports.
    pub report_timeout: Duration,
    /// The largest request body.
    pub max_body_bytes: usize,
    /// Origins allowed by CORS.
    pub allowed_origins: Vec<&'static str>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            report_timeout: Duration::from_secs(60),
            max_body_bytes: 64 * 1024,
            allowed_origins: Vec::new(),
        }
    }
}

impl Api {
    /// An API over an engine with a `default` queue of 4 slots and the `noop` handler.
    pub async fn start() -> Api {
        Api::start_with(Options::default(), |builder| builder).await
    }

    /// An API over the engine `configure` builds (from one with quick timings, a `default`
    /// queue of 4 slots and the `noop` handler).
    pub async fn start_with(
        options: Options,
        configure: impl FnOnce(EngineBuilder) -> EngineBuilder,
    ) -> Api {
        let db = TestDb::new();
        let builder = engine_on(&db)
            .queue(Queue::new("default").concurrency(4))
            .handler("noop", crate::util::noop);
        let engine = configure(builder).start().await.expect("the engine starts");
        let mut api_keys = ApiKeys::default();
        api_keys.add(ADMIN, vec![Scope::Admin]);
        api_keys.add(APP, vec![Scope::Enqueue, Scope::Read]);
        api_keys.add(READER, vec![Scope::Read]);
        let shutdown = tokio_util::sync::CancellationToken::new();
        let router = api::router(ApiSettings {
            engine: engine.clone(),
            api_keys,
            user_tokens: UserTokens::new(USER_SECRET),
            task_tokens: task_tokens(),
            sealer: sealer(),
            report_timeout: options.report_timeout,
            max_body_bytes: options.max_body_bytes,
            metrics: Arc::new(Metrics::default()),
            shutdown: shutdown.clone(),
            allowed_origins: options
                .allowed_origins
                .iter()
                .map(|origin| origin.parse().unwrap())
                .collect(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Api {
            base,
            engine,
            db,
            shutdown,
            http: errand::run::http::client_builder().build().unwrap(),
        }
    }

    /// A user token for `owner`, valid for an hour.
    pub fn token(&self, owner: &str) -> String {
        UserTokens::new(USER_SECRET)
            .mint(owner, Duration::from_secs(3600), jiff::Timestamp::now())
            .unwrap()
            .token
    }

    /// A user token for `owner` that expired a minute ago.
    pub fn expired_token(&self, owner: &str) -> String {
        let an_hour_ago = jiff::Timestamp::now() - Duration::from_secs(3600);
        UserTokens::new(USER_SECRET)
            .mint(owner, Duration::from_secs(3540), an_hour_ago)
            .unwrap()
            .token
    }

    /// Sends `method path` with `auth` as bearer (none if empty) and `body` as JSON.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        auth: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if !auth.is_empty() {
            request = request.bearer_auth(auth);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the API answers");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, json)
    }

    /// Sends raw `body` with `content_type`.
    pub async fn raw(
        &self,
        path: &str,
        auth: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(auth)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("the API answers");
        let status = response.status().as_u16();
        let json = response.json().await.unwrap_or(Value::Null);
        (status, json)
    }

    /// `GET path`.
    pub async fn get(&self, path: &str, auth: &str) -> (u16, Value) {
        self.call(Method::GET, path, auth, None).await
    }

    /// `POST path` with `body`.
    pub async fn post(&self, path: &str, auth: &str, body: Value) -> (u16, Value) {
        self.call(Method::POST, path, auth, Some(body)).await
    }

    /// Enqueues `body` with the application's key; answers the task.
    pub async fn enqueue(&self, body: Value) -> Value {
        let (status, task) = self.post("/v1/tasks", APP, body).await;
        assert!(status == 201 || status == 200, "{status}: {task}");
        task
    }

    /// Waits until the task `id` is final; answers it as JSON.
    pub async fn wait_final(&self, id: &str) -> Value {
        crate::util::wait_for(&format!("task {id} to end"), || async {
            let (_, task) = self.get(&format!("/v1/tasks/{id}?wait=5"), ADMIN).await;
            let state = task["state"].as_str().unwrap_or_default().to_owned();
            ["succeeded", "failed", "cancelled", "expired"]
                .contains(&state.as_str())
                .then_some(task)
        })
        .await
    }
}

/// The `id` of a task as JSON.
pub fn id_of(task: &Value) -> String {
    task["id"].as_str().expect("a task has an id").to_owned()
}

/// One Server-Sent Event as the test reads it.
#[derive(Debug, Clone)]
pub struct SseItem {
    /// Its `event:` name.
    pub event: String,
    /// Its `id:`, if any.
    pub id: Option<i64>,
    /// Its `data:`, as JSON.
    pub data: Value,
}

/// An open event stream.
pub struct Events {
    response: reqwest::Response,
    buffer: String,
}

impl Api {
    /// Opens `GET /v1/events{query}` with `auth`, resuming after `last_event_id` if given.
    pub async fn events(&self, query: &str, auth: &str, last_event_id: Option<i64>) -> Events {
        let mut request = self
            .http
            .get(format!("{}/v1/events{query}", self.base))
            .bearer_auth(auth);
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        let response = request.send().await.expect("the API answers");
        assert_eq!(response.status(), 200, "the stream opens");
        Events {
            response,
            buffer: String::new(),
        }
    }
}

impl Events {
    /// The next event, or `None` when the stream ends; fails the test after the deadline.
    pub async fn next(&mut self) -> Option<SseItem> {
        tokio::time::timeout(crate::util::DEADLINE, self.read())
            .await
            .expect("an event within the deadline")
    }

    async fn read(&mut self) -> Option<SseItem> {
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut item = SseItem {
                    event: "message".into(),
                    id: None,
                    data: Value::Null,
                };
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("event:") {
                        item.event = value.trim().to_owned();
                    } else if let Some(value) = line.strip_prefix("id:") {
                        item.id = value.trim().parse().ok();
                    } else if let Some(value) = line.strip_prefix("data:") {
                        data.push_str(value.trim());
                    }
                }
                if data.is_empty() {
                    continue; // a comment (keep-alive)
                }
                item.data = serde_json::from_str(&data).expect("JSON data");
                return Some(item);
            }
            let chunk = self.response.chunk().await.ok()??;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Reads until an event of task `id` in `state` comes; answers every task event read.
    pub async fn until(&mut self, id: &str, state: &str) -> Vec<SseItem> {
        let mut seen = Vec::new();
        while let Some(item) = self.next().await {
            let done = item.data["task"]["id"] == id && item.data["task"]["state"] == state;
            seen.push(item);
            if done {
                return seen;
            }
        }
        panic!("the stream ended before task {id} was {state}: {seen:?}");
    }
}
