//! Claiming: slots, the per-owner cap, ordering keys, priority, fair rounds, pause, the batch
//! limit; claiming one given task; enqueueing claimed (inline runs).

use std::sync::Arc;

use errand::model::{Executor, Queue, State, Task};
use errand::store::{Lease, Outcome, Store, StoreError};
use uuid::Uuid;

use super::factory::{at, each, put, request, t0, task, with_queue};

fn names(tasks: &[Task]) -> Vec<String> {
    tasks.iter().map(|task| task.name.clone()).collect()
}

async fn succeed(store: &Arc<dyn Store>, task: &Task, secs: u64) {
    let lease = Lease {
        id: task.id,
        fence: task.fence,
    };
    let done = Outcome::Succeeded {
        result: None,
        result_url: None,
        message: None,
    };
    store.finish(lease, done, at(secs)).await.unwrap();
}

#[tokio::test]
async fn a_claim_starts_an_attempt_with_a_new_fence_and_a_lease() {
    each(|store: Arc<dyn Store>| async move {
        with_queue(&store, Queue::new("default")).await;
        let queued = put(&store, vec![task("a")], t0()).await.remove(0);
        let claimed = store.claim(&request("default", 5, at(1))).await.unwrap();
        assert_eq!(claimed.len(), 1);
        let running = &claimed[0];
        assert_eq!(running.id, queued.id);
        assert_eq!(running.state, State::Running);
        assert_eq!(running.attempt, 1);
        assert!(running.fence > queued.fence);
        assert_eq!(running.started_at, Some(at(1)));
        assert!(!running.reported);
        assert!(
            store
                .claim(&request("default", 5, at(1)))
                .await
                .unwrap()
                .is_empty()
        );
        let unknown = store.claim(&request("nowhere", 1, at(1))).await;
        assert!(matches!(unknown, Err(StoreError::QueueNotFound(_))));
    })
    .await;
}

#[tokio::test]
async fn claims_keep_the_slots_and_the_batch_limit() {
    each(|store: Arc<dyn Store>| async move {
        with_queue(&store, Queue::new("default").concurrency(3)).await;
        let tasks = (0..6).map(|n| task(&format!("t{n}"))).collect();
        put(&store, tasks, t0()).await;
        let first = store.claim(&request("default", 2, at(1))).await.unwrap();
        assert_eq!(names(&first), ["t0", "t1"], "the limit, in enqueue order");
        let second = store.claim(&request("default", 5, at(1))).await.unwrap();
        assert_eq!(names(&second), ["t2"], "one slot left of three");
        assert!(
            store
                .claim(&request("default", 5, at(1)))
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            store
                .claim(&request("default", 0, at(1)))
                .await
                .unwrap()
                .is_empty()
        );
        succeed(&store, &first[0], 2).await;
        let third = store.claim(&request("default", 5, at(3))).await.unwrap();
        assert_eq!(names(&third), ["t3"]);
    })
    .await;
}

/// Claims of one queue made at once (on PostgreSQL, they may share a group's transaction)
/// share its slots: no task is claimed twice, and no more run than the queue allows.
#[tokio::test]
async fn claims_made_at_once_share_the_slots() {
    each(|store: Arc<dyn Store>| async move {
        with_queue(&store, Queue::new("default").concurrency(4)).await;
        with_queue(&store, Queue::new("other").concurrency(4)).await;
        let tasks = (0..12).map(|n| task(&format!("t{n}"))).collect();
        put(&store, tasks, t0()).await;
        let others = (0..12)
            .map(|n| task(&format!("o{n}")).queue("other"))
            .collect();
        put(&store, others, t0()).await;
        let claims: Vec<_> = (0..12)
            .map(|n| {
                let store = Arc::clone(&store);
                let queue = if n % 2 == 0 { "default" } else { "other" };
                tokio::spawn(async move { store.claim(&request(queue, 4, at(1))).await })
            })
            .collect();
        let mut claimed = Vec::new();
        for claim in claims {
            claimed.extend(claim.await.unwrap().unwrap());
        }
        for queue in ["default", "other"] {
            let of_queue: Vec<&Task> = claimed.iter().filter(|t| t.queue == queue).collect();
            assert_eq!(of_queue.len(), 4, "{queue}: its four slots, no more");
        }
        let mut ids: Vec<_> = claimed.iter().map(|task| task.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 8, "no task claimed twice");
        for task in &claimed {
            let stored = store.get(task.id).await.unwrap().unwrap();
            assert_eq!(stored.state, State::Running);
            assert_eq!(stored.fence, task.fence, "one attempt each");
        }
    })
    .await;
}

