//! The `errand` binary: `serve` starts on `errand.db` in the working folder and drains on each
//! of SIGTERM, SIGINT and SIGQUIT; bad arguments get a clear message and a non-zero exit.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn errand() -> Command {
    Command::new(env!("CARGO_BIN_EXE_errand"))
}

#[test]
fn serve_starts_on_errand_db_and_drains_on_each_signal() {
    for signal in ["TERM", "INT", "QUIT"] {
        let dir = tempfile::tempdir().unwrap();
        let mut child = errand()
            .arg("serve")
            .current_dir(dir.path())
            .env_remove("ERRAND_DATABASE_URL")
            .env("NO_COLOR", "1")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let started = lines
            .by_ref()
            .map_while(Result::ok)
            .find(|line| line.contains("engine started"));
        assert!(started.is_some(), "serve logged its start");
        assert!(dir.path().join("errand.db").exists());
        let status = Command::new("kill")
            .args([format!("-{signal}"), child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let rest: Vec<String> = lines.map_while(Result::ok).collect();
        let exit = child.wait().unwrap();
        assert!(exit.success(), "SIG{signal}: {exit:?}\n{}", rest.join("\n"));
        assert!(
            rest.iter()
                .any(|l| l.contains("draining on signal") && l.contains(&format!("SIG{signal}"))),
            "{}",
            rest.join("\n")
        );
        assert!(rest.iter().any(|l| l.contains("engine stopped")));
    }
}

#[test]
fn bad_arguments_exit_non_zero_with_a_message() {
    let out = errand()
        .args(["serve", "--concurrency", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--concurrency"));

    let out = errand()
        .args(["serve", "--database-url", "mysql://db/errand"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("errand: the database URL \"mysql://db/errand\" is not supported")
    );

    let out = errand().arg("frobnicate").output().unwrap();
    assert!(!out.status.success());
}

#[test]
fn migrate_creates_the_schema_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("x.db").display());
    let first = errand()
        .args(["migrate", "--database-url", &url])
        .output()
        .unwrap();
    assert!(first.status.success());
    assert!(String::from_utf8_lossy(&first.stdout).contains("applied migrations [1]"));
    let second = errand()
        .args(["migrate", "--database-url", &url])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&second.stdout).contains("is up to date"));
}

#[test]
fn a_database_from_a_newer_errand_is_refused_with_the_remedy() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    errand::store::sqlite::SqliteStore::migrate(&path).unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)",
        [],
    )
    .unwrap();
    drop(conn);
    let out = errand()
        .args(["migrate", "--database-url", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("schema version 999") && stderr.contains("run a newer errand"),
        "{stderr}"
    );
}
