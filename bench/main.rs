//! `errand-bench`: the benchmark harness of issue 6. Runs the workloads on SQLite or
//! PostgreSQL, prints a table of medians and spreads, and writes JSON.
//!
//! ```text
//! cargo run --release --bin errand-bench                       # every workload, SQLite, 3 runs
//! cargo run --release --bin errand-bench -- --quick            # small counts, one run (CI)
//! cargo run --release --bin errand-bench -- w1 w1c --runs 5 --json w1.json
//! cargo run --release --bin errand-bench -- --store postgres --database-url postgres://…
//! cargo run --release --bin errand-bench -- w1 w1b --against /tmp/base/errand-bench
//! ```
//!
//! One file per workload: `drain.rs` (W1, W1c, W1b), `dispatch.rs` (W2), `latency.rs` (W3),
//! `floor.rs` (the commit floor), `depth.rs`, `push.rs` (push latency over `GET /v1/events`),
//! `fanout.rs` (many event streams at once); `sse.rs` is the event streams' client side and
//! the timing of the engine's events, `app.rs` the HTTP side (the application
//! dispatched to, the in-process API), `setup.rs` the store of each run, `report.rs` the table
//! and JSON, `compare.rs` two builds run alternately (`--against`), `args.rs` the command line.
//! This file is the wiring: the order of the workloads.

mod app;
mod args;
mod compare;
mod depth;
mod dispatch;
mod drain;
mod fanout;
mod floor;
mod latency;
mod push;
mod report;
mod setup;
mod sse;

use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Parser as _, ValueEnum as _};
use errand::store::sqlite::Durability;
use serde::Serialize;

use self::args::{Args, DurabilityArg, Sizes, StoreKind, Workload};
use self::drain::Producers;
use self::report::Report;
use self::setup::Backend;

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("ERRAND_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("errand-bench: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    if let Some(base) = args.against.clone() {
        return compare(args, base).await;
    }
    let runs = args.runs.unwrap_or(if args.quick { 1 } else { 3 });
    if runs == 0 {
        bail!("--runs must be at least 1");
    }
    let mut sizes = Sizes::of(args.quick);
    if let Some(depth) = args.depth {
        sizes.depth = depth;
    }
    let backend = backend(&args)?;
    let workloads = if args.workloads.is_empty() {
        Workload::value_variants().to_vec()
    } else {
        args.workloads.clone()
    };

    let mut report = Report::default();
    report.setting("store", format!("{:?}", args.store).to_lowercase());
    for (name, value) in backend.durability().await? {
        report.setting(&name, value);
    }
    report.setting("mode", if args.quick { "quick" } else { "full" });
    report.setting("runs", runs.to_string());
    report.setting("machine", machine());
    report.setting("load before", load_average());

    for workload in workloads {
        let name = args::name(workload);
        let plural = if runs == 1 { "" } else { "s" };
        eprintln!("errand-bench: {name} ({runs} run{plural})");
        let report = &mut report;
        match workload {
            Workload::W1 => drain::run(&backend, Producers::One, sizes.drain, runs, report).await,
            Workload::W1c => {
                let producers = Producers::Concurrent(16);
                drain::run(&backend, producers, sizes.drain, runs, report).await
            }
            Workload::W1b => {
                let producers = Producers::Batches(1_000);
                drain::run(&backend, producers, sizes.drain, runs, report).await
            }
            Workload::W2 => dispatch::run(&backend, sizes.dispatch, runs, report).await,
            Workload::W3 => latency::run(&backend, sizes.samples, runs, report).await,
            Workload::Floor => {
                let commits = match args.store {
                    StoreKind::Sqlite => sizes.floor_sqlite,
                    StoreKind::Postgres => sizes.floor_postgres,
                };
                floor::run(&backend, commits, runs, report).await
            }
            Workload::Depth => depth::run(&backend, sizes.depth, sizes.drain, runs, report).await,
            Workload::Push => push::run(&backend, sizes.samples, runs, report).await,
            Workload::Fanout => fanout::run(&backend, sizes.fanout, runs, report).await,
        }
        .with_context(|| format!("workload {workload:?}"))?;
    }
    report.setting("load after", load_average());

    print!("{}", report.table());
    if let Some(path) = &args.json {
        report.write_json(path)?;
        eprintln!("errand-bench: wrote {}", path.display());
    }
    Ok(())
}

