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
    config.lease_ttl = std::time::Duration::from_millis(300);
    config.heartbeat_interval = std::time::Duration::from_millis(75);
    config.poll_interval = std::time::Duration::from_millis(50);
    let engine = engine_on(&db)
        .config(config)
        .inline(true)
        .handler("long", |_ctx: TaskContext| async move {
            tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
            Ok(TaskOutput::done())
        })
        .start()
        .await
        .unwrap();
    let done = engine.enqueue(NewTask::new("long")).await.unwrap();
    assert_eq!((done.task.state, done.task.attempt), (State::Succeeded, 1));
    engine.shutdown(Default::default()).await;
}
