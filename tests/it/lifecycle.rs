//! A task's ordinary life: enqueued, run, its progress and result recorded, listed and counted.

use errand::prelude::*;
use errand::store::Cursor;
use serde_json::json;

use crate::util::{TestDb, engine_on, noop, wait_final};

#[tokio::test]
async fn a_handler_result_progress_and_links_are_recorded() {
    let db = TestDb::new();
    let engine = engine_on(&db)
        .handler("convert", |ctx: TaskContext| async move {
            let input: serde_json::Value = ctx.json()?;
            ctx.progress(Progress::steps(1, 4).message("converting page 1"))
                .await?;
            Ok(TaskOutput::json(json!({"pages": input["pages"]}))
                .result_url("/documents/7.pdf")
                .message("converted"))
        })
        .start()
        .await
        .unwrap();
    let enqueued = engine
        .enqueue(
            NewTask::new("convert")
                .owner("alice")
                .title("Converting report.docx")
                .description("to PDF")
                .json(json!({"pages": 4}))
                .context(json!({"affects": ["/documents"]}))
                .return_url("/documents"),
        )
        .await
        .unwrap();
    assert!(enqueued.created);
    assert_eq!(enqueued.task.state, State::Queued);
    let task = wait_final(&engine, enqueued.task.id).await;
    assert_eq!(task.state, State::Succeeded);
    assert_eq!(task.result, Some(json!({"pages": 4})));
    assert_eq!(task.links.result_url.as_deref(), Some("/documents/7.pdf"));
    assert_eq!(task.links.return_url.as_deref(), Some("/documents"));
    assert_eq!(task.progress.percent, Some(25.0));
    assert_eq!(task.progress.current, Some(1));
    assert_eq!(task.progress.total, Some(4));
    assert_eq!(task.progress.message.as_deref(), Some("converted"));
    assert_eq!(task.title.as_deref(), Some("Converting report.docx"));
    assert_eq!(task.context, Some(json!({"affects": ["/documents"]})));
    assert_eq!(task.attempt, 1);
    assert!(task.started_at.is_some() && task.finished_at.is_some());
    assert!(task.error.is_none());
    engine.shutdown(Default::default()).await;
}

#[tokio::test]
async fn the_task_json_has_the_contract_fields_and_hides_the_machinery() {
    let db = TestDb::new();
    let engine = engine_on(&db).handler("noop", noop).start().await.unwrap();
    let task = engine
        .enqueue(
            NewTask::new("noop")
                .owner("alice")
                .bytes(b"secret".to_vec()),
        )
        .await
        .unwrap()
        .task;
    let value = serde_json::to_value(&task).unwrap();
    for field in [
        "id",
        "name",
        "queue",
        "owner",
        "title",
        "description",
        "state",
        "progress",
        "links",
        "error",
        "result",
        "attempt",
        "max_attempts",
        "priority",
        "created_at",
        "scheduled_for",
        "started_at",
        "finished_at",
        "dismissed",
        "context",
        "ordering_key",
        "dedup_key",
    ] {
        assert!(value.get(field).is_some(), "missing {field}: {value}");
    }
    for hidden in ["payload", "fence", "input"] {
        assert!(
            value.get(hidden).is_none(),
            "{hidden} must not be shown: {value}"
        );
    }
    assert_eq!(value["state"], "queued");
    assert_eq!(value["executor"], "handler");
    assert!(value["created_at"].as_str().unwrap().ends_with('Z'));
    engine.shutdown(Default::default()).await;
}

#[tokio::test]
async fn a_panicking_handler_fails_its_attempt_with_the_panic_as_detail() {
    let db = TestDb::new();
    let engine = engine_on(&db)
        .handler("boom", |_ctx: TaskContext| async move {
            if true {
                panic!("the index is corrupt");
            }
            Ok(TaskOutput::done())
        })
        .start()
        .await
        .unwrap();
    let task = crate::util::run_to_end(&engine, NewTask::new("boom").max_attempts(1)).await;
    assert_eq!(task.state, State::Failed);
    let error = task.error.unwrap();
    assert_eq!(error.message, "the handler panicked");
    assert_eq!(error.detail.as_deref(), Some("the index is corrupt"));
    engine.shutdown(Default::default()).await;
}

