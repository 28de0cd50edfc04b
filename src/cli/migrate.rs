//! `errand migrate`: bring the database's schema up to date.

use anyhow::Context;
use clap::Args;
use errand::store::sqlite::SqliteStore;

/// Flags of `errand migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The database: `sqlite://PATH` (or a plain path).
    #[arg(
        long,
        env = "ERRAND_DATABASE_URL",
        default_value = "sqlite://errand.db"
    )]
    database_url: String,
}

/// Applies the pending migrations.
pub async fn run(args: MigrateArgs) -> anyhow::Result<()> {
    let path = errand::config::sqlite_path(&args.database_url)?;
    let applied = tokio::task::spawn_blocking({
        let path = path.clone();
        move || SqliteStore::migrate(path)
    })
    .await?
    .with_context(|| format!("migrating {}", path.display()))?;
    if applied.is_empty() {
        println!("{} is up to date", path.display());
    } else {
        println!("{}: applied migrations {applied:?}", path.display());
    }
    Ok(())
}