/// A comparison's report, as `--json` writes it.
#[derive(Serialize)]
struct Comparison {
    /// The build given with `--against`.
    base: String,
    /// This build.
    this: String,
    /// The arguments of every run.
    args: Vec<String>,
    /// Rounds: each ran both builds once.
    rounds: usize,
    /// The figures of both builds.
    rows: Vec<compare::Row>,
}

/// Runs this build and `base` alternately (`compare.rs`) and prints the comparison.
async fn compare(args: Args, base: std::path::PathBuf) -> anyhow::Result<()> {
    if args.runs.is_some() {
        bail!("with --against, each round runs each build once: give --rounds rather than --runs");
    }
    let plan = compare::Plan {
        base,
        this: std::env::current_exe().context("finding this harness's own binary")?,
        args: args.for_each_run(),
        database_url: args.database_url.clone(),
        rounds: args.rounds.unwrap_or(5),
    };
    let load_before = load_average();
    let (plan, rows) = tokio::task::spawn_blocking(move || {
        let rows = compare::run(&plan);
        (plan, rows)
    })
    .await?;
    let rows = rows?;
    println!("base                       {}", plan.base.display());
    println!("this build                 {}", plan.this.display());
    println!("arguments of each run      {}", plan.args.join(" "));
    println!(
        "rounds                     {} (alternating which build runs first)",
        plan.rounds
    );
    println!("machine                    {}", machine());
    println!("load before                {load_before}");
    println!("load after                 {}", load_average());
    println!(
        "\nmedians: this build's median against the base's; paired: the median over the rounds of \
         this build's value against the base's in the same round; higher: the rounds where this \
         build's value was the higher\n"
    );
    print!("{}", compare::table(&rows, plan.rounds));
    if let Some(path) = &args.json {
        let comparison = Comparison {
            base: plan.base.display().to_string(),
            this: plan.this.display().to_string(),
            args: plan.args,
            rounds: plan.rounds,
            rows,
        };
        let json =
            serde_json::to_string_pretty(&comparison).context("serialising the comparison")?;
        std::fs::write(path, json + "\n")
            .with_context(|| format!("writing the comparison to {}", path.display()))?;
        eprintln!("errand-bench: wrote {}", path.display());
    }
    Ok(())
}

/// The store the arguments name.
fn backend(args: &Args) -> anyhow::Result<Backend> {
    match args.store {
        StoreKind::Sqlite => {
            if args.database_url.is_some() {
                bail!("--database-url is for --store postgres; SQLite runs on temporary files");
            }
            let durability = match args.durability {
                DurabilityArg::Normal => Durability::Normal,
                DurabilityArg::Full => Durability::Full,
            };
            Backend::sqlite(durability)
        }
        StoreKind::Postgres => {
            let Some(url) = args.database_url.clone() else {
                bail!(
                    "--store postgres needs --database-url postgres://USER@HOST:PORT/DATABASE \
                     (or ERRAND_BENCH_DATABASE_URL)"
                );
            };
            if args.pool_size == 0 {
                bail!("--pool-size must be at least 1");
            }
            Ok(Backend::Postgres {
                url,
                pool_size: args.pool_size,
            })
        }
    }
}

/// The cores and the memory of this machine.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            let line = info.lines().find(|line| line.starts_with("MemTotal:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or_else(String::new, |kb| format!(", {} GiB", kb / (1024 * 1024)));
    format!("{cores} cores{memory}")
}

/// The 1, 5 and 15-minute load averages, or `unknown`.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| "unknown".into())
}
