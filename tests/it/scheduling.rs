//! Delays, expiry, and the wake-up: a ready task starts at once, a delayed one at its time.

use std::time::Duration;

use errand::prelude::*;
use jiff::Timestamp;

use crate::util::{TestDb, engine_on, noop, quick_config, wait_final};

/// An engine builder whose workers and sweepers poll only once an hour: whatever happens
/// sooner was woken.
fn never_polling(db: &TestDb) -> errand::engine::EngineBuilder {
    let mut config = quick_config();
    config.poll_interval = Duration::from_secs(3600);
    engine_on(db).config(config)
}

#[tokio::test]
async fn an_enqueue_wakes_an_idle_worker_without_waiting_for_the_poll() {
    let db = TestDb::new();
    // A poll so slow that only a wake-up can explain a prompt start.
    let engine = never_polling(&db)
        .handler("noop", noop)
        .start()
        .await
        .unwrap();
    // Were the worker polling, the first run would come an hour late, far past the deadline.
    for _ in 0..3 {
        let id = engine.enqueue(NewTask::new("noop")).await.unwrap().task.id;
        assert_eq!(wait_final(&engine, id).await.state, State::Succeeded);
    }
    engine.shutdown(Default::default()).await;
}

#[tokio::test]
async fn a_delayed_task_waits_scheduled_until_its_time() {
    let db = TestDb::new();
    let engine = never_polling(&db)
        .handler("noop", noop)
        .start()
        .await
        .unwrap();
    let run_at = Timestamp::now() + Duration::from_millis(400);
    let task = engine
        .enqueue(NewTask::new("noop").run_at(run_at))
        .await
        .unwrap()
        .task;
    assert_eq!(task.state, State::Scheduled);
    assert_eq!(task.scheduled_for.as_millisecond(), run_at.as_millisecond());
    let done = wait_final(&engine, task.id).await;
    assert_eq!(done.state, State::Succeeded);
    let started = done.started_at.unwrap();
    assert!(
        started >= Timestamp::from_millisecond(run_at.as_millisecond()).unwrap(),
        "started {started} before {run_at}"
    );
    engine.shutdown(Default::default()).await;
}

#[tokio::test]
async fn a_task_never_started_before_expires_at_expires() {
    let db = TestDb::new();
    let engine = engine_on(&db)
        .queue(Queue::new("default").concurrency(1))
        .handler("noop", noop)
        .start()
        .await
        .unwrap();
    engine
        .store()
        .set_queue_paused("default", true)
        .await
        .unwrap();
    let task = crate::util::run_to_end(
        &engine,
        NewTask::new("noop").expires_in(Duration::from_millis(200)),
    )
    .await;
    assert_eq!(task.state, State::Expired);
    assert!(task.started_at.is_none() && task.finished_at.is_some());
    engine.shutdown(Default::default()).await;
}

#[tokio::test]
async fn a_paused_queue_holds_its_tasks_until_resumed() {
    let db = TestDb::new();
    // Resuming wakes the worker: no poll needed.
    let engine = never_polling(&db)
        .handler("noop", noop)
        .start()
        .await
        .unwrap();
    engine.set_queue_paused("default", true).await.unwrap();
    let id = engine.enqueue(NewTask::new("noop")).await.unwrap().task.id;
    let queues = engine.store().queues().await.unwrap();
    assert_eq!(
        (queues[0].name.as_str(), queues[0].paused, queues[0].queued),
        ("default", true, 1)
    );
    assert_eq!(engine.get(id).await.unwrap().unwrap().state, State::Queued);
    engine.set_queue_paused("default", false).await.unwrap();
    assert_eq!(wait_final(&engine, id).await.state, State::Succeeded);
    assert!(engine.set_queue_paused("nope", true).await.is_err());
    engine.shutdown(Default::default()).await;
}

#[tokio::test]
async fn a_task_that_started_before_expires_at_does_not_expire_on_its_retry() {
    use errand::store::{Lease, Outcome};
    let db = TestDb::new();
    let store = db.store();
    store.upsert_queue(&Queue::new("default")).await.unwrap();
    let now = Timestamp::now();
    let mut task = NewTask::new("noop").max_attempts(3);
    task.expires_at = Some(now + Duration::from_secs(10));
    store.enqueue(vec![task], now).await.unwrap();
    let first = crate::util::claim(&*store, "default", 1, now)
        .await
        .remove(0);
    let error = errand::model::ErrorInfo {
        message: "busy".into(),
        detail: None,
    };
    let lease = Lease {
        id: first.id,
        fence: first.fence,
    };
    store
        .finish(lease, Outcome::RetryAt { error, at: now }, now)
        .await
        .unwrap();
    let later = now + Duration::from_secs(20);
    store.promote_due(later).await.unwrap();
    assert_eq!(store.expire_overdue(later).await.unwrap(), 0);
    let again = crate::util::claim(&*store, "default", 1, later).await;
    assert_eq!(again.len(), 1, "claimed for its retry, not expired");
    assert_eq!(again[0].attempt, 2);
}