#[tokio::test]
async fn claims_keep_the_per_owner_cap_and_pass_over_to_other_owners() {
    each(|store: Arc<dyn Store>| async move {
        with_queue(
            &store,
            Queue::new("default")
                .concurrency(10)
                .per_owner_concurrency(1),
        )
        .await;
        let tasks = vec![
            task("ann-1").owner("ann"),
            task("ann-2").owner("ann"),
            task("bob-1").owner("bob"),
        ];
        put(&store, tasks, t0()).await;
        let claimed = store.claim(&request("default", 10, at(1))).await.unwrap();
        assert_eq!(names(&claimed), ["ann-1", "bob-1"]);
        assert!(
            store
                .claim(&request("default", 10, at(1)))
                .await
                .unwrap()
                .is_empty()
        );
        succeed(&store, &claimed[0], 2).await;
        let next = store.claim(&request("default", 10, at(3))).await.unwrap();
        assert_eq!(names(&next), ["ann-2"]);
    })
    .await;
}

#[tokio::test]
async fn ordering_keys_run_one_at_a_time_in_enqueue_order() {
    each(|store: Arc<dyn Store>| async move {
        with_queue(&store, Queue::new("default").concurrency(10)).await;
        let tasks = vec![
            task("doc-1").ordering_key("doc"),
            task("doc-2").ordering_key("doc"),
            task("other").ordering_key("elsewhere"),
        ];
        put(&store, tasks, t0()).await;
        let claimed = store.claim(&request("default", 10, at(1))).await.unwrap();
        assert_eq!(names(&claimed), ["doc-1", "other"]);
        assert!(
            store
                .claim(&request("default", 10, at(1)))
                .await
                .unwrap()
                .is_empty()
        );
        succeed(&store, &claimed[0], 2).await;
        let next = store.claim(&request("default", 10, at(3))).await.unwrap();
        assert_eq!(names(&next), ["doc-2"]);
        // A scheduled task of a key holds the later ones back too.
        put(
            &store,
            vec![task("late-1").ordering_key("k").run_at(at(100))],
            at(4),
        )
        .await;
        put(&store, vec![task("late-2").ordering_key("k")], at(4)).await;
        assert!(
            store
                .claim(&request("default", 10, at(5)))
                .await
                .unwrap()
                .is_empty()
        );
    })
    .await;
}

#[tokio::test]
async fn higher_priority_runs_first() {
    each(|store: Arc<dyn Store>| async move {
        with_queue(&store, Queue::new("default").concurrency(10)).await;
        let tasks = vec![
            task("low"),
            task("high").priority(5),
            task("mid").priority(1),
        ];
        put(&store, tasks, t0()).await;
        let claimed = store.claim(&request("default", 10, at(1))).await.unwrap();
        assert_eq!(names(&claimed), ["high", "mid", "low"]);
    })
    .await;
}

#[tokio::test]
async fn owners_take_turns_whatever_their_backlog() {
    each(|store: Arc<dyn Store>| async move {
        with_queue(&store, Queue::new("default").concurrency(20)).await;
        let backlog = (0..4)
            .map(|n| task(&format!("ann-{n}")).owner("ann"))
            .collect();
        put(&store, backlog, t0()).await;
        let first = store.claim(&request("default", 1, at(1))).await.unwrap();
        assert_eq!(names(&first), ["ann-0"]);
        put(&store, vec![task("bob-0").owner("bob")], at(2)).await;
        // Bob's task takes the round after the one being served: it ties with ann's next
        // task (enqueued first), and comes before the rest of her backlog.
        let next = store.claim(&request("default", 2, at(3))).await.unwrap();
        assert_eq!(
            names(&next),
            ["ann-1", "bob-0"],
            "a colleague's task runs next"
        );
        let rest = store.claim(&request("default", 10, at(4))).await.unwrap();
        assert_eq!(names(&rest), ["ann-2", "ann-3"]);
        // Two owners enqueued together alternate.
        let a = (0..3).map(|n| task(&format!("a{n}")).owner("a")).collect();
        let b = (0..3).map(|n| task(&format!("b{n}")).owner("b")).collect();
        put(&store, a, at(5)).await;
        put(&store, b, at(5)).await;
        let mut order = Vec::new();
        for secs in 6..12 {
            let claimed = store.claim(&request("default", 1, at(secs))).await.unwrap();
            order.extend(names(&claimed));
        }
        assert_eq!(order, ["a0", "b0", "a1", "b1", "a2", "b2"]);
    })
    .await;
}

