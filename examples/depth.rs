//! Does errand stay fast with a million tasks in the table? Fills a fresh SQLite file with
//! 1,000,000 tasks scheduled for tomorrow (1,000 owners), then measures what users feel:
//! listing one owner's 50 newest tasks, their banner counts, and the throughput of 10,000
//! no-op tasks enqueued one call at a time and run with 16 slots (after the load's WAL has been
//! checkpointed, so that the copy does not run during the measurement).
//!
//! ```text
//! cargo run --release --example depth [-- TASKS]
//! ```

use std::time::{Duration, Instant};

use errand::prelude::*;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let waiting: usize = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 1_000_000,
    };
    let dir = std::env::temp_dir().join(format!("errand-depth-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let engine = Engine::builder()
        .sqlite(dir.join("errand.db"))
        .queue(Queue::new("default").concurrency(16))
        .handler("noop", |_ctx: TaskContext| async { Ok(TaskOutput::done()) })
        .start()
        .await?;

    let tomorrow = jiff::Timestamp::now() + Duration::from_secs(24 * 3600);
    let started = Instant::now();
    for batch in 0..waiting.div_ceil(1000) {
        let tasks = (0..1000.min(waiting - batch * 1000))
            .map(|n| {
                NewTask::new("noop")
                    .owner(format!("owner-{}", (batch * 1000 + n) % 1000))
                    .title("Scheduled for tomorrow")
                    .run_at(tomorrow)
            })
            .collect();
        engine.enqueue_batch(tasks).await?;
    }
    let filled = started.elapsed();
    // Measure the steady state of a million waiting tasks, not the aftermath of loading them:
    // copy the WAL of the load into the database first.
    rusqlite::Connection::open(dir.join("errand.db"))?.query_row(
        "PRAGMA wal_checkpoint(TRUNCATE)",
        [],
        |_| Ok(()),
    )?;
    println!(
        "filled:      {waiting} scheduled tasks in {:.1} s ({:.0} tasks/s, batches of 1,000)",
        filled.as_secs_f64(),
        waiting as f64 / filled.as_secs_f64()
    );

    let filter = TaskFilter {
        owner: Some("owner-42".into()),
        limit: 50,
        ..TaskFilter::default()
    };
    let listing = median_of(101, || async {
        let page = engine.list(&filter).await.unwrap();
        assert_eq!(page.tasks.len(), 50);
    })
    .await;
    println!("list:        one owner's 50 newest among {waiting}: median {listing:?}");
    let counts = median_of(101, || async {
        engine.counts(Some("owner-42")).await.unwrap();
    })
    .await;
    println!("counts:      one owner's banner counts: median {counts:?}");

    let tasks = 10_000;
    let started = Instant::now();
    for _ in 0..tasks {
        engine
            .enqueue(NewTask::new("noop").owner("producer"))
            .await?;
    }
    let enqueued = started.elapsed();
    loop {
        let counts = engine.counts(Some("producer")).await?;
        if counts.queued == 0 && counts.running == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let drained = started.elapsed();
    println!(
        "throughput:  {tasks} no-op tasks, one producer, 16 slots: enqueue {:.0}/s, end to end {:.0}/s",
        tasks as f64 / enqueued.as_secs_f64(),
        tasks as f64 / drained.as_secs_f64()
    );
    println!("peak RSS:    {} MB", peak_rss_kb().unwrap_or(0) / 1024);
    engine.shutdown(Duration::from_secs(5)).await;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

async fn median_of<F, Fut>(runs: usize, mut call: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        call().await;
        times.push(started.elapsed());
    }
    times.sort();
    times[runs / 2]
}

fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
