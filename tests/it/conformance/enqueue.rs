//! Enqueueing: ready and scheduled tasks, unknown queues, dedup under `keep` and `debounce`.

use std::sync::Arc;
use std::time::Duration;

use errand::model::{DedupPolicy, EventKind, Executor, Payload, Queue, State};
use errand::store::{Outcome, Store, StoreError};
use serde_json::json;

use super::factory::{at, each, put, request, t0, task, with_queue};

#[tokio::test]
async fn enqueue_stores_ready_and_scheduled_tasks_with_one_event_each() {
    each(|store: Arc<dyn Store>| async move {
        with_queue(&store, Queue::new("default")).await;
        let mut events = store.subscribe();
        let ready = task("ready")
            .owner("ann")
            .json(json!({"n": 1}))
            .title("Ready");
        let later = task("later").run_at(at(60)).bytes(vec![1, 2, 3]);
        let tasks = put(&store, vec![ready, later], t0()).await;
        assert_eq!(tasks[0].state, State::Queued);
        assert_eq!(tasks[0].scheduled_for, t0());
        assert_eq!(tasks[0].payload, Payload::Json(json!({"n": 1})));
        assert_eq!(tasks[0].owner.as_deref(), Some("ann"));
        assert_eq!(tasks[0].attempt, 0);
        assert_eq!(tasks[0].max_attempts, 3);
        assert_eq!(tasks[1].state, State::Scheduled);
        assert_eq!(tasks[1].scheduled_for, at(60));
        assert_eq!(tasks[1].payload, Payload::Bytes(vec![1, 2, 3]));
        let stored = store.get(tasks[0].id).await.unwrap().unwrap();
        assert_eq!(stored, tasks[0]);
        let first = events.recv().await.unwrap();
        let second = events.recv().await.unwrap();
        assert_eq!(
            (first.kind, first.task.id),
            (EventKind::Created, tasks[0].id)
        );
        assert_eq!(
            (second.kind, second.task.id),
            (EventKind::Created, tasks[1].id)
        );
        assert!(second.seq > first.seq);
        // A run_at in the past means now.
        let past = put(&store, vec![task("past").run_at(t0())], at(10)).await;
        assert_eq!(
            (past[0].state, past[0].scheduled_for),
            (State::Queued, at(10))
        );
    })
    .await;
}

/// What an enqueue answers is the task as stored, every field of it: times to the
/// millisecond, JSON as read back, the executor and the sealed credentials.
#[tokio::test]
async fn an_enqueue_answers_each_task_exactly_as_stored() {
    each(|store: Arc<dyn Store>| async move {
        with_queue(&store, Queue::new("default")).await;
        // Sub-millisecond times, which the stores keep to the millisecond.
        let now = t0() + Duration::from_micros(1_234_567);
        let mut full = task("full")
            .owner("ann")
            .title("Publishing 3 items")
            .description("from /news")
            .json(json!({"items": [1, 2.5, -3], "deep": {"ok": true, "none": null}}))
            .priority(7)
            .timeout(Duration::from_micros(2_500_700))
            .ordering_key("folder-1")
            .dedup_key("publish-1", DedupPolicy::Keep)
            .context(json!({"refresh": ["#listing"]}))
            .return_url("/news")
            .executor(Executor::Http {
                target: "app".into(),
                path: "/tasks/publish".into(),
            });
        full.expires_at = Some(now + Duration::from_micros(3_600_000_999));
        full.sealed_headers = Some(vec![9, 8, 7]);
        let later = task("later")
            .run_at(now + Duration::from_micros(60_000_500))
            .bytes(vec![0, 255]);
        let answered = put(&store, vec![full, later, task("plain")], now).await;
        for task in &answered {
            let stored = store.get(task.id).await.unwrap().unwrap();
            assert_eq!(&stored, task, "{} as answered and as stored", task.name);
        }
        assert_eq!(
            answered[1].scheduled_for,
            t0() + Duration::from_millis(61_235)
        );
    })
    .await;
}

