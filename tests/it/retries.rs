//! Retries with backoff up to `max_attempts`, permanent failures, and timeouts that really stop
//! the handler.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use errand::prelude::*;

use crate::util::{TestDb, engine_on};

fn quick_retries() -> Queue {
    Queue::new("default")
        .concurrency(2)
        .retry_backoff(Duration::from_millis(20), Duration::from_millis(80))
}

#[tokio::test]
async fn a_failing_task_is_retried_until_it_succeeds() {
    let db = TestDb::new();
    let calls = Arc::new(AtomicU32::new(0));
    let attempts: Arc<std::sync::Mutex<Vec<u32>>> = Arc::default();
    let (handler_calls, handler_attempts) = (Arc::clone(&calls), Arc::clone(&attempts));
    let engine = engine_on(&db)
        .queue(quick_retries())
        .handler("flaky", move |ctx: TaskContext| {
            let calls = Arc::clone(&handler_calls);
            let attempts = Arc::clone(&handler_attempts);
            async move {
                let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                attempts.lock().unwrap().push(ctx.task().attempt);
                if n < 3 {
                    return Err(TaskError::new(format!("try {n} failed")).detail("Traceback: …"));
                }
                Ok(TaskOutput::done())
            }
        })
        .start()
        .await
        .unwrap();
    let mut events = engine.subscribe();
    let task = crate::util::run_to_end(&engine, NewTask::new("flaky").max_attempts(5)).await;
    assert_eq!(task.state, State::Succeeded);
    assert_eq!(task.attempt, 3);
    assert!(
        task.error.is_none(),
        "success clears the last attempt's error"
    );
    // Each failure went through `scheduled` (the backoff), carrying the attempt's error.
    let mut retries = Vec::new();
    while let Ok(event) = events.try_recv() {
        if event.task.id == task.id && event.task.state == State::Scheduled {
            retries.push(event.task.error.clone().unwrap().message);
        }
    }
    assert_eq!(retries, vec!["try 1 failed", "try 2 failed"]);
    engine.shutdown(Default::default()).await;
}

#[tokio::test]
async fn a_task_fails_for_good_once_its_attempts_are_spent() {
    let db = TestDb::new();
    let calls = Arc::new(AtomicU32::new(0));
    let handler_calls = Arc::clone(&calls);
    let engine = engine_on(&db)
        .queue(quick_retries().max_attempts(3))
        .handler("broken", move |_ctx: TaskContext| {
            let calls = Arc::clone(&handler_calls);
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(TaskError::new("the server is down"))
            }
        })
        .start()
        .await
        .unwrap();
    let task = crate::util::run_to_end(&engine, NewTask::new("broken")).await;
    assert_eq!(task.state, State::Failed);
    assert_eq!((task.attempt, task.max_attempts), (3, 3));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(task.error.unwrap().message, "the server is down");
    engine.shutdown(Default::default()).await;
}

#[tokio::test]
async fn a_permanent_error_is_not_retried() {
    let db = TestDb::new();
    let engine = engine_on(&db)
        .queue(quick_retries())
        .handler("denied", |_ctx: TaskContext| async move {
            Err(TaskError::new("permission denied").permanent())
        })
        .start()
        .await
        .unwrap();
    let task = crate::util::run_to_end(&engine, NewTask::new("denied").max_attempts(5)).await;
    assert_eq!((task.state, task.attempt), (State::Failed, 1));
    engine.shutdown(Default::default()).await;
}

#[tokio::test]
async fn a_timeout_stops_the_handler_and_counts_as_a_failed_attempt() {
    /// Set when the handler's future is dropped: the handler was stopped, not left running.
    struct Dropped(Arc<AtomicU32>);
    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let db = TestDb::new();
    let finished = Arc::new(AtomicBool::new(false));
    let dropped = Arc::new(AtomicU32::new(0));
    let (handler_finished, handler_dropped) = (Arc::clone(&finished), Arc::clone(&dropped));
    let engine = engine_on(&db)
        .queue(quick_retries().timeout(Duration::from_millis(100)))
        .handler("slow", move |_ctx: TaskContext| {
            let finished = Arc::clone(&handler_finished);
            let guard = Dropped(Arc::clone(&handler_dropped));
            async move {
                let _guard = guard;
                tokio::time::sleep(Duration::from_secs(600)).await;
                finished.store(true, Ordering::SeqCst);
                Ok(TaskOutput::done())
            }
        })
        .start()
        .await
        .unwrap();
    let task = crate::util::run_to_end(&engine, NewTask::new("slow").max_attempts(2)).await;
    assert_eq!((task.state, task.attempt), (State::Failed, 2));
    assert_eq!(task.error.unwrap().message, "timed out after 100 ms");
    // Both attempts' handlers were dropped mid-sleep: aborted, not abandoned.
    assert_eq!(dropped.load(Ordering::SeqCst), 2);
    assert!(!finished.load(Ordering::SeqCst));
    engine.shutdown(Default::default()).await;
}

#[test]
fn errors_convert_with_their_cause_chain_as_detail() {
    #[derive(Debug, thiserror::Error)]
    #[error("could not write the file")]
    struct Outer(#[source] std::io::Error);
    let err = TaskError::from(Outer(std::io::Error::other("disk full")));
    assert_eq!(err.message_text(), "could not write the file");
    assert_eq!(format!("{err}"), "could not write the file");
    assert!(format!("{err:?}").contains("caused by: disk full"));
}
