//! Reads: events since a number, listings with filters and cursors, the banner's counts,
//! queues with their depths.

use std::sync::Arc;

use errand::model::{EventKind, Queue, QueueStats, State};
use errand::store::{Counts, Lease, Outcome, Store, TaskFilter};

use super::factory::{at, each, lease, put, request, t0, task, with_queue};

#[tokio::test]
async fn events_since_answers_in_order_for_one_owner_or_all() {
    each(|store: Arc<dyn Store>| async move {
        with_queue(&store, Queue::new("default").concurrency(5)).await;
        let tasks = put(
            &store,
            vec![
                task("a").owner("ann"),
                task("b").owner("bob"),
                task("c").owner("ann"),
            ],
            t0(),
        )
        .await;
        store.cancel(tasks[1].id, at(1)).await.unwrap();
        let all = store.events_since(0, None, 100).await.unwrap();
        assert_eq!(all.len(), 4);
        assert!(all.windows(2).all(|pair| pair[0].seq < pair[1].seq));
        let kinds: Vec<EventKind> = all.iter().map(|event| event.kind).collect();
        assert_eq!(
            kinds,
            [
                EventKind::Created,
                EventKind::Created,
                EventKind::Created,
                EventKind::StateChanged
            ]
        );
        // Each carries the state the event left the task in.
        assert_eq!(all[1].task.state, State::Queued);
        assert_eq!(all[3].task.state, State::Cancelled);
        assert_eq!(all[3].from, Some(State::Queued));
        let ann = store.events_since(0, Some("ann"), 100).await.unwrap();
        assert_eq!(ann.len(), 2);
        assert!(
            ann.iter()
                .all(|event| event.task.owner.as_deref() == Some("ann"))
        );
        let after = store.events_since(all[1].seq, None, 100).await.unwrap();
        assert_eq!(after.first().map(|e| e.seq), Some(all[2].seq));
        let limited = store.events_since(0, None, 2).await.unwrap();
        assert_eq!(limited.len(), 2);
        assert!(
            store
                .events_since(all[3].seq, None, 100)
                .await
                .unwrap()
                .is_empty()
        );
    })
    .await;
}

#[tokio::test]
async fn list_filters_and_pages_newest_first() {
    each(|store: Arc<dyn Store>| async move {
        with_queue(&store, Queue::new("default")).await;
        with_queue(&store, Queue::new("other")).await;
        let mut new = Vec::new();
        for n in 0..5 {
            new.push(task(&format!("t{n}")).owner("ann"));
        }
        new.push(task("bob").owner("bob").queue("other"));
        let tasks = put(&store, new, t0()).await;
        store.cancel(tasks[0].id, at(1)).await.unwrap();
        let mut filter = TaskFilter {
            owner: Some("ann".into()),
            limit: 2,
            ..TaskFilter::default()
        };
        let mut seen = Vec::new();
        loop {
            let page = store.list(&filter).await.unwrap();
            assert!(page.tasks.len() <= 2);
            seen.extend(page.tasks.iter().map(|task| task.name.clone()));
            match page.next_cursor {
                Some(cursor) => filter.cursor = Some(cursor),
                None => break,
            }
        }
        assert_eq!(seen, ["t4", "t3", "t2", "t1", "t0"]);
        let by_state = TaskFilter {
            states: vec![State::Cancelled],
            ..TaskFilter::default()
        };
        let cancelled = store.list(&by_state).await.unwrap();
        assert_eq!(cancelled.tasks.len(), 1);
        assert_eq!(cancelled.tasks[0].id, tasks[0].id);
        let two_states = TaskFilter {
            states: vec![State::Cancelled, State::Queued],
            queue: Some("default".into()),
            name: Some("t2".into()),
            ..TaskFilter::default()
        };
        let named = store.list(&two_states).await.unwrap();
        assert_eq!(named.tasks.len(), 1);
        assert_eq!(named.next_cursor, None);
        let other = TaskFilter {
            queue: Some("other".into()),
            ..TaskFilter::default()
        };
        assert_eq!(store.list(&other).await.unwrap().tasks[0].name, "bob");
        let everyone = store.list(&TaskFilter::default()).await.unwrap();
        assert_eq!(everyone.tasks.len(), 6);
    })
    .await;
}