#[tokio::test]
async fn enqueue_into_an_unknown_queue_is_refused_and_the_batch_commits_as_a_whole() {
    each(|store: Arc<dyn Store>| async move {
        with_queue(&store, Queue::new("default")).await;
        let batch = vec![task("fine"), task("lost").queue("nowhere")];
        let refused = store.enqueue(batch, t0()).await;
        assert!(matches!(refused, Err(StoreError::QueueNotFound(q)) if q == "nowhere"));
        let scheduled = store
            .enqueue(vec![task("x").queue("nowhere").run_at(at(5))], t0())
            .await;
        assert!(matches!(scheduled, Err(StoreError::QueueNotFound(_))));
        let page = store.list(&Default::default()).await.unwrap();
        assert!(
            page.tasks.is_empty(),
            "a refused batch left {:?}",
            page.tasks
        );
        let mut unresolved = task("y");
        unresolved.max_attempts = None;
        let invalid = store.enqueue(vec![unresolved], t0()).await;
        assert!(matches!(invalid, Err(StoreError::Invalid(_))));
    })
    .await;
}

#[tokio::test]
async fn dedup_keep_answers_the_pending_task_then_the_started_one() {
    each(|store: Arc<dyn Store>| async move {
        with_queue(&store, Queue::new("default")).await;
        let first = store
            .enqueue(vec![task("a").dedup_key("k", DedupPolicy::Keep)], t0())
            .await
            .unwrap()
            .remove(0);
        assert!(first.created);
        let again = store
            .enqueue(
                vec![task("a").dedup_key("k", DedupPolicy::Keep).json(json!(2))],
                at(1),
            )
            .await
            .unwrap()
            .remove(0);
        assert!(!again.created);
        assert_eq!(again.task.id, first.task.id);
        assert_eq!(again.task.payload, Payload::None, "keep changes nothing");
        // Started: still answered while it is not final.
        let claimed = store.claim(&request("default", 1, at(2))).await.unwrap();
        assert_eq!(claimed[0].id, first.task.id);
        let while_running = store
            .enqueue(vec![task("a").dedup_key("k", DedupPolicy::Keep)], at(3))
            .await
            .unwrap()
            .remove(0);
        assert!(!while_running.created);
        assert_eq!(while_running.task.id, first.task.id);
        // Final: a new task.
        let lease = errand::store::Lease {
            id: claimed[0].id,
            fence: claimed[0].fence,
        };
        let done = Outcome::Succeeded {
            result: None,
            result_url: None,
            message: None,
        };
        store.finish(lease, done, at(4)).await.unwrap();
        let after = store
            .enqueue(vec![task("a").dedup_key("k", DedupPolicy::Keep)], at(5))
            .await
            .unwrap()
            .remove(0);
        assert!(after.created);
        assert_ne!(after.task.id, first.task.id);
    })
    .await;
}

#[tokio::test]
async fn dedup_debounce_replaces_the_pending_payload_and_enqueues_a_successor_once_started() {
    each(|store: Arc<dyn Store>| async move {
        with_queue(&store, Queue::new("default")).await;
        let key = |n: i64| {
            task("save")
                .dedup_key("doc-1", DedupPolicy::Debounce)
                .json(json!(n))
                .run_at(at(10 + n as u64))
        };
        let first = put(&store, vec![key(1)], t0()).await.remove(0);
        assert_eq!(first.state, State::Scheduled);
        let mut events = store.subscribe();
        let second = store.enqueue(vec![key(2)], at(1)).await.unwrap().remove(0);
        assert!(!second.created);
        assert_eq!(second.task.id, first.id);
        assert_eq!(second.task.payload, Payload::Json(json!(2)));
        assert_eq!(second.task.scheduled_for, at(12));
        assert_eq!(second.task.state, State::Scheduled);
        let event = events.recv().await.unwrap();
        assert_eq!(event.kind, EventKind::StateChanged);
        assert_eq!(event.from, Some(State::Scheduled));
        // Once started, its payload is stale: a successor is enqueued, and then debounced.
        assert_eq!(store.promote_due(at(20)).await.unwrap(), 1);
        let claimed = store.claim(&request("default", 1, at(20))).await.unwrap();
        assert_eq!(claimed[0].id, first.id);
        let successor = store.enqueue(vec![key(3)], at(21)).await.unwrap().remove(0);
        assert!(successor.created);
        assert_ne!(successor.task.id, first.id);
        let debounced = store.enqueue(vec![key(4)], at(22)).await.unwrap().remove(0);
        assert!(!debounced.created);
        assert_eq!(debounced.task.id, successor.task.id);
        assert_eq!(debounced.task.payload, Payload::Json(json!(4)));
    })
    .await;
}

