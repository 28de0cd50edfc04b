//! Lease renewal: every heartbeat, one write extends the leases of all attempts in flight, and
//! learns which were lost or asked to cancel.

use std::sync::Arc;

use jiff::Timestamp;

use super::Shared;
use super::inflight::StopReason;
use crate::store::LeaseStatus;

/// Renews leases until the engine's background services stop (after the drain, so that leases
/// outlive it).
pub(super) async fn run(shared: Arc<Shared>) {
    let mut ticks = tokio::time::interval(shared.config.heartbeat_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = shared.background.cancelled() => break,
        }
        let leases = shared.inflight.leases();
        if leases.is_empty() {
            continue;
        }
        let until = shared.lease_until(Timestamp::now());
        match shared.store.renew_leases(&leases, until).await {
            Ok(statuses) => {
                for (lease, status) in leases.iter().zip(statuses) {
                    match status {
                        // An attempt that ended while this renewal was on its way has nothing
                        // to lose: only one still running is stopped, and reported.
                        LeaseStatus::Lost => {
                            if shared.inflight.stop_lease(*lease, StopReason::LeaseLost) {
                                tracing::warn!(task = %lease.id, "lost the lease of a running attempt; stopping it");
                            }
                        }
                        LeaseStatus::Renewed {
                            cancel_requested: true,
                        } => {
                            shared.inflight.stop_lease(*lease, StopReason::Cancel);
                        }
                        LeaseStatus::Renewed { .. } => {}
                    }
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, leases = leases.len(), "could not renew leases")
            }
        }
    }
}
