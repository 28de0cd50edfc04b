//! A tour of errand as a library: 10,000 tasks from five users over two queues, some of which
//! fail and are retried, run to the end on a SQLite file.
//!
//! ```text
//! cargo run --release --example tour
//! ```
//!
//! - `content` has 8 slots, and one user may hold at most 3 of them (`per_owner_concurrency`),
//!   so that a user deleting a thousand items leaves room for the others.
//! - `reports` has 2 slots: building a report is heavy. A third of its attempts fail with a
//!   transient error and are retried after a short backoff; one report in fifty fails for good.
//! - Each user enqueues from a task of their own, one call at a time, like web requests.
//!
//! At the end it prints how many tasks succeeded, failed, and needed a retry, read back from the
//! store page by page.

use std::time::{Duration, Instant};

use errand::prelude::*;
use serde_json::json;

const USERS: [&str; 5] = ["alice", "bob", "chloé", "dmitri", "eun-ji"];
const TASKS: usize = 10_000;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("errand-tour-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let engine = Engine::builder()
        .sqlite(dir.join("errand.db"))
        .queue(
            Queue::new("content")
                .concurrency(8)
                .per_owner_concurrency(3),
        )
        .queue(
            Queue::new("reports")
                .concurrency(2)
                .max_attempts(4)
                .retry_backoff(Duration::from_millis(5), Duration::from_millis(50)),
        )
        .handler("content.publish", |ctx: TaskContext| async move {
            let item: String = ctx.json()?;
            Ok(TaskOutput::done().result_url(format!("/content/{item}")))
        })
        .handler("reports.build", |ctx: TaskContext| async move {
            let report: u64 = ctx.json()?;
            for page in 1..=4 {
                ctx.progress(Progress::steps(page, 4).message(format!("page {page} of 4")))
                    .await?;
            }
            if report % 50 == 7 {
                return Err(TaskError::new("the report's query is invalid")
                    .detail("SyntaxError: near \"FORM\"")
                    .permanent());
            }
            if fastrand::u8(..3) == 0 {
                return Err(TaskError::new("the database is busy, trying again"));
            }
            Ok(TaskOutput::json(json!({"rows": report * 10})))
        })
        .start()
        .await?;

    let started = Instant::now();
    let mut producers = tokio::task::JoinSet::new();
    for (user_index, user) in USERS.into_iter().enumerate() {
        let engine = engine.clone();
        producers.spawn(async move {
            for n in (user_index..TASKS).step_by(USERS.len()) {
                let task = if n % 10 < 7 {
                    NewTask::new("content.publish")
                        .queue("content")
                        .title(format!("Publishing item {n}"))
                        .json(json!(format!("item-{n}")))
                } else {
                    NewTask::new("reports.build")
                        .queue("reports")
                        .title(format!("Building report {n}"))
                        .json(json!(n))
                };
                engine.enqueue(task.owner(user)).await?;
            }
            Ok::<_, EngineError>(())
        });
    }
    while let Some(produced) = producers.join_next().await {
        produced??;
    }
    let enqueued = started.elapsed();

    // Wait for the last task, then read every task back, page by page.
    loop {
        let counts = engine.counts(None).await?;
        if counts.queued == 0 && counts.running == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    let (mut succeeded, mut failed, mut retried, mut total) = (0, 0, 0, 0);
    let mut filter = TaskFilter {
        limit: 1000,
        ..TaskFilter::default()
    };
    loop {
        let page = engine.list(&filter).await?;
        for task in &page.tasks {
            total += 1;
            match task.state {
                State::Succeeded => succeeded += 1,
                State::Failed => failed += 1,
                other => return Err(format!("task {} ended {other}", task.id).into()),
            }
            if task.attempt > 1 {
                retried += 1;
            }
        }
        match page.next_cursor {
            Some(cursor) => filter.cursor = Some(cursor),
            None => break,
        }
    }
    engine.shutdown(Duration::from_secs(5)).await;
    std::fs::remove_dir_all(&dir)?;

    println!("{total} tasks from {} users over 2 queues", USERS.len());
    println!("  succeeded  {succeeded}");
    println!("  failed     {failed}");
    println!("  retried    {retried}  (tasks that needed more than one attempt)");
    println!(
        "enqueued in {:.2} s, all finished in {:.2} s",
        enqueued.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    Ok(())
}
