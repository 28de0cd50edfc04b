//! What a user or an operator does: cancel, dismiss, resume, retry.

use std::sync::Arc;

use errand::model::{EventKind, Executor, Queue, State};
use errand::store::{Outcome, Store, StoreError};
use serde_json::json;
use uuid::Uuid;

use super::factory::{at, each, lease, put, request, t0, task, with_queue};

#[tokio::test]
async fn cancel_ends_a_waiting_task_at_once_and_asks_a_running_one() {
    each(|store: Arc<dyn Store>| async move {
        with_queue(&store, Queue::new("default")).await;
        let tasks = put(
            &store,
            vec![task("queued"), task("later").run_at(at(60))],
            t0(),
        )
        .await;
        for queued in &tasks {
            let cancelled = store.cancel(queued.id, at(1)).await.unwrap();
            assert_eq!(cancelled.state, State::Cancelled);
            assert_eq!(cancelled.finished_at, Some(at(1)));
        }
        let again = store.cancel(tasks[0].id, at(2)).await;
        assert!(matches!(again, Err(StoreError::Illegal { .. })));
        let missing = store.cancel(errand::model::TaskId::new(), at(2)).await;
        assert!(matches!(missing, Err(StoreError::TaskNotFound(_))));

        put(&store, vec![task("running")], at(3)).await;
        let running = store
            .claim(&request("default", 1, at(3)))
            .await
            .unwrap()
            .remove(0);
        let mut events = store.subscribe();
        let asked = store.cancel(running.id, at(4)).await.unwrap();
        assert_eq!(
            (asked.state, asked.cancel_requested),
            (State::Running, true)
        );
        assert_eq!(
            events.recv().await.unwrap().kind,
            EventKind::CancelRequested
        );
        // Asking twice changes nothing and records nothing.
        let twice = store.cancel(running.id, at(5)).await.unwrap();
        assert!(twice.cancel_requested);
        assert!(events.try_recv().is_err());
        let ended = store
            .finish(lease(&running), Outcome::Cancelled, at(6))
            .await
            .unwrap();
        assert_eq!(
            (ended.state, ended.cancel_requested),
            (State::Cancelled, false)
        );
    })
    .await;
}

#[tokio::test]
async fn cancel_ends_tracked_and_reported_attempts_at_once() {
    each(|store: Arc<dyn Store>| async move {
        with_queue(&store, Queue::new("default").concurrency(5)).await;
        let tracked = put(&store, vec![task("t").executor(Executor::Tracked)], t0())
            .await
            .remove(0);
        store
            .claim_task(tracked.id, Uuid::now_v7(), at(60), at(1))
            .await
            .unwrap();
        assert_eq!(
            store.cancel(tracked.id, at(2)).await.unwrap().state,
            State::Cancelled
        );

        put(&store, vec![task("dispatched")], at(3)).await;
        let running = store
            .claim(&request("default", 1, at(3)))
            .await
            .unwrap()
            .remove(0);
        store.await_reports(lease(&running), at(300)).await.unwrap();
        assert_eq!(
            store.cancel(running.id, at(4)).await.unwrap().state,
            State::Cancelled
        );
    })
    .await;
}

#[tokio::test]
async fn dismiss_hides_a_final_task_once() {
    each(|store: Arc<dyn Store>| async move {
        with_queue(&store, Queue::new("default")).await;
        let queued = put(&store, vec![task("a").owner("ann")], t0())
            .await
            .remove(0);
        let early = store.dismiss(queued.id, at(1)).await;
        assert!(matches!(
            early,
            Err(StoreError::NotFinal {
                state: State::Queued,
                ..
            })
        ));
        store.cancel(queued.id, at(2)).await.unwrap();
        let mut events = store.subscribe();
        let dismissed = store.dismiss(queued.id, at(3)).await.unwrap();
        assert!(dismissed.dismissed);
        assert_eq!(events.recv().await.unwrap().kind, EventKind::Dismissed);
        let twice = store.dismiss(queued.id, at(4)).await.unwrap();
        assert!(twice.dismissed);
        assert!(
            events.try_recv().is_err(),
            "dismissing twice records nothing"
        );
    })
    .await;
}

