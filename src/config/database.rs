//! Which database errand keeps its tasks in, from its URL: `sqlite://PATH` (the embedded
//! default, one file) or `postgres://…` (several nodes sharing one database).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, bail};

use crate::store::Store;
use crate::store::postgres::{PostgresOptions, PostgresStore};
use crate::store::sqlite::SqliteStore;

/// A database, chosen by its URL.
#[derive(Debug, Clone)]
pub enum Database {
    /// An SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL database.
    Postgres(PostgresOptions),
}

impl Database {
    /// The database of `url`, with a pool of `pool_size` connections for PostgreSQL.
    pub fn parse(url: &str, pool_size: usize) -> anyhow::Result<Database> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            if pool_size == 0 {
                bail!("database_pool_size must be at least 1");
            }
            return Ok(Database::Postgres(PostgresOptions {
                pool_size,
                ..PostgresOptions::new(url)
            }));
        }
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                bail!("the database URL {url:?} names no file (try sqlite://errand.db)");
            }
            return Ok(Database::Sqlite(path.into()));
        }
        if url.contains("://") {
            bail!("the database URL {url:?} is not supported: use sqlite://PATH or postgres://…");
        }
        Ok(Database::Sqlite(url.into()))
    }

    /// Opens the store (migrating it).
    pub async fn open(&self) -> anyhow::Result<Arc<dyn Store>> {
        match self {
            Database::Sqlite(path) => {
                let path = path.clone();
                let store = tokio::task::spawn_blocking(move || SqliteStore::open(path))
                    .await
                    .context("opening the store was interrupted")??;
                Ok(Arc::new(store))
            }
            Database::Postgres(options) => {
                Ok(Arc::new(PostgresStore::connect(options.clone()).await?))
            }
        }
    }

    /// Applies the pending migrations; answers the versions applied now.
    pub async fn migrate(&self) -> anyhow::Result<Vec<i64>> {
        match self {
            Database::Sqlite(path) => {
                let path = path.clone();
                Ok(
                    tokio::task::spawn_blocking(move || SqliteStore::migrate(path))
                        .await
                        .context("migrating was interrupted")??,
                )
            }
            Database::Postgres(options) => Ok(PostgresStore::migrate(options).await?),
        }
    }
}

impl fmt::Display for Database {
    /// The database for a log line: the file, or the PostgreSQL host and database without
    /// credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Sqlite(path) => write!(f, "{}", path.display()),
            Database::Postgres(options) => {
                let url = options.url.as_str();
                let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
                let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
                let host = host.split_once('?').map_or(host, |(host, _)| host);
                write!(f, "postgres://{host}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_sqlite_file_or_a_postgres_database() {
        assert!(matches!(
            Database::parse("sqlite://errand.db", 16).unwrap(),
            Database::Sqlite(path) if path == std::path::Path::new("errand.db")
        ));
        assert!(matches!(
            Database::parse("/var/lib/errand.db", 16).unwrap(),
            Database::Sqlite(path) if path == std::path::Path::new("/var/lib/errand.db")
        ));
        let postgres =
            Database::parse("postgres://errand:pw@db:5432/errand?sslmode=disable", 8).unwrap();
        assert!(matches!(&postgres, Database::Postgres(o) if o.pool_size == 8));
        assert_eq!(
            postgres.to_string(),
            "postgres://db:5432/errand",
            "no password in logs"
        );
        assert!(Database::parse("sqlite://", 16).is_err());
        assert!(Database::parse("mysql://x", 16).is_err());
        assert!(Database::parse("postgres://x", 0).is_err());
    }
}
