//! The listener: one connection outside the pool that `LISTEN`s for the notification every
//! event-writing commit sends, and has the publisher read what was committed. After its
//! connection drops it reconnects with backoff, and catches up from the stored events, so
//! that nothing is missed.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, NoTls};
use tokio_util::sync::CancellationToken;

use super::events::Publisher;
use crate::store::{StoreError, StoreResult};

/// The first wait before reconnecting; each failure doubles it, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Starts the listener; it stops when `stop` is cancelled.
pub(super) fn spawn(
    config: tokio_postgres::Config,
    channel: String,
    publisher: Arc<Publisher>,
    stop: CancellationToken,
) {
    tokio::spawn(async move {
        let mut backoff = FIRST_BACKOFF;
        loop {
            let listened = tokio::select! {
                _ = stop.cancelled() => return,
                listened = listen(&config, &channel, &publisher, &mut backoff) => listened,
            };
            if let Err(err) = listened {
                tracing::warn!(error = %err, retry_in = ?backoff, "the postgres event listener lost its connection");
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    });
}

/// Listens on one connection until it fails.
async fn listen(
    config: &tokio_postgres::Config,
    channel: &str,
    publisher: &Publisher,
    backoff: &mut Duration,
) -> StoreResult<()> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let (wake, mut woken) = mpsc::unbounded_channel();
    // The connection delivers notifications only while polled for them.
    let driver = tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(notification))) => {
                    // The payload is the write's last event number; anything else reads all.
                    let last = notification.payload().parse().unwrap_or(i64::MAX);
                    if wake.send(last).is_err() {
                        return Ok(());
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(err)) => return Err(err),
                None => return Ok(()),
            }
        }
    });
    let listened = async {
        client.batch_execute(&format!("LISTEN {channel}")).await?;
        // Listening from here on: whatever committed before is read now, after it when woken.
        publisher.catch_up().await?;
        *backoff = FIRST_BACKOFF;
        while let Some(mut last) = woken.recv().await {
            // One read serves every notification already waiting.
            while let Ok(later) = woken.try_recv() {
                last = last.max(later);
            }
            // This node's own writes are published as they commit: most notifications
            // announce what is published already, and need no read.
            publisher.catch_up_to(last).await?;
        }
        Err(StoreError::Database(
            "the listening connection closed".into(),
        ))
    }
    .await;
    drop(client);
    driver.abort();
    listened
}
