//! W2, HTTP dispatch: tasks enqueued one at a time over the REST API (`POST /v1/tasks`),
//! each dispatched as a signed `POST` of a ~200-byte JSON body to a local application that
//! answers 200 at once, with 16 slots, while the enqueues go on.
//!
//! The rate is end to end: from the first enqueue request to the last outcome committed. The
//! enqueue rate over the API is recorded beside it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::json;

use crate::app::{App, Errand, Secrets, TARGET, TASK_PATH, payload};
use crate::drain::{Counter, OWNER, wait_until_drained};
use crate::report::Report;
use crate::setup::{Backend, on_fresh, with_engine};

/// How long the dispatches may take before the harness gives up.
const DISPATCH_LIMIT: Duration = Duration::from_secs(600);

/// Runs W2 `runs` times with `tasks` tasks, each run on a fresh store.
pub async fn run(
    backend: &Backend,
    tasks: usize,
    runs: usize,
    report: &mut Report,
) -> anyhow::Result<()> {
    for _ in 0..runs {
        let (enqueue, end_to_end) = on_fresh(backend, async |fresh| {
            let secrets = Secrets::generate()?;
            let counter = Arc::new(Counter::default());
            let app = App::start(Arc::clone(&counter), None).await?;
            let errand = Errand::start(fresh.engine(), &app, &secrets).await?;
            let engine = errand.engine.clone();
            with_engine(engine, measure(&errand, &secrets, &counter, tasks)).await
        })
        .await?;
        report.record("W2", "enqueue over the API", "tasks/s", enqueue);
        report.record("W2", "end to end", "tasks/s", end_to_end);
    }
    Ok(())
}

/// Enqueues `tasks` dispatches over the API and waits until all are final; answers the
/// enqueue and end-to-end rates.
async fn measure(
    errand: &Errand,
    secrets: &Secrets,
    counter: &Counter,
    tasks: usize,
) -> anyhow::Result<(f64, f64)> {
    let client = errand::run::http::client_builder()
        .build()
        .context("building the API client")?;
    let url = format!("{}/v1/tasks", errand.api);
    let body = json!({
        "name": "content.publish",
        "owner": OWNER,
        "target": TARGET,
        "path": TASK_PATH,
        "payload": payload(),
    });
    counter.count_to(tasks);
    let started = Instant::now();
    for _ in 0..tasks {
        let response = client
            .post(&url)
            .bearer_auth(&secrets.api_key)
            .json(&body)
            .send()
            .await
            .context("enqueueing over the API")?;
        if response.status() != reqwest::StatusCode::CREATED {
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            bail!("the API answered an enqueue with {status}: {text}");
        }
        // Read to its end, so that the connection is kept for the next request.
        response.bytes().await.context("reading the API's answer")?;
    }
    let enqueued = started.elapsed();
    counter.reached(DISPATCH_LIMIT).await?;
    wait_until_drained(&errand.engine, Duration::from_secs(30)).await?;
    let drained = started.elapsed();
    Ok((
        tasks as f64 / enqueued.as_secs_f64(),
        tasks as f64 / drained.as_secs_f64(),
    ))
}
