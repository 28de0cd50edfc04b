//! Push latency: on an idle errand with its REST API, one client follows `GET /v1/events`
//! with a user token for one owner; no-op in-process tasks of that owner are enqueued one at a
//! time. Each sample is the time from the task's `succeeded` event being published by the
//! engine (right after the completion is committed; see [`crate::sse::Publications`]) to that
//! event arriving at the client.
//!
//! The first samples of each run warm up the connection and caches and are left out. Each
//! run records the p50, p90, p99 and max of its samples in milliseconds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use errand::model::NewTask;
use errand::run::{TaskContext, TaskOutput};
use tokio::sync::{Semaphore, mpsc};

use crate::app::{App, Errand, Secrets};
use crate::drain::{Counter, NOOP, OWNER};
use crate::latency::Samples;
use crate::report::{Report, percentile};
use crate::setup::{Backend, Fresh, on_fresh, with_engine};
use crate::sse::{self, Heard, Publications};

/// How long a task may take to succeed, or its event to reach the client.
pub const SAMPLE_LIMIT: Duration = Duration::from_secs(30);

/// Runs the push workload `runs` times, each on a fresh store.
pub async fn run(
    backend: &Backend,
    samples: Samples,
    runs: usize,
    report: &mut Report,
) -> anyhow::Result<()> {
    for _ in 0..runs {
        let latencies = on_fresh(backend, async |fresh| {
            let secrets = Secrets::generate()?;
            let errand = start(fresh, &secrets).await?;
            let engine = errand.engine.clone();
            with_engine(engine, measure(&errand, &secrets, samples)).await
        })
        .await?;
        record(report, &latencies);
    }
    Ok(())
}

/// errand with a no-op in-process handler and its API (the dispatch target is unused).
pub async fn start(fresh: &Fresh, secrets: &Secrets) -> anyhow::Result<Errand> {
    let app = App::start(Arc::new(Counter::default()), None).await?;
    let builder = fresh
        .engine()
        .handler(NOOP, |_ctx: TaskContext| async { Ok(TaskOutput::done()) });
    Errand::start(builder, &app, secrets).await
}

/// The URL of `owner`'s event stream with a user token in the query, as `EventSource` uses.
pub fn stream_url(errand: &Errand, secrets: &Secrets, owner: &str) -> anyhow::Result<String> {
    let token = secrets.user_token(owner)?;
    Ok(format!("{}/v1/events?token={token}", errand.api))
}

/// A client for the event streams: no timeout, since a stream stays open.
pub fn http_client() -> anyhow::Result<reqwest::Client> {
    errand::run::http::client_builder()
        .build()
        .context("building the event streams' client")
}

/// Records one run's percentiles of `latencies` (sorted, in ms).
fn record(report: &mut Report, latencies: &[f64]) {
    for (measure, p) in [("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("max", 100.0)] {
        report.record(
            "push",
            &format!("succeeded to SSE client, {measure}"),
            "ms",
            percentile(latencies, p),
        );
    }
}

/// The time from `published` to `arrived` in ms (negative if the client read first, which
/// would mean the subscriber's thread woke late).
pub fn millis(published: Instant, arrived: Instant) -> f64 {
    if arrived >= published {
        arrived.duration_since(published).as_secs_f64() * 1e3
    } else {
        -(published.duration_since(arrived).as_secs_f64() * 1e3)
    }
}

/// One client, tasks one at a time; answers the measured latencies, sorted, in ms.
async fn measure(errand: &Errand, secrets: &Secrets, samples: Samples) -> anyhow::Result<Vec<f64>> {
    let mut published = Publications::follow(&errand.engine)?;
    let (heard, mut hearing) = mpsc::unbounded_channel();
    let url = stream_url(errand, secrets, OWNER)?;
    let opening = Arc::new(Semaphore::new(1));
    let _client = sse::connect(http_client()?, url, 0, OWNER.into(), opening, heard).await?;
    let mut latencies = Vec::with_capacity(samples.measured);
    for index in 0..samples.warm_up + samples.measured {
        let id = errand
            .engine
            .enqueue(NewTask::new(NOOP).owner(OWNER))
            .await?
            .task
            .id;
        let done = published
            .next(SAMPLE_LIMIT)
            .await
            .with_context(|| format!("task {}", id.0))?;
        let deadline = tokio::time::Instant::now() + SAMPLE_LIMIT;
        let arrived = loop {
            match tokio::time::timeout_at(deadline, hearing.recv()).await {
                Err(_) => bail!(
                    "task {}'s succeeded event did not reach the client within {SAMPLE_LIMIT:?}",
                    id.0
                ),
                Ok(None) => bail!("the client stopped"),
                Ok(Some(Heard::Task { seq, at, .. })) if seq == done.seq => break at,
                Ok(Some(Heard::Task { .. })) => {}
                Ok(Some(other)) => bail!("the event stream: {other:?}"),
            }
        };
        if index >= samples.warm_up {
            latencies.push(millis(done.at, arrived));
        }
    }
    latencies.sort_by(f64::total_cmp);
    Ok(latencies)
}
