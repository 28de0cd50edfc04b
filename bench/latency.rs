//! W3, latency: on an idle errand, one task at a time, the time from the call to enqueue it
//! to the start of its handler (an in-process handler, or the application's endpoint for an
//! HTTP dispatch); the harness then waits for the task to end before the next one.
//!
//! The first samples of each run warm up connections and caches and are left out. Each run
//! records the p50, p90, p99 and max of its samples in milliseconds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use errand::engine::Engine;
use errand::model::{Event, Executor, NewTask, State, TaskId};
use errand::run::{TaskContext, TaskOutput};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::mpsc;

use crate::app::{App, Errand, Secrets, TARGET, TASK_PATH, payload};
use crate::drain::{Counter, OWNER};
use crate::report::{Report, percentile};
use crate::setup::{Backend, on_fresh, with_engine};

/// The in-process handler of the latency tasks.
const HANDLER: &str = "latency";

/// How long one task may take to start, or to end once started.
const SAMPLE_LIMIT: Duration = Duration::from_secs(30);

/// How many samples a run takes, and how many before them it leaves out.
#[derive(Debug, Clone, Copy)]
pub struct Samples {
    /// Left out.
    pub warm_up: usize,
    /// Measured.
    pub measured: usize,
}

/// Runs W3 `runs` times, each on a fresh store: first the handler's samples, then the
/// dispatches'.
pub async fn run(
    backend: &Backend,
    samples: Samples,
    runs: usize,
    report: &mut Report,
) -> anyhow::Result<()> {
    for _ in 0..runs {
        let (handler, http) = on_fresh(backend, async |fresh| {
            let secrets = Secrets::generate()?;
            let (arrived, mut arrivals) = mpsc::unbounded_channel();
            let app = App::start(Arc::new(Counter::default()), Some(arrived.clone())).await?;
            let builder = fresh.engine().handler(HANDLER, move |_ctx: TaskContext| {
                let _ = arrived.send(Instant::now());
                async { Ok(TaskOutput::done()) }
            });
            let errand = Errand::start(builder, &app, &secrets).await?;
            let engine = errand.engine.clone();
            with_engine(engine, async {
                let in_process = || NewTask::new(HANDLER).owner(OWNER);
                let handler = sample(&errand.engine, &mut arrivals, samples, in_process).await?;
                let dispatch = || {
                    NewTask::new("content.publish")
                        .owner(OWNER)
                        .executor(Executor::Http {
                            target: TARGET.into(),
                            path: TASK_PATH.into(),
                        })
                        .json(payload())
                };
                let http = sample(&errand.engine, &mut arrivals, samples, dispatch).await?;
                Ok((handler, http))
            })
            .await
        })
        .await?;
        record(report, "W3 handler", &handler);
        record(report, "W3 http", &http);
    }
    Ok(())
}

/// Records one run's percentiles of `latencies` (sorted, in ms).
fn record(report: &mut Report, workload: &str, latencies: &[f64]) {
    for (measure, p) in [("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("max", 100.0)] {
        report.record(
            workload,
            &format!("enqueue to start, {measure}"),
            "ms",
            percentile(latencies, p),
        );
    }
}

/// Enqueues the tasks `task` makes one at a time; answers the measured latencies, sorted, in
/// milliseconds.
async fn sample(
    engine: &Engine,
    arrivals: &mut mpsc::UnboundedReceiver<Instant>,
    samples: Samples,
    task: impl Fn() -> NewTask,
) -> anyhow::Result<Vec<f64>> {
    let mut events = engine.subscribe();
    let mut latencies = Vec::with_capacity(samples.measured);
    for index in 0..samples.warm_up + samples.measured {
        let enqueued_at = Instant::now();
        let id = engine.enqueue(task()).await?.task.id;
        let started_at = tokio::time::timeout(SAMPLE_LIMIT, arrivals.recv())
            .await
            .with_context(|| format!("task {} did not start within {SAMPLE_LIMIT:?}", id.0))?
            .context("the handler's channel closed")?;
        wait_final(engine, &mut events, id).await?;
        if index >= samples.warm_up {
            latencies.push(started_at.duration_since(enqueued_at).as_secs_f64() * 1e3);
        }
    }
    latencies.sort_by(f64::total_cmp);
    Ok(latencies)
}

/// Waits for the event that makes task `id` final, and checks that it succeeded.
async fn wait_final(
    engine: &Engine,
    events: &mut broadcast::Receiver<Arc<Event>>,
    id: TaskId,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + SAMPLE_LIMIT;
    let state = loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Err(_) => bail!("task {} did not end within {SAMPLE_LIMIT:?}", id.0),
            Ok(Ok(event)) if event.task.id == id && event.task.state.is_final() => {
                break event.task.state;
            }
            Ok(Ok(_)) => {}
            Ok(Err(RecvError::Lagged(_))) => {
                if let Some(task) = engine.get(id).await?
                    && task.state.is_final()
                {
                    break task.state;
                }
            }
            Ok(Err(RecvError::Closed)) => bail!("the engine's events stopped"),
        }
    };
    if state != State::Succeeded {
        bail!("task {} ended {}", id.0, state.as_str());
    }
    Ok(())
}
