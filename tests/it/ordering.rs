//! Ordering keys: tasks with the same key run one at a time, in the order they were enqueued,
//! even when the first needs retries.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use errand::prelude::*;

use crate::util::{TestDb, engine_on, wait_drained};

#[tokio::test]
async fn tasks_of_one_key_run_one_at_a_time_in_enqueue_order() {
    let db = TestDb::new();
    let log: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let busy: Arc<Mutex<Vec<String>>> = Arc::default();
    let first_failures = Arc::new(AtomicUsize::new(0));
    let overlaps: Arc<Mutex<Vec<String>>> = Arc::default();
    let (handler_log, handler_busy, handler_failures, handler_overlaps) = (
        Arc::clone(&log),
        Arc::clone(&busy),
        Arc::clone(&first_failures),
        Arc::clone(&overlaps),
    );
    let engine = engine_on(&db)
        .queue(
            Queue::new("default")
                .concurrency(8)
                .retry_backoff(Duration::from_millis(10), Duration::from_millis(20)),
        )
        .handler("publish", move |ctx: TaskContext| {
            let (log, busy, failures, overlaps) = (
                Arc::clone(&handler_log),
                Arc::clone(&handler_busy),
                Arc::clone(&handler_failures),
                Arc::clone(&handler_overlaps),
            );
            async move {
                let key = ctx.task().ordering_key.clone().unwrap();
                let title = ctx.task().title.clone().unwrap();
                {
                    let mut busy = busy.lock().unwrap();
                    if busy.contains(&key) {
                        overlaps.lock().unwrap().push(key.clone());
                    }
                    busy.push(key.clone());
                }
                tokio::time::sleep(Duration::from_millis(3)).await;
                busy.lock().unwrap().retain(|k| *k != key);
                // The first task of each key fails twice before it succeeds.
                if title.ends_with("#0") && failures.fetch_add(1, Ordering::SeqCst) < 4 {
                    return Err(TaskError::new("the parent is locked")
                        .retry_after(Duration::from_millis(5)));
                }
                log.lock().unwrap().push((key, title));
                Ok(TaskOutput::done())
            }
        })
        .start()
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for n in 0..6 {
        for key in ["folder-a", "folder-b"] {
            tasks.push(
                NewTask::new("publish")
                    .ordering_key(key)
                    .title(format!("{key}#{n}"))
                    .max_attempts(5),
            );
        }
    }
    engine.enqueue_batch(tasks).await.unwrap();
    wait_drained(&engine).await;
    assert!(
        overlaps.lock().unwrap().is_empty(),
        "tasks of one key ran at once: {overlaps:?}"
    );
    assert!(
        first_failures.load(Ordering::SeqCst) >= 4,
        "the first tasks did fail and retry"
    );
    let log = log.lock().unwrap().clone();
    for key in ["folder-a", "folder-b"] {
        let order: Vec<&str> = log
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, t)| t.as_str())
            .collect();
        let expected: Vec<String> = (0..6).map(|n| format!("{key}#{n}")).collect();
        assert_eq!(order, expected);
    }
    engine.shutdown(Default::default()).await;
}
