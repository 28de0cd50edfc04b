//! Where the configuration comes from, in order: defaults, the TOML file, `ERRAND_*`
//! environment variables, flags. Each layer overrides the one before.

use std::path::Path;

use anyhow::Context as _;

use super::Config;

/// What flags override (each `None` leaves the file's or the environment's value).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<String>,
    /// `--database-url`.
    pub database_url: Option<String>,
    /// `--public-url`.
    pub public_url: Option<String>,
    /// `--inline`.
    pub inline: Option<bool>,
    /// `--grace-seconds`.
    pub grace_seconds: Option<u64>,
}

/// The configuration from the file at `file` (if any), then the environment read through
/// `env`, then `flags`.
pub fn load(
    file: Option<&Path>,
    env: impl Fn(&str) -> Option<String>,
    flags: Overrides,
) -> anyhow::Result<Config> {
    let mut config = match file {
        Some(path) => read_file(path)?,
        None => Config::default(),
    };
    apply_env(&mut config, env)?;
    apply_flags(&mut config, flags);
    Ok(config)
}

fn read_file(path: &Path) -> anyhow::Result<Config> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("could not read the configuration file {}", path.display()))?;
    toml::from_str(&text)
        .map_err(|err| anyhow::anyhow!("{}: {}", path.display(), err.to_string().trim_end()))
}

fn apply_env(config: &mut Config, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
    let text = |name: &str| env(name).filter(|value| !value.is_empty());
    if let Some(value) = text("ERRAND_LISTEN") {
        config.listen = value;
    }
    if let Some(value) = text("ERRAND_DATABASE_URL") {
        config.database_url = value;
    }
    if let Some(value) = text("ERRAND_DATABASE_POOL_SIZE") {
        config.database_pool_size = parse_env("ERRAND_DATABASE_POOL_SIZE", &value)?;
    }
    if let Some(value) = text("ERRAND_PUBLIC_URL") {
        config.public_url = Some(value);
    }
    if let Some(value) = text("ERRAND_RETENTION_DAYS") {
        config.retention_days = parse_env("ERRAND_RETENTION_DAYS", &value)?;
    }
    if let Some(value) = text("ERRAND_INLINE") {
        config.inline = parse_bool("ERRAND_INLINE", &value)?;
    }
    if let Some(value) = text("ERRAND_GRACE_SECONDS") {
        config.grace_seconds = parse_env("ERRAND_GRACE_SECONDS", &value)?;
    }
    if let Some(value) = text("ERRAND_REPORT_TIMEOUT_SECONDS") {
        config.report_timeout_seconds = parse_env("ERRAND_REPORT_TIMEOUT_SECONDS", &value)?;
    }
    if let Some(value) = text("ERRAND_MAX_BODY_BYTES") {
        config.max_body_bytes = parse_env("ERRAND_MAX_BODY_BYTES", &value)?;
    }
    if let Some(value) = text("ERRAND_USER_TOKEN_SECRET") {
        config.auth.user_token_secret = Some(value);
    }
    if let Some(value) = text("ERRAND_ENCRYPTION_KEY") {
        config.auth.encryption_key = Some(value);
    }
    Ok(())
}

fn apply_flags(config: &mut Config, flags: Overrides) {
    if let Some(listen) = flags.listen {
        config.listen = listen;
    }
    if let Some(url) = flags.database_url {
        config.database_url = url;
    }
    if let Some(url) = flags.public_url {
        config.public_url = Some(url);
    }
    if let Some(inline) = flags.inline {
        config.inline = inline;
    }
    if let Some(grace) = flags.grace_seconds {
        config.grace_seconds = grace;
    }
}

fn parse_env<T: std::str::FromStr>(name: &str, value: &str) -> anyhow::Result<T>
where
    T::Err: std::fmt::Display,
{
    value
        .trim()
        .parse()
        .map_err(|err| anyhow::anyhow!("{name}={value:?} is not valid: {err}"))
}

fn parse_bool(name: &str, value: &str) -> anyhow::Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => anyhow::bail!("{name}={value:?} is not valid: use true or false"),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| vars.get(name).cloned()
    }

    #[test]
    fn flags_override_the_environment_which_overrides_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("errand.toml");
        std::fs::write(
            &file,
            "listen = \"0.0.0.0:1\"\ndatabase_url = \"sqlite://file.db\"\nretention_days = 3\n\
             [queues.content]\nconcurrency = 2\n",
        )
        .unwrap();
        let config = load(
            Some(&file),
            env(&[("ERRAND_LISTEN", "0.0.0.0:2"), ("ERRAND_INLINE", "true")]),
            Overrides {
                database_url: Some("sqlite://flag.db".into()),
                ..Overrides::default()
            },
        )
        .unwrap();
        assert_eq!(config.listen, "0.0.0.0:2");
        assert_eq!(config.database_url, "sqlite://flag.db");
        assert_eq!(config.retention_days, 3);
        assert!(config.inline);
        assert_eq!(config.queues["content"].concurrency, Some(2));
    }

    #[test]
    fn a_misspelt_key_is_refused_with_its_place() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("errand.toml");
        std::fs::write(&file, "[queues.content]\nconcurency = 2\n").unwrap();
        let err = load(Some(&file), env(&[]), Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("concurency"), "{err}");
        assert!(err.contains("errand.toml"), "{err}");
    }

    #[test]
    fn a_bad_environment_value_is_named() {
        let err = load(
            None,
            env(&[("ERRAND_RETENTION_DAYS", "soon")]),
            Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("ERRAND_RETENTION_DAYS"), "{err}");
    }
}
