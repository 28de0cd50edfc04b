//! The event stream across nodes: every event committed by any node reaches every node's
//! subscribers, in `seq` order, without gaps.
//!
//! # Why the numbers become visible in order
//!
//! A `bigserial` value is taken when a row is inserted, long before its transaction commits:
//! a write numbered 10 may commit after one numbered 11, and a reader that moved past 11
//! would never see 10. So a write does not number its events as it goes. It keeps them in
//! memory, and just before it commits it takes a transaction-level advisory lock (one per
//! schema), takes the numbers, inserts the events and sends one `pg_notify`
//! (`write.rs`). The lock is held until the commit ends, and PostgreSQL makes a commit
//! visible before it releases the transaction's locks; so when a write takes its numbers,
//! every lower number is already visible or was rolled back for good. A reader that sees
//! number N can read everything below N once and never look back.
//!
//! The cost: commits that carry events are serialised per schema. PostgreSQL already
//! serialises commits that carry a `NOTIFY` (one queue lock), which every such write sends,
//! so the lock adds little; and each write sends one notification, never one per event.
//!
//! # Who publishes
//!
//! One [`Publisher`] per store remembers the last number it published. A node publishes its
//! own events as soon as its write commits (after reading any lower numbers it has not seen
//! yet from the table, so that order holds); its listener (`listener.rs`) reads what others
//! committed when notified, and after each reconnection. Both go through the publisher, which
//! drops what it has already published.

use std::sync::Arc;

use deadpool_postgres::Pool;
use tokio::sync::{Mutex, broadcast};

use super::ops;
use crate::model::Event;
use crate::store::StoreResult;

/// How many events one read of the log takes.
const PAGE: usize = 1000;

/// Publishes committed events to in-process subscribers, in order and once each.
pub(super) struct Publisher {
    pool: Pool,
    sender: broadcast::Sender<Arc<Event>>,
    /// The last number published.
    last: Mutex<i64>,
}

impl Publisher {
    /// A publisher that starts after event `last`.
    pub(super) fn new(pool: Pool, sender: broadcast::Sender<Arc<Event>>, last: i64) -> Self {
        Publisher {
            pool,
            sender,
            last: Mutex::new(last),
        }
    }

    /// A receiver of the events published from now on.
    pub(super) fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.sender.subscribe()
    }

    /// Publishes the events of a write this node committed, after any lower numbers not yet
    /// published. If those cannot be read now, nothing is published here: the write's
    /// notification makes the listener read them all, in order, once it can.
    pub(super) async fn publish_own(&self, events: Vec<Event>) {
        let Some(first) = events.first().map(|event| event.seq) else {
            return;
        };
        let mut last = self.last.lock().await;
        if first > *last + 1
            && let Err(err) = self.read_until(&mut last, first - 1).await
        {
            tracing::warn!(error = %err, "could not read the event log; the listener will");
            return;
        }
        for event in events {
            self.send(&mut last, Arc::new(event));
        }
    }

    /// Publishes every event committed after the last one published.
    pub(super) async fn catch_up(&self) -> StoreResult<()> {
        self.catch_up_to(i64::MAX).await
    }

    /// Publishes every event committed after the last one published, unless event `seq` is
    /// published already (and with it every lower number).
    pub(super) async fn catch_up_to(&self, seq: i64) -> StoreResult<()> {
        let mut last = self.last.lock().await;
        if *last >= seq {
            return Ok(());
        }
        self.read_until(&mut last, i64::MAX).await
    }

    /// Reads and publishes the stored events after `*last`, up to `until`.
    async fn read_until(&self, last: &mut i64, until: i64) -> StoreResult<()> {
        let client = self.pool.get().await?;
        loop {
            let events = ops::read::events_since(&client, *last, None, PAGE).await?;
            let full = events.len() == PAGE;
            for event in events {
                if event.seq > until {
                    return Ok(());
                }
                self.send(last, Arc::new(event));
            }
            if !full {
                return Ok(());
            }
        }
    }

    fn send(&self, last: &mut i64, event: Arc<Event>) {
        if event.seq <= *last {
            return;
        }
        *last = event.seq;
        // No subscriber is not an error.
        let _ = self.sender.send(event);
    }
}
