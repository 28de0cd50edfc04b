//! A user token sees and acts on its owner's tasks alone: another owner's task answers 404 on
//! every route that names a task, and the routes that are not about tasks refuse it. A task's
//! token is good for its own task's reports only.

use errand::api::ROUTES;
use reqwest::Method;
use serde_json::json;

use super::harness::{APP, Api, id_of, task_tokens};

#[tokio::test]
async fn another_owners_task_is_not_found_on_every_route() {
    let api = Api::start().await;
    let bobs = id_of(
        &api.enqueue(json!({"name": "tracked", "owner": "bob"}))
            .await,
    );
    let alice = api.token("alice");
    let mut checked = 0;
    for route in ROUTES.iter().filter(|route| route.path.contains("{id}")) {
        let path = route.path.replace("{id}", &bobs);
        let method = Method::from_bytes(route.method.as_bytes()).unwrap();
        let (status, answer) = api.call(method, &path, &alice, Some(json!({}))).await;
        assert_eq!(status, 404, "{} {}: {answer}", route.method, route.path);
        checked += 1;
    }
    assert!(checked >= 9, "every task route was tried");
    let (_, task) = api.get(&format!("/v1/tasks/{bobs}"), APP).await;
    assert_eq!(
        task["state"], "queued",
        "nothing alice sent changed bob's task"
    );
}

#[tokio::test]
async fn a_user_token_lists_reads_and_acts_on_its_own_tasks_only() {
    let api = Api::start().await;
    let alices = id_of(
        &api.enqueue(json!({"name": "tracked", "owner": "alice"}))
            .await,
    );
    api.enqueue(json!({"name": "tracked", "owner": "bob"}))
        .await;
    api.enqueue(json!({"name": "tracked"})).await;
    let alice = api.token("alice");
    let (status, list) = api.get("/v1/tasks", &alice).await;
    assert_eq!(status, 200);
    let owners: Vec<_> = list["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["owner"].clone())
        .collect();
    assert_eq!(owners, vec![json!("alice")]);
    assert_eq!(list["counts"]["queued"], 1);
    let (status, _) = api.get("/v1/tasks?owner=bob", &alice).await;
    assert_eq!(status, 403);
    let (status, task) = api.get(&format!("/v1/tasks/{alices}"), &alice).await;
    assert_eq!((status, task["owner"].as_str()), (200, Some("alice")));
    let (status, task) = api
        .post(&format!("/v1/tasks/{alices}/cancel"), &alice, json!({}))
        .await;
    assert_eq!((status, task["state"].as_str()), (200, Some("cancelled")));
    let (status, _) = api
        .post(&format!("/v1/tasks/{alices}/complete"), &alice, json!({}))
        .await;
    assert_eq!(
        status, 403,
        "reports come from the application, even on one's own task"
    );
    for (method, path, body) in [
        (
            Method::POST,
            "/v1/tasks",
            json!({"name": "x", "owner": "alice"}),
        ),
        (
            Method::POST,
            "/v1/tasks:batch",
            json!({"tasks": [{"name": "x"}]}),
        ),
        (Method::GET, "/v1/queues", json!({})),
        (Method::POST, "/v1/queues/default/pause", json!({})),
        (
            Method::PATCH,
            "/v1/queues/default",
            json!({"concurrency": 9}),
        ),
        (Method::POST, "/v1/tokens", json!({"owner": "alice"})),
        (Method::GET, "/v1/selftest", json!({})),
    ] {
        let (status, answer) = api.call(method, path, &alice, Some(body)).await;
        assert_eq!(status, 403, "{path}: {answer}");
    }
}

#[tokio::test]
async fn a_task_token_reports_on_its_own_task_and_reads_nothing() {
    let api = Api::start().await;
    let mine = api
        .enqueue(json!({"name": "tracked", "owner": "alice"}))
        .await;
    let other = id_of(
        &api.enqueue(json!({"name": "tracked", "owner": "alice"}))
            .await,
    );
    let id = id_of(&mine);
    let (status, started) = api
        .post(&format!("/v1/tasks/{id}/start"), APP, json!({}))
        .await;
    assert_eq!(status, 200, "{started}");
    let task = api.engine.get(id.parse().unwrap()).await.unwrap().unwrap();
    let token = task_tokens().mint(task.id, task.fence);
    let (status, _) = api
        .post(
            &format!("/v1/tasks/{id}/progress"),
            &token,
            json!({"percent": 10}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = api.get(&format!("/v1/tasks/{id}"), &token).await;
    assert_eq!(status, 403, "a task token does not read");
    let (status, _) = api
        .post(
            &format!("/v1/tasks/{other}/progress"),
            &token,
            json!({"percent": 10}),
        )
        .await;
    assert_eq!(status, 404, "nor report on another task");
    let (status, _) = api
        .post(&format!("/v1/tasks/{id}/cancel"), &token, json!({}))
        .await;
    assert_eq!(status, 403, "nor act on its own");
}
