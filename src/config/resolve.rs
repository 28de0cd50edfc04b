//! From the settings to the running objects: addresses parsed, queues and targets built, keys
//! digested, secrets read or generated. Everything that cannot work is refused here, with a
//! message that names the setting.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};

use super::Config;
use super::database::Database;
use crate::auth::secrets::{self, Wanted};
use crate::auth::{ApiKeys, Sealer, TaskTokens, UserTokens};
use crate::engine::EngineConfig;
use crate::model::Queue;
use crate::run::http::Target;

/// The longest time any setting in seconds may name: 30 days.
const MAX_SECONDS: u64 = 30 * 86_400;

/// The queue every task goes to unless it names another; configured or not, it exists.
pub const DEFAULT_QUEUE: &str = "default";

/// The configuration, ready to run.
#[derive(Debug)]
pub struct Resolved {
    /// Where the API listens.
    pub listen: SocketAddr,
    /// The database.
    pub database: Database,
    /// errand's URL as the application reaches it (`None`: `http://` and the address the API
    /// listens on, once bound).
    pub public_url: Option<String>,
    /// The engine's timings and modes.
    pub engine: EngineConfig,
    /// The queues.
    pub queues: Vec<Queue>,
    /// The application's endpoints.
    pub targets: Vec<Target>,
    /// The API keys.
    pub api_keys: ApiKeys,
    /// User tokens.
    pub user_tokens: UserTokens,
    /// Per-task tokens.
    pub task_tokens: TaskTokens,
    /// Seals forwarded credentials.
    pub sealer: Sealer,
    /// How long the application has between reports.
    pub report_timeout: Duration,
    /// How long running tasks get on a drain.
    pub grace: Duration,
    /// The largest request body.
    pub max_body_bytes: usize,
    /// Origins whose pages may call the API (CORS).
    pub allowed_origins: Vec<axum::http::HeaderValue>,
    /// The admin API key generated at this start, to be shown once.
    pub new_admin_api_key: Option<String>,
    /// Where the generated secrets are kept.
    pub secrets_file: PathBuf,
}

