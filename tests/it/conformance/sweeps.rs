//! The sweepers: promotion of due tasks, lease rescue, expiry and retention.

use std::sync::Arc;
use std::time::Duration;

use errand::model::{Queue, State};
use errand::store::{ClaimRequest, Lease, Outcome, Store};

use super::factory::{at, each, put, request, t0, task, with_queue};

#[tokio::test]
async fn promote_due_moves_scheduled_tasks_when_their_time_comes() {
    each(|store: Arc<dyn Store>| async move {
        with_queue(&store, Queue::new("default").concurrency(5)).await;
        assert_eq!(store.next_due().await.unwrap(), None);
        let tasks = put(
            &store,
            vec![task("b").run_at(at(20)), task("a").run_at(at(10))],
            t0(),
        )
        .await;
        assert_eq!(store.next_due().await.unwrap(), Some(at(10)));
        assert_eq!(store.promote_due(at(9)).await.unwrap(), 0);
        assert!(
            store
                .claim(&request("default", 5, at(9)))
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(store.promote_due(at(10)).await.unwrap(), 1);
        assert_eq!(
            store.get(tasks[1].id).await.unwrap().unwrap().state,
            State::Queued
        );
        assert_eq!(store.next_due().await.unwrap(), Some(at(20)));
        assert_eq!(store.promote_due(at(30)).await.unwrap(), 1);
        assert_eq!(store.next_due().await.unwrap(), None);
        let claimed = store.claim(&request("default", 5, at(30))).await.unwrap();
        assert_eq!(claimed.len(), 2);
    })
    .await;
}

#[tokio::test]
async fn rescue_requeues_a_lapsed_lease_or_fails_it_once_attempts_are_spent() {
    each(|store: Arc<dyn Store>| async move {
        with_queue(&store, Queue::new("default").concurrency(5)).await;
        put(&store, vec![task("twice").max_attempts(2)], t0()).await;
        let short = |now| ClaimRequest {
            lease_until: now + Duration::from_secs(10),
            ..request("default", 1, now)
        };
        let first = store.claim(&short(t0())).await.unwrap().remove(0);
        assert_eq!(store.rescue_expired_leases(at(5)).await.unwrap(), 0);
        assert_eq!(store.rescue_expired_leases(at(11)).await.unwrap(), 1);
        let requeued = store.get(first.id).await.unwrap().unwrap();
        assert_eq!(
            (requeued.state, requeued.attempt),
            (State::Queued, 1),
            "the attempt counts"
        );
        assert!(requeued.error.is_some());
        // The lost attempt's writes are refused.
        let stale = Lease {
            id: first.id,
            fence: first.fence,
        };
        let late = store.finish(stale, Outcome::Cancelled, at(12)).await;
        assert!(matches!(
            late,
            Err(errand::store::StoreError::StaleAttempt { .. })
        ));
        let second = store.claim(&short(at(20))).await.unwrap().remove(0);
        assert_eq!(second.attempt, 2);
        assert_eq!(store.rescue_expired_leases(at(31)).await.unwrap(), 1);
        let failed = store.get(first.id).await.unwrap().unwrap();
        assert_eq!(failed.state, State::Failed);
        // A lapsed lease whose cancellation was asked ends cancelled.
        put(&store, vec![task("c")], at(40)).await;
        let third = store.claim(&short(at(40))).await.unwrap().remove(0);
        store.cancel(third.id, at(41)).await.unwrap();
        assert_eq!(store.rescue_expired_leases(at(51)).await.unwrap(), 1);
        let cancelled = store.get(third.id).await.unwrap().unwrap();
        assert_eq!(cancelled.state, State::Cancelled);
    })
    .await;
}

#[tokio::test]
async fn expire_overdue_expires_tasks_never_started() {
    each(|store: Arc<dyn Store>| async move {
        with_queue(&store, Queue::new("default").concurrency(5)).await;
        let mut queued = task("queued");
        queued.expires_at = Some(at(10));
        let mut scheduled = task("scheduled").run_at(at(100));
        scheduled.expires_at = Some(at(10));
        let mut started = task("started");
        started.expires_at = Some(at(10));
        let tasks = put(&store, vec![started], t0()).await;
        let running = store
            .claim(&request("default", 1, t0()))
            .await
            .unwrap()
            .remove(0);
        assert_eq!(running.id, tasks[0].id);
        let tasks = put(&store, vec![queued, scheduled], t0()).await;
        assert_eq!(store.expire_overdue(at(9)).await.unwrap(), 0);
        assert_eq!(store.expire_overdue(at(10)).await.unwrap(), 2);
        for task in &tasks {
            let expired = store.get(task.id).await.unwrap().unwrap();
            assert_eq!(expired.state, State::Expired);
            assert_eq!(expired.finished_at, Some(at(10)));
        }
        assert_eq!(
            store.get(running.id).await.unwrap().unwrap().state,
            State::Running
        );
        // A claim passes over (and expires) an overdue task rather than start it.
        let mut late = task("late");
        late.expires_at = Some(at(30));
        let late = put(&store, vec![late], at(20)).await.remove(0);
        assert!(
            store
                .claim(&request("default", 1, at(31)))
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store.get(late.id).await.unwrap().unwrap().state,
            State::Expired
        );
    })
    .await;
}

#[tokio::test]
async fn sweep_retention_deletes_old_final_tasks_and_events_only() {
    each(|store: Arc<dyn Store>| async move {
        with_queue(&store, Queue::new("default").concurrency(5)).await;
        let tasks = put(&store, vec![task("old"), task("new"), task("active")], t0()).await;
        store.cancel(tasks[0].id, at(10)).await.unwrap();
        store.cancel(tasks[1].id, at(100)).await.unwrap();
        let deleted = store.sweep_retention(at(50)).await.unwrap();
        assert!(deleted >= 1, "deleted {deleted}");
        while store.sweep_retention(at(50)).await.unwrap() > 0 {}
        assert_eq!(store.get(tasks[0].id).await.unwrap(), None);
        assert!(store.get(tasks[1].id).await.unwrap().is_some());
        assert!(store.get(tasks[2].id).await.unwrap().is_some());
        let events = store.events_since(0, None, 100).await.unwrap();
        assert!(events.iter().all(|event| event.task.id != tasks[0].id));
        assert!(events.iter().any(|event| event.task.id == tasks[1].id));
        // What was left still works.
        let claimed = store.claim(&request("default", 5, at(101))).await.unwrap();
        assert_eq!(claimed.len(), 1);
    })
    .await;
}
