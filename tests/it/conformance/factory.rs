//! The stores under test: a fresh SQLite file, and a fresh PostgreSQL schema when
//! `ERRAND_TEST_DATABASE_URL` names a database (dropped at the end of the test).

use std::future::Future;
use std::sync::{Arc, Once};
use std::time::Duration;

use errand::model::{NewTask, Queue};
use errand::store::postgres::{PostgresOptions, PostgresStore};
use errand::store::{ClaimRequest, Store};
use jiff::Timestamp;
use uuid::Uuid;

use crate::util::TestDb;

/// The variable that names the PostgreSQL database of the tests.
const DATABASE_URL: &str = "ERRAND_TEST_DATABASE_URL";

/// The URL of the PostgreSQL test database, if set; says once that the suite is skipped if not.
pub fn postgres_url() -> Option<String> {
    static SKIPPED: Once = Once::new();
    let url = std::env::var(DATABASE_URL)
        .ok()
        .filter(|url| !url.is_empty());
    if url.is_none() {
        SKIPPED.call_once(|| {
            // Written to stderr directly rather than with `eprintln!`, which the test harness
            // captures: whoever runs `cargo test` must see that this suite did not run.
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "\nPostgreSQL suite skipped: set {DATABASE_URL} (e.g. postgres://postgres@127.0.0.1:5432/test)\n"
            );
        });
    }
    url
}

/// A fresh schema in the PostgreSQL test database, dropped when this is dropped.
pub struct PgSchema {
    pub url: String,
    pub schema: String,
}

impl PgSchema {
    /// A new schema name (created by the store's first connection), if PostgreSQL is set up.
    pub fn new() -> Option<PgSchema> {
        Some(PgSchema {
            url: postgres_url()?,
            schema: format!("errand_test_{}", Uuid::now_v7().simple()),
        })
    }

    /// Options for a store in this schema.
    pub fn options(&self) -> PostgresOptions {
        PostgresOptions {
            url: self.url.clone(),
            schema: Some(self.schema.clone()),
            pool_size: 8,
        }
    }

    /// A store in this schema.
    pub async fn store(&self) -> Arc<PostgresStore> {
        Arc::new(
            PostgresStore::connect(self.options())
                .await
                .expect("the PostgreSQL store connects"),
        )
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let url = self.url.clone();
        // A test that panicked may leave a transaction open on a connection that its stopped
        // runtime no longer drives: give up on the schema rather than wait for its locks.
        let sql = format!(
            "SET lock_timeout = '2s'; DROP SCHEMA IF EXISTS {} CASCADE",
            self.schema
        );
        // Drop may run inside a runtime: do the async work on a thread of its own.
        let dropped = std::thread::spawn(move || -> Result<(), String> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|err| err.to_string())?;
            runtime.block_on(async {
                let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                    .await
                    .map_err(|err| err.to_string())?;
                tokio::spawn(connection);
                client
                    .batch_execute(&sql)
                    .await
                    .map_err(|err| format!("{err:?}"))
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(err)) => eprintln!("could not drop test schema {}: {err}", self.schema),
            Err(_) => eprintln!("could not drop test schema {}", self.schema),
        }
    }
}

/// One store under test, with what it lives in.
pub struct Subject {
    pub name: &'static str,
    pub store: Arc<dyn Store>,
    // Dropped after the store.
    _sqlite: Option<TestDb>,
    _postgres: Option<PgSchema>,
}

/// The stores to test, each fresh.
pub async fn subjects() -> Vec<Subject> {
    let db = TestDb::new();
    let mut subjects = vec![Subject {
        name: "sqlite",
        store: db.store(),
        _sqlite: Some(db),
        _postgres: None,
    }];
    if let Some(schema) = PgSchema::new() {
        subjects.push(Subject {
            name: "postgres",
            store: schema.store().await,
            _sqlite: None,
            _postgres: Some(schema),
        });
    }
    subjects
}

/// Runs `test` on each store under test, in turn.
pub async fn each<F, Fut>(test: F)
where
    F: Fn(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    for subject in subjects().await {
        eprintln!("-- on the {} store", subject.name);
        test(Arc::clone(&subject.store)).await;
    }
}

/// A fixed time, on a millisecond (as both stores keep times).
pub fn t0() -> Timestamp {
    Timestamp::from_millisecond(1_800_000_000_000).expect("a valid time")
}

/// `t0()` plus `secs` seconds.
pub fn at(secs: u64) -> Timestamp {
    t0() + Duration::from_secs(secs)
}

/// A task with its attempts resolved, as the engine passes it.
pub fn task(name: &str) -> NewTask {
    NewTask::new(name).max_attempts(3)
}

/// A store with `queue` in it.
pub async fn with_queue(store: &Arc<dyn Store>, queue: Queue) {
    store.upsert_queue(&queue).await.expect("upsert the queue");
}

/// A claim request for up to `limit` tasks of `queue` at `now`, with a one-minute lease.
pub fn request(queue: &str, limit: usize, now: Timestamp) -> ClaimRequest {
    ClaimRequest {
        queue: queue.into(),
        limit,
        node: Uuid::now_v7(),
        lease_until: now + Duration::from_secs(60),
        now,
    }
}

/// Enqueues `tasks` and answers the stored tasks.
pub async fn put(
    store: &Arc<dyn Store>,
    tasks: Vec<NewTask>,
    now: Timestamp,
) -> Vec<errand::model::Task> {
    store
        .enqueue(tasks, now)
        .await
        .expect("enqueue")
        .into_iter()
        .map(|answer| answer.task)
        .collect()
}

/// The lease of a claimed task.
pub fn lease(task: &errand::model::Task) -> errand::store::Lease {
    errand::store::Lease {
        id: task.id,
        fence: task.fence,
    }
}
