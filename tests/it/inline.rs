//! Inline mode: an enqueue runs the task's first attempt before it returns.

use errand::prelude::*;

use crate::util::{TestDb, engine_on, quick_config};

#[tokio::test]
async fn inline_enqueue_answers_the_finished_task() {
    let db = TestDb::new();
    let mut config = quick_config();
    config.run_workers = false;
    let engine = engine_on(&db)
        .config(config)
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
