//! The command line as typed (clap), and the counts of each mode.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

use crate::fanout::Fanout;
use crate::latency::Samples;

/// Measures errand: throughput, dispatch, latency, the commit floor, depth, push latency and
/// fan-out of the event stream.
#[derive(Debug, Parser)]
#[command(name = "errand-bench", version)]
pub struct Args {
    /// The workloads to run (all of them if none is named).
    #[arg(value_enum)]
    pub workloads: Vec<Workload>,
    /// The store to measure.
    #[arg(long, value_enum, default_value = "sqlite")]
    pub store: StoreKind,
    /// The PostgreSQL database (with `--store postgres`). Each run creates a schema of its
    /// own in it (`errand_bench_…`) and drops it afterwards.
    #[arg(long, env = "ERRAND_BENCH_DATABASE_URL")]
    pub database_url: Option<String>,
    /// The pool size of each PostgreSQL store.
    #[arg(long, default_value_t = DEFAULT_POOL_SIZE)]
    pub pool_size: usize,
    /// SQLite's `synchronous`: `normal` survives a crash of the process, `full` a power cut.
    #[arg(long, value_enum, default_value = "normal")]
    pub durability: DurabilityArg,
    /// Small counts and one run: proves the harness works in well under a minute.
    #[arg(long)]
    pub quick: bool,
    /// How many runs each figure is the median of (3; 1 with --quick).
    #[arg(long)]
    pub runs: Option<usize>,
    /// How many tasks wait in the depth workload (1,000,000; 20,000 with --quick).
    #[arg(long)]
    pub depth: Option<usize>,
    /// Also write the report as JSON to this file.
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Compares this build with another build of the harness (an earlier commit's
    /// `errand-bench`): runs the two alternately, one run of each per round, and prints both
    /// with the change of each figure.
    #[arg(long, value_name = "BINARY")]
    pub against: Option<PathBuf>,
    /// How many rounds a comparison takes (with --against; 5).
    #[arg(long, requires = "against")]
    pub rounds: Option<usize>,
}

impl Args {
    /// The arguments that give a run of another build the same workloads and settings: what
    /// was typed, but neither the runs, the JSON file, the comparison nor the database (which
    /// a run takes from its environment).
    pub fn for_each_run(&self) -> Vec<String> {
        let mut args: Vec<String> = self.workloads.iter().map(|w| name(*w)).collect();
        if self.store == StoreKind::Postgres {
            args.extend(["--store".into(), name(self.store)]);
        }
        if self.pool_size != DEFAULT_POOL_SIZE {
            args.extend(["--pool-size".into(), self.pool_size.to_string()]);
        }
        if self.durability != DurabilityArg::Normal {
            args.extend(["--durability".into(), name(self.durability)]);
        }
        if self.quick {
            args.push("--quick".into());
        }
        if let Some(depth) = self.depth {
            args.extend(["--depth".into(), depth.to_string()]);
        }
        args
    }
}

/// The pool size of each PostgreSQL store, unless `--pool-size` says otherwise.
const DEFAULT_POOL_SIZE: usize = 16;

/// A value's name on the command line.
pub fn name(value: impl ValueEnum) -> String {
    value
        .to_possible_value()
        .map_or_else(String::new, |value| value.get_name().to_owned())
}

/// A workload of issue 6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// 10,000 no-op tasks, one producer one call at a time, 16 slots.
    W1,
    /// The same, 16 concurrent producers.
    W1c,
    /// The same, batches of 1,000.
    W1b,
    /// 5,000 HTTP dispatches, enqueued over the REST API while dispatch runs.
    W2,
    /// Latency from enqueue to handler start on an idle errand, in-process and HTTP.
    W3,
    /// One insert per transaction, sequentially, on the store's database.
    Floor,
    /// W1 with many tasks waiting, peak RSS, listing among them.
    Depth,
    /// Push latency: a task's `succeeded` event published to its arrival at an SSE client.
    Push,
    /// 2,000 SSE clients at once, one owner each: RSS and push latency.
    Fanout,
}

/// Which store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    /// A temporary SQLite file per run.
    Sqlite,
    /// A temporary schema per run in `--database-url`.
    Postgres,
}

/// SQLite's `synchronous`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DurabilityArg {
    /// `synchronous = NORMAL` (errand's default).
    Normal,
    /// `synchronous = FULL`.
    Full,
}

/// The counts of one mode.
pub struct Sizes {
    /// Tasks of W1, W1c, W1b and of each W1 in depth.
    pub drain: usize,
    /// Tasks of W2.
    pub dispatch: usize,
    /// Samples of W3 and of push.
    pub samples: Samples,
    /// Commits per table of the SQLite floor.
    pub floor_sqlite: usize,
    /// Commits per table of the PostgreSQL floor.
    pub floor_postgres: usize,
    /// Tasks waiting in depth.
    pub depth: usize,
    /// Clients and tasks of fan-out (push takes `samples`).
    pub fanout: Fanout,
}

impl Sizes {
    /// The counts of the full mode, or of `--quick`.
    pub fn of(quick: bool) -> Sizes {
        if quick {
            Sizes {
                drain: 2_000,
                dispatch: 1_000,
                samples: Samples {
                    warm_up: 5,
                    measured: 50,
                },
                floor_sqlite: 2_000,
                floor_postgres: 1_000,
                depth: 20_000,
                fanout: Fanout {
                    clients: 200,
                    tasks: 50,
                },
            }
        } else {
            Sizes {
                drain: 10_000,
                dispatch: 5_000,
                samples: Samples {
                    warm_up: 20,
                    measured: 200,
                },
                floor_sqlite: 20_000,
                floor_postgres: 5_000,
                depth: 1_000_000,
                fanout: Fanout {
                    clients: 2_000,
                    tasks: 500,
                },
            }
        }
    }
}
