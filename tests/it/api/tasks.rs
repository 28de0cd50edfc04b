//! Enqueueing and reading over the API: one task, a batch, dedup, listing with cursor paging
//! and counts, the long-poll, and inline runs.

use std::sync::Arc;

use errand::prelude::*;
use serde_json::json;
use tokio::sync::Notify;

use super::harness::{ADMIN, APP, Api, Options, id_of};

#[tokio::test]
async fn an_enqueued_task_answers_201_and_a_dedup_hit_200_with_the_same_task() {
    let api = Api::start_with(Options::default(), |b| {
        b.config(errand::engine::EngineConfig {
            run_workers: false,
            ..crate::util::quick_config()
        })
    })
    .await;
    let body = json!({
        "name": "content.publish", "owner": "alice", "title": "Publishing /news",
        "handler": "noop", "payload": {"path": "/news"}, "dedup_key": "publish:/news",
        "context": {"affects": ["/news"]}, "links": {"return_url": "/news"}, "priority": 5
    });
    let (status, first) = api.post("/v1/tasks", APP, body.clone()).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["state"], "queued");
    assert_eq!(first["owner"], "alice");
    assert_eq!(first["title"], "Publishing /news");
    assert_eq!(first["priority"], 5);
    assert_eq!(first["links"]["return_url"], "/news");
    assert_eq!(first["context"]["affects"][0], "/news");
    assert_eq!(first["max_attempts"], 3);
    let (status, second) = api.post("/v1/tasks", APP, body).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(id_of(&second), id_of(&first));
}

