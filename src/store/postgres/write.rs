//! One write: a transaction, the events it records, and its commit.
//!
//! A write that changes a task locks the task's row first (`FOR UPDATE`), checks the state
//! machine in Rust, then updates: the row lock does what the single writer does for SQLite.
//! Events are kept in memory until the commit, and numbered there (see `events.rs`).
//!
//! The transaction costs no round trip of its own: `BEGIN` is sent together with the write's
//! first statement, and `COMMIT` together with the events' insert (PostgreSQL runs requests
//! in the order they arrive, and tokio-postgres sends requests that are in flight together
//! without waiting for each other's answers). If the insert fails, the `COMMIT` behind it
//! rolls the transaction back, and the write fails.
//!
//! The writes of a group (`group.rs`) share one `Write` and may send their statements
//! concurrently, so a `Write` is used through `&Write`; its events are recorded under a lock.

use std::sync::Mutex;
use std::sync::PoisonError;
use std::sync::atomic::{AtomicBool, Ordering};

use deadpool_postgres::{Client, Object};
use jiff::Timestamp;
use tokio_postgres::Row;
use tokio_postgres::types::{ToSql, Type};

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

/// A write in progress. Dropped before it commits or rolls back (its future cancelled), it
/// closes its connection rather than hand an open transaction back to the pool.
pub(super) struct Write {
    /// The connection, until the write ends.
    client: Option<Client>,
    /// Whether `BEGIN` has gone out (with the first statement).
    begun: AtomicBool,
    /// The events recorded so far, in order; the writes of a group record them concurrently.
    events: Mutex<Vec<Unnumbered>>,
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

impl Write {
    /// Begins a write on `client`.
    pub(super) fn begin(client: Client) -> Write {
        Write {
            client: Some(client),
            begun: AtomicBool::new(false),
            events: Mutex::new(Vec::new()),
        }
    }

    fn client(&self) -> &Client {
        self.client
            .as_ref()
            .expect("a write's connection is there until it ends")
    }

    /// Runs `run` with the statement of `sql` (prepared once per connection), with `BEGIN`
    /// sent just before it if this is the write's first statement.
    async fn run<T>(
        &self,
        sql: &str,
        run: impl AsyncFnOnce(&Client, &tokio_postgres::Statement) -> Result<T, tokio_postgres::Error>,
    ) -> StoreResult<T> {
        let client = self.client();
        let statement = client.prepare_cached(sql).await?;
        self.after_begin(run(client, &statement)).await
    }

