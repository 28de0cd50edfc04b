//! Fan-out: many clients follow `GET /v1/events` at once, each with a user token of its own
//! owner (`fan-0000`, `fan-0001`, …); no-op in-process tasks are enqueued for random owners,
//! one every [`PACE`], while the clients listen.
//!
//! - Every client checks that each task event it receives is its own owner's (any other is an
//!   error), and every task's `succeeded` event must reach its owner's client.
//! - The latency of each delivery is measured as in the push workload (from the engine
//!   publishing `succeeded` to the client reading it); each run records its p50, p99 and max
//!   over all deliveries.
//! - The process's CPU time while the tasks run and their events are delivered (from the first
//!   enqueue to the last delivery) is recorded as a share of one core: what the open streams
//!   cost beside the tasks themselves.
//! - The process's RSS (`VmRSS`) is taken before the clients connect and with them connected
//!   after the tasks, in the first run only (memory a run frees stays mapped in the process;
//!   so does what earlier workloads left: run `fanout` alone for its RSS). Both sides of every
//!   connection live in this process, so the latter includes the clients' side (a reqwest
//!   connection and a tokio task each) as well as the server's.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use errand::model::NewTask;
use tokio::sync::{Semaphore, mpsc};

use crate::app::{Errand, Secrets};
use crate::drain::NOOP;
use crate::push::{SAMPLE_LIMIT, http_client, millis, start, stream_url};
use crate::report::{Report, count, percentile};
use crate::setup::{Backend, on_fresh, with_engine};
use crate::sse::{self, Heard, Publications, cpu_secs, rss};

/// The time between two enqueues.
pub const PACE: Duration = Duration::from_millis(20);

/// How many streams open at once while the clients connect.
const OPENING: usize = 64;

/// The counts of one run.
#[derive(Debug, Clone, Copy)]
pub struct Fanout {
    /// Clients, one owner each.
    pub clients: usize,
    /// Tasks, for random owners.
    pub tasks: usize,
}

/// What one run measured.
struct Measured {
    connect_secs: f64,
    rss_before: f64,
    rss_connected: f64,
    /// CPU time over wall time while the tasks ran, in % of one core.
    cpu_percent: f64,
    latencies: Vec<f64>,
}

/// Runs the fan-out workload `runs` times, each on a fresh store.
pub async fn run(
    backend: &Backend,
    sizes: Fanout,
    runs: usize,
    report: &mut Report,
) -> anyhow::Result<()> {
    check_open_files(sizes.clients)?;
    let clients = count(sizes.clients);
    for run in 0..runs {
        let measured = on_fresh(backend, async |fresh| {
            let secrets = Secrets::generate()?;
            let errand = start(fresh, &secrets).await?;
            let engine = errand.engine.clone();
            with_engine(engine, measure(&errand, &secrets, sizes)).await
        })
        .await?;
        let workload = "fan-out";
        report.record(
            workload,
            &format!("connect {clients} clients"),
            "s",
            measured.connect_secs,
        );
        // Memory a run frees stays mapped in the process, so only the first run's RSS is
        // recorded (one value).
        if run == 0 {
            report.record(workload, "RSS, no client", "MiB", measured.rss_before);
            report.record(
                workload,
                &format!("RSS, {clients} clients, both sides"),
                "MiB",
                measured.rss_connected,
            );
        }
        report.record(
            workload,
            "CPU while the tasks ran",
            "% of a core",
            measured.cpu_percent,
        );
        for (measure, p) in [("p50", 50.0), ("p99", 99.0), ("max", 100.0)] {
            report.record(
                workload,
                &format!("succeeded to SSE client, {measure}"),
                "ms",
                percentile(&measured.latencies, p),
            );
        }
    }
    Ok(())
}

/// The owner of client `client`.
fn owner(client: usize) -> String {
    format!("fan-{client:04}")
}