/// Checks `config` and builds what it describes; reads (or generates and writes) the secrets
/// the configuration does not give.
pub fn resolve(config: Config) -> anyhow::Result<Resolved> {
    let listen: SocketAddr = config.listen.parse().with_context(|| {
        format!(
            "listen = {:?} is not an address and port (like 127.0.0.1:7700)",
            config.listen
        )
    })?;
    let database = Database::parse(&config.database_url, config.database_pool_size)?;
    let public_url = config
        .public_url
        .as_deref()
        .map(|url| url.trim_end_matches('/').to_owned());
    if let Some(url) = &public_url
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        bail!("public_url = {url:?} must be an http:// or https:// URL");
    }
    if config.max_body_bytes < 1024 {
        bail!("max_body_bytes must be at least 1024");
    }
    if !(1..=MAX_SECONDS).contains(&config.report_timeout_seconds) {
        bail!("report_timeout_seconds must be between 1 and {MAX_SECONDS} (30 days)");
    }
    if config.grace_seconds > MAX_SECONDS {
        bail!("grace_seconds must be at most {MAX_SECONDS} (30 days)");
    }
    let queues = queues(&config)?;
    let allowed_origins = config
        .ui
        .allowed_origins
        .iter()
        .map(|origin| self::origin(origin))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let targets = config
        .targets
        .iter()
        .map(|(name, target)| self::target(name, target))
        .collect::<anyhow::Result<Vec<_>>>()?;

    let secrets_file = match (&config.auth.secrets_file, &database) {
        (Some(path), _) => PathBuf::from(path),
        (None, Database::Sqlite(path)) => secrets::path_beside(path),
        (None, Database::Postgres(_)) => PathBuf::from("errand.secrets.toml"),
    };
    let loaded = secrets::load_or_generate(
        &secrets_file,
        Wanted {
            admin_api_key: config.auth.api_keys.is_empty(),
            user_token_secret: config.auth.user_token_secret.is_none(),
            encryption_key: config.auth.encryption_key.is_none(),
        },
    )?;
    let mut api_keys = ApiKeys::default();
    for (index, key) in config.auth.api_keys.iter().enumerate() {
        if key.key.len() < 16 {
            bail!("auth.api_keys[{index}]: a key must be at least 16 characters long");
        }
        if key.scopes.is_empty() {
            bail!("auth.api_keys[{index}]: a key needs at least one scope (enqueue, read, admin)");
        }
        api_keys.add(&key.key, key.scopes.clone());
    }
    if config.auth.api_keys.is_empty() {
        let digest = loaded
            .secrets
            .admin_api_key_sha256
            .as_deref()
            .and_then(secrets::unhex)
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
            .with_context(|| {
                format!(
                    "{}: admin_api_key_sha256 is not a SHA-256 digest",
                    secrets_file.display()
                )
            })?;
        api_keys.add_digest(digest, vec![crate::auth::Scope::Admin]);
    }
    let user_token_secret = config
        .auth
        .user_token_secret
        .clone()
        .or(loaded.secrets.user_token_secret.clone())
        .unwrap_or_default();
    if user_token_secret.len() < 16 {
        bail!("auth.user_token_secret must be at least 16 characters long");
    }
    let encryption_key = config
        .auth
        .encryption_key
        .clone()
        .or(loaded.secrets.encryption_key.clone())
        .unwrap_or_default();
    let encryption_key = decode_key(&encryption_key).context(
        "auth.encryption_key must be 32 bytes as URL-safe base64 (make one with \
         `head -c32 /dev/urandom | basenc --base64url`)",
    )?;
    Ok(Resolved {
        listen,
        database,
        public_url,
        engine: EngineConfig {
            retention: Duration::from_secs(
                u64::from(config.retention_days.clamp(1, 3650)) * 86_400,
            ),
            inline: config.inline,
            ..EngineConfig::default()
        },
        queues,
        targets,
        api_keys,
        user_tokens: UserTokens::new(user_token_secret),
        task_tokens: TaskTokens::new(&encryption_key),
        sealer: Sealer::new(encryption_key),
        report_timeout: Duration::from_secs(config.report_timeout_seconds),
        grace: Duration::from_secs(config.grace_seconds),
        max_body_bytes: config.max_body_bytes,
        allowed_origins,
        new_admin_api_key: loaded.new_admin_api_key,
        secrets_file,
    })
}

fn queues(config: &Config) -> anyhow::Result<Vec<Queue>> {
    let mut queues = Vec::new();
    for (name, settings) in &config.queues {
        let field = |what: &str| format!("queues.{name}.{what}");
        let mut queue = Queue::new(name).concurrency(4);
        if name.is_empty() || name.len() > 100 {
            bail!("a queue name must have 1 to 100 characters: {name:?}");
        }
        if let Some(slots) = settings.concurrency {
            if !(1..=10_000).contains(&slots) {
                bail!("{} must be between 1 and 10000", field("concurrency"));
            }
            queue = queue.concurrency(slots);
        }
        if let Some(attempts) = settings.max_attempts {
            if !(1..=100).contains(&attempts) {
                bail!("{} must be between 1 and 100", field("max_attempts"));
            }
            queue = queue.max_attempts(attempts);
        }
        if let Some(seconds) = settings.timeout_seconds {
            if !(1..=MAX_SECONDS).contains(&seconds) {
                bail!(
                    "{} must be between 1 and {MAX_SECONDS}",
                    field("timeout_seconds")
                );
            }
            queue = queue.timeout(Duration::from_secs(seconds));
        }
        if let Some(rate) = settings.rate_per_second {
            if !(rate.is_finite() && (0.001..=1_000_000.0).contains(&rate)) {
                bail!(
                    "{} must be between 0.001 and 1000000",
                    field("rate_per_second")
                );
            }
            queue = queue.rate_per_second(rate);
        }
        if let Some(slots) = settings.per_owner_concurrency {
            if slots == 0 {
                bail!("{} must be at least 1", field("per_owner_concurrency"));
            }
            queue = queue.per_owner_concurrency(slots);
        }
        queues.push(queue);
    }
    if !config.queues.contains_key(DEFAULT_QUEUE) {
        queues.push(Queue::new(DEFAULT_QUEUE).concurrency(4));
    }
    Ok(queues)
}

