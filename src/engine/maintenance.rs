//! The sweepers: promotion of due tasks (timed to the next due task), lease rescue, expiry and
//! retention. Each is one conditional write, so any number of nodes may run them at once.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::time::Instant;

use super::Shared;
use crate::store::StoreResult;

/// Runs the sweepers until the engine's background services stop.
pub(super) async fn run(shared: Arc<Shared>) {
    let mut next_rescue = Instant::now();
    let mut next_retention = Instant::now();
    loop {
        let now = Timestamp::now();
        repeat("promote due tasks", || shared.store.promote_due(now)).await;
        if Instant::now() >= next_rescue {
            repeat("rescue expired leases", || {
                shared.store.rescue_expired_leases(now)
            })
            .await;
            repeat("expire overdue tasks", || shared.store.expire_overdue(now)).await;
            next_rescue = Instant::now() + shared.config.poll_interval;
        }
        if Instant::now() >= next_retention {
            let cutoff = now
                .checked_sub(shared.config.retention)
                .unwrap_or(Timestamp::MIN);
            repeat("sweep old tasks", || shared.store.sweep_retention(cutoff)).await;
            next_retention = Instant::now() + shared.config.retention_interval;
        }
        let sleep = until_next_due(&shared)
            .await
            .min(shared.config.poll_interval);
        tokio::select! {
            () = tokio::time::sleep(sleep) => {}
            () = shared.promoter.notified() => {}
            () = shared.background.cancelled() => break,
        }
    }
}

/// How long until the next scheduled task is due.
async fn until_next_due(shared: &Shared) -> Duration {
    match shared.store.next_due().await {
        Ok(Some(due)) => {
            let wait = due.as_millisecond() - Timestamp::now().as_millisecond();
            Duration::from_millis(wait.max(0) as u64)
        }
        Ok(None) => Duration::MAX,
        Err(err) => {
            tracing::warn!(error = %err, "could not read the next due task");
            Duration::MAX
        }
    }
}

/// Runs a bounded sweep again while it finds work.
async fn repeat<F, Fut>(what: &str, mut sweep: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = StoreResult<u64>>,
{
    loop {
        match sweep().await {
            Ok(0) => break,
            Ok(n) => tracing::debug!(count = n, "{what}"),
            Err(err) => {
                tracing::warn!(error = %err, "could not {what}");
                break;
            }
        }
    }
}
