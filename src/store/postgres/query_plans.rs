//! Statements whose plan PostgreSQL could get wrong for good. A named statement's plan is
//! cached after a few runs, for any values; made while a table is small (a new database), the
//! cached plan may scan the whole table, and keeps doing so as the table grows, until
//! PostgreSQL next analyses it. The statements below are explained under
//! `plan_cache_mode = force_generic_plan` on a new schema, as such a cached plan would be made.

use super::ops::read::{ALL_EVENTS, OWNER_EVENTS};
use super::{connection, migrate, test_options};

/// The lines of the plan that a cached (generic) plan of `sql` would follow, given `values`.
async fn generic_plan(client: &tokio_postgres::Client, sql: &str, values: &str) -> String {
    client
        .batch_execute(&format!(
            "SET plan_cache_mode = force_generic_plan; DEALLOCATE ALL; PREPARE explained AS {sql}"
        ))
        .await
        .unwrap_or_else(|err| panic!("{err}: {sql}"));
    let rows = client
        .query(&format!("EXPLAIN EXECUTE explained({values})"), &[])
        .await
        .unwrap();
    rows.iter()
        .map(|row| row.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn reading_events_looks_their_tasks_up_by_id_whatever_plan_is_cached() {
    let Some(mut options) = test_options() else {
        return;
    };
    let schema = format!("errand_plans_{}", uuid::Uuid::now_v7().simple());
    options.schema = Some(schema.clone());
    options.pool_size = 1;
    migrate::migrate(&options).await.unwrap();
    let pool = connection::pool(&options).unwrap();
    let client = pool.get().await.unwrap();

    let plans = [
        (ALL_EVENTS, "0, 1000"),
        (OWNER_EVENTS, "0, 1000, 'someone'"),
    ];
    let mut found = Vec::new();
    for (sql, values) in plans {
        let plan = generic_plan(&client, sql, values).await;
        if plan.contains("Seq Scan on tasks") {
            found.push(format!("a scan of every task:\n{plan}\n{sql}"));
        }
    }
    client
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .unwrap();
    assert!(found.is_empty(), "{}", found.join("\n\n"));
}
