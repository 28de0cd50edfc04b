//! Forwarded credentials, end to end through the API: they reach the target (only the names
//! it allows), and appear in no API answer, no log line, and not in the database files once
//! the task is final.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use errand::run::http::{Dispatcher, Target};
use serde_json::{Value, json};

use super::harness::{ADMIN, APP, Api, Options, dispatch_settings, id_of};

const COOKIE: &str = "session=SECRET-COOKIE-4242";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// Log lines written while the guard lives, on this thread (the test's runtime).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The application: records the headers of each request and answers 200 with a result.
async fn application() -> (String, Arc<Mutex<Vec<HeaderMap>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorder = Arc::clone(&seen);
    let router = axum::Router::new().route(
        "/hooks/delete",
        axum::routing::post(move |headers: HeaderMap| {
            let recorder = Arc::clone(&recorder);
            async move {
                recorder.lock().unwrap().push(headers);
                axum::Json(json!({"result": {"deleted": 2}, "message": "2 items deleted"}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (base, seen)
}

#[tokio::test]
async fn forwarded_credentials_reach_the_target_and_are_never_shown_logged_or_kept() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _logging = tracing::subscriber::set_default(subscriber);

    let (base, seen) = application().await;
    let target = Target {
        name: "app".into(),
        base_url: base.parse().unwrap(),
        secret: None,
        forward_headers: vec!["cookie".into()],
        timeout: Duration::from_secs(10),
        concurrency: None,
    };
    let dispatcher =
        Dispatcher::new(dispatch_settings(vec![target], Duration::from_secs(60))).unwrap();
    let api = Api::start_with(Options::default(), move |b| {
        b.dispatcher(Arc::new(dispatcher))
    })
    .await;

    let answer = errand::run::http::client_builder()
        .build()
        .unwrap()
        .post(format!("{}/v1/tasks", api.base))
        .bearer_auth(APP)
        .header("traceparent", TRACEPARENT)
        .json(&json!({
            "name": "content.delete", "owner": "alice", "target": "app", "path": "/hooks/delete",
            "payload": {"paths": ["/news/a", "/news/b"]},
            "forward_headers": {"Cookie": COOKIE, "X-Not-Allowed": "secret-too"}
        }))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut answers = vec![answer.clone()];
    let task: Value = serde_json::from_str(&answer).unwrap();
    let id = id_of(&task);
    let done = api.wait_final(&id).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["result"]["deleted"], 2);
    answers.push(done.to_string());
    answers.push(api.get("/v1/tasks", ADMIN).await.1.to_string());
    answers.push(
        api.get(&format!("/v1/tasks/{id}"), &api.token("alice"))
            .await
            .1
            .to_string(),
    );
    for answer in &answers {
        assert!(
            !answer.contains("SECRET-COOKIE") && !answer.contains("secret-too"),
            "{answer}"
        );
    }

    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0]["cookie"], COOKIE);
    assert!(
        requests[0].get("x-not-allowed").is_none(),
        "only the names the target allows"
    );
    assert_eq!(requests[0]["traceparent"], TRACEPARENT);
    assert_eq!(requests[0]["errand-task-id"], id.as_str());

    let conn = rusqlite::Connection::open(api.db.path()).unwrap();
    let sealed: Option<Vec<u8>> = conn
        .query_row(
            "SELECT sealed_headers FROM tasks WHERE name = 'content.delete'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(sealed, None, "erased when final");
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    drop(conn);
    for file in ["errand.db", "errand.db-wal"] {
        let path = api.db.dir.path().join(file);
        let bytes = std::fs::read(&path).unwrap_or_default();
        assert!(
            !bytes
                .windows(b"SECRET-COOKIE".len())
                .any(|w| w == b"SECRET-COOKIE"),
            "{file} holds the cookie in the clear"
        );
    }

    let logged = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(logged.contains(&id), "the logs were captured: {logged}");
    assert!(
        !logged.contains("SECRET-COOKIE") && !logged.contains("secret-too"),
        "{logged}"
    );
}

#[tokio::test]
async fn an_inline_dispatch_answers_with_the_applications_result() {
    let (base, seen) = application().await;
    let target = Target {
        name: "app".into(),
        base_url: base.parse().unwrap(),
        secret: None,
        forward_headers: vec![],
        timeout: Duration::from_secs(10),
        concurrency: None,
    };
    let dispatcher =
        Dispatcher::new(dispatch_settings(vec![target], Duration::from_secs(60))).unwrap();
    let api = Api::start_with(Options::default(), move |b| {
        b.dispatcher(Arc::new(dispatcher))
            .config(errand::engine::EngineConfig {
                run_workers: false,
                ..crate::util::quick_config()
            })
    })
    .await;
    let (status, task) = api
        .post(
            "/v1/tasks",
            APP,
            json!({"name": "content.delete", "target": "app", "path": "/hooks/delete", "inline": true}),
        )
        .await;
    assert_eq!(status, 201, "{task}");
    assert_eq!(
        task["state"], "succeeded",
        "the dispatch ran before the answer: {task}"
    );
    assert_eq!(task["result"]["deleted"], 2);
    assert_eq!(seen.lock().unwrap().len(), 1);
}
