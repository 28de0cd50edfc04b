//! W1, W1c and W1b: no-op in-process tasks drained by 16 slots while they are enqueued.
//!
//! - W1: one producer, one enqueue at a time: each waits for its own commit.
//! - W1c: 16 producers, one enqueue at a time each: their enqueues can share commits.
//! - W1b: one producer enqueueing batches of 1,000.
//!
//! Two rates: enqueue (the tasks over the time to enqueue them all, each acknowledged once
//! committed) and end to end (from the first enqueue to the last completion committed).
//! Handlers count their runs, so that waiting for the end costs nothing while they run; then
//! the store is asked until none of the producer's tasks is queued or running.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use errand::engine::Engine;
use errand::model::NewTask;
use errand::run::{TaskContext, TaskOutput};
use tokio::sync::Notify;

use crate::report::Report;
use crate::setup::{Backend, on_fresh, with_engine};

/// The owner of the measured tasks (other owners' tasks may wait in the same store).
pub const OWNER: &str = "bench";

/// The handler of the measured tasks.
pub const NOOP: &str = "noop";

/// How long a drain may take before the harness gives up.
const DRAIN_LIMIT: Duration = Duration::from_secs(600);

/// How the tasks are enqueued.
#[derive(Debug, Clone, Copy)]
pub enum Producers {
    /// One producer, one enqueue at a time.
    One,
    /// This many producers, one enqueue at a time each.
    Concurrent(usize),
    /// One producer, batches of this many.
    Batches(usize),
}

impl Producers {
    /// The workload's name in the report.
    pub fn workload(self) -> &'static str {
        match self {
            Producers::One => "W1",
            Producers::Concurrent(_) => "W1c",
            Producers::Batches(_) => "W1b",
        }
    }
}

/// Counts handler runs, and says when a goal is reached.
#[derive(Default)]
pub struct Counter {
    ran: AtomicUsize,
    goal: AtomicUsize,
    reached: Notify,
}

impl Counter {
    /// Starts counting towards `goal` runs.
    pub fn count_to(&self, goal: usize) {
        self.goal.store(goal, Ordering::SeqCst);
        self.ran.store(0, Ordering::SeqCst);
    }

    /// Counts one run.
    pub fn hit(&self) {
        if self.ran.fetch_add(1, Ordering::SeqCst) + 1 == self.goal.load(Ordering::SeqCst) {
            self.reached.notify_one();
        }
    }

    /// Waits until the goal is reached, for at most `limit`.
    pub async fn reached(&self, limit: Duration) -> anyhow::Result<()> {
        tokio::time::timeout(limit, self.reached.notified())
            .await
            .with_context(|| {
                format!(
                    "only {} of {} tasks ran within {limit:?}",
                    self.ran.load(Ordering::SeqCst),
                    self.goal.load(Ordering::SeqCst)
                )
            })
    }
}

/// The two rates of one drain, in tasks per second.
pub struct Rates {
    /// Tasks over the time to enqueue them all.
    pub enqueue: f64,
    /// Tasks from the first enqueue to the last completion committed.
    pub end_to_end: f64,
}

/// Starts the engine `builder` makes, with a `noop` handler that counts its runs on `counter`.
pub async fn noop_engine(
    builder: errand::engine::EngineBuilder,
    counter: &Arc<Counter>,
) -> anyhow::Result<Engine> {
    let counter = Arc::clone(counter);
    builder
        .handler(NOOP, move |_ctx: TaskContext| {
            counter.hit();
            async { Ok(TaskOutput::done()) }
        })
        .start()
        .await
        .context("starting the engine")
}

/// Runs one workload `runs` times, each on a fresh store, and records its rates.
pub async fn run(
    backend: &Backend,
    producers: Producers,
    tasks: usize,
    runs: usize,
    report: &mut Report,
) -> anyhow::Result<()> {
    for _ in 0..runs {
        let rates = on_fresh(backend, async |fresh| {
            let counter = Arc::new(Counter::default());
            let engine = noop_engine(fresh.engine(), &counter).await?;
            with_engine(engine.clone(), measure(&engine, &counter, producers, tasks)).await
        })
        .await?;
        record(report, producers.workload(), "", &rates);
    }
    Ok(())
}

/// Records `rates` under `workload`, their measures suffixed with `suffix`.
pub fn record(report: &mut Report, workload: &str, suffix: &str, rates: &Rates) {
    report.record(
        workload,
        &format!("enqueue{suffix}"),
        "tasks/s",
        rates.enqueue,
    );
    report.record(
        workload,
        &format!("end to end{suffix}"),
        "tasks/s",
        rates.end_to_end,
    );
}

/// Enqueues `tasks` no-op tasks as `producers` says and waits until all are final.
pub async fn measure(
    engine: &Engine,
    counter: &Counter,
    producers: Producers,
    tasks: usize,
) -> anyhow::Result<Rates> {
    counter.count_to(tasks);
    let task = || NewTask::new(NOOP).owner(OWNER);
    let started = Instant::now();
    match producers {
        Producers::One => {
            for _ in 0..tasks {
                engine.enqueue(task()).await?;
            }
        }
        Producers::Batches(size) => {
            let mut left = tasks;
            while left > 0 {
                let batch = size.min(left);
                engine
                    .enqueue_batch((0..batch).map(|_| task()).collect())
                    .await?;
                left -= batch;
            }
        }
        Producers::Concurrent(count) => {
            let mut running = tokio::task::JoinSet::new();
            for producer in 0..count {
                let engine = engine.clone();
                let share = tasks / count + usize::from(producer < tasks % count);
                running.spawn(async move {
                    for _ in 0..share {
                        engine.enqueue(task()).await?;
                    }
                    anyhow::Ok(())
                });
            }
            while let Some(produced) = running.join_next().await {
                produced.context("a producer panicked")??;
            }
        }
    }
    let enqueued = started.elapsed();
    counter.reached(DRAIN_LIMIT).await?;
    wait_until_drained(engine, Duration::from_secs(30)).await?;
    let drained = started.elapsed();
    Ok(Rates {
        enqueue: tasks as f64 / enqueued.as_secs_f64(),
        end_to_end: tasks as f64 / drained.as_secs_f64(),
    })
}

/// Waits until none of [`OWNER`]'s tasks is queued or running: the last handlers have
/// returned, and their outcomes are committed.
pub async fn wait_until_drained(engine: &Engine, limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        let counts = engine.counts(Some(OWNER)).await?;
        if counts.queued == 0 && counts.running == 0 {
            if counts.failed_undismissed > 0 {
                bail!("{} of the measured tasks failed", counts.failed_undismissed);
            }
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("tasks still pending {limit:?} after the last handler ran: {counts:?}");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
