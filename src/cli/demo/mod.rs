//! `errand demo`: errand and a small example application in one process on localhost, so that
//! a newcomer sees the whole loop in a browser: a page enqueues tasks, errand dispatches them
//! over HTTP to the application's own endpoints, and the widget in the page follows them live.
//!
//! - `app.rs`: the example application's pages (a tiny content manager: a folder of items) and
//!   the actions that enqueue tasks;
//! - `work.rs`: its task endpoints, which errand calls as it would call any application's;
//! - `items.rs`: the folder of items, in memory.
//!
//! Both share one listener (and so one origin): errand under `/v1`, `/ui` and `/widget`, the
//! application under `/demo`, as when errand is reverse-proxied under the application's domain.
//! The database is a temporary SQLite file, removed at exit (or kept in `--data-dir`).

mod app;
mod items;
mod work;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use errand::api::{self, ApiSettings};
use errand::auth::{ApiKeys, Sealer, TaskTokens, UserTokens};
use errand::engine::{DrainSignals, Engine};
use errand::metrics::Metrics;
use errand::model::Queue;
use errand::run::http::{DispatchSettings, Dispatcher, Target};
use sha2::Digest as _;
use tokio_util::sync::CancellationToken;

/// Flags of `errand demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the demo listens (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:7800")]
    listen: String,
    /// Keep the database and the secrets in this directory (created if need be), so that a
    /// restarted demo picks up where it stopped; without it, a temporary directory is used and
    /// removed at exit.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

/// Where the demo keeps its database; removed when dropped if it is temporary.
struct DataDir {
    path: PathBuf,
    temporary: bool,
}

impl Drop for DataDir {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// The demo's one secret, kept in `dir`: the others are derived from it.
fn seed(dir: &std::path::Path) -> anyhow::Result<String> {
    let file = dir.join("demo-secret");
    match std::fs::read_to_string(&file) {
        Ok(seed) if seed.trim().len() >= 32 => Ok(seed.trim().to_owned()),
        _ => {
            let seed = errand::auth::random_secret()?;
            std::fs::write(&file, &seed)
                .with_context(|| format!("could not write {}", file.display()))?;
            Ok(seed)
        }
    }
}

/// Runs the demo until Ctrl-C.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let dir = match args.data_dir {
        Some(path) => DataDir {
            path,
            temporary: false,
        },
        None => DataDir {
            path: std::env::temp_dir().join(format!("errand-demo-{}", uuid::Uuid::now_v7())),
            temporary: true,
        },
    };
    std::fs::create_dir_all(&dir.path)
        .with_context(|| format!("could not create {}", dir.path.display()))?;
    let seed = seed(&dir.path)?;
    let signals = DrainSignals::listen()?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| {
            format!(
                "could not listen on {} (try --listen 127.0.0.1:0)",
                args.listen
            )
        })?;
    let base = format!("http://{}", listener.local_addr()?);
    let user_tokens = UserTokens::new(format!("{seed}/user-tokens"));
    let task_tokens = TaskTokens::new(format!("{seed}/task-tokens").as_bytes());
    let sealer = Sealer::new(sha2::Sha256::digest(format!("{seed}/seal")).into());
    let dispatcher = Dispatcher::new(DispatchSettings {
        targets: vec![Target {
            name: work::TARGET.to_owned(),
            base_url: reqwest::Url::parse(&format!("{base}/demo/work"))?,
            secret: None,
            forward_headers: Vec::new(),
            timeout: Duration::from_secs(30),
            concurrency: None,
        }],
        callback_base: Some(base.clone()),
        sealer: sealer.clone(),
        task_tokens: task_tokens.clone(),
        report_timeout: Duration::from_secs(60),
        max_error_body: 64 * 1024,
    })
    .context("the demo's target cannot be used")?;
    let engine = Engine::builder()
        .sqlite(dir.path.join("errand.db"))
        .queue(Queue::new("default").concurrency(4))
        .queue(Queue::new(work::DELETE_QUEUE).concurrency(2))
        .queue(Queue::new(work::PUBLISH_QUEUE).concurrency(4))
        .queue(Queue::new(work::CONVERT_QUEUE).concurrency(2))
        .queue(
            Queue::new(work::IMPORT_QUEUE)
                .concurrency(2)
                .max_attempts(1),
        )
        .dispatcher(Arc::new(dispatcher))
        .start()
        .await
        .context("could not start errand")?;
    let stop = CancellationToken::new();
    let errand = api::router(ApiSettings {
        engine: engine.clone(),
        api_keys: ApiKeys::default(),
        user_tokens: user_tokens.clone(),
        task_tokens,
        sealer,
        report_timeout: Duration::from_secs(60),
        max_body_bytes: 1024 * 1024,
        metrics: Arc::new(Metrics::default()),
        shutdown: stop.clone(),
        allowed_origins: Vec::new(),
    });
    let app = app::router(app::App::new(engine.clone(), user_tokens));
    let router = errand.merge(app);
    println!("errand demo: open {base}/demo/ in a browser (Ctrl-C stops it)");
    println!("             another user: {base}/demo/?user=bob");
    let stopped = stop.clone().cancelled_owned();
    let server = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(stopped)
            .await
    });
    engine
        .run_until_signal(signals, Duration::from_secs(2))
        .await;
    stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(3), server).await;
    Ok(())
}