#[tokio::test]
async fn a_payload_that_does_not_fit_fails_without_retry() {
    let db = TestDb::new();
    let engine = engine_on(&db)
        .handler("typed", |ctx: TaskContext| async move {
            let _count: u32 = ctx.json()?;
            Ok(TaskOutput::done())
        })
        .start()
        .await
        .unwrap();
    let task = crate::util::run_to_end(
        &engine,
        NewTask::new("typed")
            .json(json!("not a number"))
            .max_attempts(5),
    )
    .await;
    assert_eq!(task.state, State::Failed);
    assert_eq!(task.attempt, 1);
    assert!(task.error.unwrap().message.contains("does not fit"));
    engine.shutdown(Default::default()).await;
}

#[tokio::test]
async fn unknown_queues_and_handlers_are_refused_at_enqueue() {
    let db = TestDb::new();
    let engine = engine_on(&db).handler("noop", noop).start().await.unwrap();
    let err = engine
        .enqueue(NewTask::new("noop").queue("nope"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, EngineError::UnknownQueue(ref q) if q == "nope"),
        "{err}"
    );
    let err = engine.enqueue(NewTask::new("missing")).await.unwrap_err();
    assert!(matches!(err, EngineError::UnknownHandler(_)), "{err}");
    let err = engine.enqueue(NewTask::new(" ")).await.unwrap_err();
    assert!(matches!(err, EngineError::Invalid(_)), "{err}");
    engine.shutdown(Default::default()).await;
}

#[tokio::test]
async fn listing_pages_through_an_owners_tasks_newest_first_with_banner_counts() {
    let db = TestDb::new();
    // No workers: the tasks stay queued while we list them.
    let engine = crate::util::without_workers(&db)
        .handler("noop", noop)
        .start()
        .await
        .unwrap();
    let mut ids = Vec::new();
    for n in 0..5 {
        let owner = if n % 2 == 0 { "alice" } else { "bob" };
        ids.push(
            engine
                .enqueue(NewTask::new("noop").owner(owner))
                .await
                .unwrap()
                .task
                .id,
        );
    }
    let first = engine
        .list(&TaskFilter {
            owner: Some("alice".into()),
            limit: 2,
            ..TaskFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        first.tasks.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![ids[4], ids[2]]
    );
    let cursor: Cursor = first.next_cursor.expect("a second page");
    let second = engine
        .list(&TaskFilter {
            owner: Some("alice".into()),
            limit: 2,
            cursor: Some(cursor),
            ..TaskFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        second.tasks.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![ids[0]]
    );
    assert!(second.next_cursor.is_none());
    let running = engine
        .list(&TaskFilter {
            states: vec![State::Running],
            ..TaskFilter::default()
        })
        .await
        .unwrap();
    assert!(running.tasks.is_empty());
    let counts = engine.counts(Some("alice")).await.unwrap();
    assert_eq!((counts.queued, counts.running), (3, 0));
    assert_eq!(engine.counts(None).await.unwrap().queued, 5);
    engine.shutdown(Default::default()).await;
}

#[tokio::test]
async fn timings_the_engine_cannot_run_with_are_refused() {
    let db = TestDb::new();
    let mut config = crate::util::quick_config();
    config.heartbeat_interval = config.lease_ttl;
    let err = engine_on(&db)
        .config(config)
        .start()
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("heartbeat_interval"), "{err}");
    let mut config = crate::util::quick_config();
    config.poll_interval = std::time::Duration::ZERO;
    assert!(engine_on(&db).config(config).start().await.is_err());
}
