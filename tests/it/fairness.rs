//! Fairness: owners take turns in a queue, so one owner's backlog does not hold back another's
//! single task.

use errand::prelude::*;

use crate::util::{
    TestDb, claim, engine_on, recording, store_with, succeed, wait_drained, wait_for,
};

#[tokio::test]
async fn one_owners_backlog_of_500_does_not_delay_another_owners_single_task() {
    let db = TestDb::new();
    let (started, handler) = recording(|task| task.owner.clone().unwrap_or_default());
    let engine = engine_on(&db)
        .queue(Queue::new("default").concurrency(2))
        .handler("delete", handler)
        .start()
        .await
        .unwrap();
    let backlog = (0..500)
        .map(|_| NewTask::new("delete").owner("alice"))
        .collect();
    engine.enqueue_batch(backlog).await.unwrap();
    // Let alice's backlog get going before bob clicks.
    wait_for("alice's backlog to be under way", || async {
        (started.lock().unwrap().len() >= 20).then_some(())
    })
    .await;
    engine
        .enqueue(NewTask::new("delete").owner("bob"))
        .await
        .unwrap();
    let before_bob = started.lock().unwrap().len();
    wait_drained(&engine).await;
    let started = started.lock().unwrap().clone();
    let bob_at = started
        .iter()
        .position(|owner| owner == "bob")
        .expect("bob's task ran");
    // Two slots may each have one of alice's tasks claimed when bob enqueues, and the next turn
    // is bob's.
    assert!(
        bob_at <= before_bob + 3,
        "bob's task started {} tasks after it was enqueued, behind alice's backlog",
        bob_at - before_bob
    );
    assert!(started.len() == 501);
    engine.shutdown(Default::default()).await;
}

#[tokio::test]
async fn owners_alternate_and_priorities_come_first() {
    let db = TestDb::new();
    let (started, handler) = recording(|task| task.title.clone().unwrap_or_default());
    // No workers while enqueueing, so that the order is decided by claiming alone.
    let mut config = crate::util::quick_config();
    config.run_workers = false;
    let store = db.store();
    let producer = Engine::builder()
        .store(store.clone())
        .config(config)
        .handler("t", crate::util::noop)
        .start()
        .await
        .unwrap();
    let mut tasks: Vec<NewTask> = (0..3)
        .map(|n| NewTask::new("t").owner("alice").title(format!("a{n}")))
        .collect();
    tasks.extend((0..3).map(|n| NewTask::new("t").owner("bob").title(format!("b{n}"))));
    tasks.push(
        NewTask::new("t")
            .owner("carol")
            .title("urgent")
            .priority(10),
    );
    producer.enqueue_batch(tasks).await.unwrap();
    producer.shutdown(Default::default()).await;

    let engine = Engine::builder()
        .store(store)
        .config(crate::util::quick_config())
        .handler("t", handler)
        .start()
        .await
        .unwrap();
    wait_drained(&engine).await;
    assert_eq!(
        *started.lock().unwrap(),
        vec!["urgent", "a0", "b0", "a1", "b1", "a2", "b2"]
    );
    engine.shutdown(Default::default()).await;
}

#[tokio::test]
async fn a_high_priority_task_does_not_push_other_owners_back() {
    let db = TestDb::new();
    let store = store_with(&db, Queue::new("default").concurrency(1)).await;
    let now = jiff::Timestamp::now();
    let task =
        |owner: &str, title: &str| NewTask::new("t").owner(owner).title(title).max_attempts(1);
    store
        .enqueue(
            vec![
                task("alice", "a0"),
                task("alice", "a1"),
                task("alice", "a2"),
                task("alice", "urgent").priority(10),
            ],
            now,
        )
        .await
        .unwrap();
    let claim_next = || async {
        let claimed = claim(&*store, "default", 1, now).await.remove(0);
        succeed(&*store, &claimed, now).await;
        claimed.title.unwrap()
    };
    assert_eq!(claim_next().await, "urgent");
    // Bob clicks after alice's urgent task ran: he is next in line, not behind her backlog.
    store.enqueue(vec![task("bob", "b0")], now).await.unwrap();
    let mut order = Vec::new();
    for _ in 0..4 {
        order.push(claim_next().await);
    }
    assert_eq!(order, vec!["a0", "b0", "a1", "a2"]);
}

#[tokio::test]
async fn a_backlog_at_one_priority_does_not_delay_the_same_owner_at_another() {
    let db = TestDb::new();
    let store = store_with(&db, Queue::new("default").concurrency(1)).await;
    let now = jiff::Timestamp::now();
    let task = |owner: &str, priority: i32| {
        NewTask::new("t")
            .owner(owner)
            .priority(priority)
            .max_attempts(1)
    };
    // Alice has a backlog of 50 at priority 0; bob has 5 at priority 10.
    let mut tasks: Vec<NewTask> = (0..50).map(|_| task("alice", 0)).collect();
    tasks.extend((0..5).map(|_| task("bob", 10)));
    tasks.push(task("alice", 10).title("alice urgent"));
    store.enqueue(tasks, now).await.unwrap();
    let mut order = Vec::new();
    for _ in 0..3 {
        let claimed = claim(&*store, "default", 1, now).await.remove(0);
        order.push(
            claimed
                .title
                .clone()
                .unwrap_or_else(|| claimed.owner.clone().unwrap()),
        );
        succeed(&*store, &claimed, now).await;
    }
    // At priority 10, alice's one task takes its turn with bob's: her priority-0 backlog does
    // not count there.
    assert_eq!(order, vec!["bob", "alice urgent", "bob"]);
}

#[tokio::test]
async fn a_claim_looks_past_a_page_of_blocked_tasks() {
    let db = TestDb::new();
    let store = store_with(&db, Queue::new("default").concurrency(2)).await;
    let now = jiff::Timestamp::now();
    // Twenty tasks of one ordering key, from twenty owners, then one free task: with the first
    // of the key running, nineteen blocked candidates come before the free one.
    let mut tasks: Vec<NewTask> = (0..20)
        .map(|n| {
            NewTask::new("t")
                .owner(format!("owner-{n}"))
                .ordering_key("folder")
                .max_attempts(1)
        })
        .collect();
    tasks.push(NewTask::new("t").owner("free").max_attempts(1));
    store.enqueue(tasks, now).await.unwrap();
    let first = claim(&*store, "default", 1, now).await;
    assert_eq!(first[0].owner.as_deref(), Some("owner-0"));
    let second = claim(&*store, "default", 1, now).await;
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].owner.as_deref(), Some("free"));
}
