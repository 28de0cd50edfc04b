//! Dedup keys: `keep` answers with the task already there; `debounce` replaces the payload of a
//! task that has not started and pushes its start back.

use std::time::Duration;

use errand::prelude::*;
use jiff::Timestamp;
use serde_json::json;

use crate::util::{TestDb, engine_on, noop, wait_final};

/// An engine running a task of dedup key `key` until it is cancelled.
async fn running_with_key(db: &TestDb, key: &str, policy: DedupPolicy) -> (Engine, Enqueued) {
    let engine = engine_on(db)
        .handler("reindex", crate::util::until_cancelled)
        .start()
        .await
        .unwrap();
    let first = engine
        .enqueue(NewTask::new("reindex").dedup_key(key, policy))
        .await
        .unwrap();
    crate::util::wait_for_state(&engine, first.task.id, |s| s == State::Running).await;
    (engine, first)
}

fn without_workers(db: &TestDb) -> errand::engine::EngineBuilder {
    crate::util::without_workers(db).handler("reindex", noop)
}

#[tokio::test]
async fn keep_answers_the_existing_task_until_it_is_final() {
    let db = TestDb::new();
    let engine = without_workers(&db).start().await.unwrap();
    let first = engine
        .enqueue(
            NewTask::new("reindex")
                .dedup_key("doc-7", DedupPolicy::Keep)
                .json(json!(1)),
        )
        .await
        .unwrap();
    assert!(first.created);
    let second = engine
        .enqueue(
            NewTask::new("reindex")
                .dedup_key("doc-7", DedupPolicy::Keep)
                .json(json!(2)),
        )
        .await
        .unwrap();
    assert!(!second.created);
    assert_eq!(second.task.id, first.task.id);
    assert_eq!(second.task.payload, errand::model::Payload::Json(json!(1)));
    // Once the first is final, the key is free again.
    engine.cancel(first.task.id).await.unwrap();
    let third = engine
        .enqueue(NewTask::new("reindex").dedup_key("doc-7", DedupPolicy::Keep))
        .await
        .unwrap();
    assert!(third.created);
    assert_ne!(third.task.id, first.task.id);
    // In one batch, the second answers the first.
    let batch = engine
        .enqueue_batch(vec![
            NewTask::new("reindex").dedup_key("doc-8", DedupPolicy::Keep),
            NewTask::new("reindex").dedup_key("doc-8", DedupPolicy::Keep),
        ])
        .await
        .unwrap();
    assert!(batch[0].created && !batch[1].created);
    assert_eq!(batch[0].task.id, batch[1].task.id);
    engine.shutdown(Default::default()).await;
}

#[tokio::test]
async fn keep_answers_a_running_task_too() {
    let db = TestDb::new();
    let (engine, first) = running_with_key(&db, "doc-9", DedupPolicy::Keep).await;
    let again = engine
        .enqueue(NewTask::new("reindex").dedup_key("doc-9", DedupPolicy::Keep))
        .await
        .unwrap();
    assert!(!again.created);
    assert_eq!(again.task.id, first.task.id);
    engine.cancel(first.task.id).await.unwrap();
    assert_eq!(
        wait_final(&engine, first.task.id).await.state,
        State::Cancelled
    );
    engine.shutdown(Default::default()).await;
}

