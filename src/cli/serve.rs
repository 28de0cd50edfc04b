//! `errand serve`: the engine on the database until a signal drains it.

use std::time::Duration;

use clap::Args;
use errand::engine::{DrainSignals, Engine};
use errand::model::Queue;

/// Flags of `errand serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The database: `sqlite://PATH` (or a plain path).
    #[arg(
        long,
        env = "ERRAND_DATABASE_URL",
        default_value = "sqlite://errand.db"
    )]
    database_url: String,
    /// Slots of the `default` queue.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    concurrency: u32,
    /// Seconds running tasks get to finish after SIGTERM, SIGINT or SIGQUIT before they are
    /// handed back to the queue.
    #[arg(long, default_value_t = 30)]
    grace_seconds: u64,
}

/// Runs the engine until a drain signal.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let path = super::sqlite_path(&args.database_url)?;
    // Caught from now on: a signal during the start drains instead of killing the process.
    let signals = DrainSignals::listen()?;
    tracing::info!(database = %path.display(), "starting errand");
    let engine = Engine::builder()
        .sqlite(&path)
        .queue(Queue::new("default").concurrency(args.concurrency))
        .start()
        .await
        .map_err(|err| anyhow::anyhow!("could not start on {}: {err}", path.display()))?;
    engine
        .run_until_signal(signals, Duration::from_secs(args.grace_seconds))
        .await;
    Ok(())
}
