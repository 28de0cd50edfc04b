//! What only a shared database shows: several `PostgresStore`s (nodes) on one schema.
//! Skipped without `ERRAND_TEST_DATABASE_URL`.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use errand::model::{DedupPolicy, Event, Queue, State};
use errand::store::postgres::{PostgresOptions, PostgresStore};
use errand::store::{Store, StoreError};
use tokio::sync::broadcast;
use tokio::task::JoinSet;

use super::factory::{PgSchema, at, request, t0, task};
use crate::util::DEADLINE;

/// The next event on `events`, failing the test after the suite's deadline.
async fn next_event(events: &mut broadcast::Receiver<Arc<Event>>) -> Arc<Event> {
    tokio::time::timeout(DEADLINE, events.recv())
        .await
        .expect("an event before the deadline")
        .expect("the stream is open")
}

#[tokio::test]
async fn an_enqueue_on_one_node_reaches_the_subscribers_of_another() {
    let Some(schema) = PgSchema::new() else {
        return;
    };
    let a = schema.store().await;
    let b = schema.store().await;
    a.upsert_queue(&Queue::new("default")).await.unwrap();
    let mut on_b = b.subscribe();
    let created = a
        .enqueue(vec![task("far")], t0())
        .await
        .unwrap()
        .remove(0)
        .task;
    let event = next_event(&mut on_b).await;
    assert_eq!(event.task.id, created.id);
    assert_eq!(event.task.state, State::Queued);
}

#[tokio::test]
async fn events_from_concurrent_nodes_arrive_in_order_without_gaps() {
    let Some(schema) = PgSchema::new() else {
        return;
    };
    let a = schema.store().await;
    let b = schema.store().await;
    a.upsert_queue(&Queue::new("default")).await.unwrap();
    let mut on_a = a.subscribe();
    let mut on_b = b.subscribe();
    let mut writers = JoinSet::new();
    for n in 0..40 {
        let store: Arc<dyn Store> = if n % 2 == 0 { a.clone() } else { b.clone() };
        writers.spawn(async move {
            store
                .enqueue(vec![task("t"), task("u")], t0())
                .await
                .map(|_| ())
        });
    }
    while let Some(done) = writers.join_next().await {
        done.unwrap().unwrap();
    }
    let stored: Vec<i64> = a
        .events_since(0, None, 1000)
        .await
        .unwrap()
        .iter()
        .map(|event| event.seq)
        .collect();
    assert_eq!(stored.len(), 80);
    for events in [&mut on_a, &mut on_b] {
        let mut seen = Vec::new();
        while seen.len() < stored.len() {
            seen.push(next_event(events).await.seq);
        }
        assert_eq!(seen, stored, "every event, in order, once");
    }
}

#[tokio::test]
async fn the_listener_reconnects_and_catches_up_after_its_connection_is_killed() {
    let Some(schema) = PgSchema::new() else {
        return;
    };
    let a = schema.store().await;
    let b = schema.store().await;
    a.upsert_queue(&Queue::new("default")).await.unwrap();
    let mut on_b = b.subscribe();
    let first = a.enqueue(vec![task("before")], t0()).await.unwrap();
    assert_eq!(next_event(&mut on_b).await.task.id, first[0].task.id);
    // Kill every listening connection of this schema (both nodes'), then write.
    let (client, connection) = tokio_postgres::connect(&schema.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let killed = client
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = $1",
            &[&format!("LISTEN errand_events_{}", schema.schema)],
        )
        .await
        .unwrap();
    assert_eq!(killed.len(), 2, "both nodes listen");
    let second = a.enqueue(vec![task("after")], at(1)).await.unwrap();
    assert_eq!(next_event(&mut on_b).await.task.id, second[0].task.id);
}

