//! Connections: the settings every errand connection shares, and the pool.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

use super::PostgresOptions;
use crate::store::{StoreError, StoreResult};

/// How long opening a connection may take before it counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a caller waits for a pooled connection before the operation fails.
const POOL_WAIT: Duration = Duration::from_secs(30);

/// The connection settings of `options`: its URL, and the schema (if any) first on the
/// search path of every connection, so that statements name no schema.
pub(super) fn config(options: &PostgresOptions) -> StoreResult<tokio_postgres::Config> {
    let mut config: tokio_postgres::Config = options.url.parse()?;
    config.connect_timeout(CONNECT_TIMEOUT);
    config.keepalives(true);
    if config.get_application_name().is_none() {
        config.application_name("errand");
    }
    if let Some(schema) = &options.schema {
        check_schema_name(schema)?;
        config.options(format!("-c search_path={schema}"));
    }
    Ok(config)
}

/// A schema name that needs no quoting anywhere: lowercase ASCII letters, digits and `_`.
pub(super) fn check_schema_name(schema: &str) -> StoreResult<()> {
    let plain = !schema.is_empty()
        && schema.len() <= 63
        && !schema.starts_with(|c: char| c.is_ascii_digit())
        && schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "schema name {schema:?}: use lowercase letters, digits and _ (at most 63)"
        )))
    }
}

/// A pool of at most `options.pool_size` connections. Connections open lazily: building the
/// pool never touches the network.
pub(super) fn pool(options: &PostgresOptions) -> StoreResult<Pool> {
    let manager = Manager::from_config(
        config(options)?,
        NoTls,
        ManagerConfig {
            // A connection that fails a query is dropped by tokio-postgres and seen as
            // closed; checking it with a round trip on every checkout costs more than it saves.
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(options.pool_size.max(1))
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(POOL_WAIT))
        .create_timeout(Some(CONNECT_TIMEOUT))
        .build()
        .map_err(|err| StoreError::Database(Box::new(err)))
}

/// One connection outside the pool (migrations, the event listener), driven by its own task
/// until the client is dropped or the connection fails.
pub(super) async fn connect_one(
    config: &tokio_postgres::Config,
) -> StoreResult<tokio_postgres::Client> {
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        if let Err(err) = connection.await {
            tracing::debug!(error = %err, "a postgres connection ended");
        }
    });
    Ok(client)
}
