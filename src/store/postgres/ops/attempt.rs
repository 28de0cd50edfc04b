//! What a running attempt writes: lease renewals, progress, and its outcome, each fenced.
//! The fence sits in the `WHERE` clause (renewals, hand-overs) or is checked on the locked
//! row (progress, outcomes).

use std::collections::HashMap;

use jiff::Timestamp;

use super::super::row::{count_column, millis, task_columns};
use super::super::write::Write;
use super::change;
use crate::model::{EventKind, Progress, Task};
use crate::store::settle::settle;
use crate::store::{Lease, LeaseStatus, Outcome, StoreError, StoreResult};

/// Extends each lease that is still current, in one statement.
pub(in crate::store::postgres) async fn renew_leases(
    w: &Write,
    leases: &[Lease],
    lease_until: Timestamp,
) -> StoreResult<Vec<LeaseStatus>> {
    if leases.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<uuid::Uuid> = leases.iter().map(|lease| lease.id.0).collect();
    let fences: Vec<i64> = leases.iter().map(|lease| lease.fence).collect();
    let rows = w
        .query(
            "UPDATE tasks AS t SET lease_expires_at = $3
             FROM unnest($1::uuid[], $2::bigint[]) AS l(id, fence)
             WHERE t.id = l.id AND t.fence = l.fence AND t.state = 'running'
               AND t.lease_node IS NOT NULL
             RETURNING t.id, t.fence, t.cancel_requested",
            &[&ids, &fences, &millis(lease_until)],
        )
        .await?;
    let mut renewed = HashMap::with_capacity(rows.len());
    for row in rows {
        let id: uuid::Uuid = row.try_get(0)?;
        let fence: i64 = row.try_get(1)?;
        renewed.insert((id, fence), row.try_get::<_, bool>(2)?);
    }
    Ok(leases
        .iter()
        .map(|lease| match renewed.get(&(lease.id.0, lease.fence)) {
            Some(&cancel_requested) => LeaseStatus::Renewed { cancel_requested },
            None => LeaseStatus::Lost,
        })
        .collect())
}

/// Hands a running attempt over to the application, which reports on it until `until`.
pub(in crate::store::postgres) async fn await_reports(
    w: &Write,
    lease: Lease,
    until: Timestamp,
) -> StoreResult<()> {
    let changed = w
        .execute(
            "UPDATE tasks SET lease_node = NULL, lease_expires_at = $3
             WHERE id = $1 AND fence = $2 AND state = 'running'",
            &[&lease.id.0, &lease.fence, &millis(until)],
        )
        .await?;
    if changed == 0 {
        return Err(StoreError::StaleAttempt {
            id: lease.id,
            fence: lease.fence,
        });
    }
    Ok(())
}

const REPORT_PROGRESS: &str = concat!(
    "UPDATE tasks SET progress_percent = coalesce($2, progress_percent),
        progress_message = coalesce($3, progress_message),
        progress_current = coalesce($4, progress_current),
        progress_total = coalesce($5, progress_total),
        updated_at = $6
     WHERE seq = $1
     RETURNING ",
    task_columns!()
);

/// Records progress; the fields left out keep their value.
pub(in crate::store::postgres) async fn report_progress(
    w: &Write,
    lease: Lease,
    progress: Progress,
    now: Timestamp,
) -> StoreResult<Task> {
    let head = change::load_current(w, lease).await?;
    let progress = progress.normalized();
    change::update_and_record(
        w,
        REPORT_PROGRESS,
        &[
            &head.seq,
            &progress.percent,
            &progress.message,
            &progress.current.map(count_column),
            &progress.total.map(count_column),
            &millis(now),
        ],
        EventKind::Progress,
        None,
        now,
    )
    .await
}

/// Ends the current attempt with `outcome`.
pub(in crate::store::postgres) async fn finish(
    w: &Write,
    lease: Lease,
    outcome: Outcome,
    now: Timestamp,
) -> StoreResult<Task> {
    if matches!(outcome, Outcome::Succeeded { .. } | Outcome::Failed(_)) {
        // Settled the same whether a cancellation was asked or the attempts are spent: one
        // statement, with no row read first.
        let (transition, change) = settle(outcome, false, false);
        return change::transition_current(w, lease, transition, change, now).await;
    }
    let head = change::load_current(w, lease).await?;
    let (transition, change) = settle(
        outcome,
        head.cancel_requested,
        head.attempt >= head.max_attempts,
    );
    change::transition(w, &head, transition, change, now).await
}
