//! errand's configuration: a TOML file (`--config` or `ERRAND_CONFIG`), overridden by
//! `ERRAND_*` environment variables, overridden by flags (`load.rs`). This file holds the
//! settings as the file writes them, with their defaults; `resolve.rs` turns them into the
//! objects the engine and the API run with, and refuses what cannot work.

mod database;
mod load;
mod resolve;

use std::collections::BTreeMap;

use serde::Deserialize;

pub use database::Database;
pub use load::{Overrides, load};
pub use resolve::{Resolved, resolve};

use crate::auth::Scope;

/// The whole configuration, as in the TOML file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the API listens (`ERRAND_LISTEN`).
    pub listen: String,
    /// The database: `sqlite://PATH` or `postgres://…` (`ERRAND_DATABASE_URL`).
    pub database_url: String,
    /// The most connections to PostgreSQL this node opens (`ERRAND_DATABASE_POOL_SIZE`).
    pub database_pool_size: usize,
    /// errand's URL as the application reaches it, for `Errand-Callback` (`ERRAND_PUBLIC_URL`;
    /// default `http://` + `listen`).
    pub public_url: Option<String>,
    /// Days final tasks and their events are kept (`ERRAND_RETENTION_DAYS`).
    pub retention_days: u32,
    /// Whether every enqueue runs the task before it answers (`ERRAND_INLINE`).
    pub inline: bool,
    /// Seconds running tasks get to finish on a drain signal (`ERRAND_GRACE_SECONDS`).
    pub grace_seconds: u64,
    /// Seconds the application has between two reports on a task it runs itself (after a 202,
    /// or a tracked task it started) before errand takes it back (`ERRAND_REPORT_TIMEOUT_SECONDS`).
    pub report_timeout_seconds: u64,
    /// The largest request body the API takes, in bytes (`ERRAND_MAX_BODY_BYTES`).
    pub max_body_bytes: usize,
    /// Keys, tokens and encryption.
    pub auth: AuthConfig,
    /// Queues by name.
    pub queues: BTreeMap<String, QueueConfig>,
    /// The application's endpoints by name.
    pub targets: BTreeMap<String, TargetConfig>,
    /// The browser side.
    pub ui: UiConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:7700".into(),
            database_url: "sqlite://errand.db".into(),
            database_pool_size: 16,
            public_url: None,
            retention_days: 7,
            inline: false,
            grace_seconds: 30,
            report_timeout_seconds: 300,
            max_body_bytes: 1024 * 1024,
            auth: AuthConfig::default(),
            queues: BTreeMap::new(),
            targets: BTreeMap::new(),
            ui: UiConfig::default(),
        }
    }
}

/// `[auth]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// The application's API keys. With none, errand generates an admin key at first start.
    pub api_keys: Vec<ApiKeyConfig>,
    /// The HS256 secret of user tokens (generated and kept if not given).
    pub user_token_secret: Option<String>,
    /// The key that seals forwarded credentials: 32 bytes as URL-safe base64 (generated and
    /// kept if not given; several nodes must share it).
    pub encryption_key: Option<String>,
    /// Where generated secrets are kept (default: beside the database, `<file>.secrets.toml`).
    pub secrets_file: Option<String>,
}

/// One API key.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// The key, as the application sends it.
    pub key: String,
    /// What it may do.
    pub scopes: Vec<Scope>,
}

/// `[queues.NAME]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// The most tasks of the queue running at once (default 4).
    pub concurrency: Option<u32>,
    /// Attempts a task gets unless it says otherwise (default 3).
    pub max_attempts: Option<u32>,
    /// Longest an attempt may run unless the task says otherwise.
    pub timeout_seconds: Option<u64>,
    /// The most tasks started per second.
    pub rate_per_second: Option<f64>,
    /// The most tasks of one owner running at once.
    pub per_owner_concurrency: Option<u32>,
}

/// `[targets.NAME]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// The application's base URL; a task's path is appended to it.
    pub base_url: String,
    /// The Standard Webhooks signing secret (`whsec_…`).
    pub secret: Option<String>,
    /// The request headers of the user that may be forwarded to this target.
    #[serde(default)]
    pub forward_headers: Vec<String>,
    /// Seconds a dispatch may take (default 30).
    pub timeout_seconds: Option<u64>,
    /// The most dispatches in flight to this target from one node.
    pub concurrency: Option<usize>,
}

/// `[ui]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UiConfig {
    /// Origins whose pages may call the API and the event stream (CORS).
    pub allowed_origins: Vec<String>,
}
