//! Inline mode: an enqueue runs the task's first attempt before it returns.

use errand::prelude::*;

use crate::util::{TestDb, engine_on, quick_config};

#[tokio::test]
async fn inline_enqueue_answers_the_finished_task() {
    let db = TestDb::new();
    let engine = crate::util::without_workers(&db)
        .inline(true)
        .handler("double", |ctx: TaskContext| async move {
            let n: i64 = ctx.json()?;
            Ok(TaskOutput::json(serde_json::json!(n * 2)))
        })
        .handler("fail", |_ctx: TaskContext| async move {
            Err(TaskError::new("no such folder").permanent())
        })
        .start()
        .await
        .unwrap();
    let done = engine
        .enqueue(NewTask::new("double").json(serde_json::json!(21)))
        .await
        .unwrap();
    assert!(done.created);
    assert_eq!(done.task.state, State::Succeeded);
    assert_eq!(done.task.result, Some(serde_json::json!(42)));
    let failed = engine.enqueue(NewTask::new("fail")).await.unwrap();
    assert_eq!(failed.task.state, State::Failed);
    assert_eq!(failed.task.error.unwrap().message, "no such folder");
    engine.shutdown(Default::default()).await;
}

#[tokio::test]
async fn inline_enqueue_runs_the_task_itself_even_with_workers_running() {
    let db = TestDb::new();
    let engine = engine_on(&db)
        .inline(true)
        .queue(Queue::new("default").concurrency(4))
        .handler("noop", crate::util::noop)
        .start()
        .await
        .unwrap();
    for _ in 0..50 {
        let done = engine.enqueue(NewTask::new("noop")).await.unwrap();
        assert_eq!(
            done.task.state,
            State::Succeeded,
            "the worker must not take it first"
        );
    }
    engine.shutdown(Default::default()).await;
}

#[tokio::test]
async fn an_inline_task_longer_than_its_lease_keeps_it() {
    let db = TestDb::new();
    let mut config = quick_config();
    config.run_workers = false;
    config.lease_ttl = std::time::Duration::from_millis(800);
    config.heartbeat_interval = std::time::Duration::from_millis(150);
    config.poll_interval = std::time::Duration::from_millis(50);
    let engine = engine_on(&db)
        .config(config)
        .inline(true)
        .handler("long", |_ctx: TaskContext| async move {
            tokio::time::sleep(std::time::Duration::from_millis(2000)).await;
            Ok(TaskOutput::done())
        })
        .start()
        .await
        .unwrap();
    let done = engine.enqueue(NewTask::new("long")).await.unwrap();
    assert_eq!((done.task.state, done.task.attempt), (State::Succeeded, 1));
    engine.shutdown(Default::default()).await;
}

#[tokio::test]
async fn an_inline_batch_runs_every_task_once_each_holding_its_lease() {
    let db = TestDb::new();
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let handler_runs = std::sync::Arc::clone(&runs);
    let mut config = quick_config();
    config.lease_ttl = std::time::Duration::from_millis(800);
    config.heartbeat_interval = std::time::Duration::from_millis(150);
    config.poll_interval = std::time::Duration::from_millis(50);
    let engine = engine_on(&db)
        .config(config)
        .inline(true)
        .handler("slow", move |_ctx: TaskContext| {
            let runs = std::sync::Arc::clone(&handler_runs);
            async move {
                runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                // Each longer than a lease: only renewals keep them.
                tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
                Ok(TaskOutput::done())
            }
        })
        .start()
        .await
        .unwrap();
    let done = engine
        .enqueue_batch((0..3).map(|_| NewTask::new("slow")).collect())
        .await
        .unwrap();
    for answer in &done {
        assert_eq!(
            (answer.task.state, answer.task.attempt),
            (State::Succeeded, 1)
        );
    }
    assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 3);
    engine.shutdown(Default::default()).await;
}

#[tokio::test]
async fn inline_leaves_a_task_of_a_paused_queue_or_a_busy_key_to_the_workers() {
    let db = TestDb::new();
    let engine = crate::util::without_workers(&db)
        .inline(true)
        .handler("noop", crate::util::noop)
        .start()
        .await
        .unwrap();
    engine.set_queue_paused("default", true).await.unwrap();
    let paused = engine.enqueue(NewTask::new("noop")).await.unwrap();
    assert_eq!(paused.task.state, State::Queued);
    engine.set_queue_paused("default", false).await.unwrap();
    // An earlier task of the key is not final: the later one waits its turn.
    let earlier = engine
        .enqueue_batch(vec![
            NewTask::new("noop")
                .ordering_key("doc")
                .delay(std::time::Duration::from_secs(60)),
            NewTask::new("noop").ordering_key("doc"),
        ])
        .await
        .unwrap();
    assert_eq!(earlier[0].task.state, State::Scheduled);
    assert_eq!(earlier[1].task.state, State::Queued);
    engine.shutdown(Default::default()).await;
}