#[tokio::test]
async fn dedup_within_one_batch_answers_the_first_task() {
    each(|store: Arc<dyn Store>| async move {
        with_queue(&store, Queue::new("default")).await;
        let answers = store
            .enqueue(
                vec![
                    task("a").dedup_key("same", DedupPolicy::Keep),
                    task("a").dedup_key("same", DedupPolicy::Keep),
                ],
                t0(),
            )
            .await
            .unwrap();
        assert!(answers[0].created);
        assert!(!answers[1].created);
        assert_eq!(answers[0].task.id, answers[1].task.id);
    })
    .await;
}

/// A batch that mixes tasks with and without a dedup key is answered in order, one event per
/// task created, in order too; and owners take turns, each owner's tasks in the order given.
#[tokio::test]
async fn a_mixed_batch_is_answered_and_announced_in_order() {
    each(|store: Arc<dyn Store>| async move {
        let mut queue = Queue::new("default");
        queue.concurrency = 10;
        with_queue(&store, queue).await;
        let mut events = store.subscribe();
        let batch = vec![
            task("a1").owner("ann"),
            task("k").dedup_key("key", DedupPolicy::Keep),
            task("a2").owner("ann"),
            task("b1").owner("bob"),
            task("a3").owner("ann"),
            task("k again").dedup_key("key", DedupPolicy::Keep),
            task("b2").owner("bob"),
        ];
        let answers = store.enqueue(batch, t0()).await.unwrap();
        let names: Vec<(&str, bool)> = answers
            .iter()
            .map(|answer| (answer.task.name.as_str(), answer.created))
            .collect();
        assert_eq!(
            names,
            [
                ("a1", true),
                ("k", true),
                ("a2", true),
                ("b1", true),
                ("a3", true),
                ("k", false),
                ("b2", true)
            ]
        );
        let mut announced = Vec::new();
        for _ in 0..6 {
            let event = events.recv().await.unwrap();
            assert_eq!(event.kind, EventKind::Created);
            announced.push(event.task.name.clone());
        }
        assert_eq!(announced, ["a1", "k", "a2", "b1", "a3", "b2"]);
        // Round by round, each owner's next task; within a round, in the order enqueued.
        let claimed = store.claim(&request("default", 10, t0())).await.unwrap();
        let order: Vec<&str> = claimed.iter().map(|task| task.name.as_str()).collect();
        assert_eq!(order, ["a1", "k", "b1", "a2", "b2", "a3"]);
    })
    .await;
}

#[tokio::test]
async fn concurrent_enqueues_share_commits_and_refused_ones_leave_the_others_be() {
    each(|store: Arc<dyn Store>| async move {
        with_queue(&store, Queue::new("default")).await;
        let calls: Vec<_> = (0..24)
            .map(|i| {
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    // Two refused: one before it wrote anything, one after its first task.
                    let tasks = match i {
                        7 => vec![task("t7").queue("nowhere")],
                        13 => vec![task("t13"), task("t13b").queue("nowhere")],
                        _ => vec![task(&format!("t{i}"))],
                    };
                    store.enqueue(tasks, t0()).await
                })
            })
            .collect();
        let mut created = 0;
        for (i, call) in calls.into_iter().enumerate() {
            match call.await.unwrap() {
                Ok(answers) => {
                    assert!(answers[0].created);
                    created += 1;
                }
                Err(err) => {
                    assert!(i == 7 || i == 13, "{i}: {err}");
                    assert!(matches!(err, StoreError::QueueNotFound(_)), "{err}");
                }
            }
        }
        assert_eq!(created, 22);
        let listed = store.list(&Default::default()).await.unwrap();
        assert_eq!(listed.tasks.len(), 22, "nothing of the refused enqueues");
        let events = store.events_since(0, None, 100).await.unwrap();
        assert_eq!(
            events.len(),
            22,
            "one event each, none from the refused enqueues"
        );
    })
    .await;
}