#[tokio::test]
async fn debounce_replaces_the_payload_and_pushes_back_the_start() {
    let db = TestDb::new();
    let engine = without_workers(&db).start().await.unwrap();
    let soon = Timestamp::now() + Duration::from_secs(60);
    let later = Timestamp::now() + Duration::from_secs(120);
    let first = engine
        .enqueue(
            NewTask::new("reindex")
                .dedup_key("doc-7", DedupPolicy::Debounce)
                .json(json!({"edit": 1}))
                .run_at(soon),
        )
        .await
        .unwrap();
    assert!(first.created);
    let second = engine
        .enqueue(
            NewTask::new("reindex")
                .dedup_key("doc-7", DedupPolicy::Debounce)
                .json(json!({"edit": 2}))
                .context(json!({"reload_if_path": ["/doc/7"]}))
                .run_at(later),
        )
        .await
        .unwrap();
    assert!(!second.created);
    assert_eq!(second.task.id, first.task.id);
    assert_eq!(second.task.state, State::Scheduled);
    assert_eq!(
        second.task.payload,
        errand::model::Payload::Json(json!({"edit": 2}))
    );
    assert_eq!(
        second.task.context,
        Some(json!({"reload_if_path": ["/doc/7"]}))
    );
    assert_eq!(
        second.task.scheduled_for.as_millisecond(),
        later.as_millisecond()
    );
    let all = engine.list(&TaskFilter::default()).await.unwrap();
    assert_eq!(all.tasks.len(), 1);
    engine.shutdown(Default::default()).await;
}

#[tokio::test]
async fn debounce_enqueues_anew_once_the_task_has_started() {
    let db = TestDb::new();
    let (engine, first) = running_with_key(&db, "doc-7", DedupPolicy::Debounce).await;
    let second = engine
        .enqueue(NewTask::new("reindex").dedup_key("doc-7", DedupPolicy::Debounce))
        .await
        .unwrap();
    assert!(
        second.created,
        "the running task has the old payload: a new one must run after it"
    );
    assert_ne!(second.task.id, first.task.id);
    engine.cancel(first.task.id).await.unwrap();
    engine.cancel(second.task.id).await.unwrap();
    wait_final(&engine, first.task.id).await;
    wait_final(&engine, second.task.id).await;
    engine.shutdown(Default::default()).await;
}

#[tokio::test]
async fn a_started_task_retrying_beside_its_debounced_successor_is_not_stuck() {
    let db = TestDb::new();
    let store = crate::util::store_with(&db, Queue::new("default").concurrency(2)).await;
    let now = Timestamp::now();
    let first = enqueue_doc7(&*store, DedupPolicy::Debounce, now, |t| t)
        .await
        .task;
    let running = store
        .claim_task(
            first.id,
            uuid::Uuid::now_v7(),
            now + Duration::from_secs(30),
            now,
        )
        .await
        .unwrap();
    // A debounced enqueue while the first runs: a successor, not started.
    let second = enqueue_doc7(&*store, DedupPolicy::Debounce, now, |t| t).await;
    assert!(second.created);
    // The first fails and waits for its retry beside the successor: both scheduled or queued.
    let lease = errand::store::Lease {
        id: running.id,
        fence: running.fence,
    };
    let error = errand::model::ErrorInfo {
        message: "busy".into(),
        detail: None,
    };
    let retrying = store
        .finish(
            lease,
            errand::store::Outcome::RetryAt { error, at: now },
            now,
        )
        .await
        .unwrap();
    assert_eq!(retrying.state, State::Scheduled);
    assert_eq!(
        store
            .promote_due(now + Duration::from_secs(1))
            .await
            .unwrap(),
        1
    );
    // A keep enqueue still answers one of them, and a debounce updates the successor only.
    let keep = enqueue_doc7(&*store, DedupPolicy::Keep, now, |t| t).await;
    assert!(!keep.created);
    let debounced = enqueue_doc7(&*store, DedupPolicy::Debounce, now, |t| t.json(json!(3))).await;
    assert_eq!(debounced.task.id, second.task.id);
}

/// Enqueues one task of dedup key `doc-7` straight into the store.
async fn enqueue_doc7(
    store: &dyn errand::store::Store,
    policy: DedupPolicy,
    now: Timestamp,
    shape: impl FnOnce(NewTask) -> NewTask,
) -> Enqueued {
    let task = shape(
        NewTask::new("reindex")
            .max_attempts(3)
            .dedup_key("doc-7", policy),
    );
    store.enqueue(vec![task], now).await.unwrap().remove(0)
}