#[tokio::test]
async fn a_batch_is_answered_in_order_and_one_bad_task_enqueues_none() {
    let api = Api::start().await;
    let tasks: Vec<_> = (0..5)
        .map(|i| json!({"name": "tracked.step", "owner": "alice", "title": format!("step {i}")}))
        .collect();
    let (status, answer) = api
        .post("/v1/tasks:batch", APP, json!({"tasks": tasks}))
        .await;
    assert_eq!(status, 201, "{answer}");
    let entries = answer["tasks"].as_array().unwrap();
    assert_eq!(entries.len(), 5);
    for (i, entry) in entries.iter().enumerate() {
        assert_eq!(entry["created"], true);
        assert_eq!(entry["task"]["title"], format!("step {i}"));
    }

    let (status, answer) = api
        .post(
            "/v1/tasks:batch",
            APP,
            json!({"tasks": [{"name": "ok"}, {"name": "bad", "queue": "nowhere"}]}),
        )
        .await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("tasks[1]: ")
    );
    let (_, list) = api.get("/v1/tasks?name=ok", ADMIN).await;
    assert_eq!(
        list["tasks"].as_array().unwrap().len(),
        0,
        "nothing of the bad batch was enqueued"
    );

    let (status, _) = api.post("/v1/tasks:batch", APP, json!({"tasks": []})).await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn a_listing_pages_with_its_cursor_filters_by_state_and_counts_for_the_banner() {
    let api = Api::start().await;
    for i in 0..7 {
        api.enqueue(json!({"name": "tracked", "owner": "alice", "title": format!("t{i}")}))
            .await;
    }
    api.enqueue(json!({"name": "tracked", "owner": "bob"}))
        .await;
    let mut seen = Vec::new();
    let mut path = "/v1/tasks?owner=alice&limit=3".to_owned();
    loop {
        let (status, page) = api.get(&path, ADMIN).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["counts"]["queued"], 7, "counts are the owner's");
        for task in page["tasks"].as_array().unwrap() {
            seen.push(task["title"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/tasks?owner=alice&limit=3&cursor={cursor}"),
            None => break,
        }
    }
    let newest_first: Vec<String> = (0..7).rev().map(|i| format!("t{i}")).collect();
    assert_eq!(seen, newest_first);
    let (_, page) = api.get("/v1/tasks?state=running,failed", ADMIN).await;
    assert_eq!(page["tasks"].as_array().unwrap().len(), 0);
    let (_, page) = api.get("/v1/tasks?state=queued&state=waiting", ADMIN).await;
    assert_eq!(page["tasks"].as_array().unwrap().len(), 8);
    let (status, _) = api.get("/v1/tasks?state=done", ADMIN).await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn a_long_poll_answers_as_soon_as_the_task_is_final() {
    let release = Arc::new(Notify::new());
    let gate = Arc::clone(&release);
    let api = Api::start_with(Options::default(), move |b| {
        b.handler("gated", move |_ctx: TaskContext| {
            let gate = Arc::clone(&gate);
            async move {
                gate.notified().await;
                Ok(TaskOutput::done().message("released"))
            }
        })
    })
    .await;
    let task = api
        .enqueue(json!({"name": "gated", "handler": "gated"}))
        .await;
    let id = id_of(&task);
    crate::util::wait_for_state(&api.engine, id.parse().unwrap(), |s| s == State::Running).await;
    let (status, now) = api.get(&format!("/v1/tasks/{id}?wait=0"), ADMIN).await;
    assert_eq!((status, now["state"].as_str()), (200, Some("running")));
    let poll = {
        let base = api.base.clone();
        let id = id.clone();
        tokio::spawn(async move {
            let started = tokio::time::Instant::now();
            let task: serde_json::Value = errand::run::http::client_builder()
                .build()
                .unwrap()
                .get(format!("{base}/v1/tasks/{id}?wait=30"))
                .bearer_auth(ADMIN)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            (task, started.elapsed())
        })
    };
    // A short poll meanwhile waits its full second and answers the task still running; by
    // then the long poll, sent before it, is parked on the task too.
    let started = tokio::time::Instant::now();
    let (_, still) = api.get(&format!("/v1/tasks/{id}?wait=1"), ADMIN).await;
    assert_eq!(still["state"], "running");
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "it waited"
    );
    assert!(!poll.is_finished(), "the long poll waits for the task");
    release.notify_one();
    let (task, waited) = poll.await.unwrap();
    assert_eq!(task["state"], "succeeded", "{task}");
    assert!(
        waited < std::time::Duration::from_secs(30),
        "it answered on the event, not the timeout"
    );
    let (status, _) = api.get(&format!("/v1/tasks/{id}?wait=61"), ADMIN).await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn an_inline_enqueue_answers_with_the_task_already_run() {
    let api = Api::start_with(Options::default(), |b| {
        b.config(errand::engine::EngineConfig {
            run_workers: false,
            ..crate::util::quick_config()
        })
    })
    .await;
    let (status, task) = api
        .post(
            "/v1/tasks",
            APP,
            json!({"name": "noop", "handler": "noop", "inline": true}),
        )
        .await;
    assert_eq!(status, 201, "{task}");
    assert_eq!(task["state"], "succeeded", "{task}");
    let (_, later) = api
        .post("/v1/tasks", APP, json!({"name": "noop", "handler": "noop"}))
        .await;
    assert_eq!(
        later["state"], "queued",
        "without inline, no worker runs it here"
    );
}

#[tokio::test]
async fn an_engine_in_inline_mode_runs_every_enqueue_before_answering() {
    let api = Api::start_with(Options::default(), |b| {
        b.config(errand::engine::EngineConfig {
            run_workers: false,
            inline: true,
            ..crate::util::quick_config()
        })
    })
    .await;
    let (_, answer) = api
        .post(
            "/v1/tasks:batch",
            APP,
            json!({"tasks": [
                {"name": "noop", "handler": "noop"}, {"name": "noop", "handler": "noop"}
            ]}),
        )
        .await;
    for entry in answer["tasks"].as_array().unwrap() {
        assert_eq!(entry["task"]["state"], "succeeded", "{entry}");
    }
}

#[tokio::test]
async fn cancel_retry_dismiss_and_resume_move_the_task_as_the_contract_says() {
    let api = Api::start_with(Options::default(), |b| {
        b.handler("ask", |ctx: TaskContext| async move {
            match ctx.input() {
                Some(_) => Ok(TaskOutput::done()),
                None => Ok(TaskOutput::needs_input(Some("/confirm".into()))),
            }
        })
        .handler("fails", |_ctx: TaskContext| async move {
            Err(TaskError::new("no luck")
                .detail("Traceback: line 1")
                .permanent())
        })
    })
    .await;
    let failed = api
        .enqueue(json!({"name": "fails", "handler": "fails", "owner": "alice"}))
        .await;
    let failed = api.wait_final(&id_of(&failed)).await;
    assert_eq!(failed["error"]["detail"], "Traceback: line 1");
    let id = id_of(&failed);
    let (status, retried) = api
        .post(&format!("/v1/tasks/{id}/retry"), APP, json!({}))
        .await;
    assert_eq!(status, 200, "{retried}");
    assert!(
        retried["state"] == "queued" || retried["state"] == "running",
        "{retried}"
    );
    let again = api.wait_final(&id).await;
    assert_eq!(again["state"], "failed");
    assert_eq!(again["attempt"], 2);
    assert_eq!(
        again["max_attempts"], 4,
        "the first attempt, then a budget of 3 again"
    );
    let (status, dismissed) = api
        .post(&format!("/v1/tasks/{id}/dismiss"), APP, json!({}))
        .await;
    assert_eq!((status, &dismissed["dismissed"]), (200, &json!(true)));

    let asking = api.enqueue(json!({"name": "ask", "handler": "ask"})).await;
    let id = id_of(&asking);
    let waiting =
        crate::util::wait_for_state(&api.engine, id.parse().unwrap(), |s| s == State::Waiting)
            .await;
    assert_eq!(waiting.links.input_url.as_deref(), Some("/confirm"));
    let (status, resumed) = api
        .post(
            &format!("/v1/tasks/{id}/resume"),
            APP,
            json!({"input": {"confirm": true}}),
        )
        .await;
    assert_eq!(status, 200, "{resumed}");
    assert_eq!(api.wait_final(&id).await["state"], "succeeded");

    let queued = api.enqueue(json!({"name": "tracked"})).await;
    let id = id_of(&queued);
    let (status, cancelled) = api
        .post(&format!("/v1/tasks/{id}/cancel"), APP, json!({}))
        .await;
    assert_eq!(
        (status, cancelled["state"].as_str()),
        (200, Some("cancelled"))
    );
    let (status, again) = api
        .post(&format!("/v1/tasks/{id}/cancel"), APP, json!({}))
        .await;
    assert_eq!(status, 409, "{again}");
    let (status, _) = api
        .post(&format!("/v1/tasks/{id}/resume"), APP, json!({}))
        .await;
    assert_eq!(status, 409);
}

#[tokio::test]
async fn a_retried_expired_task_runs_and_a_retry_behind_a_pending_dedup_twin_is_refused() {
    let api = Api::start().await;
    api.post("/v1/queues/default/pause", ADMIN, json!({})).await;
    let id = id_of(
        &api.enqueue(json!({"name": "noop", "handler": "noop", "expires_in_seconds": 1}))
            .await,
    );
    crate::util::wait_for_state(&api.engine, id.parse().unwrap(), |s| s == State::Expired).await;
    api.post("/v1/queues/default/resume", ADMIN, json!({}))
        .await;
    let (status, _) = api
        .post(&format!("/v1/tasks/{id}/retry"), APP, json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        api.wait_final(&id).await["state"],
        "succeeded",
        "the expiry went with the retry"
    );

    let first = id_of(
        &api.enqueue(json!({"name": "tracked", "dedup_key": "k"}))
            .await,
    );
    api.post(&format!("/v1/tasks/{first}/cancel"), APP, json!({}))
        .await;
    let second = id_of(
        &api.enqueue(json!({"name": "tracked", "dedup_key": "k"}))
            .await,
    );
    assert_ne!(first, second);
    let (status, answer) = api
        .post(&format!("/v1/tasks/{first}/retry"), APP, json!({}))
        .await;
    assert_eq!(status, 409, "{answer}");
    assert_eq!(answer["error"]["code"], "conflict");
}
