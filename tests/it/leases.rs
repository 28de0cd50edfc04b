//! Leases and fencing: a lapsed lease sends the task back (or to `failed` once its attempts are
//! spent), and nothing from the stale attempt is accepted afterwards.

use std::time::Duration;

use errand::model::{ErrorInfo, NewTask, Progress, Queue, State};
use errand::prelude::*;
use errand::store::{ClaimRequest, Lease, LeaseStatus, Outcome, Store, StoreError};
use jiff::Timestamp;
use uuid::Uuid;

use crate::util::{TestDb, engine_on, wait_final};

async fn claimed_task(store: &dyn Store, max_attempts: u32, now: Timestamp) -> errand::model::Task {
    store.upsert_queue(&Queue::new("default")).await.unwrap();
    store
        .enqueue(vec![NewTask::new("work").max_attempts(max_attempts)], now)
        .await
        .unwrap();
    let mut claimed = store
        .claim(&ClaimRequest {
            queue: "default".into(),
            limit: 1,
            node: Uuid::now_v7(),
            lease_until: now + Duration::from_secs(1),
            now,
        })
        .await
        .unwrap();
    claimed.pop().expect("one task claimed")
}

#[tokio::test]
async fn a_lapsed_lease_requeues_the_task_and_fences_off_the_old_attempt() {
    let db = TestDb::new();
    let store = db.store();
    let now = Timestamp::now();
    let task = claimed_task(&*store, 3, now).await;
    let old = Lease {
        id: task.id,
        fence: task.fence,
    };

    // Still within the lease: nothing to rescue.
    assert_eq!(store.rescue_expired_leases(now).await.unwrap(), 0);
    let later = now + Duration::from_secs(2);
    assert_eq!(store.rescue_expired_leases(later).await.unwrap(), 1);
    let rescued = store.get(task.id).await.unwrap().unwrap();
    assert_eq!(rescued.state, State::Queued);
    assert_eq!(rescued.attempt, 1, "the lost attempt counts");
    assert!(rescued.error.unwrap().message.contains("will run again"));

    // The stale attempt can neither renew, report nor finish.
    let renewed = store
        .renew_leases(&[old], later + Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(renewed, vec![LeaseStatus::Lost]);
    let progress = store
        .report_progress(old, Progress::percent(90.0), later)
        .await;
    assert!(
        matches!(progress, Err(StoreError::StaleAttempt { .. })),
        "{progress:?}"
    );
    let done = store
        .finish(
            old,
            Outcome::Succeeded {
                result: None,
                result_url: None,
                message: None,
            },
            later,
        )
        .await;
    assert!(
        matches!(done, Err(StoreError::StaleAttempt { .. })),
        "{done:?}"
    );

    // The next attempt has a new fence; the old one stays refused even while it runs.
    let again = store
        .claim_task(
            task.id,
            Uuid::now_v7(),
            later + Duration::from_secs(10),
            later,
        )
        .await
        .unwrap();
    assert_eq!(again.attempt, 2);
    assert!(again.fence > task.fence);
    let late = store
        .finish(
            old,
            Outcome::Failed(ErrorInfo {
                message: "late".into(),
                detail: None,
            }),
            later,
        )
        .await;
    assert!(matches!(late, Err(StoreError::StaleAttempt { .. })));
    let current = Lease {
        id: again.id,
        fence: again.fence,
    };
    let finished = store
        .finish(
            current,
            Outcome::Succeeded {
                result: None,
                result_url: None,
                message: None,
            },
            later,
        )
        .await
        .unwrap();
    assert_eq!(finished.state, State::Succeeded);
}

#[tokio::test]
async fn a_lapsed_lease_with_no_attempts_left_fails_the_task() {
    let db = TestDb::new();
    let store = db.store();
    let now = Timestamp::now();
    let task = claimed_task(&*store, 1, now).await;
    store
        .rescue_expired_leases(now + Duration::from_secs(2))
        .await
        .unwrap();
    let failed = store.get(task.id).await.unwrap().unwrap();
    assert_eq!(failed.state, State::Failed);
    assert!(failed.error.unwrap().message.contains("attempts are spent"));
}

#[tokio::test]
async fn a_runner_that_lost_its_lease_stops_and_its_outcome_is_discarded() {
    let db = TestDb::new();
    let engine = engine_on(&db)
        .handler("work", |ctx: TaskContext| async move {
            if ctx.task().attempt == 1 {
                // The first attempt hangs until it is told to stop.
                ctx.cancelled().await;
                return Ok(TaskOutput::json(serde_json::json!("stale")));
            }
            Ok(TaskOutput::json(serde_json::json!("fresh")))
        })
        .start()
        .await
        .unwrap();
    let id = engine
        .enqueue(NewTask::new("work").max_attempts(3))
        .await
        .unwrap()
        .task
        .id;
    crate::util::wait_for_state(&engine, id, |s| s == State::Running).await;
    // Another node's sweeper, with a clock far ahead, takes the lease away.
    let other = db.store();
    assert_eq!(
        other
            .rescue_expired_leases(Timestamp::now() + Duration::from_secs(600))
            .await
            .unwrap(),
        1
    );
    let task = wait_final(&engine, id).await;
    assert_eq!(task.state, State::Succeeded);
    assert_eq!(task.result, Some(serde_json::json!("fresh")));
    assert_eq!(task.attempt, 2);
    engine.shutdown(Default::default()).await;
}

#[tokio::test]
async fn heartbeats_keep_a_long_task_on_its_first_attempt() {
    let db = TestDb::new();
    let mut config = crate::util::quick_config();
    config.lease_ttl = Duration::from_millis(800);
    config.heartbeat_interval = Duration::from_millis(150);
    config.poll_interval = Duration::from_millis(50);
    let engine = engine_on(&db)
        .config(config)
        .handler("long", |_ctx: TaskContext| async move {
            // Two and a half leases long: only renewals keep the sweeper (every 50 ms) from
            // rescuing it.
            tokio::time::sleep(Duration::from_secs(2)).await;
            Ok(TaskOutput::done())
        })
        .start()
        .await
        .unwrap();
    let task = crate::util::run_to_end(&engine, NewTask::new("long").max_attempts(3)).await;
    assert_eq!((task.state, task.attempt), (State::Succeeded, 1));
    assert!(task.error.is_none(), "never rescued: {:?}", task.error);
    engine.shutdown(Default::default()).await;
}

#[tokio::test]
async fn a_cancellation_asked_before_the_worker_died_is_honoured_by_the_rescue() {
    let db = TestDb::new();
    let store = db.store();
    let now = Timestamp::now();
    let task = claimed_task(&*store, 3, now).await;
    let asked = store.cancel(task.id, now).await.unwrap();
    assert!(asked.cancel_requested);
    store
        .rescue_expired_leases(now + Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(
        store.get(task.id).await.unwrap().unwrap().state,
        State::Cancelled
    );
}

#[tokio::test]
async fn a_cancellation_asked_while_running_ends_the_task_whatever_would_run_it_again() {
    let error = ErrorInfo {
        message: "interrupted".into(),
        detail: None,
    };
    let now = Timestamp::now();
    for outcome in [
        Outcome::HandedBack,
        Outcome::RetryAt { error, at: now },
        Outcome::NeedsInput {
            input_url: None,
            message: None,
        },
    ] {
        let db = TestDb::new();
        let store = db.store();
        let task = claimed_task(&*store, 3, now).await;
        store.cancel(task.id, now).await.unwrap();
        let lease = Lease {
            id: task.id,
            fence: task.fence,
        };
        let ended = store.finish(lease, outcome.clone(), now).await.unwrap();
        assert_eq!(ended.state, State::Cancelled, "after {outcome:?}");
    }
}
