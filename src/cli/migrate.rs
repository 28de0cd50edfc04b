//! `errand migrate`: bring the database's schema up to date.

use anyhow::Context;
use clap::Args;
use errand::config::Database;

/// Flags of `errand migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The database: `sqlite://PATH` (or a plain path), or `postgres://…`.
    #[arg(
        long,
        env = "ERRAND_DATABASE_URL",
        default_value = "sqlite://errand.db"
    )]
    database_url: String,
}

/// Applies the pending migrations.
pub async fn run(args: MigrateArgs) -> anyhow::Result<()> {
    let database = Database::parse(&args.database_url, 1)?;
    let applied = database
        .migrate()
        .await
        .with_context(|| format!("migrating {database}"))?;
    if applied.is_empty() {
        println!("{database} is up to date");
    } else {
        println!("{database}: applied migrations {applied:?}");
    }
    Ok(())
}
