//! Bad input gets a clear 4xx in errand's error shape, never a 500.

use reqwest::Method;
use serde_json::{Value, json};

use super::harness::{ADMIN, APP, Api, Options, READER};

/// Asserts the answer is `status` with the error shape and `code`.
fn refused(answer: (u16, Value), status: u16, code: &str) {
    let (got, body) = answer;
    assert_eq!(got, status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

#[tokio::test]
async fn every_bad_request_gets_a_4xx_that_says_what_is_wrong() {
    let api = Api::start_with(
        Options {
            max_body_bytes: 4096,
            ..Options::default()
        },
        |b| b,
    )
    .await;
    refused(
        api.raw("/v1/tasks", APP, "application/json", b"{\"name\":".to_vec())
            .await,
        400,
        "invalid_json",
    );
    refused(
        api.raw("/v1/tasks", APP, "text/plain", b"{}".to_vec())
            .await,
        415,
        "invalid_request",
    );
    let big = format!("{{\"name\": \"x\", \"title\": \"{}\"}}", "x".repeat(10_000));
    refused(
        api.raw("/v1/tasks", APP, "application/json", big.into_bytes())
            .await,
        413,
        "payload_too_large",
    );
    for (body, hint) in [
        (json!({"name": "x", "colour": "red"}), "colour"),
        (json!({"title": "no name"}), "name"),
        (json!({"name": "x", "priority": 1u64 << 40}), "priority"),
        (json!({"name": "x", "max_attempts": 0}), "max_attempts"),
        (json!({"name": "x", "max_attempts": -1}), "max_attempts"),
        (
            json!({"name": "x", "delay_seconds": 100_000_000}),
            "delay_seconds",
        ),
        (
            json!({"name": "x", "delay_seconds": 1, "run_at": "2030-01-01T00:00:00Z"}),
            "run_at",
        ),
        (json!({"name": "x", "run_at": "tomorrow"}), "run_at"),
        (json!({"name": "x", "queue": "nowhere"}), "nowhere"),
        (json!({"name": "x", "handler": "nobody"}), "nobody"),
        (
            json!({"name": "x", "target": "app", "path": "/x"}),
            "target",
        ),
        (json!({"name": "x", "path": "/x"}), "target"),
        (
            json!({"name": "x", "forward_headers": {"cookie": "a"}}),
            "target",
        ),
        (json!({"name": "x", "dedup": "keep"}), "dedup_key"),
        (json!({"name": "  "}), "name"),
        (json!({"name": "x", "title": "t".repeat(3000)}), "title"),
    ] {
        let (status, answer) = api.post("/v1/tasks", APP, body.clone()).await;
        assert_eq!(status, 422, "{body} → {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(hint), "{body} → {message}");
    }
    refused(
        api.get("/v1/tasks/not-an-id", ADMIN).await,
        404,
        "not_found",
    );
    refused(
        api.get(&format!("/v1/tasks/{}", uuid::Uuid::now_v7()), ADMIN)
            .await,
        404,
        "not_found",
    );
    refused(
        api.get("/v1/tasks?limit=0", ADMIN).await,
        422,
        "invalid_request",
    );
    refused(
        api.get("/v1/tasks?limit=many", ADMIN).await,
        422,
        "invalid_request",
    );
    refused(
        api.get("/v1/tasks?cursor=abc", ADMIN).await,
        422,
        "invalid_request",
    );
    refused(
        api.get("/v1/tasks?colour=red", ADMIN).await,
        422,
        "invalid_request",
    );
    refused(api.get("/v1/nothing", ADMIN).await, 404, "not_found");
    refused(
        api.call(Method::DELETE, "/v1/tasks", ADMIN, None).await,
        405,
        "method_not_allowed",
    );
    refused(
        api.call(
            Method::PATCH,
            "/v1/queues/default",
            ADMIN,
            Some(json!({"concurrency": 0})),
        )
        .await,
        422,
        "invalid_request",
    );
    refused(
        api.call(
            Method::PATCH,
            "/v1/queues/default",
            ADMIN,
            Some(json!({"concurrency": -5})),
        )
        .await,
        422,
        "invalid_request",
    );
    refused(
        api.post("/v1/queues/nowhere/pause", ADMIN, json!({})).await,
        404,
        "not_found",
    );
    refused(
        api.post("/v1/tokens", APP, json!({"owner": ""})).await,
        422,
        "invalid_request",
    );
    refused(
        api.post("/v1/tokens", APP, json!({"owner": "a", "ttl_seconds": 0}))
            .await,
        422,
        "invalid_request",
    );
}

#[tokio::test]
async fn credentials_are_checked_before_anything_else() {
    let api = Api::start().await;
    refused(api.get("/v1/tasks", "").await, 401, "unauthorized");
    refused(api.get("/v1/tasks", "not-a-key").await, 401, "unauthorized");
    refused(api.get("/v1/tasks", "a.b.c").await, 401, "unauthorized");
    refused(
        api.get("/v1/tasks", &api.expired_token("alice")).await,
        401,
        "token_expired",
    );
    refused(
        api.get("/v1/tasks", "et1.x.1.sig").await,
        401,
        "unauthorized",
    );
    refused(
        api.post("/v1/tasks", READER, json!({"name": "x"})).await,
        403,
        "forbidden",
    );
    refused(
        api.post("/v1/queues/default/pause", APP, json!({})).await,
        403,
        "forbidden",
    );
    refused(api.get("/v1/selftest", APP).await, 403, "forbidden");
    let (status, _) = api
        .get(&format!("/v1/tasks?token={}", api.token("alice")), "")
        .await;
    assert_eq!(status, 200, "a user token is accepted as ?token=");
    let (status, _) = api.get("/healthz", "").await;
    assert_eq!(status, 200, "health needs no credentials");
}
