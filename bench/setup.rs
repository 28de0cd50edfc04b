//! The store each run measures: a fresh SQLite file in a temporary directory, or a fresh
//! schema in a PostgreSQL database; and removing it afterwards.
//!
//! Every run of every workload starts from an empty store, so that runs do not inherit each
//! other's rows, WAL or bloat. What is created is removed even when a workload fails, except
//! when the process is killed: the SQLite files are under the system's temporary directory,
//! and the PostgreSQL schemas are named `errand_bench_…`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use errand::engine::{Engine, EngineBuilder};
use errand::model::Queue;
use errand::store::Store;
use errand::store::postgres::{PostgresOptions, PostgresStore};
use errand::store::sqlite::{Durability, SqliteStore};

/// The slots of the measured queue in every workload.
pub const SLOTS: u32 = 16;

/// Which store the runs measure.
pub enum Backend {
    /// SQLite files under `dir`, with `durability`.
    Sqlite {
        /// Removed when the harness ends.
        dir: TempDir,
        /// `synchronous = NORMAL` or `FULL`.
        durability: Durability,
    },
    /// Schemas in the PostgreSQL database at `url`.
    Postgres {
        /// A `postgres://` URL.
        url: String,
        /// The pool of each store.
        pool_size: usize,
    },
}

/// One run's store, and what to remove after it.
pub struct Fresh {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Where it lives.
    pub place: Place,
}

/// Where a fresh store lives.
pub enum Place {
    /// An SQLite file in a directory of its own.
    Sqlite {
        /// The database file.
        file: PathBuf,
        /// Its directory (with the WAL).
        dir: PathBuf,
    },
    /// A schema of a PostgreSQL database.
    Postgres {
        /// The database.
        url: String,
        /// The schema.
        schema: String,
    },
}

impl Backend {
    /// SQLite files in a new temporary directory.
    pub fn sqlite(durability: Durability) -> anyhow::Result<Backend> {
        Ok(Backend::Sqlite {
            dir: TempDir::new("errand-bench")?,
            durability,
        })
    }

    /// A new, empty store.
    pub async fn fresh(&self) -> anyhow::Result<Fresh> {
        match self {
            Backend::Sqlite { dir, durability } => {
                let run_dir = dir.path().join(format!("run-{:08x}", fastrand::u32(..)));
                std::fs::create_dir_all(&run_dir)
                    .with_context(|| format!("creating {}", run_dir.display()))?;
                let file = run_dir.join("errand.db");
                let (path, durability) = (file.clone(), *durability);
                let store =
                    tokio::task::spawn_blocking(move || SqliteStore::open_with(path, durability))
                        .await
                        .context("opening the SQLite store was interrupted")?
                        .with_context(|| format!("opening the SQLite store {}", file.display()))?;
                Ok(Fresh {
                    store: Arc::new(store),
                    place: Place::Sqlite { file, dir: run_dir },
                })
            }
            Backend::Postgres { url, pool_size } => {
                let schema = format!("errand_bench_{:08x}", fastrand::u32(..));
                let options = PostgresOptions {
                    url: url.clone(),
                    schema: Some(schema.clone()),
                    pool_size: *pool_size,
                };
                let store = PostgresStore::connect(options).await.with_context(|| {
                    format!("opening the PostgreSQL store in a new schema {schema}")
                })?;
                Ok(Fresh {
                    store: Arc::new(store),
                    place: Place::Postgres {
                        url: url.clone(),
                        schema,
                    },
                })
            }
        }
    }

    /// The durability settings the figures were taken under, as the database reports them.
    pub async fn durability(&self) -> anyhow::Result<Vec<(String, String)>> {
        match self {
            Backend::Sqlite { durability, .. } => {
                let synchronous = match durability {
                    Durability::Normal => "NORMAL",
                    Durability::Full => "FULL",
                };
                Ok(vec![(
                    "sqlite synchronous".into(),
                    format!("{synchronous} (journal_mode = WAL)"),
                )])
            }
            Backend::Postgres { url, .. } => {
                let client = connect(url).await?;
                let mut settings = Vec::new();
                for name in ["server_version", "synchronous_commit", "fsync"] {
                    let row = client
                        .query_one(&format!("SHOW {name}"), &[])
                        .await
                        .with_context(|| format!("reading the server's {name}"))?;
                    let value: String = row.try_get(0)?;
                    settings.push((format!("postgres {name}"), value));
                }
                Ok(settings)
            }
        }
    }
}

impl Fresh {
    /// An engine builder on this store with the measured queue (`default`, [`SLOTS`] slots).
    pub fn engine(&self) -> EngineBuilder {
        Engine::builder()
            .store(Arc::clone(&self.store))
            .queue(Queue::new("default").concurrency(SLOTS))
    }

    /// Removes the store's file or schema. The engine on it must have been shut down.
    pub async fn remove(self) -> anyhow::Result<()> {
        let Fresh { store, place } = self;
        // The store's connections close first (and its PostgreSQL listener stops).
        drop(store);
        match place {
            Place::Sqlite { dir, .. } => {
                std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))
            }
            Place::Postgres { url, schema } => {
                let client = connect(&url).await?;
                client
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    .await
                    .with_context(|| format!("dropping the schema {schema}"))
            }
        }
    }
}

/// Runs `work` on a fresh store, then removes the store whatever the outcome.
pub async fn on_fresh<T>(
    backend: &Backend,
    work: impl AsyncFnOnce(&Fresh) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let fresh = backend.fresh().await?;
    let outcome = work(&fresh).await;
    let removed = fresh.remove().await;
    let value = outcome?;
    removed?;
    Ok(value)
}

/// Runs `work` with `engine`, then shuts the engine down whatever the outcome.
pub async fn with_engine<T, Fut>(engine: Engine, work: Fut) -> anyhow::Result<T>
where
    Fut: Future<Output = anyhow::Result<T>>,
{
    let outcome = work.await;
    engine.shutdown(std::time::Duration::from_secs(5)).await;
    outcome
}

/// A connection of the harness's own (not the store's) to the PostgreSQL database at `url`.
pub async fn connect(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .context("connecting to PostgreSQL (check --database-url and that the server is up)")?;
    tokio::spawn(async move {
        if let Err(err) = connection.await {
            tracing::debug!(error = %err, "a postgres connection ended");
        }
    });
    Ok(client)
}

/// A directory under the system's temporary directory, removed when dropped.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `{tmp}/{prefix}-{pid}-{random}`.
    pub fn new(prefix: &str) -> anyhow::Result<TempDir> {
        let path = std::env::temp_dir().join(format!(
            "{prefix}-{}-{:08x}",
            std::process::id(),
            fastrand::u32(..)
        ));
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(TempDir { path })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
