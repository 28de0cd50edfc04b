//! Cancellation: a task that is not running is cancelled at once; a running one through a
//! signal its handler observes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use errand::prelude::*;
use errand::store::StoreError;

use crate::util::{TestDb, engine_on, noop, quick_config, wait_final, wait_for_state};

#[tokio::test]
async fn a_queued_task_is_cancelled_at_once_and_never_runs() {
    let db = TestDb::new();
    let engine = crate::util::without_workers(&db)
        .handler("noop", noop)
        .start()
        .await
        .unwrap();
    let id = engine.enqueue(NewTask::new("noop")).await.unwrap().task.id;
    let task = engine.cancel(id).await.unwrap();
    assert_eq!(task.state, State::Cancelled);
    assert!(task.finished_at.is_some());
    // Cancelling a final task is refused, with the reason.
    let err = engine.cancel(id).await.unwrap_err();
    assert!(
        matches!(err, EngineError::Store(StoreError::Illegal { .. })),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("cannot cancel a task that is cancelled")
    );
    engine.shutdown(Default::default()).await;
}

#[tokio::test]
async fn a_running_handler_sees_the_cancellation_and_the_task_ends_cancelled() {
    let db = TestDb::new();
    let saw_it = Arc::new(AtomicBool::new(false));
    let handler_saw = Arc::clone(&saw_it);
    let engine = engine_on(&db)
        .handler("long", move |ctx: TaskContext| {
            let saw = Arc::clone(&handler_saw);
            async move {
                tokio::select! {
                    () = ctx.cancelled() => {
                        saw.store(ctx.is_cancelled(), Ordering::SeqCst);
                        Err(TaskError::new("stopped on request"))
                    }
                    () = tokio::time::sleep(Duration::from_secs(60)) => Ok(TaskOutput::done()),
                }
            }
        })
        .start()
        .await
        .unwrap();
    let id = engine.enqueue(NewTask::new("long")).await.unwrap().task.id;
    wait_for_state(&engine, id, |s| s == State::Running).await;
    let asked = engine.cancel(id).await.unwrap();
    assert_eq!(asked.state, State::Running);
    assert!(asked.cancel_requested);
    let task = wait_final(&engine, id).await;
    assert_eq!(task.state, State::Cancelled);
    assert!(saw_it.load(Ordering::SeqCst));
    engine.shutdown(Default::default()).await;
}

#[tokio::test]
async fn a_handler_that_ignores_cancellation_is_aborted_after_the_grace_period() {
    let db = TestDb::new();
    let mut config = quick_config();
    config.cancel_grace = Duration::from_millis(100);
    let engine = engine_on(&db)
        .config(config)
        .handler("stubborn", |_ctx: TaskContext| async move {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(TaskOutput::done())
        })
        .start()
        .await
        .unwrap();
    let id = engine
        .enqueue(NewTask::new("stubborn"))
        .await
        .unwrap()
        .task
        .id;
    wait_for_state(&engine, id, |s| s == State::Running).await;
    engine.cancel(id).await.unwrap();
    assert_eq!(wait_final(&engine, id).await.state, State::Cancelled);
    engine.shutdown(Default::default()).await;
}

#[tokio::test]
async fn a_cancellation_asked_through_another_engine_reaches_the_runner() {
    let db = TestDb::new();
    let engine = engine_on(&db)
        .handler("long", crate::util::until_cancelled)
        .start()
        .await
        .unwrap();
    let id = engine.enqueue(NewTask::new("long")).await.unwrap().task.id;
    wait_for_state(&engine, id, |s| s == State::Running).await;
    // Another process on the same file: its cancel reaches the runner through the heartbeat.
    let other = db.store();
    let asked = other.cancel(id, jiff::Timestamp::now()).await.unwrap();
    assert!(asked.cancel_requested);
    assert_eq!(wait_final(&engine, id).await.state, State::Cancelled);
    engine.shutdown(Default::default()).await;
}