/// Connects the clients, enqueues the tasks, collects the deliveries.
async fn measure(errand: &Errand, secrets: &Secrets, sizes: Fanout) -> anyhow::Result<Measured> {
    let rss_before = rss()?;
    let mut published = Publications::follow(&errand.engine)?;
    let (heard, mut hearing) = mpsc::unbounded_channel();
    let http = http_client()?;
    let opening = Arc::new(Semaphore::new(OPENING));
    let started = Instant::now();
    let mut connecting = Vec::with_capacity(sizes.clients);
    for client in 0..sizes.clients {
        let url = stream_url(errand, secrets, &owner(client))?;
        connecting.push(sse::connect(
            http.clone(),
            url,
            client,
            owner(client),
            Arc::clone(&opening),
            heard.clone(),
        ));
    }
    drop(heard);
    let clients = futures_util::future::try_join_all(connecting)
        .await
        .context("connecting the clients")?;
    let connect_secs = started.elapsed().as_secs_f64();

    // The tasks, paced, for random owners; what the clients hear is gathered meanwhile.
    let mut deliveries: HashMap<i64, (usize, Instant)> = HashMap::new();
    let mut pace = tokio::time::interval(PACE);
    let (cpu_before, running_since) = (cpu_secs()?, Instant::now());
    for _ in 0..sizes.tasks {
        pace.tick().await;
        let client = fastrand::usize(..sizes.clients);
        errand
            .engine
            .enqueue(NewTask::new(NOOP).owner(owner(client)))
            .await?;
        while let Ok(item) = hearing.try_recv() {
            take(item, &mut deliveries)?;
        }
    }

    // Every task's succeeded event, and its delivery.
    let mut succeeded = Vec::with_capacity(sizes.tasks);
    while succeeded.len() < sizes.tasks {
        succeeded.push(published.next(SAMPLE_LIMIT).await?);
    }
    let deadline = tokio::time::Instant::now() + SAMPLE_LIMIT;
    while let Some(missing) = succeeded
        .iter()
        .find(|done| !deliveries.contains_key(&done.seq))
    {
        match tokio::time::timeout_at(deadline, hearing.recv()).await {
            Err(_) => bail!(
                "event {} (owner {:?}) did not reach its client within {SAMPLE_LIMIT:?}",
                missing.seq,
                missing.owner
            ),
            Ok(None) => bail!("every client stopped"),
            Ok(Some(item)) => take(item, &mut deliveries)?,
        }
    }
    while let Ok(item) = hearing.try_recv() {
        take(item, &mut deliveries)?;
    }
    let cpu_percent = 100.0 * (cpu_secs()? - cpu_before) / running_since.elapsed().as_secs_f64();
    let rss_connected = rss()?;

    let mut latencies = Vec::with_capacity(sizes.tasks);
    for done in &succeeded {
        let (client, arrived) = deliveries[&done.seq];
        if done.owner.as_deref() != Some(owner(client).as_str()) {
            bail!(
                "event {} of owner {:?} reached client {client} ({})",
                done.seq,
                done.owner,
                owner(client)
            );
        }
        latencies.push(millis(done.at, arrived));
    }
    latencies.sort_by(f64::total_cmp);
    drop(clients);
    Ok(Measured {
        connect_secs,
        rss_before,
        rss_connected,
        cpu_percent,
        latencies,
    })
}

/// Notes a delivery; fails on another owner's event, a `resync` or a stream that ended.
fn take(item: Heard, deliveries: &mut HashMap<i64, (usize, Instant)>) -> anyhow::Result<()> {
    match item {
        Heard::Task { client, seq, at } => {
            if let Some((first, _)) = deliveries.insert(seq, (client, at)) {
                bail!("event {seq} reached clients {first} and {client}");
            }
            Ok(())
        }
        Heard::Foreign { client, seq, owner } => bail!(
            "client {client} ({}) received event {seq} of another owner, {owner:?}",
            self::owner(client)
        ),
        Heard::Resync { client } => {
            bail!("client {client} was told to resync: its stream fell behind the engine's events")
        }
        Heard::Ended { client, why } => bail!("client {client}'s stream ended: {why}"),
    }
}

/// Fails early, with the cause, if the process may not open a socket for both ends of every
/// client (plus some room); raises no limit.
fn check_open_files(clients: usize) -> anyhow::Result<()> {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .and_then(|line| line.split_whitespace().nth(3)?.parse::<usize>().ok());
    let needed = 2 * clients + 256;
    if let Some(soft) = soft
        && soft < needed
    {
        bail!(
            "fan-out needs about {needed} open files ({clients} connections, both ends in this \
             process); the limit is {soft} (raise it with `ulimit -n {needed}`)"
        );
    }
    Ok(())
}
