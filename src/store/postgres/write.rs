//! One write: a transaction, the events it records, and its commit.
//!
//! A write that changes a task locks the task's row first (`FOR UPDATE`), checks the state
//! machine in Rust, then updates: the row lock does what the single writer does for SQLite.
//! Events are kept in memory until the commit, and numbered there (see `events.rs`).

use deadpool_postgres::{Client, Transaction};
use jiff::Timestamp;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::row::millis;
use crate::model::{Event, EventKind, State, Task};
use crate::store::StoreResult;

/// The advisory lock (first key) that event-writing commits take; the second is the schema's
/// hash. See `events.rs` for why.
pub(super) const EVENTS_LOCK: i32 = 0x6572_6576;

/// An event recorded by a write, numbered when the write commits.
struct Unnumbered {
    at: Timestamp,
    kind: EventKind,
    from: Option<State>,
    task: Task,
}

/// A write in progress.
pub(super) struct Write<'a> {
    tx: Transaction<'a>,
    events: Vec<Unnumbered>,
}

/// Takes the events lock, numbers the events of a write and inserts them, in one statement
/// (one round trip while the lock is held, before the commit), then wakes the listeners of
/// every node with one notification for the whole write. `last` reads `locked`, so the lock
/// is taken before the numbers are.
const INSERT_EVENTS: &str = "WITH locked AS (
         SELECT pg_advisory_xact_lock($9, hashtext(current_schema()))
     ), last AS (
         SELECT setval(pg_get_serial_sequence('events', 'seq'),
                       nextval(pg_get_serial_sequence('events', 'seq')) + $1 - 1) AS seq
         FROM locked
     ), inserted AS (
         INSERT INTO events (seq, at, task_id, owner, kind, state, from_state)
         SELECT last.seq - $1 + e.n, e.at, e.task_id, e.owner, e.kind, e.state, e.from_state
         FROM last, unnest($2::bigint[], $3::uuid[], $4::text[], $5::text[], $6::text[],
                           $7::text[])
             WITH ORDINALITY AS e(at, task_id, owner, kind, state, from_state, n)
         RETURNING 1
     )
     SELECT last.seq, pg_notify($8, last.seq::text), (SELECT count(*) FROM inserted)
     FROM last";

impl<'a> Write<'a> {
    /// Begins a write on `client`.
    pub(super) async fn begin(client: &'a mut Client) -> StoreResult<Write<'a>> {
        Ok(Write {
            tx: client.transaction().await?,
            events: Vec::new(),
        })
    }

    /// The rows of `sql` (a statement prepared once per connection).
    pub(super) async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<Vec<Row>> {
        let statement = self.tx.prepare_cached(sql).await?;
        Ok(self.tx.query(&statement, params).await?)
    }

    /// The row of `sql`, if any.
    pub(super) async fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<Option<Row>> {
        let statement = self.tx.prepare_cached(sql).await?;
        Ok(self.tx.query_opt(&statement, params).await?)
    }

    /// The one row of `sql`.
    pub(super) async fn query_one(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<Row> {
        let statement = self.tx.prepare_cached(sql).await?;
        Ok(self.tx.query_one(&statement, params).await?)
    }

    /// Runs `sql`; answers how many rows it changed.
    pub(super) async fn execute(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<u64> {
        let statement = self.tx.prepare_cached(sql).await?;
        Ok(self.tx.execute(&statement, params).await?)
    }

    /// Records an event for `task`, as it is right after the change.
    pub(super) fn record(
        &mut self,
        kind: EventKind,
        from: Option<State>,
        task: Task,
        at: Timestamp,
    ) {
        self.events.push(Unnumbered {
            at,
            kind,
            from,
            task,
        });
    }

    /// Rolls back, and waits until the server has: a transaction merely dropped would keep
    /// its row locks until its connection next runs, and claims would skip those rows.
    pub(super) async fn rollback(self) -> StoreResult<()> {
        Ok(self.tx.rollback().await?)
    }

    /// Commits; answers the write's events, numbered. A write with events takes the events
    /// lock, numbers and inserts them, and sends one notification, just before it commits.
    pub(super) async fn commit(self, channel: &str) -> StoreResult<Vec<Event>> {
        let Write { tx, events } = self;
        if events.is_empty() {
            tx.commit().await?;
            return Ok(Vec::new());
        }
        let count = events.len() as i64;
        let at: Vec<i64> = events.iter().map(|e| millis(e.at)).collect();
        let task_id: Vec<uuid::Uuid> = events.iter().map(|e| e.task.id.0).collect();
        let owner: Vec<Option<&str>> = events.iter().map(|e| e.task.owner.as_deref()).collect();
        let kind: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        let state: Vec<&str> = events.iter().map(|e| e.task.state.as_str()).collect();
        let from: Vec<Option<&str>> = events.iter().map(|e| e.from.map(State::as_str)).collect();
        let statement = tx.prepare_cached(INSERT_EVENTS).await?;
        let last: i64 = tx
            .query_one(
                &statement,
                &[
                    &count,
                    &at,
                    &task_id,
                    &owner,
                    &kind,
                    &state,
                    &from,
                    &channel,
                    &EVENTS_LOCK,
                ],
            )
            .await?
            .try_get(0)?;
        tx.commit().await?;
        let first = last - count + 1;
        Ok(events
            .into_iter()
            .zip(first..)
            .map(|(event, seq)| Event {
                seq,
                at: event.at,
                kind: event.kind,
                from: event.from,
                task: event.task,
            })
            .collect())
    }
}
