//! What a running attempt writes: lease renewals, progress, and its outcome, each fenced.

use jiff::Timestamp;
use rusqlite::{OptionalExtension, params};

use super::super::row::{id_bytes, millis};
use super::super::writer::Batch;
use super::change;
use crate::model::{EventKind, Progress, Task};
use crate::store::settle::settle;
use crate::store::{Lease, LeaseStatus, Outcome, StoreResult};

/// Extends each lease that is still current.
pub(in crate::store::sqlite) fn renew_leases(
    batch: &mut Batch<'_>,
    leases: &[Lease],
    lease_until: Timestamp,
) -> StoreResult<Vec<LeaseStatus>> {
    let mut statement = batch.tx.prepare_cached(
        "UPDATE tasks SET lease_expires_at = ?3
         WHERE id = ?1 AND fence = ?2 AND state = 'running' AND lease_node IS NOT NULL
         RETURNING cancel_requested",
    )?;
    leases
        .iter()
        .map(|lease| {
            let renewed = statement
                .query_row(
                    params![id_bytes(lease.id), lease.fence, millis(lease_until)],
                    |row| row.get::<_, bool>(0),
                )
                .optional()?;
            Ok(match renewed {
                Some(cancel_requested) => LeaseStatus::Renewed { cancel_requested },
                None => LeaseStatus::Lost,
            })
        })
        .collect()
}

/// Hands a running attempt over to the application, which reports on it until `until` (each
/// call moves the deadline): no node holds it any more, and if no report comes in time, lease
/// rescue takes it back.
pub(in crate::store::sqlite) fn await_reports(
    batch: &mut Batch<'_>,
    lease: Lease,
    until: Timestamp,
) -> StoreResult<()> {
    let changed = batch
        .tx
        .prepare_cached(
            "UPDATE tasks SET lease_node = NULL, lease_expires_at = ?3
             WHERE id = ?1 AND fence = ?2 AND state = 'running'",
        )?
        .execute(params![id_bytes(lease.id), lease.fence, millis(until)])?;
    if changed == 0 {
        return Err(crate::store::StoreError::StaleAttempt {
            id: lease.id,
            fence: lease.fence,
        });
    }
    Ok(())
}

/// Records progress; the fields left out keep their value.
pub(in crate::store::sqlite) fn report_progress(
    batch: &mut Batch<'_>,
    lease: Lease,
    progress: Progress,
    now: Timestamp,
) -> StoreResult<Task> {
    let head = change::load_current(batch, lease)?;
    let progress = progress.normalized();
    change::update_and_record(
        batch,
        head.seq,
        "UPDATE tasks SET progress_percent = coalesce(?2, progress_percent),
            progress_message = coalesce(?3, progress_message),
            progress_current = coalesce(?4, progress_current),
            progress_total = coalesce(?5, progress_total),
            updated_at = ?6
         WHERE seq = ?1",
        params![
            head.seq,
            progress.percent,
            progress.message,
            progress.current.map(count_column),
            progress.total.map(count_column),
            millis(now)
        ],
        EventKind::Progress,
        None,
        now,
    )
}

/// Ends the current attempt with `outcome`.
pub(in crate::store::sqlite) fn finish(
    batch: &mut Batch<'_>,
    lease: Lease,
    outcome: Outcome,
    now: Timestamp,
) -> StoreResult<Task> {
    if matches!(outcome, Outcome::Succeeded { .. } | Outcome::Failed(_)) {
        // Settled the same whether a cancellation was asked or the attempts are spent: one
        // statement, with no row read first.
        let (transition, change) = settle(outcome, false, false);
        return change::transition_current(batch, lease, transition, change, now);
    }
    let head = change::load_current(batch, lease)?;
    let (transition, change) = settle(
        outcome,
        head.cancel_requested,
        head.attempt >= head.max_attempts,
    );
    change::transition(batch, &head, transition, change, now)
}

/// A count as stored (SQLite integers are signed).
fn count_column(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
