//! What a running attempt writes: lease renewals, hand-overs to the application, progress and
//! outcomes, each fenced.

use std::sync::Arc;

use errand::model::{ErrorInfo, EventKind, Executor, Progress, Queue, State, Task};
use errand::store::{Lease, LeaseStatus, Outcome, Store, StoreError};
use serde_json::json;

use super::factory::{at, each, lease, put, request, t0, task, with_queue};

fn error(message: &str) -> ErrorInfo {
    ErrorInfo {
        message: message.into(),
        detail: Some("detail".into()),
    }
}

/// One running task of queue `default` (three attempts), claimed at `secs`.
async fn running(store: &Arc<dyn Store>, secs: u64) -> Task {
    put(store, vec![task("work").owner("ann")], at(secs)).await;
    store
        .claim(&request("default", 1, at(secs)))
        .await
        .unwrap()
        .remove(0)
}

#[tokio::test]
async fn renew_leases_tells_renewed_lost_and_cancel_requested() {
    each(|store: Arc<dyn Store>| async move {
        with_queue(&store, Queue::new("default").concurrency(5)).await;
        let a = running(&store, 0).await;
        let b = running(&store, 0).await;
        let stale = Lease {
            id: a.id,
            fence: a.fence - 1,
        };
        store.cancel(b.id, at(1)).await.unwrap();
        let statuses = store
            .renew_leases(&[lease(&a), stale, lease(&b)], at(120))
            .await
            .unwrap();
        assert_eq!(
            statuses,
            [
                LeaseStatus::Renewed {
                    cancel_requested: false
                },
                LeaseStatus::Lost,
                LeaseStatus::Renewed {
                    cancel_requested: true
                },
            ]
        );
        // Renewed until 120 s: a rescue at 100 s leaves it alone.
        assert_eq!(store.rescue_expired_leases(at(100)).await.unwrap(), 0);
        assert!(store.renew_leases(&[], at(130)).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn await_reports_hands_the_attempt_to_the_application() {
    each(|store: Arc<dyn Store>| async move {
        with_queue(&store, Queue::new("default")).await;
        let task = running(&store, 0).await;
        store.await_reports(lease(&task), at(300)).await.unwrap();
        let reported = store.get(task.id).await.unwrap().unwrap();
        assert!(reported.reported);
        // The node's lease is lost; the application's reports still count.
        assert_eq!(
            store.renew_leases(&[lease(&task)], at(60)).await.unwrap(),
            [LeaseStatus::Lost]
        );
        store
            .report_progress(lease(&task), Progress::percent(50.0), at(10))
            .await
            .unwrap();
        let stale = Lease {
            id: task.id,
            fence: task.fence + 1,
        };
        assert!(matches!(
            store.await_reports(stale, at(300)).await,
            Err(StoreError::StaleAttempt { .. })
        ));
        // Not rescued before its deadline, rescued after.
        assert_eq!(store.rescue_expired_leases(at(200)).await.unwrap(), 0);
        assert_eq!(store.rescue_expired_leases(at(301)).await.unwrap(), 1);
        let back = store.get(task.id).await.unwrap().unwrap();
        assert_eq!(back.state, State::Queued);
    })
    .await;
}

#[tokio::test]
async fn progress_is_recorded_for_the_current_attempt_only() {
    each(|store: Arc<dyn Store>| async move {
        with_queue(&store, Queue::new("default")).await;
        let task = running(&store, 0).await;
        let mut events = store.subscribe();
        let progress = Progress::steps(3, 4).message("three of four");
        let updated = store
            .report_progress(lease(&task), progress, at(1))
            .await
            .unwrap();
        assert_eq!(updated.progress.percent, Some(75.0));
        assert_eq!(updated.progress.current, Some(3));
        assert_eq!(updated.progress.total, Some(4));
        assert_eq!(updated.progress.message.as_deref(), Some("three of four"));
        // Fields left out keep their value; the percentage is clamped.
        let more = Progress {
            percent: Some(250.0),
            ..Progress::default()
        };
        let updated = store
            .report_progress(lease(&task), more, at(2))
            .await
            .unwrap();
        assert_eq!(updated.progress.percent, Some(100.0));
        assert_eq!(updated.progress.current, Some(3));
        let event = events.recv().await.unwrap();
        assert_eq!(event.kind, EventKind::Progress);
        assert_eq!(event.task.state, State::Running);
        let stale = Lease {
            id: task.id,
            fence: task.fence - 1,
        };
        let refused = store
            .report_progress(stale, Progress::percent(1.0), at(3))
            .await;
        assert!(
            matches!(refused, Err(StoreError::StaleAttempt { .. })),
            "{refused:?}"
        );
        let missing = Lease {
            id: errand::model::TaskId::new(),
            fence: 1,
        };
        assert!(
            store
                .report_progress(missing, Progress::percent(1.0), at(3))
                .await
                .is_err()
        );
    })
    .await;
}

#[tokio::test]
async fn finish_with_each_outcome() {
    each(|store: Arc<dyn Store>| async move {
        with_queue(&store, Queue::new("default").concurrency(10)).await;
        let mut sealed = task("work").executor(Executor::Http {
            target: "app".into(),
            path: "/x".into(),
        });
        sealed.sealed_headers = Some(vec![9, 9, 9]);
        put(&store, vec![sealed], t0()).await;
        let task = store
            .claim(&request("default", 1, t0()))
            .await
            .unwrap()
            .remove(0);
        assert_eq!(task.sealed_headers, Some(vec![9, 9, 9]));
        let done = Outcome::Succeeded {
            result: Some(json!({"ok": true})),
            result_url: Some("/result".into()),
            message: Some("done".into()),
        };
        let succeeded = store.finish(lease(&task), done, at(1)).await.unwrap();
        assert_eq!(succeeded.state, State::Succeeded);
        assert_eq!(succeeded.result, Some(json!({"ok": true})));
        assert_eq!(succeeded.links.result_url.as_deref(), Some("/result"));
        assert_eq!(succeeded.progress.message.as_deref(), Some("done"));
        assert_eq!(succeeded.finished_at, Some(at(1)));
        assert_eq!(
            succeeded.sealed_headers, None,
            "credentials erased when final"
        );
        // The same attempt cannot finish twice.
        let twice = store.finish(lease(&task), Outcome::Cancelled, at(2)).await;
        assert!(matches!(twice, Err(StoreError::StaleAttempt { .. })));

        let task = running(&store, 2).await;
        let failed = store
            .finish(lease(&task), Outcome::Failed(error("boom")), at(3))
            .await
            .unwrap();
        assert_eq!(failed.state, State::Failed);
        assert_eq!(failed.error, Some(error("boom")));

        let task = running(&store, 4).await;
        let retry = Outcome::RetryAt {
            error: error("later"),
            at: at(50),
        };
        let waiting = store.finish(lease(&task), retry, at(5)).await.unwrap();
        assert_eq!(
            (waiting.state, waiting.scheduled_for),
            (State::Scheduled, at(50))
        );
        assert_eq!(waiting.attempt, 1);
        assert_eq!(waiting.finished_at, None);

        let task = running(&store, 6).await;
        let question = Outcome::NeedsInput {
            input_url: Some("/answer".into()),
            message: Some("which one?".into()),
        };
        let asked = store.finish(lease(&task), question, at(7)).await.unwrap();
        assert_eq!(asked.state, State::Waiting);
        assert_eq!(asked.links.input_url.as_deref(), Some("/answer"));

        let task = running(&store, 8).await;
        let cancelled = store
            .finish(lease(&task), Outcome::Cancelled, at(9))
            .await
            .unwrap();
        assert_eq!(cancelled.state, State::Cancelled);

        let task = running(&store, 10).await;
        let handed = store
            .finish(lease(&task), Outcome::HandedBack, at(11))
            .await
            .unwrap();
        assert_eq!(
            (handed.state, handed.attempt),
            (State::Queued, 0),
            "the attempt given back"
        );
    })
    .await;
}

/// A success or a failure ends the attempt whatever was asked meanwhile (PostgreSQL writes
/// them in one statement, fenced, without reading the task first): a success stands over a
/// cancellation asked, and a stale or unknown attempt changes nothing.
#[tokio::test]
async fn a_success_or_a_failure_ends_the_current_attempt_only() {
    each(|store: Arc<dyn Store>| async move {
        with_queue(&store, Queue::new("default").concurrency(5)).await;
        let asked = running(&store, 1).await;
        store.cancel(asked.id, at(2)).await.unwrap();
        let done = Outcome::Succeeded {
            result: Some(json!({"n": 1})),
            result_url: None,
            message: Some("done".into()),
        };
        let stale = Lease {
            id: asked.id,
            fence: asked.fence - 1,
        };
        let refused = store.finish(stale, done.clone(), at(3)).await;
        assert!(matches!(refused, Err(StoreError::StaleAttempt { .. })));
        let succeeded = store
            .finish(lease(&asked), done.clone(), at(3))
            .await
            .unwrap();
        assert_eq!(succeeded.state, State::Succeeded);
        assert!(!succeeded.cancel_requested);
        assert_eq!(succeeded.result, Some(json!({"n": 1})));
        assert_eq!(succeeded.finished_at, Some(at(3)));
        assert_eq!(store.get(asked.id).await.unwrap().unwrap(), succeeded);
        let again = store.finish(lease(&asked), done, at(4)).await;
        assert!(
            matches!(again, Err(StoreError::StaleAttempt { .. })),
            "an attempt ends once"
        );

        let failing = running(&store, 5).await;
        let failed = store
            .finish(lease(&failing), Outcome::Failed(error("broken")), at(6))
            .await
            .unwrap();
        assert_eq!(failed.state, State::Failed);
        assert_eq!(
            failed.error.as_ref().map(|e| e.message.as_str()),
            Some("broken")
        );
    })
    .await;
}

#[tokio::test]
async fn a_retry_past_the_attempts_fails_and_a_cancellation_outlives_a_retry() {
    each(|store: Arc<dyn Store>| async move {
        with_queue(&store, Queue::new("default")).await;
        put(&store, vec![task("once").max_attempts(1)], t0()).await;
        let task = store
            .claim(&request("default", 1, t0()))
            .await
            .unwrap()
            .remove(0);
        let retry = Outcome::RetryAt {
            error: error("again"),
            at: at(10),
        };
        let failed = store
            .finish(lease(&task), retry.clone(), at(1))
            .await
            .unwrap();
        assert_eq!(failed.state, State::Failed);

        let task = running(&store, 2).await;
        store.cancel(task.id, at(3)).await.unwrap();
        let cancelled = store.finish(lease(&task), retry, at(4)).await.unwrap();
        assert_eq!(cancelled.state, State::Cancelled);
    })
    .await;
}

#[tokio::test]
async fn concurrent_outcomes_share_commits_and_a_stale_one_leaves_the_others_be() {
    each(|store: Arc<dyn Store>| async move {
        with_queue(&store, Queue::new("default").concurrency(32)).await;
        put(
            &store,
            (0..24)
                .map(|i| task(&format!("t{i}")).owner("ann"))
                .collect(),
            t0(),
        )
        .await;
        let claimed = store.claim(&request("default", 24, at(1))).await.unwrap();
        assert_eq!(claimed.len(), 24);
        // Outcomes, progress and enqueues at once, so that they share groups; one outcome
        // comes with a stale fence.
        let calls: Vec<_> = claimed
            .iter()
            .enumerate()
            .map(|(i, task)| {
                let store = Arc::clone(&store);
                let fence = if i == 5 { task.fence - 1 } else { task.fence };
                let lease = Lease { id: task.id, fence };
                tokio::spawn(async move {
                    let progress = Progress {
                        percent: Some(50.0),
                        ..Progress::default()
                    };
                    let reported = store.report_progress(lease, progress, at(2)).await;
                    let done = Outcome::Succeeded {
                        result: None,
                        result_url: None,
                        message: None,
                    };
                    let (finished, enqueued) = tokio::join!(
                        store.finish(lease, done, at(3)),
                        store.enqueue(vec![task_named(i)], at(3)),
                    );
                    (reported.map(|_| ()), finished, enqueued)
                })
            })
            .collect();
        for (i, call) in calls.into_iter().enumerate() {
            let (reported, finished, enqueued) = call.await.unwrap();
            assert!(enqueued.is_ok(), "{i}");
            if i == 5 {
                assert!(matches!(reported, Err(StoreError::StaleAttempt { .. })));
                assert!(matches!(finished, Err(StoreError::StaleAttempt { .. })));
            } else {
                reported.unwrap();
                assert_eq!(finished.unwrap().state, State::Succeeded, "{i}");
            }
        }
        let stale = store.get(claimed[5].id).await.unwrap().unwrap();
        assert_eq!(stale.state, State::Running);
        assert!(
            stale.progress.percent.is_none(),
            "the stale report left nothing"
        );
        let done = store
            .list(&errand::store::TaskFilter {
                states: vec![State::Succeeded],
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(done.tasks.len(), 23);
    })
    .await;
}

fn task_named(i: usize) -> errand::model::NewTask {
    task(&format!("later{i}")).owner("bob")
}
