//! The hot queries use their indexes: no full scan of `tasks` and no sort, whatever the number
//! of rows. Checked with `EXPLAIN QUERY PLAN` on the real schema, so that an index change that
//! would turn a claim into a scan of a million rows fails here.

use rusqlite::Connection;

use super::ops::{claim, enqueue, read, sweep};
use super::row::TASK_COLUMNS;
use crate::model::State;
use crate::store::{Cursor, TaskFilter};

fn plan(conn: &Connection, sql: &str) -> String {
    let mut statement = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .unwrap_or_else(|err| panic!("{err}: {sql}"));
    let unbound = vec![rusqlite::types::Null; statement.parameter_count()];
    let rows = statement
        .query_map(rusqlite::params_from_iter(unbound), |row| {
            row.get::<_, String>(3)
        })
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    rows.join("\n")
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

fn heads_where(condition: &str) -> String {
    format!(
        "SELECT {} FROM tasks WHERE {condition}",
        super::ops::change::HEAD_COLUMNS
    )
}

#[test]
fn the_hot_queries_use_their_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plans.db");
    super::SqliteStore::migrate(&path).unwrap();
    let conn = Connection::open(&path).unwrap();

    assert_uses(&conn, claim::CANDIDATES, "tasks_claim");
    assert_uses(&conn, claim::RUNNING_BY_OWNER, "tasks_running");
    assert_uses(&conn, claim::EARLIER_IN_LINE, "tasks_ordering");
    assert_uses(&conn, &heads_where(sweep::DUE), "tasks_due");
    assert_uses(&conn, &heads_where(sweep::OVERDUE), "tasks_expiry");
    assert_uses(&conn, &heads_where(sweep::LAPSED_LEASES), "tasks_lease");
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
    assert_uses(
        &conn,
        &format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?1"),
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
