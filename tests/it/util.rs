//! Shared test helpers: temporary databases, engines with quick timings, and waiting on
//! conditions with a deadline (never a bare sleep).

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use errand::engine::{EngineBuilder, EngineConfig};
use errand::prelude::*;
use errand::store::sqlite::SqliteStore;
use tempfile::TempDir;

/// How long any wait in the suite may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// A database file in its own temporary folder, removed at the end of the test.
pub struct TestDb {
    pub dir: TempDir,
}

impl TestDb {
    pub fn new() -> TestDb {
        TestDb {
            dir: tempfile::tempdir().expect("a temporary folder"),
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("errand.db")
    }

    pub fn store(&self) -> Arc<SqliteStore> {
        Arc::new(SqliteStore::open(self.path()).expect("the store opens"))
    }
}

/// Timings that keep tests quick: short leases and polls.
pub fn quick_config() -> EngineConfig {
    EngineConfig {
        lease_ttl: Duration::from_millis(1500),
        heartbeat_interval: Duration::from_millis(300),
        poll_interval: Duration::from_millis(200),
        cancel_grace: Duration::from_secs(5),
        ..EngineConfig::default()
    }
}

/// An engine builder on `db` with quick timings.
pub fn engine_on(db: &TestDb) -> EngineBuilder {
    Engine::builder().sqlite(db.path()).config(quick_config())
}

/// Polls `check` until it answers `Some`, failing the test after [`DEADLINE`].
pub async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits until task `id` is in a final state; answers it.
pub async fn wait_final(engine: &Engine, id: TaskId) -> Task {
    wait_for_state(engine, id, |state| state.is_final()).await
}

/// Waits until task `id` is in a state that `accept` takes; answers it.
pub async fn wait_for_state(engine: &Engine, id: TaskId, accept: impl Fn(State) -> bool) -> Task {
    wait_for(
        &format!("task {id} to reach the expected state"),
        || async {
            let task = engine.get(id).await.expect("get").expect("the task exists");
            accept(task.state).then_some(task)
        },
    )
    .await
}

/// Waits until no task is queued, scheduled or running.
pub async fn wait_drained(engine: &Engine) {
    wait_for("every task to finish", || async {
        let counts = engine.counts(None).await.expect("counts");
        (counts.queued == 0 && counts.running == 0).then_some(())
    })
    .await
}

/// A handler that succeeds at once.
pub async fn noop(_ctx: TaskContext) -> Result<TaskOutput, TaskError> {
    Ok(TaskOutput::done())
}

/// A handler that runs until it is asked to stop.
pub async fn until_cancelled(ctx: TaskContext) -> Result<TaskOutput, TaskError> {
    ctx.cancelled().await;
    Err(TaskError::new("stopped"))
}

/// An engine builder on `db` whose engine claims nothing: tasks stay where they are put.
pub fn without_workers(db: &TestDb) -> EngineBuilder {
    let mut config = quick_config();
    config.run_workers = false;
    engine_on(db).config(config)
}

/// Enqueues `task` and waits until it is final; answers it.
pub async fn run_to_end(engine: &Engine, task: NewTask) -> Task {
    let id = engine.enqueue(task).await.expect("enqueue").task.id;
    wait_final(engine, id).await
}

/// Claims up to `limit` tasks of queue `queue` straight from the store, as a worker would.
pub async fn claim(
    store: &dyn Store,
    queue: &str,
    limit: usize,
    now: jiff::Timestamp,
) -> Vec<Task> {
    let request = errand::store::ClaimRequest {
        queue: queue.into(),
        limit,
        node: uuid::Uuid::now_v7(),
        lease_until: now + Duration::from_secs(60),
        now,
    };
    store.claim(&request).await.expect("claim")
}

/// Records `task`'s attempt as succeeded straight in the store.
pub async fn succeed(store: &dyn Store, task: &Task, now: jiff::Timestamp) -> Task {
    let lease = errand::store::Lease {
        id: task.id,
        fence: task.fence,
    };
    let done = errand::store::Outcome::Succeeded {
        result: None,
        result_url: None,
        message: None,
    };
    store.finish(lease, done, now).await.expect("finish")
}

/// A store on `db` with `queue` in it.
pub async fn store_with(db: &TestDb, queue: Queue) -> Arc<SqliteStore> {
    let store = db.store();
    store.upsert_queue(&queue).await.expect("queue");
    store
}

/// What a recording handler saw, in order.
pub type Log = Arc<std::sync::Mutex<Vec<String>>>;

/// A handler that records what `pick` takes from each task it runs, in the order they start.
pub fn recording(pick: fn(&Task) -> String) -> (Log, impl errand::run::Handler) {
    let started: Log = Arc::default();
    let log = Arc::clone(&started);
    let handler = move |ctx: TaskContext| {
        log.lock().unwrap().push(pick(ctx.task()));
        std::future::ready(Ok(TaskOutput::done()))
    };
    (started, handler)
}

/// Starts `errand serve --listen 127.0.0.1:0` in `dir` with `extra` arguments, its stdout
/// `stdout`; answers the child and the address its API listens on. Its stderr is drained, so
/// that it never blocks on a full pipe.
pub fn spawn_serve(
    dir: &std::path::Path,
    extra: &[&std::ffi::OsStr],
    stdout: std::process::Stdio,
) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_errand"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .current_dir(dir)
        .env_remove("ERRAND_DATABASE_URL")
        .env_remove("ERRAND_CONFIG")
        .env("NO_COLOR", "1")
        .stdout(stdout)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("errand starts");
    let stderr = child.stderr.take().expect("a piped stderr");
    let mut lines = std::io::BufReader::new(stderr).lines();
    let address = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| {
            Some(
                line.split_once("API listening address=")?
                    .1
                    .trim()
                    .to_owned(),
            )
        })
        .expect("serve logged its address");
    std::thread::spawn(move || lines.for_each(drop));
    (child, address)
}
