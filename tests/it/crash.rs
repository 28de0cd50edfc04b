//! Crash safety: an engine in a child process is SIGKILLed mid-run, again and again, then
//! restarted. Every task must reach a final state, none may be lost, and none may run more
//! often than its attempts allow.
//!
//! The child is this test binary itself, re-run on the ignored test `crash::crash_child`.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use errand::prelude::*;

use crate::util::TestDb;

const DB_VAR: &str = "ERRAND_CRASH_CHILD_DB";
const LOG_VAR: &str = "ERRAND_CRASH_CHILD_LOG";
const TASKS: usize = 200;
const MAX_ATTEMPTS: u32 = 6;

/// The child: runs an engine on the parent's database until it is killed. Each handler run
/// appends `start id attempt` to the log before it does its work, and `end id attempt` after.
#[test]
#[ignore = "the child process of every_task_survives_repeated_sigkill"]
fn crash_child() {
    let (Ok(db), Ok(log)) = (std::env::var(DB_VAR), std::env::var(LOG_VAR)) else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async move {
        let log = Arc::new(std::sync::Mutex::new(
            std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(log)
                .unwrap(),
        ));
        let mut config = crate::util::quick_config();
        config.lease_ttl = Duration::from_millis(800);
        config.heartbeat_interval = Duration::from_millis(200);
        config.poll_interval = Duration::from_millis(100);
        let _engine = Engine::builder()
            .sqlite(db)
            .config(config)
            .queue(
                Queue::new("default")
                    .concurrency(4)
                    .max_attempts(MAX_ATTEMPTS)
                    .retry_backoff(Duration::from_millis(10), Duration::from_millis(40)),
            )
            .handler("work", move |ctx: TaskContext| {
                let log = Arc::clone(&log);
                async move {
                    let (id, attempt) = (ctx.task().id, ctx.task().attempt);
                    let write =
                        |line: String| log.lock().unwrap().write_all(line.as_bytes()).unwrap();
                    write(format!("start {id} {attempt}\n"));
                    tokio::time::sleep(Duration::from_millis(fastrand::u64(10..60))).await;
                    write(format!("end {id} {attempt}\n"));
                    if fastrand::u8(..10) == 0 {
                        return Err(TaskError::new("a transient failure"));
                    }
                    Ok(TaskOutput::done())
                }
            })
            .start()
            .await
            .unwrap();
        std::future::pending::<()>().await;
    });
}

fn spawn_child(db: &Path, log: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "crash::crash_child",
            "--exact",
            "--ignored",
            "--test-threads=1",
        ])
        .env(DB_VAR, db)
        .env(LOG_VAR, log)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the child starts")
}

/// The handler runs in the log: `(started, id, attempt)` per line.
fn runs(log: &Path) -> Vec<(bool, TaskId, u32)> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let mut words = line.split(' ');
            let started = words.next()? == "start";
            Some((
                started,
                words.next()?.parse().ok()?,
                words.next()?.parse().ok()?,
            ))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_task_survives_repeated_sigkill() {
    let db = TestDb::new();
    let log: PathBuf = db.dir.path().join("runs.log");
    let store = db.store();
    store
        .upsert_queue(&Queue::new("default").concurrency(4))
        .await
        .unwrap();
    let tasks = (0..TASKS)
        .map(|n| {
            NewTask::new("work")
                .owner(format!("user{}", n % 5))
                .max_attempts(MAX_ATTEMPTS)
        })
        .collect();
    store.enqueue(tasks, jiff::Timestamp::now()).await.unwrap();

    for round in 0..5 {
        let before = runs(&log).len();
        let mut child = spawn_child(&db.path(), &log);
        // Kill it once it has started new work, with handlers in the middle of it.
        crate::util::wait_for(&format!("round {round} to get going"), || {
            let log = log.clone();
            async move {
                let runs = runs(&log);
                let under_way = runs.len() >= before + 12 && runs.last().is_some_and(|r| r.0);
                under_way.then_some(())
            }
        })
        .await;
        child.kill().unwrap();
        child.wait().unwrap();
    }

    let mut child = spawn_child(&db.path(), &log);
    crate::util::wait_for("every task to be final after the restart", || {
        let store = Arc::clone(&store);
        async move {
            let counts = store.counts(None).await.unwrap();
            (counts.queued == 0 && counts.running == 0 && counts.waiting == 0).then_some(())
        }
    })
    .await;
    child.kill().unwrap();
    child.wait().unwrap();

    let all = store
        .list(&TaskFilter {
            limit: 1000,
            ..TaskFilter::default()
        })
        .await
        .unwrap()
        .tasks;
    assert_eq!(all.len(), TASKS, "no task is lost");
    let runs = runs(&log);
    let mut started: HashMap<TaskId, u32> = HashMap::new();
    let mut ended: HashSet<(TaskId, u32)> = HashSet::new();
    for (start, id, attempt) in &runs {
        if *start {
            *started.entry(*id).or_default() += 1;
        } else {
            ended.insert((*id, *attempt));
        }
    }
    for task in &all {
        assert!(task.state.is_final(), "{} is {}", task.id, task.state);
        assert!(matches!(task.state, State::Succeeded | State::Failed));
        let ran = started.get(&task.id).copied().unwrap_or(0);
        assert!(ran >= 1, "{} never ran", task.id);
        assert!(
            ran <= task.attempt && task.attempt <= task.max_attempts,
            "{} ran {ran} times with attempt {} of {}",
            task.id,
            task.attempt,
            task.max_attempts
        );
    }
    // The kills did interrupt handlers mid-run, and each interrupted task was taken up again
    // (or failed once its attempts were spent).
    let interrupted: Vec<(TaskId, u32)> = runs
        .iter()
        .filter(|(start, id, attempt)| *start && !ended.contains(&(*id, *attempt)))
        .map(|(_, id, attempt)| (*id, *attempt))
        .collect();
    assert!(!interrupted.is_empty(), "no kill hit a running handler");
    for (id, attempt) in interrupted {
        let task = all.iter().find(|t| t.id == id).unwrap();
        assert!(
            task.attempt > attempt || task.attempt == task.max_attempts,
            "{id} was interrupted in attempt {attempt} and never ran again"
        );
    }
}
