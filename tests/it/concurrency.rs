//! Slots: a queue never runs more tasks at once than its concurrency, nor an owner more than
//! its cap.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use errand::prelude::*;

use crate::util::{TestDb, engine_on, wait_drained};

/// Counts the handlers running at once, and the most ever seen.
#[derive(Default)]
struct Gauge {
    now: AtomicUsize,
    most: AtomicUsize,
}

impl Gauge {
    async fn hold(&self, work: Duration) {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(work).await;
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_queue_with_three_slots_never_runs_more_than_three() {
    let db = TestDb::new();
    let gauge = Arc::new(Gauge::default());
    let handler_gauge = Arc::clone(&gauge);
    let engine = engine_on(&db)
        .queue(Queue::new("publish").concurrency(3))
        .handler("publish", move |_ctx: TaskContext| {
            let gauge = Arc::clone(&handler_gauge);
            async move {
                gauge.hold(Duration::from_millis(15)).await;
                Ok(TaskOutput::done())
            }
        })
        .start()
        .await
        .unwrap();
    let tasks = (0..40)
        .map(|n| {
            NewTask::new("publish")
                .queue("publish")
                .owner(format!("user{}", n % 4))
        })
        .collect();
    engine.enqueue_batch(tasks).await.unwrap();
    wait_drained(&engine).await;
    assert_eq!(
        gauge.most.load(Ordering::SeqCst),
        3,
        "the queue's three slots were all used, never more"
    );
    let done = engine
        .list(&TaskFilter {
            states: vec![State::Succeeded],
            limit: 100,
            ..TaskFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(done.tasks.len(), 40);
    engine.shutdown(Default::default()).await;
}

#[tokio::test]
async fn per_owner_concurrency_caps_each_owner_but_not_the_queue() {
    let db = TestDb::new();
    let running: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let most: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let (handler_running, handler_most) = (Arc::clone(&running), Arc::clone(&most));
    let engine = engine_on(&db)
        .queue(
            Queue::new("default")
                .concurrency(6)
                .per_owner_concurrency(2),
        )
        .handler("work", move |ctx: TaskContext| {
            let (running, most) = (Arc::clone(&handler_running), Arc::clone(&handler_most));
            async move {
                let owner = ctx.task().owner.clone().unwrap_or_default();
                {
                    let mut running = running.lock().unwrap();
                    let now = running.entry(owner.clone()).or_default();
                    *now += 1;
                    let mut most = most.lock().unwrap();
                    let top = most.entry(owner.clone()).or_default();
                    *top = (*top).max(*now);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
                *running.lock().unwrap().get_mut(&owner).unwrap() -= 1;
                Ok(TaskOutput::done())
            }
        })
        .start()
        .await
        .unwrap();
    let tasks = (0..45)
        .map(|n| NewTask::new("work").owner(format!("user{}", n % 3)))
        .collect();
    engine.enqueue_batch(tasks).await.unwrap();
    wait_drained(&engine).await;
    let most = most.lock().unwrap().clone();
    assert_eq!(most.len(), 3);
    for (owner, top) in most {
        assert_eq!(
            top, 2,
            "{owner} ran {top} at once; the cap is 2 and there was room for 2"
        );
    }
    engine.shutdown(Default::default()).await;
}
