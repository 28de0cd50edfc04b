//! Queues over the API: depths and running counts, pause and resume, and a new size.

use reqwest::Method;
use serde_json::{Value, json};

use super::harness::{ADMIN, APP, Api};

fn queue<'a>(list: &'a Value, name: &str) -> &'a Value {
    list["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == name)
        .unwrap_or_else(|| panic!("no queue {name} in {list}"))
}

#[tokio::test]
async fn queues_show_their_depth_and_obey_pause_resume_and_resizing() {
    let api = Api::start().await;
    let (status, paused) = api.post("/v1/queues/default/pause", ADMIN, json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(queue(&paused, "default")["paused"], true);
    for _ in 0..3 {
        api.enqueue(json!({"name": "noop", "handler": "noop"}))
            .await;
    }
    let (_, list) = api.get("/v1/queues", APP).await;
    assert_eq!(queue(&list, "default")["queued"], 3);
    assert_eq!(queue(&list, "default")["running"], 0);
    let (status, resized) = api
        .call(
            Method::PATCH,
            "/v1/queues/default",
            ADMIN,
            Some(json!({"concurrency": 7})),
        )
        .await;
    assert_eq!(status, 200, "{resized}");
    assert_eq!(queue(&resized, "default")["concurrency"], 7);
    let (status, resumed) = api
        .post("/v1/queues/default/resume", ADMIN, json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(queue(&resumed, "default")["paused"], false);
    crate::util::wait_for("the queue to drain", || async {
        let (_, list) = api.get("/v1/queues", APP).await;
        let q = queue(&list, "default");
        (q["queued"] == 0 && q["running"] == 0).then_some(())
    })
    .await;
}
