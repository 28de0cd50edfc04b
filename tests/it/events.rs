//! Events: one per transition and progress report, numbered, stored and published.

use std::sync::Arc;

use errand::prelude::*;
use errand::store::sqlite::SqliteStore;
use tokio::sync::broadcast::error::TryRecvError;

use crate::util::{TestDb, engine_on, wait_final};

#[tokio::test]
async fn every_transition_and_progress_report_is_published_and_stored_in_order() {
    let db = TestDb::new();
    let engine = engine_on(&db)
        .handler("steps", |ctx: TaskContext| async move {
            ctx.progress(Progress::percent(50.0)).await?;
            Ok(TaskOutput::done())
        })
        .start()
        .await
        .unwrap();
    let mut live = engine.subscribe();
    let id = engine
        .enqueue(NewTask::new("steps").owner("alice"))
        .await
        .unwrap()
        .task
        .id;
    wait_final(&engine, id).await;
    let mut published = Vec::new();
    loop {
        match live.try_recv() {
            Ok(event) => published.push(event),
            Err(TryRecvError::Empty) => break,
            Err(err) => panic!("{err}"),
        }
    }
    let summary: Vec<(EventKind, Option<State>, State)> = published
        .iter()
        .map(|e| (e.kind, e.from, e.task.state))
        .collect();
    assert_eq!(
        summary,
        vec![
            (EventKind::Created, None, State::Queued),
            (EventKind::StateChanged, Some(State::Queued), State::Running),
            (EventKind::Progress, None, State::Running),
            (
                EventKind::StateChanged,
                Some(State::Running),
                State::Succeeded
            ),
        ]
    );
    assert!(published.windows(2).all(|w| w[0].seq < w[1].seq));
    // The store holds the same events under the same numbers, for a client that reconnects.
    let stored = engine
        .store()
        .events_since(0, Some("alice"), 100)
        .await
        .unwrap();
    assert_eq!(
        stored.iter().map(|e| (e.seq, e.kind)).collect::<Vec<_>>(),
        published
            .iter()
            .map(|e| (e.seq, e.kind))
            .collect::<Vec<_>>()
    );
    let after_second = engine
        .store()
        .events_since(published[1].seq, Some("alice"), 100)
        .await
        .unwrap();
    assert_eq!(after_second.len(), 2);
    assert!(
        engine
            .store()
            .events_since(0, Some("bob"), 100)
            .await
            .unwrap()
            .is_empty()
    );
    engine.shutdown(Default::default()).await;
}

#[tokio::test]
async fn event_numbers_keep_increasing_across_a_restart() {
    let db = TestDb::new();
    let first_last = {
        let store = Arc::new(SqliteStore::open(db.path()).unwrap());
        let engine = Engine::builder()
            .store(store.clone())
            .config(crate::util::quick_config())
            .handler("noop", crate::util::noop)
            .start()
            .await
            .unwrap();
        let id = engine.enqueue(NewTask::new("noop")).await.unwrap().task.id;
        wait_final(&engine, id).await;
        engine.shutdown(Default::default()).await;
        store
            .events_since(0, None, 100)
            .await
            .unwrap()
            .last()
            .unwrap()
            .seq
    };
    let engine = engine_on(&db)
        .handler("noop", crate::util::noop)
        .start()
        .await
        .unwrap();
    let mut live = engine.subscribe();
    engine.enqueue(NewTask::new("noop")).await.unwrap();
    let event = live.recv().await.unwrap();
    assert!(event.seq > first_last);
    engine.shutdown(Default::default()).await;
}
