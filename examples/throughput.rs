//! The first throughput figure: 10,000 no-op tasks, enqueued one call at a time while 16 slots
//! run them, on a fresh SQLite file.
//!
//! ```text
//! cargo run --release --example throughput [-- TASKS [PRODUCERS]]
//! ```
//!
//! With one producer (the default), each enqueue waits for its own commit; with several, their
//! enqueues share commits. Prints the enqueue rate (each enqueue acknowledged only once
//! committed) and the end-to-end rate, from the first enqueue to the last completion recorded
//! in the store.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use errand::prelude::*;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tasks: usize = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 10_000,
    };
    let producers: usize = match std::env::args().nth(2) {
        Some(n) => n.parse::<usize>()?.max(1),
        None => 1,
    };
    let dir = std::env::temp_dir().join(format!("errand-throughput-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    // Handlers count their runs, so that waiting for the end costs nothing while it runs.
    let ran = Arc::new(AtomicUsize::new(0));
    let all_ran = Arc::new(Notify::new());
    let (handler_ran, handler_all_ran) = (Arc::clone(&ran), Arc::clone(&all_ran));
    let engine = Engine::builder()
        .sqlite(dir.join("errand.db"))
        .queue(Queue::new("default").concurrency(16))
        .handler("noop", move |_ctx: TaskContext| {
            if handler_ran.fetch_add(1, Ordering::SeqCst) + 1 == tasks {
                handler_all_ran.notify_one();
            }
            async { Ok(TaskOutput::done()) }
        })
        .start()
        .await?;

    let started = Instant::now();
    let mut running = tokio::task::JoinSet::new();
    for producer in 0..producers {
        let engine = engine.clone();
        let share = tasks / producers + usize::from(producer < tasks % producers);
        running.spawn(async move {
            for _ in 0..share {
                engine.enqueue(NewTask::new("noop")).await?;
            }
            Ok::<_, EngineError>(())
        });
    }
    while let Some(produced) = running.join_next().await {
        produced??;
    }
    let enqueued = started.elapsed();
    tokio::time::timeout(Duration::from_secs(300), all_ran.notified()).await?;
    // The last handlers have returned; wait for their outcomes to be committed.
    wait_until_drained(&engine, Duration::from_secs(10)).await?;
    let drained = started.elapsed();
    let succeeded = engine
        .list(&TaskFilter {
            states: vec![State::Succeeded],
            limit: 1,
            ..TaskFilter::default()
        })
        .await?;
    assert!(!succeeded.tasks.is_empty(), "no task succeeded");

    println!("tasks:       {tasks} ({producers} producers, 16 slots)");
    println!(
        "enqueue:     {:>8.0} tasks/s ({:.2} s)",
        tasks as f64 / enqueued.as_secs_f64(),
        enqueued.as_secs_f64()
    );
    println!(
        "end to end:  {:>8.0} tasks/s ({:.2} s)",
        tasks as f64 / drained.as_secs_f64(),
        drained.as_secs_f64()
    );
    engine.shutdown(Duration::from_secs(5)).await;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// Waits until no task is queued or running.
async fn wait_until_drained(
    engine: &Engine,
    limit: Duration,
) -> Result<(), Box<dyn std::error::Error>> {
    let deadline = Instant::now() + limit;
    loop {
        let counts = engine.counts(None).await?;
        if counts.queued == 0 && counts.running == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("tasks still pending after {limit:?}: {counts:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
