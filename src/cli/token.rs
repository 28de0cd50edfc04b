//! `errand token`: mint a user token for an end user (`POST /v1/tokens`), for a page's widget
//! or a test, and print it alone so that a script can capture it.

use clap::Args;
use serde::Deserialize;
use serde_json::json;

use super::client::Remote;

/// Flags of `errand token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The end user the token speaks for: it sees and acts on this owner's tasks alone.
    owner: String,
    /// How many seconds the token lasts [the server's default].
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    ttl: Option<u64>,
    #[command(flatten)]
    remote: Remote,
}

/// The answer of `POST /v1/tokens`.
#[derive(Debug, Deserialize)]
struct Minted {
    token: String,
    expires_at: Option<String>,
}

/// Mints the token: the token on stdout, when it expires on stderr.
pub async fn run(args: TokenArgs) -> anyhow::Result<()> {
    let client = args.remote.connect()?;
    let mut body = json!({ "owner": args.owner });
    if let Some(ttl) = args.ttl {
        body["ttl_seconds"] = ttl.into();
    }
    let minted: Minted = client.post(&["tokens"], body).await?.parse()?;
    println!("{}", minted.token);
    if let Some(expires_at) = minted.expires_at {
        eprintln!(
            "errand: the token for {} expires at {expires_at}",
            args.owner
        );
    }
    Ok(())
}
