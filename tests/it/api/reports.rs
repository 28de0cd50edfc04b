//! The application's reports: a tracked task started, advanced and finished over the API;
//! every report names its attempt, and one from an attempt that is no longer current gets 409.

use std::time::Duration;

use errand::prelude::*;
use serde_json::json;

use super::harness::{APP, Api, Options, id_of, task_tokens};

#[tokio::test]
async fn a_tracked_task_is_started_advanced_and_completed_by_the_application() {
    let api = Api::start().await;
    let id = id_of(
        &api.enqueue(json!({"name": "report.build", "owner": "alice"}))
            .await,
    );
    let (status, task) = api
        .post(&format!("/v1/tasks/{id}/start"), APP, json!({}))
        .await;
    assert_eq!(
        (status, task["state"].as_str()),
        (200, Some("running")),
        "{task}"
    );
    assert_eq!(task["reported"], true);
    let (status, task) = api
        .post(
            &format!("/v1/tasks/{id}/progress"),
            APP,
            json!({"current": 3, "total": 4, "message": "page 3"}),
        )
        .await;
    assert_eq!(status, 200, "{task}");
    assert_eq!(task["progress"]["percent"], 75.0);
    assert_eq!(task["progress"]["message"], "page 3");
    let (status, _) = api
        .post(
            &format!("/v1/tasks/{id}/progress"),
            APP,
            json!({"percent": 150}),
        )
        .await;
    assert_eq!(status, 422);
    let (status, task) = api
        .post(
            &format!("/v1/tasks/{id}/complete"),
            APP,
            json!({"result": {"pages": 4}, "result_url": "/reports/1"}),
        )
        .await;
    assert_eq!(
        (status, task["state"].as_str()),
        (200, Some("succeeded")),
        "{task}"
    );
    assert_eq!(task["result"]["pages"], 4);
    assert_eq!(task["links"]["result_url"], "/reports/1");
    let (status, _) = api
        .post(&format!("/v1/tasks/{id}/complete"), APP, json!({}))
        .await;
    assert_eq!(status, 409, "a finished task takes no more reports");
}

#[tokio::test]
async fn a_report_from_an_attempt_that_lost_its_lease_is_refused_with_409() {
    let api = Api::start_with(
        Options {
            report_timeout: Duration::from_millis(600),
            ..Options::default()
        },
        |b| b,
    )
    .await;
    let id = id_of(
        &api.enqueue(json!({"name": "report.slow", "max_attempts": 5}))
            .await,
    );
    let task_id: TaskId = id.parse().unwrap();
    api.post(&format!("/v1/tasks/{id}/start"), APP, json!({}))
        .await;
    let first = api.engine.get(task_id).await.unwrap().unwrap();
    let old_token = task_tokens().mint(task_id, first.fence);
    let (status, _) = api
        .post(
            &format!("/v1/tasks/{id}/progress"),
            &old_token,
            json!({"percent": 5}),
        )
        .await;
    assert_eq!(status, 200);
    // The application goes silent past its deadline: errand takes the task back.
    crate::util::wait_for_state(&api.engine, task_id, |s| s == State::Queued).await;
    let (status, _) = api
        .post(&format!("/v1/tasks/{id}/start"), APP, json!({}))
        .await;
    assert_eq!(status, 200);
    let second = api.engine.get(task_id).await.unwrap().unwrap();
    assert!(second.fence > first.fence);
    let (status, answer) = api
        .post(
            &format!("/v1/tasks/{id}/complete"),
            &old_token,
            json!({"message": "late"}),
        )
        .await;
    assert_eq!(status, 409, "{answer}");
    assert_eq!(answer["error"]["code"], "stale_attempt");
    let (status, _) = api
        .post(
            &format!("/v1/tasks/{id}/progress"),
            &old_token,
            json!({"percent": 99}),
        )
        .await;
    assert_eq!(status, 409);
    let new_token = task_tokens().mint(task_id, second.fence);
    let (status, task) = api
        .post(&format!("/v1/tasks/{id}/complete"), &new_token, json!({}))
        .await;
    assert_eq!(
        (status, task["state"].as_str()),
        (200, Some("succeeded")),
        "{task}"
    );
}

#[tokio::test]
async fn a_failure_report_fails_for_good_or_retries_after_the_backoff() {
    let api = Api::start().await;
    let once = id_of(&api.enqueue(json!({"name": "report.fail"})).await);
    api.post(&format!("/v1/tasks/{once}/start"), APP, json!({}))
        .await;
    let (status, task) = api
        .post(
            &format!("/v1/tasks/{once}/fail"),
            APP,
            json!({"message": "broken", "detail": "Traceback (most recent call last):\n  boom"}),
        )
        .await;
    assert_eq!(
        (status, task["state"].as_str()),
        (200, Some("failed")),
        "{task}"
    );
    assert_eq!(task["error"]["message"], "broken");
    assert!(task["error"]["detail"].as_str().unwrap().contains("boom"));

    let again = id_of(&api.enqueue(json!({"name": "report.fail"})).await);
    api.post(&format!("/v1/tasks/{again}/start"), APP, json!({}))
        .await;
    let (status, task) = api
        .post(
            &format!("/v1/tasks/{again}/fail"),
            APP,
            json!({"message": "busy", "retry": true}),
        )
        .await;
    assert_eq!(
        (status, task["state"].as_str()),
        (200, Some("scheduled")),
        "{task}"
    );
    let (status, _) = api
        .post(
            &format!("/v1/tasks/{again}/fail"),
            APP,
            json!({"detail": "no message"}),
        )
        .await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn starting_a_task_that_a_node_runs_is_refused_and_changes_nothing() {
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    let gate = std::sync::Arc::clone(&release);
    let api = Api::start_with(Options::default(), move |b| {
        b.handler("gated", move |_ctx: TaskContext| {
            let gate = std::sync::Arc::clone(&gate);
            async move {
                gate.notified().await;
                Ok(TaskOutput::done())
            }
        })
    })
    .await;
    let id = id_of(
        &api.enqueue(json!({"name": "gated", "handler": "gated"}))
            .await,
    );
    crate::util::wait_for_state(&api.engine, id.parse().unwrap(), |s| s == State::Running).await;
    let (status, answer) = api
        .post(&format!("/v1/tasks/{id}/start"), APP, json!({}))
        .await;
    assert_eq!(status, 409, "{answer}");
    release.notify_one();
    let done = api.wait_final(&id).await;
    assert_eq!(
        (done["state"].as_str(), done["attempt"].as_u64()),
        (Some("succeeded"), Some(1))
    );
}
