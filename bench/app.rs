//! The HTTP side of the workloads: a local application that errand dispatches to (it answers
//! 200 at once), errand's REST API served in-process on `127.0.0.1:0`, and the keys and
//! secrets they share, generated for the run; and user tokens for the event stream.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use errand::api::{self, ApiSettings};
use errand::auth::{ApiKeys, Scope, Sealer, TaskTokens, UserTokens};
use errand::engine::{Engine, EngineBuilder};
use errand::metrics::Metrics;
use errand::run::http::{DispatchSettings, Dispatcher, Target};
use reqwest::Url;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::drain::Counter;

/// The target's name, as tasks name it.
pub const TARGET: &str = "app";

/// The path of the application's task endpoint.
pub const TASK_PATH: &str = "/tasks/bench";

/// A server task, stopped when dropped.
pub struct Served(JoinHandle<()>);

impl Drop for Served {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What the application does with each request: count it, and say when it arrived.
#[derive(Clone)]
struct Arrivals {
    counter: Arc<Counter>,
    arrived: Option<mpsc::UnboundedSender<Instant>>,
}

/// The application: `POST /tasks/bench` answers 200 with no body at once.
pub struct App {
    /// Its base URL.
    pub base: Url,
    _served: Served,
}

impl App {
    /// Starts the application on an ephemeral port. Each request is counted on `counter`
    /// and, with `arrived`, its arrival sent there.
    pub async fn start(
        counter: Arc<Counter>,
        arrived: Option<mpsc::UnboundedSender<Instant>>,
    ) -> anyhow::Result<App> {
        let router = Router::new()
            .route(TASK_PATH, post(task))
            .with_state(Arrivals { counter, arrived });
        let (base, served) = serve(router).await?;
        let base = Url::parse(&base).context("the application's URL")?;
        Ok(App {
            base,
            _served: served,
        })
    }
}

async fn task(State(arrivals): State<Arrivals>) -> StatusCode {
    if let Some(arrived) = &arrivals.arrived {
        let _ = arrived.send(Instant::now());
    }
    arrivals.counter.hit();
    StatusCode::OK
}

/// The secrets of one run: the API key, the sealing and token keys, the target's secret.
pub struct Secrets {
    /// An API key with the `enqueue` and `read` scopes.
    pub api_key: String,
    sealer_key: [u8; 32],
    task_token_secret: [u8; 32],
    user_token_secret: [u8; 32],
    target_secret: [u8; 32],
}

impl Secrets {
    /// New random secrets.
    pub fn generate() -> anyhow::Result<Secrets> {
        let mut bytes = [[0u8; 32]; 5];
        for key in &mut bytes {
            getrandom::fill(key).map_err(|err| anyhow::anyhow!("no randomness: {err}"))?;
        }
        let api_key = bytes[0].iter().map(|b| format!("{b:02x}")).collect();
        Ok(Secrets {
            api_key,
            sealer_key: bytes[1],
            task_token_secret: bytes[2],
            user_token_secret: bytes[3],
            target_secret: bytes[4],
        })
    }

    /// A user token for `owner`, valid for an hour, as `POST /v1/tokens` would mint it.
    pub fn user_token(&self, owner: &str) -> anyhow::Result<String> {
        let minted = UserTokens::new(self.user_token_secret.to_vec())
            .mint(owner, Duration::from_secs(3600), jiff::Timestamp::now())
            .with_context(|| format!("minting a user token for {owner}"))?;
        Ok(minted.token)
    }

    /// A dispatcher to the application at `base`, with errand's callback at `callback_base`.
    pub fn dispatcher(&self, base: &Url, callback_base: &str) -> anyhow::Result<Arc<Dispatcher>> {
        let target = Target {
            name: TARGET.into(),
            base_url: base.clone(),
            secret: Some(self.target_secret.to_vec()),
            forward_headers: Vec::new(),
            timeout: Duration::from_secs(30),
            concurrency: None,
        };
        let dispatcher = Dispatcher::new(DispatchSettings {
            targets: vec![target],
            callback_base: Some(callback_base.to_owned()),
            sealer: Sealer::new(self.sealer_key),
            task_tokens: TaskTokens::new(&self.task_token_secret),
            report_timeout: Duration::from_secs(60),
            max_error_body: 64 * 1024,
        })
        .context("building the dispatcher")?;
        Ok(Arc::new(dispatcher))
    }
}

/// errand with HTTP dispatch to an [`App`], and its REST API on an ephemeral port. Dropping
/// it stops the API and ends its open event streams.
pub struct Errand {
    /// The engine.
    pub engine: Engine,
    /// `http://127.0.0.1:PORT` of the API.
    pub api: String,
    /// Ends the API's event streams (`GET /v1/events`) when cancelled.
    shutdown: CancellationToken,
    _served: Served,
}

impl Drop for Errand {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Errand {
    /// Starts the engine `builder` makes, dispatching to `app`, and the API over it.
    pub async fn start(
        builder: EngineBuilder,
        app: &App,
        secrets: &Secrets,
    ) -> anyhow::Result<Errand> {
        // The API's address is known before the engine starts: dispatches carry it.
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the API to 127.0.0.1:0")?;
        let api = format!("http://{}", listener.local_addr()?);
        let engine = builder
            .dispatcher(secrets.dispatcher(&app.base, &api)?)
            .start()
            .await
            .context("starting the engine")?;
        let shutdown = CancellationToken::new();
        let mut api_keys = ApiKeys::default();
        api_keys.add(&secrets.api_key, vec![Scope::Enqueue, Scope::Read]);
        let router = api::router(ApiSettings {
            engine: engine.clone(),
            api_keys,
            user_tokens: UserTokens::new(secrets.user_token_secret.to_vec()),
            task_tokens: TaskTokens::new(&secrets.task_token_secret),
            sealer: Sealer::new(secrets.sealer_key),
            report_timeout: Duration::from_secs(60),
            max_body_bytes: 64 * 1024,
            metrics: Arc::new(Metrics::default()),
            shutdown: shutdown.clone(),
            allowed_origins: Vec::new(),
        });
        let served = Served(tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, router).await {
                tracing::warn!(error = %err, "the API stopped");
            }
        }));
        Ok(Errand {
            engine,
            api,
            shutdown,
            _served: served,
        })
    }
}

/// Serves `router` on an ephemeral port of 127.0.0.1; answers its base URL.
async fn serve(router: Router) -> anyhow::Result<(String, Served)> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the application to 127.0.0.1:0")?;
    let base = format!("http://{}", listener.local_addr()?);
    let served = Served(tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, router).await {
            tracing::warn!(error = %err, "the application stopped");
        }
    }));
    Ok((base, served))
}

/// A JSON payload of about 200 bytes, as an application would send.
pub fn payload() -> serde_json::Value {
    let mut payload = serde_json::json!({
        "action": "content.publish",
        "paths": ["/news/2024/annual-report", "/news/2024/annual-report/figures"],
        "requested_by": "alice@example.org",
        "note": "",
    });
    let length = payload.to_string().len();
    payload["note"] = serde_json::Value::String("x".repeat(200usize.saturating_sub(length)));
    payload
}
