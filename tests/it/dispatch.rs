//! HTTP dispatch end to end: a real engine on SQLite sends tasks to a real application (an
//! axum server on a free port), and each kind of answer ends the task as DESIGN.md says. Also:
//! the signature verifies with a Standard Webhooks library, forwarded credentials reach only
//! where allowed and leave no trace once the task is final, and per-target limits hold.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use errand::auth::{Sealer, TaskTokens};
use errand::model::Executor;
use errand::prelude::*;
use errand::run::http::{DispatchSettings, Dispatcher, Forwarded, Target};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::util::{TestDb, engine_on, wait_final, wait_for, wait_for_state};

/// The targets' signing secret, as an operator writes it.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// One request, as the application saw it.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    method: String,
    headers: HeaderMap,
    body: Vec<u8>,
    at: Instant,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

/// A test application on 127.0.0.1: it records each request, and answers with what its
/// closure makes of the request's number (0-based) and the request.
struct App {
    base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    in_flight: Arc<AtomicUsize>,
    most_in_flight: Arc<AtomicUsize>,
}

impl App {
    async fn start<F, Fut>(answer: F) -> App
    where
        F: Fn(usize, Seen) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Response> + Send + 'static,
    {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let in_flight = Arc::new(AtomicUsize::new(0));
        let most_in_flight = Arc::new(AtomicUsize::new(0));
        let (log, now, most) = (
            Arc::clone(&seen),
            Arc::clone(&in_flight),
            Arc::clone(&most_in_flight),
        );
        let router = Router::new().fallback(move |request: Request| {
            let (answer, log, now, most) = (
                answer.clone(),
                Arc::clone(&log),
                Arc::clone(&now),
                Arc::clone(&most),
            );
            async move {
                let current = now.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(current, Ordering::SeqCst);
                let (parts, body) = request.into_parts();
                let body = axum::body::to_bytes(body, usize::MAX)
                    .await
                    .unwrap_or_default();
                let request = Seen {
                    path: parts
                        .uri
                        .path_and_query()
                        .map(|p| p.as_str().to_owned())
                        .unwrap_or_default(),
                    method: parts.method.to_string(),
                    headers: parts.headers,
                    body: body.to_vec(),
                    at: Instant::now(),
                };
                let number = {
                    let mut log = log.lock().unwrap();
                    log.push(request.clone());
                    log.len() - 1
                };
                /// Counts the request out even if the client drops it mid-answer.
                struct Out(Arc<AtomicUsize>);
                impl Drop for Out {
                    fn drop(&mut self) {
                        self.0.fetch_sub(1, Ordering::SeqCst);
                    }
                }
                let _out = Out(now);
                answer(number, request).await
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/app", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        App {
            base,
            seen,
            in_flight,
            most_in_flight,
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    async fn wait_for_requests(&self, n: usize) -> Vec<Seen> {
        wait_for(&format!("{n} requests at the application"), || async {
            let seen = self.seen();
            (seen.len() >= n).then_some(seen)
        })
        .await
    }
}

fn answer(status: u16, headers: &[(&str, &str)], body: impl Into<Body>) -> Response {
    let mut response = (StatusCode::from_u16(status).unwrap(), body.into()).into_response();
    for (name, value) in headers {
        response.headers_mut().insert(
            axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    response
}

fn target(name: &str, base: &str) -> Target {
    Target {
        name: name.into(),
        base_url: base.parse().unwrap(),
        secret: Some(Target::parse_secret(SECRET).unwrap()),
        forward_headers: vec!["cookie".into(), "x-csrf-token".into()],
        timeout: Duration::from_secs(10),
        concurrency: None,
    }
}

fn sealer() -> Sealer {
    Sealer::new([7; 32])
}

fn task_tokens() -> TaskTokens {
    TaskTokens::new(b"the task token secret")
}

fn settings(targets: Vec<Target>) -> DispatchSettings {
    DispatchSettings {
        targets,
        callback_base: Some("http://errand.test:7700/".into()),
        sealer: sealer(),
        task_tokens: task_tokens(),
        report_timeout: Duration::from_secs(60),
        max_error_body: 64 * 1024,
    }
}

/// An engine on `db` that dispatches with `settings`, retrying quickly.
async fn engine(db: &TestDb, settings: DispatchSettings) -> Engine {
    engine_on(db)
        .queue(
            Queue::new("default")
                .concurrency(6)
                .retry_backoff(Duration::from_millis(20), Duration::from_millis(80)),
        )
        .dispatcher(Arc::new(Dispatcher::new(settings).unwrap()))
        .start()
        .await
        .unwrap()
}

/// A task dispatched to `path` under target `app`.
fn http_task(path: &str) -> NewTask {
    NewTask::new("content.delete")
        .executor(Executor::Http {
            target: "app".into(),
            path: path.into(),
        })
        .json(json!({"paths": ["/news/a", "/news/b"]}))
}

/// The messages of the attempts that failed and were retried, in order.
fn retried_errors(
    events: &mut tokio::sync::broadcast::Receiver<Arc<Event>>,
    id: TaskId,
) -> Vec<String> {
    let mut errors = Vec::new();
    while let Ok(event) = events.try_recv() {
        if event.task.id == id && event.task.state == State::Scheduled {
            errors.extend(event.task.error.clone().map(|e| e.message));
        }
    }
    errors
}

#[tokio::test]
async fn a_2xx_answer_succeeds_and_keeps_the_json_result() {
    let app = App::start(|_, _| async {
        answer(
            200,
            &[("content-type", "application/json")],
            r#"{"result": {"deleted": 2}, "result_url": "/news", "message": "2 items deleted"}"#,
        )
    })
    .await;
    let db = TestDb::new();
    let engine = engine(&db, settings(vec![target("app", &app.base)])).await;
    let task = crate::util::run_to_end(&engine, http_task("/tasks/delete?folder=news")).await;
    assert_eq!((task.state, task.attempt), (State::Succeeded, 1));
    assert_eq!(task.result, Some(json!({"deleted": 2})));
    assert_eq!(task.links.result_url.as_deref(), Some("/news"));
    assert_eq!(task.progress.message.as_deref(), Some("2 items deleted"));

    let [request] = app.seen().try_into().unwrap();
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/app/tasks/delete?folder=news");
    assert_eq!(request.header("content-type"), Some("application/json"));
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body, json!({"paths": ["/news/a", "/news/b"]}));
    let id = task.id.to_string();
    assert_eq!(request.header("errand-task-id"), Some(id.as_str()));
    assert_eq!(request.header("errand-task-name"), Some("content.delete"));
    assert_eq!(request.header("errand-attempt"), Some("1"));
    assert_eq!(request.header("errand-queue"), Some("default"));
    assert_eq!(
        request.header("errand-callback"),
        Some(format!("http://errand.test:7700/v1/tasks/{id}").as_str())
    );
    let answers = engine.dispatcher().unwrap().answers();
    assert!(answers.contains(&("2xx", 1)), "{answers:?}");
    engine.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn a_5xx_answer_is_retried_and_each_attempt_is_signed_anew() {
    let app = App::start(|n, _| async move {
        match n {
            0 => answer(500, &[], "Traceback: the database is down"),
            _ => answer(204, &[], ""),
        }
    })
    .await;
    let db = TestDb::new();
    let engine = engine(&db, settings(vec![target("app", &app.base)])).await;
    let mut events = engine.subscribe();
    let task = crate::util::run_to_end(&engine, http_task("/tasks/delete")).await;
    assert_eq!((task.state, task.attempt), (State::Succeeded, 2));
    assert_eq!(
        retried_errors(&mut events, task.id),
        ["the application answered 500 Internal Server Error"]
    );

    let seen = app.seen();
    assert_eq!(seen.len(), 2);
    let webhook = standardwebhooks::Webhook::new(SECRET).unwrap();
    for request in &seen {
        webhook
            .verify(&request.body, &request.headers)
            .expect("the signature verifies");
        // The signature covers the body: another body does not verify.
        assert!(webhook.verify(b"{}", &request.headers).is_err());
    }
    // One message per attempt.
    let ids: Vec<_> = seen
        .iter()
        .map(|r| r.header("webhook-id").unwrap())
        .collect();
    assert_ne!(ids[0], ids[1]);
    assert_eq!(seen[1].header("errand-attempt"), Some("2"));
    engine.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn a_202_leaves_the_task_running_until_its_report_deadline_passes() {
    let app = App::start(|n, _| async move {
        match n {
            0 => answer(202, &[], ""),
            _ => answer(200, &[], ""),
        }
    })
    .await;
    let db = TestDb::new();
    let report_timeout = Duration::from_millis(600);
    let engine = engine(
        &db,
        DispatchSettings {
            report_timeout,
            ..settings(vec![target("app", &app.base)])
        },
    )
    .await;
    let id = engine
        .enqueue(http_task("/tasks/delete"))
        .await
        .unwrap()
        .task
        .id;
    app.wait_for_requests(1).await;
    // The application has it: the task runs, but holds no slot of this node.
    wait_for("the attempt to leave the node", || async {
        (engine.running() == 0).then_some(())
    })
    .await;
    let running = engine.get(id).await.unwrap().unwrap();
    assert_eq!((running.state, running.attempt), (State::Running, 1));

    // No report came: once its deadline passed, the task was taken back and ran again.
    let task = wait_final(&engine, id).await;
    assert_eq!((task.state, task.attempt), (State::Succeeded, 2));
    let seen = app.seen();
    assert_eq!(seen.len(), 2);
    let waited = seen[1].at - seen[0].at;
    assert!(waited >= report_timeout, "ran again after {waited:?}");
    let answers = engine.dispatcher().unwrap().answers();
    assert!(answers.contains(&("202", 1)), "{answers:?}");
    engine.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn a_task_the_application_took_over_is_cancelled_at_once() {
    let app = App::start(|_, _| async { answer(202, &[], "") }).await;
    let db = TestDb::new();
    let engine = engine(&db, settings(vec![target("app", &app.base)])).await;
    let id = engine
        .enqueue(http_task("/tasks/delete"))
        .await
        .unwrap()
        .task
        .id;
    app.wait_for_requests(1).await;
    // Whether the cancel comes before or after the hand-over is written, it takes effect now,
    // not when the report deadline (a minute) passes.
    engine.cancel(id).await.unwrap();
    let task = wait_final(&engine, id).await;
    assert_eq!(task.state, State::Cancelled);
    engine.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn redirects_are_not_followed_and_fail_for_good() {
    let app = App::start(|_, request: Seen| async move {
        let elsewhere = format!("http://{}/elsewhere", request.header("host").unwrap());
        answer(302, &[("location", &elsewhere)], "")
    })
    .await;
    let db = TestDb::new();
    let engine = engine(&db, settings(vec![target("app", &app.base)])).await;
    let task = crate::util::run_to_end(&engine, http_task("/tasks/delete").max_attempts(3)).await;
    assert_eq!((task.state, task.attempt), (State::Failed, 1));
    let error = task.error.unwrap();
    assert_eq!(
        error.message,
        "the application answered 302 Found: redirects are not followed"
    );
    assert!(error.detail.unwrap().contains("/elsewhere"));
    assert_eq!(app.seen().len(), 1, "the redirect was not followed");
    engine.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn a_4xx_answer_fails_at_once_with_the_body_as_detail() {
    let app = App::start(|_, request: Seen| async move {
        let status: u16 = request.path.rsplit('/').next().unwrap().parse().unwrap();
        answer(status, &[], format!("refused with {status}"))
    })
    .await;
    let db = TestDb::new();
    let engine = engine(&db, settings(vec![target("app", &app.base)])).await;
    for (status, message) in [
        (401, "the application answered 401 Unauthorized"),
        (403, "the application answered 403 Forbidden"),
        (404, "the application answered 404 Not Found"),
    ] {
        let task = crate::util::run_to_end(
            &engine,
            http_task(&format!("/status/{status}")).max_attempts(5),
        )
        .await;
        assert_eq!((task.state, task.attempt), (State::Failed, 1), "{status}");
        let error = task.error.unwrap();
        assert_eq!(error.message, message);
        assert_eq!(error.detail, Some(format!("refused with {status}")));
    }
    let answers = engine.dispatcher().unwrap().answers();
    assert!(answers.contains(&("4xx", 3)), "{answers:?}");
    engine.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn a_429_is_retried_after_the_wait_its_retry_after_asks() {
    let app = App::start(|n, _| async move {
        match n {
            0 => answer(429, &[("retry-after", "1")], "slow down"),
            _ => answer(200, &[], ""),
        }
    })
    .await;
    let db = TestDb::new();
    let engine = engine(&db, settings(vec![target("app", &app.base)])).await;
    let mut events = engine.subscribe();
    let task = crate::util::run_to_end(&engine, http_task("/tasks/delete")).await;
    assert_eq!((task.state, task.attempt), (State::Succeeded, 2));
    assert_eq!(
        retried_errors(&mut events, task.id),
        ["the application answered 429 Too Many Requests"]
    );
    // The queue's backoff is at most 80 ms: the second second came from Retry-After. (The
    // retry time is kept to the millisecond, so allow for the rounding.)
    let seen = app.seen();
    let waited = seen[1].at - seen[0].at;
    assert!(
        waited >= Duration::from_millis(995),
        "retried after {waited:?}"
    );
    engine.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn a_refused_connection_is_retried_until_the_attempts_are_spent() {
    // A port that nobody listens on.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/app", listener.local_addr().unwrap());
    drop(listener);
    let db = TestDb::new();
    let engine = engine(&db, settings(vec![target("app", &base)])).await;
    let mut events = engine.subscribe();
    let task = crate::util::run_to_end(&engine, http_task("/tasks/delete").max_attempts(2)).await;
    assert_eq!((task.state, task.attempt), (State::Failed, 2));
    let error = task.error.unwrap();
    assert_eq!(error.message, "could not connect to the application");
    assert!(error.detail.unwrap().starts_with("target \"app\""));
    assert_eq!(
        retried_errors(&mut events, task.id),
        ["could not connect to the application"]
    );
    let answers = engine.dispatcher().unwrap().answers();
    assert!(answers.contains(&("connect_error", 2)), "{answers:?}");
    engine.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn a_request_past_the_targets_timeout_is_dropped_and_retried() {
    let app = App::start(|n, _| async move {
        if n == 0 {
            std::future::pending::<()>().await;
        }
        answer(200, &[], "")
    })
    .await;
    let db = TestDb::new();
    let slow = Target {
        timeout: Duration::from_millis(300),
        ..target("app", &app.base)
    };
    let engine = engine(&db, settings(vec![slow])).await;
    let mut events = engine.subscribe();
    let task = crate::util::run_to_end(&engine, http_task("/tasks/delete")).await;
    assert_eq!((task.state, task.attempt), (State::Succeeded, 2));
    assert_eq!(
        retried_errors(&mut events, task.id),
        ["the application did not answer within 300 ms"]
    );
    let answers = engine.dispatcher().unwrap().answers();
    assert!(answers.contains(&("timeout", 1)), "{answers:?}");
    engine.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn errand_needs_input_puts_the_task_in_waiting_with_its_link() {
    let app = App::start(|_, _| async {
        answer(
            200,
            &[("errand-needs-input", "/confirm/7")],
            r#"{"message": "Delete 300 items?"}"#,
        )
    })
    .await;
    let db = TestDb::new();
    let engine = engine(&db, settings(vec![target("app", &app.base)])).await;
    let id = engine
        .enqueue(http_task("/tasks/delete"))
        .await
        .unwrap()
        .task
        .id;
    let task = wait_for_state(&engine, id, |state| state == State::Waiting).await;
    assert_eq!(task.links.input_url.as_deref(), Some("/confirm/7"));
    assert_eq!(task.progress.message.as_deref(), Some("Delete 300 items?"));
    engine.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn a_cancel_drops_the_request_in_flight() {
    let app = App::start(|_, _| async {
        std::future::pending::<()>().await;
        answer(200, &[], "")
    })
    .await;
    let db = TestDb::new();
    let engine = engine(&db, settings(vec![target("app", &app.base)])).await;
    let id = engine
        .enqueue(http_task("/tasks/delete"))
        .await
        .unwrap()
        .task
        .id;
    app.wait_for_requests(1).await;
    let asked = Instant::now();
    engine.cancel(id).await.unwrap();
    let task = wait_final(&engine, id).await;
    assert_eq!(task.state, State::Cancelled);
    // A request cannot see the cancel, so it is not given the handlers' grace (5 s here).
    assert!(
        asked.elapsed() < Duration::from_secs(4),
        "{:?}",
        asked.elapsed()
    );
    // The connection was closed: the application's request is no longer in flight.
    wait_for("the request to be dropped", || async {
        (app.in_flight.load(Ordering::SeqCst) == 0).then_some(())
    })
    .await;
    engine.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn a_drain_drops_the_request_in_flight_and_hands_the_task_back() {
    let app = App::start(|_, _| async {
        std::future::pending::<()>().await;
        answer(200, &[], "")
    })
    .await;
    let db = TestDb::new();
    let engine = engine(&db, settings(vec![target("app", &app.base)])).await;
    let id = engine
        .enqueue(http_task("/tasks/delete"))
        .await
        .unwrap()
        .task
        .id;
    app.wait_for_requests(1).await;
    engine.shutdown(Duration::from_millis(100)).await;
    let task = engine.get(id).await.unwrap().unwrap();
    // Back in its queue, the attempt not counted.
    assert_eq!((task.state, task.attempt), (State::Queued, 0));
    wait_for("the request to be dropped", || async {
        (app.in_flight.load(Ordering::SeqCst) == 0).then_some(())
    })
    .await;
}

#[tokio::test]
async fn forwarded_credentials_reach_only_allowed_names_and_leave_no_trace_when_final() {
    let app = App::start(|_, _| async { answer(200, &[], "") }).await;
    let db = TestDb::new();
    let engine = engine(&db, settings(vec![target("app", &app.base)])).await;
    let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let forwarded = Forwarded {
        headers: [
            ("cookie", "session=plain-cookie-4f9a1c"),
            ("x-csrf-token", "csrf-77e2"),
            ("authorization", "Bearer not-allowed-here"),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect(),
        traceparent: Some(traceparent.into()),
    };
    let mut new = http_task("/tasks/delete");
    let sealed = forwarded.seal(&sealer(), new.id).unwrap().unwrap();
    new.sealed_headers = Some(sealed.clone());
    let task = crate::util::run_to_end(&engine, new).await;
    assert_eq!(task.state, State::Succeeded);

    let [request] = app.seen().try_into().unwrap();
    assert_eq!(
        request.header("cookie"),
        Some("session=plain-cookie-4f9a1c")
    );
    assert_eq!(request.header("x-csrf-token"), Some("csrf-77e2"));
    assert_eq!(
        request.header("authorization"),
        None,
        "not allowed for this target"
    );
    assert_eq!(request.header("traceparent"), Some(traceparent));
    let token = request.header("errand-task-token").unwrap();
    assert_eq!(task_tokens().verify(token), Some((task.id, task.fence)));
    engine.shutdown(Duration::ZERO).await;
    drop(engine);

    // Erased from the row once final...
    let path = db.path();
    let reader =
        rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let erased: bool = reader
        .query_row("SELECT sealed_headers IS NULL FROM tasks", [], |row| {
            row.get(0)
        })
        .unwrap();
    assert!(erased);
    drop(reader);
    // ...and from the files: neither the sealed value nor the plain cookie is left in the
    // database or its log once the log is checkpointed.
    let writer = rusqlite::Connection::open(&path).unwrap();
    // The engine's store may still be closing, and checkpointing on its own thread: a
    // checkpoint answers busy until that one is done.
    wait_for("a complete checkpoint", || async {
        let busy: i64 = writer
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))
            .unwrap();
        (busy == 0).then_some(())
    })
    .await;
    drop(writer);
    let mut files = std::fs::read(&path).unwrap();
    if let Ok(wal) = std::fs::read(path.with_extension("db-wal")) {
        files.extend(wal);
    }
    let contains = |needle: &[u8]| files.windows(needle.len()).any(|w| w == needle);
    assert!(!contains(b"plain-cookie-4f9a1c"));
    for piece in sealed.chunks(16).filter(|piece| piece.len() == 16) {
        assert!(!contains(piece), "a piece of the sealed value is left");
    }
}

#[tokio::test]
async fn a_target_with_concurrency_2_never_has_more_than_2_requests_in_flight() {
    let app = App::start(|_, _| async {
        // The application's work: long enough for dispatches to overlap.
        tokio::time::sleep(Duration::from_millis(150)).await;
        answer(200, &[], "")
    })
    .await;
    let db = TestDb::new();
    let limited = Target {
        concurrency: Some(2),
        ..target("app", &app.base)
    };
    let engine = engine(&db, settings(vec![limited])).await;
    let ids: Vec<_> = engine
        .enqueue_batch((0..8).map(|_| http_task("/tasks/delete")).collect())
        .await
        .unwrap()
        .into_iter()
        .map(|enqueued| enqueued.task.id)
        .collect();
    for id in ids {
        assert_eq!(wait_final(&engine, id).await.state, State::Succeeded);
    }
    assert_eq!(app.seen().len(), 8);
    // Six slots in the queue, two at the target.
    assert_eq!(app.most_in_flight.load(Ordering::SeqCst), 2);
    engine.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn a_path_that_leaves_the_target_or_an_unknown_target_is_refused_at_enqueue() {
    let db = TestDb::new();
    let app = target("app", "http://127.0.0.1:9/app");
    for path in ["../x", "//evil.com/x", "http://evil", "/a\\b"] {
        assert!(app.url_for(path).is_err(), "{path}");
    }
    assert_eq!(
        app.url_for("/tasks/delete?x=1").unwrap().as_str(),
        "http://127.0.0.1:9/app/tasks/delete?x=1"
    );
    let engine = engine(&db, settings(vec![app])).await;
    for task in [
        http_task("//evil.com/x"),
        http_task("/a/../../x"),
        http_task("/x").executor(Executor::Http {
            target: "other".into(),
            path: "/x".into(),
        }),
    ] {
        let err = engine.enqueue(task).await.unwrap_err();
        assert!(matches!(err, EngineError::Invalid(_)), "{err}");
    }
    engine.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn an_http_task_fails_for_good_on_an_engine_without_a_dispatcher() {
    let db = TestDb::new();
    let engine = engine_on(&db).start().await.unwrap();
    let task = crate::util::run_to_end(&engine, http_task("/tasks/delete").max_attempts(3)).await;
    assert_eq!((task.state, task.attempt), (State::Failed, 1));
    assert!(
        task.error
            .unwrap()
            .message
            .contains("no HTTP dispatch configured"),
        "the message says why"
    );
    engine.shutdown(Duration::ZERO).await;
}
