//! Waiting for the user's input and resuming; dismissal; retention.

use std::time::Duration;

use errand::prelude::*;
use errand::store::StoreError;
use jiff::Timestamp;
use serde_json::json;

use crate::util::{TestDb, engine_on, noop, quick_config, wait_final, wait_for_state};

#[tokio::test]
async fn a_task_that_needs_input_waits_and_resumes_with_the_answer() {
    let db = TestDb::new();
    let engine = engine_on(&db)
        .handler("import", |ctx: TaskContext| async move {
            match ctx.input() {
                None => Ok(TaskOutput::needs_input(Some("/import/7/columns".into()))
                    .message("Which column holds the e-mail address?")),
                Some(answer) => Ok(TaskOutput::json(json!({"column": answer}))),
            }
        })
        .start()
        .await
        .unwrap();
    let id = engine
        .enqueue(NewTask::new("import").max_attempts(1))
        .await
        .unwrap()
        .task
        .id;
    let waiting = wait_for_state(&engine, id, |s| s == State::Waiting).await;
    assert_eq!(
        waiting.links.input_url.as_deref(),
        Some("/import/7/columns")
    );
    assert_eq!(
        waiting.progress.message.as_deref(),
        Some("Which column holds the e-mail address?")
    );
    assert_eq!(engine.counts(None).await.unwrap().waiting, 1);
    let resumed = engine.resume(id, Some(json!("C"))).await.unwrap();
    assert_eq!(resumed.state, State::Queued);
    let done = wait_final(&engine, id).await;
    assert_eq!(done.state, State::Succeeded);
    assert_eq!(done.result, Some(json!({"column": "C"})));
    // Answering is not a retry: one attempt was allowed, and one was used.
    assert_eq!(done.attempt, 1);
    // Only a waiting task can be resumed.
    let err = engine.resume(id, None).await.unwrap_err();
    assert!(
        matches!(err, EngineError::Store(StoreError::Illegal { .. })),
        "{err}"
    );
    engine.shutdown(Default::default()).await;
}

#[tokio::test]
async fn a_final_task_can_be_dismissed_once_and_leaves_the_banner() {
    let db = TestDb::new();
    let engine = engine_on(&db)
        .handler("fail", |_ctx: TaskContext| async move {
            Err(TaskError::new("no space left").permanent())
        })
        .start()
        .await
        .unwrap();
    let id = engine
        .enqueue(NewTask::new("fail").owner("alice"))
        .await
        .unwrap()
        .task
        .id;
    wait_final(&engine, id).await;
    assert_eq!(
        engine
            .counts(Some("alice"))
            .await
            .unwrap()
            .failed_undismissed,
        1
    );
    let dismissed = engine.dismiss(id).await.unwrap();
    assert!(dismissed.dismissed);
    assert_eq!(dismissed.state, State::Failed);
    assert_eq!(
        engine
            .counts(Some("alice"))
            .await
            .unwrap()
            .failed_undismissed,
        0
    );
    // Twice is harmless.
    assert!(engine.dismiss(id).await.unwrap().dismissed);
    engine.shutdown(Default::default()).await;
}

#[tokio::test]
async fn a_task_that_is_not_final_cannot_be_dismissed() {
    let db = TestDb::new();
    let engine = crate::util::without_workers(&db)
        .handler("noop", noop)
        .start()
        .await
        .unwrap();
    let id = engine.enqueue(NewTask::new("noop")).await.unwrap().task.id;
    let err = engine.dismiss(id).await.unwrap_err();
    assert!(
        matches!(err, EngineError::Store(StoreError::NotFinal { .. })),
        "{err}"
    );
    engine.shutdown(Default::default()).await;
}

#[tokio::test]
async fn retention_deletes_old_final_tasks_and_events_but_keeps_the_rest() {
    let db = TestDb::new();
    let store = db.store();
    let engine = Engine::builder()
        .store(store.clone())
        .config(quick_config())
        .handler("noop", noop)
        .start()
        .await
        .unwrap();
    let done = engine.enqueue(NewTask::new("noop")).await.unwrap().task.id;
    wait_final(&engine, done).await;
    engine
        .store()
        .set_queue_paused("default", true)
        .await
        .unwrap();
    let pending = engine.enqueue(NewTask::new("noop")).await.unwrap().task.id;
    let last_event = store
        .events_since(0, None, 1000)
        .await
        .unwrap()
        .last()
        .unwrap()
        .seq;
    // A sweep whose cutoff is in the future: everything final is old enough.
    let cutoff = Timestamp::now() + Duration::from_secs(3600);
    let mut deleted = 0;
    loop {
        let n = store.sweep_retention(cutoff).await.unwrap();
        if n == 0 {
            break;
        }
        deleted += n;
    }
    assert!(deleted >= 1);
    assert!(engine.get(done).await.unwrap().is_none());
    assert!(engine.get(pending).await.unwrap().is_some());
    // The newest event survives, so that event numbers are never handed out again.
    let left = store.events_since(0, None, 1000).await.unwrap();
    assert!(left.iter().all(|e| e.task.id == pending));
    let next = engine.enqueue(NewTask::new("noop")).await.unwrap().task.id;
    let newer = store.events_since(last_event, None, 10).await.unwrap();
    assert_eq!(newer.len(), 1);
    assert!(newer[0].seq > last_event);
    assert_eq!(newer[0].task.id, next);
    engine.shutdown(Default::default()).await;
}