#[tokio::test]
async fn queue_slots_hold_across_nodes_claiming_at_once() {
    let Some(schema) = PgSchema::new() else {
        return;
    };
    let a = schema.store().await;
    let b = schema.store().await;
    a.upsert_queue(&Queue::new("default").concurrency(3))
        .await
        .unwrap();
    let tasks = (0..30).map(|_| task("t")).collect();
    a.enqueue(tasks, t0()).await.unwrap();
    let mut claimers = JoinSet::new();
    for n in 0..16 {
        let store: Arc<dyn Store> = if n % 2 == 0 { a.clone() } else { b.clone() };
        claimers.spawn(async move { store.claim(&request("default", 2, at(1))).await });
    }
    let mut claimed = 0;
    while let Some(done) = claimers.join_next().await {
        claimed += done.unwrap().unwrap().len();
    }
    assert_eq!(claimed, 3, "three slots, whichever node claims");
    let queues = b.queues().await.unwrap();
    assert_eq!((queues[0].running, queues[0].queued), (3, 27));
}

#[tokio::test]
async fn dedup_holds_across_nodes_enqueueing_at_once() {
    let Some(schema) = PgSchema::new() else {
        return;
    };
    let a = schema.store().await;
    let b = schema.store().await;
    a.upsert_queue(&Queue::new("default")).await.unwrap();
    let mut writers = JoinSet::new();
    for n in 0..16 {
        let store: Arc<dyn Store> = if n % 2 == 0 { a.clone() } else { b.clone() };
        let policy = if n % 4 < 2 {
            DedupPolicy::Keep
        } else {
            DedupPolicy::Debounce
        };
        writers.spawn(async move {
            store
                .enqueue(vec![task("once").dedup_key("key", policy)], t0())
                .await
        });
    }
    let mut ids = HashSet::new();
    let mut created = 0;
    while let Some(done) = writers.join_next().await {
        let answer = done.unwrap().unwrap().remove(0);
        created += usize::from(answer.created);
        ids.insert(answer.task.id);
    }
    assert_eq!((created, ids.len()), (1, 1));
}

#[tokio::test]
async fn migrations_apply_once_and_a_newer_schema_is_refused() {
    let Some(schema) = PgSchema::new() else {
        return;
    };
    let options = schema.options();
    let mut migrators = JoinSet::new();
    for _ in 0..4 {
        let options = options.clone();
        migrators.spawn(async move { PostgresStore::migrate(&options).await });
    }
    let mut applied = Vec::new();
    while let Some(done) = migrators.join_next().await {
        applied.extend(done.unwrap().unwrap());
    }
    let expected: Vec<i64> = (1..=errand::store::postgres::SCHEMA_VERSION).collect();
    assert_eq!(applied, expected, "each migration applied once");
    let (client, connection) = tokio_postgres::connect(&schema.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .execute(
            &format!(
                "INSERT INTO {}.schema_migrations (version, name) VALUES (999, 'future')",
                schema.schema
            ),
            &[],
        )
        .await
        .unwrap();
    let refused = PostgresStore::connect(options).await;
    assert!(
        matches!(
            refused,
            Err(StoreError::SchemaNewerThanBinary { found: 999, .. })
        ),
        "{:?}",
        refused.err()
    );
}

#[tokio::test]
async fn an_unreachable_database_is_an_error_not_a_panic() {
    let options = PostgresOptions {
        url: "postgres://postgres@127.0.0.1:1/test".into(),
        schema: None,
        pool_size: 1,
    };
    let refused = tokio::time::timeout(Duration::from_secs(30), PostgresStore::connect(options))
        .await
        .expect("a refusal in time");
    assert!(matches!(refused, Err(StoreError::Database(_))));
    let bad_schema = PostgresOptions {
        url: "postgres://postgres@127.0.0.1:1/test".into(),
        schema: Some("no; DROP".into()),
        pool_size: 1,
    };
    let refused = PostgresStore::connect(bad_schema).await;
    assert!(matches!(refused, Err(StoreError::Invalid(_))));
}
