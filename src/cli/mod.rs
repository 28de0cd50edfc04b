//! The command line: one file per command; this file holds the parser and the dispatch.

mod migrate;
mod serve;

use clap::{Parser, Subcommand};

/// errand: durable background tasks for web applications.
#[derive(Debug, Parser)]
#[command(name = "errand", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run errand: the engine's workers and sweepers on the database, until a signal drains it.
    Serve(serve::ServeArgs),
    /// Apply the database's pending schema migrations and exit.
    Migrate(migrate::MigrateArgs),
}

impl Cli {
    /// Runs the command.
    pub async fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Migrate(args) => migrate::run(args).await,
        }
    }
}

/// The database path of a `sqlite://PATH` URL, or of a plain path.
fn sqlite_path(database_url: &str) -> anyhow::Result<std::path::PathBuf> {
    if let Some(path) = database_url.strip_prefix("sqlite://") {
        if path.is_empty() {
            anyhow::bail!(
                "the database URL {database_url:?} names no file (try sqlite://errand.db)"
            );
        }
        return Ok(path.into());
    }
    if database_url.contains("://") {
        anyhow::bail!("the database URL {database_url:?} is not supported yet: use sqlite://PATH");
    }
    Ok(database_url.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_name_a_sqlite_file() {
        assert_eq!(
            sqlite_path("sqlite://errand.db").unwrap(),
            std::path::PathBuf::from("errand.db")
        );
        assert_eq!(
            sqlite_path("/var/lib/errand.db").unwrap(),
            std::path::PathBuf::from("/var/lib/errand.db")
        );
        assert!(sqlite_path("sqlite://").is_err());
        assert!(sqlite_path("mysql://x").is_err());
    }
}
