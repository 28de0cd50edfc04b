//! `errand serve`: the API, the workers and the sweepers in one process (or one of them, with
//! `--api-only` / `--workers-only`), until a signal drains it.
//!
//! Order of a start: configuration (file, environment, flags), secrets (generated and kept at
//! first start, the admin key printed once), signals (caught before anything runs, so that an
//! early signal drains), the engine, then the listener. On a drain signal the engine drains
//! first while the API still answers (the application may be reporting on running tasks);
//! then the API stops, giving open requests a few seconds.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use errand::api::{self, ApiSettings, PROBE_HANDLER, PROBE_QUEUE, probe_handler};
use errand::config::{self, Overrides, Resolved};
use errand::engine::{DrainSignals, Engine};
use errand::metrics::Metrics;
use errand::model::Queue;
use errand::run::http::{DispatchSettings, Dispatcher};
use tokio_util::sync::CancellationToken;

/// How long open API requests (long polls) get once the engine has stopped.
const API_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Flags of `errand serve`. Each overrides the configuration file and the `ERRAND_*`
/// variables.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The TOML configuration file.
    #[arg(long, env = "ERRAND_CONFIG")]
    config: Option<PathBuf>,
    /// Where the API listens, like 127.0.0.1:7700 (port 0: any free port).
    #[arg(long)]
    listen: Option<String>,
    /// The database: `sqlite://PATH` (or a plain path), or `postgres://…`.
    #[arg(long)]
    database_url: Option<String>,
    /// errand's URL as the application reaches it (for the dispatch's `Errand-Callback`).
    #[arg(long)]
    public_url: Option<String>,
    /// Run each task before its enqueue answers (development and tests).
    #[arg(long)]
    inline: bool,
    /// Seconds running tasks get to finish after SIGTERM, SIGINT or SIGQUIT before they are
    /// handed back to their queue.
    #[arg(long)]
    grace_seconds: Option<u64>,
    /// Run the workers and sweepers only, without the API.
    #[arg(long, conflicts_with = "api_only")]
    workers_only: bool,
    /// Run the API (and the sweepers) only: tasks are run by other nodes.
    #[arg(long)]
    api_only: bool,
}

/// Runs errand until a drain signal.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let env = |name: &str| std::env::var(name).ok();
    let overrides = Overrides {
        listen: args.listen,
        database_url: args.database_url,
        public_url: args.public_url,
        inline: args.inline.then_some(true),
        grace_seconds: args.grace_seconds,
    };
    let config = config::load(args.config.as_deref(), env, overrides)?;
    let mut resolved = config::resolve(config)?;
    if let Some(key) = resolved.new_admin_api_key.take() {
        println!(
            "errand: generated an admin API key; it is shown this once, keep it:\n\n    {key}\n\n\
             (its digest and errand's other secrets are in {})",
            resolved.secrets_file.display()
        );
    }
    // Caught from now on: a signal during the start drains instead of killing the process.
    let signals = DrainSignals::listen()?;
    let listener = match args.workers_only {
        true => None,
        false => Some(
            tokio::net::TcpListener::bind(resolved.listen)
                .await
                .with_context(|| format!("could not listen on {}", resolved.listen))?,
        ),
    };
    let public_url = match &resolved.public_url {
        Some(url) => url.clone(),
        None => {
            let mut address = match &listener {
                Some(listener) => listener.local_addr()?,
                None => resolved.listen,
            };
            if address.ip().is_unspecified() {
                tracing::warn!(
                    "listening on every interface: set public_url to the URL the application \
                     reaches errand at (the dispatch's Errand-Callback uses 127.0.0.1 until then)"
                );
                address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            format!("http://{address}")
        }
    };
    tracing::info!(database = %resolved.database, "starting errand");
    let engine = start_engine(&resolved, public_url, !args.api_only).await?;
    let metrics = Arc::new(Metrics::default());
    tokio::spawn(errand::metrics::record(
        Arc::clone(&metrics),
        engine.subscribe(),
    ));
    let stop_api = CancellationToken::new();
    let server = match listener {
        Some(listener) => {
            tracing::info!(address = %listener.local_addr()?, "API listening");
            let router = api::router(ApiSettings {
                engine: engine.clone(),
                api_keys: resolved.api_keys.clone(),
                user_tokens: resolved.user_tokens.clone(),
                task_tokens: resolved.task_tokens.clone(),
                sealer: resolved.sealer.clone(),
                report_timeout: resolved.report_timeout,
                max_body_bytes: resolved.max_body_bytes,
                metrics,
                shutdown: stop_api.clone(),
                allowed_origins: resolved.allowed_origins.clone(),
            });
            let stopped = stop_api.clone().cancelled_owned();
            Some(tokio::spawn(async move {
                axum::serve(listener, router)
                    .with_graceful_shutdown(stopped)
                    .await
            }))
        }
        None => None,
    };
    engine.run_until_signal(signals, resolved.grace).await;
    stop_api.cancel();
    if let Some(server) = server {
        match tokio::time::timeout(API_SHUTDOWN_GRACE, server).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(err))) => tracing::warn!(error = %err, "the API stopped with an error"),
            Ok(Err(err)) => tracing::warn!(error = %err, "the API stopped with an error"),
            Err(_) => tracing::info!("open API requests were closed"),
        }
    }
    Ok(())
}

/// The engine of the configuration, with the self-test's probe queue and, if targets are
/// configured, the HTTP dispatcher.
async fn start_engine(
    resolved: &Resolved,
    public_url: String,
    run_workers: bool,
) -> anyhow::Result<Engine> {
    let store = resolved
        .database
        .open()
        .await
        .with_context(|| format!("could not open {}", resolved.database))?;
    let mut builder = Engine::builder()
        .store(store)
        .config(errand::engine::EngineConfig {
            run_workers,
            ..resolved.engine.clone()
        })
        .queue(Queue::new(PROBE_QUEUE).max_attempts(1))
        .handler(PROBE_HANDLER, probe_handler);
    for queue in &resolved.queues {
        builder = builder.queue(queue.clone());
    }
    if !resolved.targets.is_empty() {
        let dispatcher = Dispatcher::new(DispatchSettings {
            targets: resolved.targets.clone(),
            callback_base: Some(public_url),
            sealer: resolved.sealer.clone(),
            task_tokens: resolved.task_tokens.clone(),
            report_timeout: resolved.report_timeout,
            max_error_body: 64 * 1024,
        })
        .context("the targets cannot be used")?;
        builder = builder.dispatcher(Arc::new(dispatcher));
    }
    builder
        .start()
        .await
        .with_context(|| format!("could not start on {}", resolved.database))
}