#[tokio::test]
async fn resume_puts_a_waiting_task_back_with_the_input_and_the_attempt_given_back() {
    each(|store: Arc<dyn Store>| async move {
        with_queue(&store, Queue::new("default")).await;
        put(&store, vec![task("ask")], t0()).await;
        let running = store
            .claim(&request("default", 1, t0()))
            .await
            .unwrap()
            .remove(0);
        let question = Outcome::NeedsInput {
            input_url: None,
            message: Some("sure?".into()),
        };
        store
            .finish(lease(&running), question, at(1))
            .await
            .unwrap();
        let resumed = store
            .resume(running.id, Some(json!({"yes": true})), at(2))
            .await
            .unwrap();
        assert_eq!((resumed.state, resumed.attempt), (State::Queued, 0));
        assert_eq!(resumed.input, Some(json!({"yes": true})));
        let twice = store.resume(running.id, None, at(3)).await;
        assert!(matches!(twice, Err(StoreError::Illegal { .. })));
        let again = store.claim(&request("default", 1, at(4))).await.unwrap();
        assert_eq!(again[0].attempt, 1);
        assert!(again[0].fence > running.fence);
    })
    .await;
}

#[tokio::test]
async fn retry_queues_a_final_task_with_a_fresh_budget() {
    each(|store: Arc<dyn Store>| async move {
        with_queue(&store, Queue::new("default")).await;
        put(&store, vec![task("fails").max_attempts(1)], t0()).await;
        let running = store
            .claim(&request("default", 1, t0()))
            .await
            .unwrap()
            .remove(0);
        let error = errand::model::ErrorInfo {
            message: "no".into(),
            detail: None,
        };
        store
            .finish(lease(&running), Outcome::Failed(error), at(1))
            .await
            .unwrap();
        store.dismiss(running.id, at(2)).await.unwrap();
        let retried = store.retry(running.id, at(3)).await.unwrap();
        assert_eq!(retried.state, State::Queued);
        assert_eq!((retried.attempt, retried.max_attempts), (1, 2));
        assert_eq!(retried.error, None);
        assert!(!retried.dismissed);
        assert_eq!(retried.finished_at, None);
        assert_eq!(retried.scheduled_for, at(3));
        let not_final = store.retry(running.id, at(4)).await;
        assert!(matches!(not_final, Err(StoreError::Illegal { .. })));
        let again = store.claim(&request("default", 1, at(5))).await.unwrap();
        assert_eq!(again[0].attempt, 2);
        let succeeded = Outcome::Succeeded {
            result: None,
            result_url: None,
            message: None,
        };
        store
            .finish(lease(&again[0]), succeeded, at(6))
            .await
            .unwrap();
        let done = store.retry(running.id, at(7)).await;
        assert!(
            matches!(done, Err(StoreError::Illegal { .. })),
            "a success is not retried"
        );
    })
    .await;
}

#[tokio::test]
async fn a_second_retry_adds_the_enqueue_budget_again_and_an_expired_task_loses_its_expiry() {
    each(|store: Arc<dyn Store>| async move {
        with_queue(&store, Queue::new("default").concurrency(5)).await;
        let mut expiring = task("expires").max_attempts(2);
        expiring.expires_at = Some(at(1));
        put(&store, vec![expiring], t0()).await;
        assert_eq!(store.expire_overdue(at(2)).await.unwrap(), 1);
        let id = store.list(&Default::default()).await.unwrap().tasks[0].id;
        let retried = store.retry(id, at(3)).await.unwrap();
        assert_eq!((retried.state, retried.max_attempts), (State::Queued, 2));
        for round in 0..2 {
            let claimed = store
                .claim(&request("default", 1, at(4 + round)))
                .await
                .unwrap();
            assert_eq!(claimed.len(), 1, "the expiry went with the retry");
            let failed = errand::model::ErrorInfo {
                message: "no".into(),
                detail: None,
            };
            store
                .finish(lease(&claimed[0]), Outcome::Failed(failed), at(4 + round))
                .await
                .unwrap();
            let again = store.retry(id, at(5 + round)).await.unwrap();
            assert_eq!(
                again.max_attempts,
                again.attempt + 2,
                "each retry gives the 2 attempts of the enqueue, no more"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn a_retry_behind_a_pending_task_of_its_dedup_key_is_a_conflict() {
    each(|store: Arc<dyn Store>| async move {
        with_queue(&store, Queue::new("default")).await;
        let keyed = || task("keyed").dedup_key("k", errand::model::DedupPolicy::Keep);
        let first = put(&store, vec![keyed()], t0()).await.remove(0);
        store.cancel(first.id, at(1)).await.unwrap();
        let second = put(&store, vec![keyed()], at(2)).await.remove(0);
        assert_ne!(first.id, second.id);
        let refused = store.retry(first.id, at(3)).await;
        assert!(
            matches!(refused, Err(StoreError::Conflict { .. })),
            "{refused:?}"
        );
        assert_eq!(
            store.get(first.id).await.unwrap().unwrap().state,
            State::Cancelled
        );
    })
    .await;
}
