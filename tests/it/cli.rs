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
            .args(["serve", "--listen", "127.0.0.1:0"])
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
        .args(["serve", "--grace-seconds", "soon"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--grace-seconds"));

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("errand.toml");
    std::fs::write(&config, "[queues.content]\nconcurency = 2\n").unwrap();
    let out = errand()
        .args(["serve", "--config", config.to_str().unwrap()])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("errand.toml") && stderr.contains("concurency"),
        "{stderr}"
    );

    let out = errand()
        .args(["serve", "--listen", "nowhere"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("listen"));

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
    assert!(String::from_utf8_lossy(&first.stdout).contains("applied migrations [1, 2, 3]"));
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

/// Starts `errand serve` on a free port in `dir`; answers the child and the API's address.
fn serve_in(dir: &std::path::Path) -> (std::process::Child, String) {
    crate::util::spawn_serve(dir, &[], Stdio::piped())
}

/// Stops `child` with SIGTERM and answers what it wrote on stdout.
fn stop(child: std::process::Child) -> String {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `GET /v1/queues` with `key` as bearer; answers the status.
fn queues_status(address: &str, key: &str) -> u16 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        errand::run::http::client_builder()
            .build()
            .unwrap()
            .get(format!("http://{address}/v1/queues"))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    })
}

#[test]
fn a_first_start_prints_an_admin_key_once_and_a_restart_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, address) = serve_in(dir.path());
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut key = None;
    for line in stdout.lines().map_while(Result::ok) {
        if let Some(found) = line.trim().strip_prefix("errand_") {
            key = Some(format!("errand_{found}"));
            break;
        }
    }
    let key = key.expect("the first start printed an admin key");
    assert_eq!(queues_status(&address, &key), 200);
    assert_eq!(queues_status(&address, "errand_guess"), 401);
    stop(child);

    let (child, address) = serve_in(dir.path());
    assert_eq!(
        queues_status(&address, &key),
        200,
        "the key outlives a restart"
    );
    let printed = stop(child);
    assert!(
        !printed.contains("errand_"),
        "the key is printed once: {printed}"
    );
    let secrets = std::fs::read_to_string(dir.path().join("errand.db.secrets.toml")).unwrap();
    assert!(!secrets.contains(&key), "the key itself is not kept");
}

#[test]
fn log_lines_are_json_objects_with_log_format_json() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = errand()
        .args(["--log-format", "json", "serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env_remove("ERRAND_DATABASE_URL")
        .env_remove("ERRAND_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref().map_while(Result::ok) {
        let object: serde_json::Value = serde_json::from_str(&line).expect(&line);
        assert!(object["level"].is_string(), "{line}");
        let message = object["fields"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        seen.push(message.clone());
        if message == "API listening" {
            assert!(object["fields"]["address"].is_string(), "{line}");
            break;
        }
    }
    assert!(seen.iter().any(|m| m == "engine started"), "{seen:?}");
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    for line in lines.map_while(Result::ok) {
        serde_json::from_str::<serde_json::Value>(&line).expect(&line);
    }
    assert!(child.wait().unwrap().success());
}
