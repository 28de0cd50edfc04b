//! The attempts this node is running, with the signal that stops each.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tokio_util::sync::CancellationToken;

use crate::model::TaskId;
use crate::store::Lease;

/// Why a running attempt is being stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopReason {
    /// Someone cancelled the task: the handler gets a grace period to return.
    Cancel,
    /// The node is draining and the grace period is over: the task is handed back.
    Drain,
    /// The lease is gone: another attempt may already be running, stop at once.
    LeaseLost,
}

/// The stop signal of one attempt. The first reason given wins.
#[derive(Debug, Default)]
pub(crate) struct Stop {
    token: CancellationToken,
    reason: OnceLock<StopReason>,
    /// The attempt has ended and is recording its outcome: a renewal that finds its lease
    /// gone has raced with that write, and is no news.
    ending: AtomicBool,
}

impl Stop {
    /// Asks the attempt to stop.
    pub(crate) fn request(&self, reason: StopReason) {
        let _ = self.reason.set(reason);
        self.token.cancel();
    }

    /// Why it was asked to stop, if it was.
    pub(crate) fn reason(&self) -> Option<StopReason> {
        self.reason.get().copied()
    }

    /// The token the handler watches.
    pub(crate) fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// Marks the attempt as ended: its outcome is being written.
    pub(crate) fn mark_ending(&self) {
        self.ending.store(true, Ordering::Relaxed);
    }
}

/// The attempts in flight on this node.
#[derive(Default)]
pub(crate) struct Inflight {
    attempts: Mutex<HashMap<TaskId, (i64, Arc<Stop>)>>,
}

impl Inflight {
    /// Adds an attempt; answers its stop signal.
    pub(crate) fn register(&self, lease: Lease) -> Arc<Stop> {
        let stop = Arc::new(Stop::default());
        self.lock()
            .insert(lease.id, (lease.fence, Arc::clone(&stop)));
        stop
    }

    /// Removes an attempt that ended.
    pub(crate) fn remove(&self, lease: Lease) {
        let mut attempts = self.lock();
        if attempts
            .get(&lease.id)
            .is_some_and(|(fence, _)| *fence == lease.fence)
        {
            attempts.remove(&lease.id);
        }
    }

    /// The leases to renew.
    pub(crate) fn leases(&self) -> Vec<Lease> {
        self.lock()
            .iter()
            .map(|(id, (fence, _))| Lease {
                id: *id,
                fence: *fence,
            })
            .collect()
    }

    /// Stops the attempt of `lease` for `reason`, if this node still runs that very attempt
    /// (not a later one of the same task) and it has not ended on its own; answers whether it
    /// did.
    pub(crate) fn stop_lease(&self, lease: Lease, reason: StopReason) -> bool {
        match self.lock().get(&lease.id) {
            Some((fence, stop))
                if *fence == lease.fence && !stop.ending.load(Ordering::Relaxed) =>
            {
                stop.request(reason);
                true
            }
            _ => false,
        }
    }

    /// Stops the attempt of task `id`, if this node runs it.
    pub(crate) fn stop(&self, id: TaskId, reason: StopReason) {
        if let Some((_, stop)) = self.lock().get(&id) {
            stop.request(reason);
        }
    }

    /// Stops every attempt.
    pub(crate) fn stop_all(&self, reason: StopReason) {
        for (_, stop) in self.lock().values() {
            stop.request(reason);
        }
    }

    /// How many attempts are in flight.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TaskId, (i64, Arc<Stop>)>> {
        self.attempts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
