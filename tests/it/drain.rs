//! The graceful drain: stop claiming, let running tasks finish within the grace period, hand
//! the rest back without counting their attempt.

use std::time::Duration;

use errand::prelude::*;

use crate::util::{TestDb, engine_on, wait_for_state};

#[tokio::test]
async fn a_drain_lets_quick_tasks_finish_and_hands_slow_ones_back() {
    let db = TestDb::new();
    let engine = engine_on(&db)
        .queue(Queue::new("default").concurrency(2))
        .handler("quick", |_ctx: TaskContext| async move {
            // Finishes well within the grace period.
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok(TaskOutput::done())
        })
        .handler("slow", |_ctx: TaskContext| async move {
            tokio::time::sleep(Duration::from_secs(600)).await;
            Ok(TaskOutput::done())
        })
        .start()
        .await
        .unwrap();
    let slow = engine
        .enqueue(NewTask::new("slow").max_attempts(1))
        .await
        .unwrap()
        .task
        .id;
    wait_for_state(&engine, slow, |s| s == State::Running).await;
    let quick = engine.enqueue(NewTask::new("quick")).await.unwrap().task.id;
    wait_for_state(&engine, quick, |s| s == State::Running).await;

    engine.shutdown(Duration::from_millis(500)).await;

    let quick = engine.get(quick).await.unwrap().unwrap();
    assert_eq!(quick.state, State::Succeeded);
    let slow = engine.get(slow).await.unwrap().unwrap();
    assert_eq!(slow.state, State::Queued, "handed back to its queue");
    assert_eq!(slow.attempt, 0, "an interrupted attempt is not counted");
    assert_eq!(engine.running(), 0);
}

#[tokio::test]
async fn a_drained_engine_claims_nothing_more() {
    let db = TestDb::new();
    let engine = engine_on(&db)
        .handler("noop", crate::util::noop)
        .start()
        .await
        .unwrap();
    engine.shutdown(Duration::from_secs(1)).await;
    let id = engine.enqueue(NewTask::new("noop")).await.unwrap().task.id;
    // Another engine on the same file runs it: the drained one did not take it.
    let other = engine_on(&db)
        .handler("noop", crate::util::noop)
        .start()
        .await
        .unwrap();
    assert_eq!(
        crate::util::wait_final(&other, id).await.state,
        State::Succeeded
    );
    other.shutdown(Duration::from_secs(1)).await;
}
