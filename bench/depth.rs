//! Depth: does errand stay fast with many tasks waiting? A store is filled with tasks
//! scheduled for tomorrow (1,000 owners, batches of 1,000), then, in each run, W1 is measured
//! on it and on an empty store side by side; and the time to list one owner's 50 newest tasks
//! and to count their banner, the median of 101 calls each.
//!
//! The peak RSS is the process's high-water mark (`VmHWM`), reset once the store is filled
//! (`/proc/self/clear_refs`), so that it covers holding the depth and working on it, not the
//! fill. It is the whole process's: the harness and the workloads that ran before count too.
//! Before measuring, the fill's aftermath is settled: SQLite's WAL is checkpointed, and
//! PostgreSQL's statistics are gathered (`ANALYZE`).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use errand::engine::Engine;
use errand::model::NewTask;
use errand::store::TaskFilter;

use crate::drain::{self, Counter, NOOP, Producers};
use crate::report::{Report, count, median};
use crate::setup::{Backend, Fresh, Place, connect, on_fresh, with_engine};

/// How many owners the waiting tasks belong to.
const OWNERS: usize = 1000;

/// The owner whose tasks are listed.
const LISTED: usize = 42;

/// How many calls a read's median is taken over.
const READS: usize = 101;

/// Runs the depth workload: `waiting` tasks, W1 with `tasks` tasks, `runs` runs.
pub async fn run(
    backend: &Backend,
    waiting: usize,
    tasks: usize,
    runs: usize,
    report: &mut Report,
) -> anyhow::Result<()> {
    let depth = format!("{} waiting", count(waiting));
    on_fresh(backend, async |deep| {
        let counter = Arc::new(Counter::default());
        let engine = drain::noop_engine(deep.engine(), &counter).await?;
        with_engine(engine.clone(), async {
            let filled = fill(&engine, waiting).await?;
            report.record("depth", "fill, batches of 1,000", "tasks/s", filled);
            settle(deep).await?;
            let rss_reset = reset_peak_rss();
            for _ in 0..runs {
                let empty = on_fresh(backend, async |fresh| {
                    let counter = Arc::new(Counter::default());
                    let engine = drain::noop_engine(fresh.engine(), &counter).await?;
                    let measured = drain::measure(&engine, &counter, Producers::One, tasks);
                    with_engine(engine.clone(), measured).await
                })
                .await?;
                drain::record(report, "depth", ", 0 waiting", &empty);
                let deep_rates = drain::measure(&engine, &counter, Producers::One, tasks).await?;
                drain::record(report, "depth", &format!(", {depth}"), &deep_rates);
                let (list, counts) = reads(&engine, waiting).await?;
                report.record("depth", "list one owner's 50 newest", "µs", list);
                report.record("depth", "one owner's banner counts", "µs", counts);
            }
            match (rss_reset, memory("VmHWM"), memory("VmRSS")) {
                (Ok(()), Ok(peak), Ok(now)) => {
                    report.record("depth", &format!("peak RSS holding {depth}"), "MiB", peak);
                    report.record("depth", &format!("RSS at the end, {depth}"), "MiB", now);
                }
                (reset, peak, _) => {
                    let why = reset.and(peak).err().map(|err| format!("{err:#}"));
                    report.not_measured("depth RSS", why.as_deref().unwrap_or("unreadable"));
                }
            }
            Ok(())
        })
        .await
    })
    .await
}

/// Fills the store with `waiting` tasks scheduled for tomorrow; answers the fill's rate.
async fn fill(engine: &Engine, waiting: usize) -> anyhow::Result<f64> {
    let tomorrow = jiff::Timestamp::now() + Duration::from_secs(24 * 3600);
    let started = Instant::now();
    let mut reported = Instant::now();
    for batch in 0..waiting.div_ceil(1000) {
        let tasks = (batch * 1000..waiting.min((batch + 1) * 1000))
            .map(|n| {
                NewTask::new(NOOP)
                    .owner(format!("owner-{}", n % OWNERS))
                    .title("Scheduled for tomorrow")
                    .run_at(tomorrow)
            })
            .collect();
        engine.enqueue_batch(tasks).await?;
        if reported.elapsed() > Duration::from_secs(10) {
            eprintln!("depth: {} of {waiting} tasks filled", (batch + 1) * 1000);
            reported = Instant::now();
        }
    }
    Ok(waiting as f64 / started.elapsed().as_secs_f64())
}

/// Settles the fill's aftermath, so that the steady state is measured.
async fn settle(deep: &Fresh) -> anyhow::Result<()> {
    match &deep.place {
        Place::Sqlite { file, .. } => {
            let file = file.clone();
            tokio::task::spawn_blocking(move || {
                rusqlite::Connection::open(&file)?.query_row(
                    "PRAGMA wal_checkpoint(TRUNCATE)",
                    [],
                    |_| Ok(()),
                )
            })
            .await
            .context("the checkpoint was interrupted")?
            .context("checkpointing the filled store")
        }
        Place::Postgres { url, schema } => connect(url)
            .await?
            .batch_execute(&format!("SET search_path = {schema}; ANALYZE"))
            .await
            .context("analysing the filled store"),
    }
}

/// The medians of listing one owner's 50 newest tasks and of counting their banner, in µs.
async fn reads(engine: &Engine, waiting: usize) -> anyhow::Result<(f64, f64)> {
    let owner = format!("owner-{LISTED}");
    let owned = waiting / OWNERS + usize::from(waiting % OWNERS > LISTED);
    let filter = TaskFilter {
        owner: Some(owner.clone()),
        limit: 50,
        ..TaskFilter::default()
    };
    let list = median_of(|| async {
        let page = engine.list(&filter).await?;
        if page.tasks.len() != owned.min(50) {
            bail!(
                "listed {} tasks of {owner}, not {}",
                page.tasks.len(),
                owned.min(50)
            );
        }
        Ok(())
    })
    .await?;
    let counts = median_of(|| async {
        engine.counts(Some(&owner)).await?;
        Ok(())
    })
    .await?;
    Ok((list, counts))
}

/// The median time of [`READS`] calls, in µs.
async fn median_of<F, Fut>(mut call: F) -> anyhow::Result<f64>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let mut times = Vec::with_capacity(READS);
    for _ in 0..READS {
        let started = Instant::now();
        call().await?;
        times.push(started.elapsed().as_secs_f64() * 1e6);
    }
    times.sort_by(f64::total_cmp);
    Ok(median(&times))
}

/// Resets the process's peak RSS to its current RSS (Linux 4.0 and later).
fn reset_peak_rss() -> anyhow::Result<()> {
    std::fs::write("/proc/self/clear_refs", "5")
        .context("resetting the peak RSS (/proc/self/clear_refs, Linux only)")
}

/// A memory figure of `/proc/self/status` (`VmHWM`, `VmRSS`), in MiB.
pub fn memory(field: &str) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string("/proc/self/status")
        .context("reading /proc/self/status (Linux only)")?;
    let kb: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("no {field} in /proc/self/status"))?;
    Ok(kb / 1024.0)
}