#[tokio::test]
async fn counts_feed_the_banner() {
    each(|store: Arc<dyn Store>| async move {
        with_queue(&store, Queue::new("default").concurrency(5)).await;
        put(
            &store,
            vec![
                task("run").owner("ann"),
                task("ask").owner("ann"),
                task("fail").owner("ann").max_attempts(1),
                task("later").owner("ann").run_at(at(100)),
                task("queued").owner("ann"),
            ],
            t0(),
        )
        .await;
        let claimed = store.claim(&request("default", 3, at(1))).await.unwrap();
        let names: Vec<&str> = claimed.iter().map(|task| task.name.as_str()).collect();
        assert_eq!(names, ["run", "ask", "fail"]);
        put(&store, vec![task("bob").owner("bob")], at(1)).await;
        let lease = |i: usize| Lease {
            id: claimed[i].id,
            fence: claimed[i].fence,
        };
        let ask = Outcome::NeedsInput {
            input_url: None,
            message: None,
        };
        store.finish(lease(1), ask, at(2)).await.unwrap();
        let error = errand::model::ErrorInfo {
            message: "no".into(),
            detail: None,
        };
        store
            .finish(lease(2), Outcome::Failed(error), at(2))
            .await
            .unwrap();
        let ann = Counts {
            queued: 2,
            running: 1,
            waiting: 1,
            failed_undismissed: 1,
        };
        assert_eq!(store.counts(Some("ann")).await.unwrap(), ann);
        let all = store.counts(None).await.unwrap();
        assert_eq!(all.queued, 3);
        store.dismiss(claimed[2].id, at(3)).await.unwrap();
        assert_eq!(
            store.counts(Some("ann")).await.unwrap().failed_undismissed,
            0
        );
        assert_eq!(
            store.counts(Some("nobody")).await.unwrap(),
            Counts::default()
        );
    })
    .await;
}

#[tokio::test]
async fn queues_answer_settings_and_depths() {
    each(|store: Arc<dyn Store>| async move {
        with_queue(
            &store,
            Queue::new("b").concurrency(2).per_owner_concurrency(1),
        )
        .await;
        with_queue(&store, Queue::new("a")).await;
        put(
            &store,
            vec![
                task("1").queue("b"),
                task("2").queue("b"),
                task("3").queue("b").run_at(at(100)),
            ],
            t0(),
        )
        .await;
        store.claim(&request("b", 1, at(1))).await.unwrap();
        store.set_queue_paused("a", true).await.unwrap();
        with_queue(&store, Queue::new("c")).await;
        put(&store, vec![task("4").queue("c")], t0()).await;
        let asking = store
            .claim(&request("c", 1, at(1)))
            .await
            .unwrap()
            .remove(0);
        let question = Outcome::NeedsInput {
            input_url: None,
            message: None,
        };
        store.finish(lease(&asking), question, at(2)).await.unwrap();
        let queues = store.queues().await.unwrap();
        assert_eq!(
            queues,
            [
                QueueStats {
                    name: "a".into(),
                    concurrency: 1,
                    per_owner_concurrency: None,
                    paused: true,
                    queued: 0,
                    scheduled: 0,
                    running: 0,
                    waiting: 0,
                },
                QueueStats {
                    name: "b".into(),
                    concurrency: 2,
                    per_owner_concurrency: Some(1),
                    paused: false,
                    queued: 1,
                    scheduled: 1,
                    running: 1,
                    waiting: 0,
                },
                QueueStats {
                    name: "c".into(),
                    concurrency: 1,
                    per_owner_concurrency: None,
                    paused: false,
                    queued: 0,
                    scheduled: 0,
                    running: 0,
                    waiting: 1,
                },
            ]
        );
        // Upsert updates the settings and keeps the pause.
        with_queue(&store, Queue::new("a").concurrency(7)).await;
        let a = &store.queues().await.unwrap()[0];
        assert_eq!((a.concurrency, a.paused), (7, true));
        store.ping().await.unwrap();
    })
    .await;
}
