use errand::prelude::*;
use std::time::{Duration, Instant};
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("errand-drain-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let store: std::sync::Arc<dyn Store> =
        std::sync::Arc::new(errand::store::sqlite::SqliteStore::open(dir.join("e.db"))?);
    store
        .upsert_queue(&Queue::new("default").concurrency(16))
        .await?;
    let tasks: Vec<_> = (0..10000)
        .map(|_| NewTask::new("noop").max_attempts(1))
        .collect();
    for chunk in tasks.chunks(1000) {
        store
            .enqueue(chunk.to_vec(), jiff::Timestamp::now())
            .await?;
    }
    let started = Instant::now();
    let engine = Engine::builder()
        .store(store.clone())
        .queue(Queue::new("default").concurrency(16))
        .handler("noop", |_ctx: TaskContext| async { Ok(TaskOutput::done()) })
        .start()
        .await?;
    loop {
        let c = engine.counts(None).await?;
        if c.queued == 0 && c.running == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    println!(
        "drain only: {:.0}/s",
        10000.0 / started.elapsed().as_secs_f64()
    );
    engine.shutdown(Duration::from_secs(1)).await;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
