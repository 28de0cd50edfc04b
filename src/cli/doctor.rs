//! `errand doctor`: ask the server to test itself (`GET /v1/selftest`: the store, each
//! target's reachability, a probe task's round trip) and print each check.

use clap::Args;
use serde::Deserialize;

use super::client::Remote;

/// Flags of `errand doctor`.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes:\n  0  no check failed (warnings allowed)\n  1  a check failed, or errand could not be asked"
)]
pub struct DoctorArgs {
    #[command(flatten)]
    remote: Remote,
}

/// The answer of `GET /v1/selftest`.
#[derive(Debug, Deserialize)]
struct Report {
    #[serde(default)]
    checks: Vec<Check>,
}

/// One check of the self-test.
#[derive(Debug, Deserialize)]
struct Check {
    name: String,
    /// `ok`, `warn` or `fail`.
    status: String,
    reason: Option<String>,
}

/// Prints the checks; exits 1 when one of them failed.
pub async fn run(args: DoctorArgs) -> anyhow::Result<u8> {
    let client = args.remote.connect()?;
    let report: Report = client.get(&["selftest"]).await?.parse()?;
    print!("{}", lines(&report.checks));
    let failed = report
        .checks
        .iter()
        .filter(|check| check.status == "fail")
        .count();
    if failed > 0 {
        println!("{failed} of {} checks failed", report.checks.len());
        return Ok(1);
    }
    Ok(0)
}

/// `ok    store` / `fail  target app: connection refused`, one line per check.
fn lines(checks: &[Check]) -> String {
    checks
        .iter()
        .map(
            |check| match check.reason.as_deref().filter(|reason| !reason.is_empty()) {
                Some(reason) => format!("{:<5} {}: {reason}\n", check.status, check.name),
                None => format!("{:<5} {}\n", check.status, check.name),
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_check_is_a_line_with_its_reason() {
        let report: Report = serde_json::from_value(serde_json::json!({"checks": [
            {"name": "store", "status": "ok"},
            {"name": "target app", "status": "fail", "reason": "connection refused"}
        ]}))
        .unwrap();
        assert_eq!(
            lines(&report.checks),
            "ok    store\nfail  target app: connection refused\n"
        );
    }
}