    /// Sends `request` (a future that sends when first polled), with `BEGIN` sent just before
    /// it if this is the write's first statement.
    async fn after_begin<T>(
        &self,
        request: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> StoreResult<T> {
        if self.begun.swap(true, Ordering::Relaxed) {
            return Ok(request.await?);
        }
        let (begun, value) = tokio::join!(self.client().batch_execute("BEGIN"), request);
        begun?;
        Ok(value?)
    }

    /// The rows of `sql`, planned for the values given each time rather than with a plan
    /// cached for any values. For statements whose best plan depends on their values and on
    /// the table's size: a plan cached while the table was small (a new database) would scan
    /// the whole table for good, until PostgreSQL next analyses it. An unnamed statement, sent
    /// with its parameters' types: one round trip, like a prepared one.
    pub(super) async fn query_planned_each_time(
        &self,
        sql: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> StoreResult<Vec<Row>> {
        self.after_begin(self.client().query_typed(sql, params))
            .await
    }

    /// Prepares the statements of `sqls` on the write's connection (once per connection), so
    /// that statements sent together afterwards go out in the order they are sent: a
    /// statement being prepared would let the ones after it overtake it.
    pub(super) async fn prepare(&self, sqls: &[&str]) -> StoreResult<()> {
        for sql in sqls {
            self.client().prepare_cached(sql).await?;
        }
        Ok(())
    }

    /// The rows of `sql`.
    pub(super) async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<Vec<Row>> {
        self.run(sql, async |client, statement| {
            client.query(statement, params).await
        })
        .await
    }

    /// The row of `sql`, if any.
    pub(super) async fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<Option<Row>> {
        self.run(sql, async |client, statement| {
            client.query_opt(statement, params).await
        })
        .await
    }

    /// The one row of `sql`.
    pub(super) async fn query_one(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<Row> {
        self.run(sql, async |client, statement| {
            client.query_one(statement, params).await
        })
        .await
    }

    /// Runs `sql`; answers how many rows it changed.
    pub(super) async fn execute(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<u64> {
        self.run(sql, async |client, statement| {
            client.execute(statement, params).await
        })
        .await
    }

    /// Records an event for `task`, as it is right after the change.
    pub(super) fn record(&self, kind: EventKind, from: Option<State>, task: Task, at: Timestamp) {
        let unnumbered = Unnumbered {
            at,
            kind,
            from,
            task,
        };
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(unnumbered);
    }

    /// Rolls back, and waits until the server has: a transaction merely dropped would keep
    /// its row locks until its connection next runs, and claims would skip those rows.
    pub(super) async fn rollback(mut self) -> StoreResult<()> {
        let client = self.client.take().expect("a write ends once");
        if self.begun.load(Ordering::Relaxed) {
            client.batch_execute("ROLLBACK").await?;
        }
        Ok(())
    }

    /// Commits; answers the write's events, numbered. A write with events takes the events
    /// lock, numbers and inserts them, and sends one notification, just before it commits.
    pub(super) async fn commit(mut self, channel: &str) -> StoreResult<Vec<Event>> {
        let client = self.client.take().expect("a write ends once");
        let events = std::mem::take(
            self.events
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner),
        );
        if !self.begun.load(Ordering::Relaxed) {
            // Nothing was sent: nothing to commit.
            return Ok(Vec::new());
        }
        if events.is_empty() {
            client.batch_execute("COMMIT").await?;
            return Ok(Vec::new());
        }
        let count = events.len() as i64;
        let at: Vec<i64> = events.iter().map(|e| millis(e.at)).collect();
        let task_id: Vec<uuid::Uuid> = events.iter().map(|e| e.task.id.0).collect();
        let owner: Vec<Option<&str>> = events.iter().map(|e| e.task.owner.as_deref()).collect();
        let kind: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        let state: Vec<&str> = events.iter().map(|e| e.task.state.as_str()).collect();
        let from: Vec<Option<&str>> = events.iter().map(|e| e.from.map(State::as_str)).collect();
        let statement = client.prepare_cached(INSERT_EVENTS).await?;
        let params: [&(dyn ToSql + Sync); 9] = [
            &count,
            &at,
            &task_id,
            &owner,
            &kind,
            &state,
            &from,
            &channel,
            &EVENTS_LOCK,
        ];
        // If the insert fails, the `COMMIT` behind it rolls back; its error is the write's.
        let (inserted, committed) = tokio::join!(
            client.query_one(&statement, &params),
            client.batch_execute("COMMIT")
        );
        let last: i64 = inserted?.try_get(0)?;
        committed?;
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

impl Drop for Write {
    fn drop(&mut self) {
        if let Some(client) = self.client.take()
            && self.begun.load(Ordering::Relaxed)
        {
            // Cancelled mid-transaction: the connection closes (and the server rolls back)
            // rather than going back to the pool with the transaction open.
            drop(Object::take(client));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::postgres::{connection, test_options};

    /// A write whose future is dropped mid-transaction must not hand its connection back to
    /// the pool with the transaction open (and its row locks held): it closes it.
    #[tokio::test]
    async fn a_write_dropped_mid_transaction_closes_its_connection() {
        let Some(mut options) = test_options() else {
            return;
        };
        options.pool_size = 2;
        let pool = connection::pool(&options).unwrap();
        let table = format!("errand_write_drop_{}", uuid::Uuid::now_v7().simple());
        let setup = pool.get().await.unwrap();
        setup
            .batch_execute(&format!(
                "CREATE TABLE {table} (n int); INSERT INTO {table} VALUES (1)"
            ))
            .await
            .unwrap();
        drop(setup);

        let write = Write::begin(pool.get().await.unwrap());
        let changed = write
            .execute(&format!("UPDATE {table} SET n = 2"), &[])
            .await
            .unwrap();
        assert_eq!(changed, 1);
        drop(write);

        let client = pool.get().await.unwrap();
        // Not inside the dropped write's transaction: no transaction id is assigned yet.
        let fresh: bool = client
            .query_one("SELECT pg_current_xact_id_if_assigned() IS NULL", &[])
            .await
            .unwrap()
            .get(0);
        assert!(
            fresh,
            "the pool handed out a connection inside a transaction"
        );
        // The row's lock went with the connection (waited for, not assumed), and so did the
        // change.
        client
            .batch_execute("SET lock_timeout = '10s'")
            .await
            .unwrap();
        let n: i32 = client
            .query_one(&format!("SELECT n FROM {table} FOR UPDATE"), &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 1);
        client
            .batch_execute(&format!("DROP TABLE {table}"))
            .await
            .unwrap();
    }
}