fn target(name: &str, settings: &super::TargetConfig) -> anyhow::Result<Target> {
    let field = |what: &str| format!("targets.{name}.{what}");
    let base_url: reqwest::Url = settings.base_url.parse().with_context(|| {
        format!(
            "{} = {:?} is not a URL",
            field("base_url"),
            settings.base_url
        )
    })?;
    let secret = match settings.secret.as_deref() {
        Some(secret) => Target::parse_secret(secret)
            .map_err(|err| anyhow::anyhow!("{}: {err}", field("secret")))?,
        None => bail!(
            "{} is required: errand signs every dispatch (make one with \
             `echo whsec_$(head -c32 /dev/urandom | base64)`)",
            field("secret")
        ),
    };
    let target = Target {
        name: name.to_owned(),
        base_url,
        secret: Some(secret),
        forward_headers: settings
            .forward_headers
            .iter()
            .map(|header| header.trim().to_ascii_lowercase())
            .collect(),
        timeout: Duration::from_secs(settings.timeout_seconds.unwrap_or(30).min(MAX_SECONDS)),
        concurrency: settings.concurrency,
    };
    target
        .check()
        .map_err(|problem| anyhow::anyhow!("targets.{name}: {problem}"))?;
    Ok(target)
}

/// An origin of `[ui] allowed_origins`: `scheme://host[:port]`, nothing more.
fn origin(text: &str) -> anyhow::Result<axum::http::HeaderValue> {
    let url: reqwest::Url = text
        .parse()
        .with_context(|| format!("ui.allowed_origins: {text:?} is not an origin"))?;
    let bare = url.origin().ascii_serialization();
    if !matches!(url.scheme(), "http" | "https") || bare != text.trim_end_matches('/') {
        bail!("ui.allowed_origins: {text:?} is not an origin like https://cms.example.org");
    }
    Ok(axum::http::HeaderValue::from_str(&bare)?)
}

fn decode_key(text: &str) -> Option<[u8; 32]> {
    use base64::Engine as _;
    let text = text.trim().trim_end_matches('=');
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()?;
    bytes.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_in(dir: &std::path::Path, toml_text: &str) -> Config {
        let mut config: Config = toml::from_str(toml_text).unwrap();
        config.database_url = format!("sqlite://{}", dir.join("errand.db").display());
        config
    }

    #[test]
    fn no_configuration_generates_an_admin_key_once_and_keeps_the_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let first = resolve(config_in(dir.path(), "")).unwrap();
        let key = first.new_admin_api_key.clone().unwrap();
        assert_eq!(
            first.api_keys.scopes(&key),
            Some(&[crate::auth::Scope::Admin][..])
        );
        assert_eq!(first.listen.to_string(), "127.0.0.1:7700");
        assert!(first.queues.iter().any(|q| q.name == DEFAULT_QUEUE));
        let second = resolve(config_in(dir.path(), "")).unwrap();
        assert_eq!(second.new_admin_api_key, None);
        assert!(second.api_keys.scopes(&key).is_some());
        let id = crate::model::TaskId::new();
        let sealed = first.sealer.seal(id, b"x").unwrap();
        assert_eq!(second.sealer.open(id, &sealed).unwrap(), b"x");
    }

    #[test]
    fn settings_that_cannot_work_are_named() {
        let dir = tempfile::tempdir().unwrap();
        for (text, expected) in [
            ("listen = \"nowhere\"", "listen"),
            ("[queues.q]\nconcurrency = 0", "queues.q.concurrency"),
            (
                "[targets.app]\nbase_url = \"ftp://x\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"",
                "targets.app: the base URL",
            ),
            (
                "[targets.app]\nbase_url = \"http://x\"",
                "targets.app.secret",
            ),
            (
                "[auth]\napi_keys = [{ key = \"short\", scopes = [\"read\"] }]",
                "16 characters",
            ),
            ("[auth]\nencryption_key = \"abc\"", "encryption_key"),
            (
                "[ui]\nallowed_origins = [\"https://x.org/path\"]",
                "allowed_origins",
            ),
        ] {
            let err = resolve(config_in(dir.path(), text)).unwrap_err();
            assert!(format!("{err:#}").contains(expected), "{text}: {err:#}");
        }
    }
}
