//! The event stream: a user sees their own events only, a stream resumes from a number
//! without a gap, a client that falls behind is told to resync, streams end when the server
//! stops, and other origins get CORS only where allowed.

use serde_json::json;

use super::harness::{ADMIN, APP, Api, Options, id_of};

#[tokio::test]
async fn a_user_token_follows_its_owners_tasks_only() {
    let api = Api::start().await;
    let mut alice = api.events("", &api.token("alice"), None).await;
    let ready = alice.next().await.unwrap();
    assert_eq!(ready.event, "ready");
    let bobs = id_of(
        &api.enqueue(json!({"name": "noop", "handler": "noop", "owner": "bob"}))
            .await,
    );
    let alices = id_of(
        &api.enqueue(json!({"name": "noop", "handler": "noop", "owner": "alice"}))
            .await,
    );
    let seen = alice.until(&alices, "succeeded").await;
    assert!(
        seen.iter()
            .all(|item| item.data["task"]["owner"] == "alice"),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .all(|item| item.data["task"]["id"] != bobs.as_str())
    );
    let kinds: Vec<_> = seen
        .iter()
        .map(|item| item.data["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds.first().map(String::as_str), Some("created"));
    for pair in seen.windows(2) {
        assert!(pair[0].id < pair[1].id, "numbered in order");
    }
    let (status, _) = api.get("/v1/events?owner=bob", &api.token("alice")).await;
    assert_eq!(status, 403, "a user token follows no one else");
}

#[tokio::test]
async fn a_stream_resumes_after_an_event_number_without_a_gap() {
    let api = Api::start().await;
    let mut first = api.events("", ADMIN, None).await;
    let start = first.next().await.unwrap().id.unwrap();
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(id_of(
            &api.enqueue(json!({"name": "tracked", "owner": "alice"}))
                .await,
        ));
    }
    let seen = first.until(&ids[2], "queued").await;
    drop(first);
    // While no one listens, more happens.
    api.post(&format!("/v1/tasks/{}/cancel", ids[0]), APP, json!({}))
        .await;
    let last = id_of(
        &api.enqueue(json!({"name": "tracked", "owner": "alice"}))
            .await,
    );
    let resumed_after = seen[1].id.unwrap();
    let mut again = api.events("", ADMIN, Some(resumed_after)).await;
    let replayed = again.until(&last, "queued").await;
    let numbers: Vec<i64> = replayed.iter().map(|item| item.id.unwrap()).collect();
    let expected: Vec<i64> = (resumed_after + 1..=resumed_after + numbers.len() as i64).collect();
    assert_eq!(
        numbers, expected,
        "every event after the number, none twice"
    );
    assert!(
        replayed
            .iter()
            .any(|item| item.data["task"]["state"] == "cancelled")
    );
    assert!(start < resumed_after);
    let mut by_query = api
        .events(&format!("?since={resumed_after}"), ADMIN, None)
        .await;
    assert_eq!(by_query.next().await.unwrap().id, Some(resumed_after + 1));
}

#[tokio::test]
async fn a_client_that_falls_behind_is_told_to_resync_and_never_holds_the_engine() {
    let api = Api::start().await;
    let mut slow = api.events("", ADMIN, None).await;
    // The client reads nothing while far more events than the stream buffers are committed.
    let tasks: Vec<_> = (0..1000).map(|_| json!({"name": "tracked"})).collect();
    for _ in 0..24 {
        let (status, _) = api
            .post("/v1/tasks:batch", APP, json!({"tasks": tasks}))
            .await;
        assert_eq!(status, 201, "enqueues go on while a client lags");
    }
    let mut resynced = false;
    while let Some(item) = slow.next().await {
        if item.event == "resync" {
            resynced = true;
            break;
        }
    }
    assert!(resynced, "the lagging client was told to resync");
}

#[tokio::test]
async fn open_streams_are_counted_and_end_when_the_server_stops() {
    let api = Api::start().await;
    let mut stream = api.events("", &api.token("alice"), None).await;
    stream.next().await.unwrap();
    let (_, metrics) = api.get("/metrics", "").await;
    assert!(
        metrics.as_str().unwrap().contains("errand_sse_clients 1"),
        "{metrics}"
    );
    api.shutdown.cancel();
    assert!(stream.next().await.is_none(), "the stream ended");
    crate::util::wait_for("the stream to be counted out", || async {
        let (_, metrics) = api.get("/metrics", "").await;
        metrics
            .as_str()
            .unwrap()
            .contains("errand_sse_clients 0")
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn cors_answers_the_allowed_origins_only() {
    let api = Api::start_with(
        Options {
            allowed_origins: vec!["https://cms.example.org"],
            ..Options::default()
        },
        |b| b,
    )
    .await;
    let http = errand::run::http::client_builder().build().unwrap();
    let preflight = |origin: &'static str| {
        http.request(reqwest::Method::OPTIONS, format!("{}/v1/events", api.base))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "last-event-id")
            .send()
    };
    let allowed = preflight("https://cms.example.org").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://cms.example.org"
    );
    let other = preflight("https://evil.example").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
}
