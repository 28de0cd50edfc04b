//! The command line: one file per command; this file holds the parser and the dispatch.
//!
//! `demo` runs errand with an example application (`demo/`).
//!
//! The client commands (`enqueue`, `ls`, `show`, `wait`, `cancel`, `retry`, `dismiss`,
//! `resume`, `token`, `doctor`) talk to a running errand over its REST API: `client.rs` holds
//! what they share (`--url`, `--api-key`, the HTTP client and its messages), `wire.rs` the
//! JSON they read.

mod act;
mod client;
mod demo;
mod doctor;
mod enqueue;
mod ls;
mod migrate;
mod progress_line;
mod serve;
mod show;
mod token;
mod wait;
mod wire;

use clap::{Parser, Subcommand};

/// errand: durable background tasks for web applications.
#[derive(Debug, Parser)]
#[command(name = "errand", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// How log lines are written to stderr: `text` for people, `json` (one object a line) for
    /// log collectors.
    #[arg(long, global = true, value_enum, env = "ERRAND_LOG_FORMAT", default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Readable lines.
    Text,
    /// One JSON object a line.
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Try errand in a browser: errand and a small example application on localhost, on a
    /// temporary database. Prints the URL to open.
    Demo(demo::DemoArgs),
    /// Run errand: the engine's workers and sweepers on the database, until a signal drains it.
    Serve(serve::ServeArgs),
    /// Apply the database's pending schema migrations and exit.
    Migrate(migrate::MigrateArgs),
    /// Enqueue a task and print its id.
    #[command(after_help = wait::exit_codes_help("Exit codes with --wait (without it: 0, or 1 on an error):"))]
    Enqueue(Box<enqueue::EnqueueArgs>),
    /// List tasks, newest first, with the counts a banner shows.
    Ls(ls::LsArgs),
    /// Show a task: every field, and the error's detail.
    Show(show::ShowArgs),
    /// Wait until a task ends (or waits for input); the exit code says how it ended.
    #[command(after_help = wait::exit_codes_help("Exit codes:"))]
    Wait(wait::WaitArgs),
    /// Cancel a task: at once if it is not running, at its next check if it is.
    Cancel(act::ActArgs),
    /// Run a failed, cancelled or expired task again.
    Retry(act::ActArgs),
    /// Hide a final task from its owner's banner (it stays on record).
    Dismiss(act::ActArgs),
    /// Answer a task that waits for input, which queues it again.
    Resume(act::ResumeArgs),
    /// Mint a user token for an end user (for the widget, or to act as that user).
    Token(token::TokenArgs),
    /// Ask errand to test itself: the store, the targets, a probe task.
    Doctor(doctor::DoctorArgs),
}

impl Cli {
    /// Runs the command; answers the exit code (an error is reported by `main`, and exits 1).
    /// `wait`, `enqueue --wait` and `doctor` tell more by their code.
    pub async fn run(self) -> anyhow::Result<u8> {
        let done = |()| 0;
        match self.command {
            Command::Demo(args) => demo::run(args).await.map(done),
            Command::Serve(args) => serve::run(args).await.map(done),
            Command::Migrate(args) => migrate::run(args).await.map(done),
            Command::Enqueue(args) => enqueue::run(*args).await,
            Command::Ls(args) => ls::run(args).await.map(done),
            Command::Show(args) => show::run(args).await.map(done),
            Command::Wait(args) => wait::run(args).await,
            Command::Cancel(args) => act::run(act::Action::Cancel, args).await.map(done),
            Command::Retry(args) => act::run(act::Action::Retry, args).await.map(done),
            Command::Dismiss(args) => act::run(act::Action::Dismiss, args).await.map(done),
            Command::Resume(args) => act::resume(args).await.map(done),
            Command::Token(args) => token::run(args).await.map(done),
            Command::Doctor(args) => doctor::run(args).await,
        }
    }
}
