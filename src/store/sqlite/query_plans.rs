//! The hot queries stay cheap at any size: they use their indexes (no full scan of `tasks` and
//! no sort, checked with `EXPLAIN QUERY PLAN` on the real schema, so that an index change that
//! would turn a claim into a scan of a million rows fails here), and they are reused from the
//! statement cache without being compiled again.

use rusqlite::Connection;

use super::ops::{claim, enqueue, read, sweep};
use crate::model::State;
use crate::store::{Cursor, TaskFilter};

/// One column of the rows `{explain} {sql}` answers, its parameters unbound.
fn explain(conn: &Connection, explain: &str, sql: &str, column: usize) -> Vec<String> {
    let mut statement = conn
        .prepare(&format!("{explain} {sql}"))
        .unwrap_or_else(|err| panic!("{err}: {sql}"));
    let unbound = vec![rusqlite::types::Null; statement.parameter_count()];
    statement
        .query_map(rusqlite::params_from_iter(unbound), |row| {
            row.get::<_, String>(column)
        })
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

fn plan(conn: &Connection, sql: &str) -> String {
    explain(conn, "EXPLAIN QUERY PLAN", sql, 3).join("\n")
}

fn assert_uses(conn: &Connection, sql: &str, index: &str) {
    let plan = plan(conn, sql);
    assert!(
        plan.contains(&format!("INDEX {index} ")) || plan.ends_with(&format!("INDEX {index}")),
        "expected index {index}:\n{plan}\n{sql}"
    );
    assert!(!plan.contains("SCAN tasks"), "a full scan:\n{plan}\n{sql}");
    assert!(!plan.contains("TEMP B-TREE"), "a sort:\n{plan}\n{sql}");
}

/// A migrated database in a temporary folder (kept while the folder lives), opened with
/// errand's connection settings.
fn migrated() -> (tempfile::TempDir, Connection) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("errand.db");
    super::SqliteStore::migrate(&path).unwrap();
    let conn = super::connection::open(&path, super::Durability::Normal).unwrap();
    (dir, conn)
}

fn heads_where(condition: &str) -> String {
    format!(
        "SELECT {} FROM tasks WHERE {condition}",
        super::ops::change::HEAD_COLUMNS
    )
}

#[test]
fn the_hot_queries_use_their_indexes() {
    let (_dir, conn) = migrated();

    assert_uses(&conn, claim::CANDIDATES, "tasks_claim");
    assert_uses(&conn, claim::RUNNING_BY_OWNER, "tasks_running");
    assert_uses(&conn, claim::EARLIER_IN_LINE, "tasks_ordering");
    assert_uses(&conn, &heads_where(sweep::DUE), "tasks_due");
    assert_uses(&conn, &heads_where(sweep::OVERDUE), "tasks_expiry");
    // The running tasks only (a partial index), never the whole table.
    assert_eq!(
        plan(&conn, &heads_where(sweep::LAPSED_LEASES)),
        "SCAN tasks USING INDEX tasks_running"
    );
    assert_uses(&conn, sweep::FINISHED_BEFORE, "tasks_finished");
    assert_uses(
        &conn,
        &heads_where(enqueue::DEDUP_PENDING),
        "tasks_dedup_pending",
    );
    assert_uses(
        &conn,
        &heads_where(enqueue::DEDUP_STARTED),
        "tasks_dedup_started",
    );
    assert_uses(&conn, read::OWNER_COUNTS, "tasks_banner");
    assert_uses(&conn, read::NEXT_DUE, "tasks_due");
    assert_uses(&conn, read::HAS_READY, "tasks_claim");
    let plan_of_owner_events = plan(&conn, read::OWNER_EVENTS);
    assert!(
        plan_of_owner_events.contains("INDEX events_owner"),
        "{plan_of_owner_events}"
    );
    assert_uses(&conn, super::row::TASK_BY_ID, "sqlite_autoindex_tasks_1");
    assert_uses(
        &conn,
        super::ops::change::TRANSITION_CURRENT,
        "sqlite_autoindex_tasks_1",
    );

    // An owner's newest tasks, first page and next, with or without a state filter.
    for filter in [
        TaskFilter {
            owner: Some("alice".into()),
            ..TaskFilter::default()
        },
        TaskFilter {
            owner: Some("alice".into()),
            cursor: Some(Cursor(1000)),
            states: vec![State::Failed, State::Running],
            ..TaskFilter::default()
        },
    ] {
        let (sql, _) = read::list_query(&filter, 50);
        assert_uses(&conn, &sql, "tasks_owner");
    }
}

/// Reusing a hot statement from the cache must not prepare it again. (Without the query
/// planner stability guarantee, SQLite marks statements whose plan could use a bound value,
/// and the cache's clearing of bindings expires them: the claim query was compiled anew on
/// every run.)
#[test]
fn cached_statements_are_reused_without_being_prepared_again() {
    let (_dir, conn) = migrated();
    conn.execute_batch(
        "INSERT INTO tasks (id, name, queue, executor, state, priority, fair_round, max_attempts,
            created_at, scheduled_for, updated_at, owner, ordering_key)
         VALUES (randomblob(16), 'x', 'default', 'handler', 'queued', 0, 1, 3, 0, 0, 0, 'a', 'k')",
    )
    .unwrap();
    for sql in [
        claim::CANDIDATES,
        claim::RUNNING_BY_OWNER,
        claim::EARLIER_IN_LINE,
        read::OWNER_COUNTS,
    ] {
        for round in 0..3 {
            let mut statement = conn.prepare_cached(sql).unwrap();
            let values: Vec<rusqlite::types::Value> = (0..statement.parameter_count())
                .map(|n| match n {
                    0 => rusqlite::types::Value::Text(format!("default-{round}")),
                    _ => rusqlite::types::Value::Integer(round),
                })
                .collect();
            let mut rows = statement.query(rusqlite::params_from_iter(values)).unwrap();
            while rows.next().unwrap().is_some() {}
            drop(rows);
            assert_eq!(
                statement.get_status(rusqlite::StatementStatus::RePrepare),
                0,
                "prepared again on reuse: {sql}"
            );
        }
    }
}

/// The hot writes and lookups build no temporary b-tree. SQLite evaluates `x IN (…)` with three
/// or more constants by building one, each time, and a partial index's condition is evaluated
/// on every write that touches its columns: written as `IN` lists, the conditions cost every
/// enqueue, claim and outcome several (migration 0003 writes them as `OR` chains).
#[test]
fn the_hot_writes_build_no_temporary_btree() {
    let (_dir, conn) = migrated();
    let dedup_started = heads_where(enqueue::DEDUP_STARTED);
    for sql in [
        enqueue::INSERT_TASK,
        claim::START_ATTEMPT,
        super::ops::change::TRANSITION,
        super::ops::change::TRANSITION_CURRENT,
        claim::EARLIER_IN_LINE,
        dedup_started.as_str(),
    ] {
        let opcodes = explain(&conn, "EXPLAIN", sql, 1);
        assert!(
            !opcodes.iter().any(|opcode| opcode == "OpenEphemeral"),
            "a temporary b-tree in:\n{sql}"
        );
    }
}
