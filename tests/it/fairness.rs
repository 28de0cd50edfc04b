//! Fairness: owners take turns in a queue, so one owner's backlog does not hold back another's
//! single task.

use std::sync::{Arc, Mutex};

use errand::prelude::*;

use crate::util::{TestDb, engine_on, wait_drained, wait_for};

#[tokio::test]
async fn one_owners_backlog_of_500_does_not_delay_another_owners_single_task() {
    let db = TestDb::new();
    let started: Arc<Mutex<Vec<String>>> = Arc::default();
    let handler_started = Arc::clone(&started);
    let engine = engine_on(&db)
        .queue(Queue::new("default").concurrency(2))
        .handler("delete", move |ctx: TaskContext| {
            let started = Arc::clone(&handler_started);
            async move {
                started
                    .lock()
                    .unwrap()
                    .push(ctx.task().owner.clone().unwrap_or_default());
                Ok(TaskOutput::done())
            }
        })
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
    let started: Arc<Mutex<Vec<String>>> = Arc::default();
    let handler_started = Arc::clone(&started);
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
        .handler("t", move |ctx: TaskContext| {
            let started = Arc::clone(&handler_started);
            async move {
                started
                    .lock()
                    .unwrap()
                    .push(ctx.task().title.clone().unwrap_or_default());
                Ok(TaskOutput::done())
            }
        })
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