#[tokio::test]
async fn a_paused_queue_gives_nothing_until_resumed() {
    each(|store: Arc<dyn Store>| async move {
        with_queue(&store, Queue::new("default")).await;
        put(&store, vec![task("a")], t0()).await;
        store.set_queue_paused("default", true).await.unwrap();
        assert!(
            store
                .claim(&request("default", 1, at(1)))
                .await
                .unwrap()
                .is_empty()
        );
        // Settings change; the pause stays.
        with_queue(&store, Queue::new("default").concurrency(2)).await;
        assert!(
            store
                .claim(&request("default", 1, at(1)))
                .await
                .unwrap()
                .is_empty()
        );
        store.set_queue_paused("default", false).await.unwrap();
        assert_eq!(
            store
                .claim(&request("default", 1, at(2)))
                .await
                .unwrap()
                .len(),
            1
        );
        let unknown = store.set_queue_paused("nowhere", true).await;
        assert!(matches!(unknown, Err(StoreError::QueueNotFound(_))));
    })
    .await;
}

#[tokio::test]
async fn tracked_tasks_are_never_claimed_by_workers_but_by_claim_task() {
    each(|store: Arc<dyn Store>| async move {
        with_queue(&store, Queue::new("default")).await;
        store.set_queue_paused("default", true).await.unwrap();
        let tracked = put(&store, vec![task("t").executor(Executor::Tracked)], t0())
            .await
            .remove(0);
        store.set_queue_paused("default", false).await.unwrap();
        assert!(
            store
                .claim(&request("default", 5, at(1)))
                .await
                .unwrap()
                .is_empty()
        );
        let node = Uuid::now_v7();
        let running = store
            .claim_task(tracked.id, node, at(60), at(2))
            .await
            .unwrap();
        assert_eq!((running.state, running.attempt), (State::Running, 1));
        let again = store.claim_task(tracked.id, node, at(60), at(3)).await;
        assert!(
            matches!(again, Err(StoreError::Illegal { .. })),
            "{again:?}"
        );
        let missing = store
            .claim_task(errand::model::TaskId::new(), node, at(60), at(3))
            .await;
        assert!(matches!(missing, Err(StoreError::TaskNotFound(_))));
        // Whatever the slots: the one slot is taken by the tracked task, a handler's waits.
        put(&store, vec![task("h")], at(4)).await;
        assert!(
            store
                .claim(&request("default", 5, at(5)))
                .await
                .unwrap()
                .is_empty()
        );
    })
    .await;
}

#[tokio::test]
async fn enqueue_claimed_starts_what_may_run_now_whatever_the_slots() {
    each(|store: Arc<dyn Store>| async move {
        with_queue(&store, Queue::new("default")).await;
        put(&store, vec![task("busy")], t0()).await;
        store.claim(&request("default", 1, t0())).await.unwrap();
        let node = Uuid::now_v7();
        let batch = vec![
            task("inline"),
            task("later").run_at(at(100)),
            task("tracked").executor(Executor::Tracked),
            task("k1").ordering_key("k"),
            task("k2").ordering_key("k"),
        ];
        let answers = store
            .enqueue_claimed(batch, node, at(60), at(1))
            .await
            .unwrap();
        let states: Vec<State> = answers.iter().map(|a| a.task.state).collect();
        assert_eq!(
            states,
            [
                State::Running,
                State::Scheduled,
                State::Queued,
                State::Running,
                State::Queued
            ]
        );
        assert!(answers.iter().all(|a| a.created));
        store.set_queue_paused("default", true).await.unwrap();
        let paused = store
            .enqueue_claimed(vec![task("p")], node, at(60), at(2))
            .await
            .unwrap();
        assert_eq!(paused[0].task.state, State::Queued);
    })
    .await;
}

#[tokio::test]
async fn has_ready_tells_whether_a_claim_could_take_a_task() {
    each(|store: Arc<dyn Store>| async move {
        with_queue(&store, Queue::new("default")).await;
        assert!(!store.has_ready("default").await.unwrap(), "empty");
        put(
            &store,
            vec![
                task("later").run_at(at(60)),
                task("tracked").executor(Executor::Tracked),
            ],
            t0(),
        )
        .await;
        assert!(
            !store.has_ready("default").await.unwrap(),
            "scheduled and tracked tasks are not a worker's"
        );
        put(&store, vec![task("now")], t0()).await;
        assert!(store.has_ready("default").await.unwrap());
        assert!(!store.has_ready("elsewhere").await.unwrap());
        let claimed = store.claim(&request("default", 5, at(1))).await.unwrap();
        assert_eq!(names(&claimed), ["now"]);
        assert!(!store.has_ready("default").await.unwrap(), "all taken");
    })
    .await;
}
