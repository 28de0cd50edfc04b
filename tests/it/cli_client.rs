//! The client commands (`enqueue`, `ls`, `show`, `wait`, `cancel`, `retry`, `dismiss`,
//! `resume`, `token`, `doctor`): the real binary against a fake errand API that answers the
//! contract of DESIGN.md and records every request, so these tests do not depend on the server.

mod fake_api;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use fake_api::{FakeApi, Script, errand, polling, stderr, stdout, task};

#[test]
fn enqueue_sends_the_flags_as_the_body_and_prints_the_id() {
    let api = FakeApi::start(Script {
        api_key: Some("k1".into()),
        ..Script::default()
    });
    let out = api.run(&[
        "enqueue",
        "content.delete",
        "--queue",
        "content",
        "--owner",
        "alice",
        "--title",
        "Deleting 2 items",
        "--handler",
        "content.delete",
        "--payload",
        r#"["/a", "/b"]"#,
        "--delay",
        "5",
        "--priority",
        "2",
        "--max-attempts",
        "4",
        "--dedup-key",
        "d",
        "--ordering-key",
        "/news",
        "--context",
        r#"{"affects": ["/news"]}"#,
        "--api-key",
        "k1",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "0190-new\n");
    let seen = api.seen();
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        ("POST", "/v1/tasks")
    );
    assert_eq!(
        seen[0].body,
        json!({
            "name": "content.delete", "queue": "content", "owner": "alice",
            "title": "Deleting 2 items", "handler": "content.delete", "payload": ["/a", "/b"],
            "delay_seconds": 5, "priority": 2, "max_attempts": 4, "dedup_key": "d",
            "ordering_key": "/news", "context": {"affects": ["/news"]}
        })
    );

    let out = api.run(&["enqueue", "report.build", "--json", "--api-key", "k1"]);
    let printed: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(printed["id"], "0190-new");
    assert_eq!(printed["state"], "queued");
}

#[test]
fn enqueue_with_wait_exits_with_the_outcome() {
    let api = polling(vec![task(
        "0190-new",
        "failed",
        json!({"error": {"message": "boom"}}),
    )]);
    let out = api.run(&["enqueue", "content.delete", "--inline", "--wait"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out),
        "0190-new\nfailed: boom (see `errand show 0190-new`)\n"
    );
    assert_eq!(
        api.seen()[0].body,
        json!({"name": "content.delete", "inline": true})
    );
}

#[test]
fn ls_prints_a_table_and_the_counts_and_all_follows_the_cursor() {
    let counts = json!({"queued": 1, "running": 1, "waiting": 0, "failed_undismissed": 2});
    let first = json!({
        "tasks": [task("0190-b", "running", json!({
            "title": "Deleting 300 items from /news", "progress": {"percent": 42.0}}))],
        "next_cursor": "c2", "counts": counts,
    });
    let second = json!({
        "tasks": [task("0190-a", "failed", json!({"name": "publish", "queue": "content"}))],
        "next_cursor": null, "counts": counts,
    });
    let api = FakeApi::start(Script {
        pages: HashMap::from([("".into(), first), ("c2".into(), second)]),
        ..Script::default()
    });

    let out = api.run(&[
        "ls",
        "--owner",
        "alice",
        "--state",
        "queued,running",
        "--state",
        "failed",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "\
ID      STATE    QUEUE    NAME            TITLE                          PROGRESS  CREATED
0190-b  running  default  content.delete  Deleting 300 items from /news  42%       2025-11-27 13:57:01
1 queued, 1 running, 0 waiting, 2 failed (not dismissed)
more: errand ls --cursor c2 (or --all)
"
    );
    let query = &api.seen()[0].query;
    assert_eq!(query["owner"], "alice");
    assert_eq!(query["state"], "queued,running,failed");

    let out = api.run(&["ls", "--all", "--limit", "1"]);
    let text = stdout(&out);
    assert!(text.contains("0190-b") && text.contains("0190-a"), "{text}");
    assert!(!text.contains("more:"), "{text}");
    let cursors: Vec<Option<String>> = api.seen()[1..]
        .iter()
        .map(|s| s.query.get("cursor").cloned())
        .collect();
    assert_eq!(cursors, [None, Some("c2".to_owned())]);
}

#[test]
fn show_prints_the_error_and_its_whole_traceback() {
    let traceback = "Traceback (most recent call last):\n  File \"app.py\", line 12, in delete\n    os.remove(path)\nPermissionError: /news/a";
    let api = polling(vec![task(
        "0190-a",
        "failed",
        json!({"title": "Deleting 2 items", "error": {"message": "permission denied", "detail": traceback},
               "links": {"return_url": "/news"}, "finished_at": "2025-11-27T13:58:00Z"}),
    )]);
    let out = api.run(&["show", "0190-a"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for expected in [
        "id             0190-a\n",
        "title          Deleting 2 items\n",
        "state          failed\n",
        "attempt        1 of 3\n",
        "finished       2025-11-27 13:58:00\n",
        "return url     /news\n",
        "error          permission denied\n",
        "\nerror detail:\n  Traceback (most recent call last):\n    File \"app.py\", line 12, in delete\n      os.remove(path)\n  PermissionError: /news/a\n",
    ] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }
    let out = api.run(&["show", "missing"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), "errand: no task with id missing\n");
}

#[test]
fn wait_exit_codes_tell_how_the_task_ended_and_nothing_is_drawn_off_a_terminal() {
    let running = |percent: f64| {
        task(
            "0190-a",
            "running",
            json!({"progress": {"percent": percent, "message": "Deleting"}}),
        )
    };
    for (end, code, said) in [
        (
            task(
                "0190-a",
                "succeeded",
                json!({"progress": {"percent": 100, "message": "2 deleted"}}),
            ),
            0,
            "succeeded: 2 deleted\n",
        ),
        (
            task("0190-a", "failed", json!({"error": {"message": "boom"}})),
            1,
            "failed: boom (see `errand show 0190-a`)\n",
        ),
        (task("0190-a", "cancelled", json!({})), 2, "cancelled\n"),
        (task("0190-a", "expired", json!({})), 2, "expired\n"),
        (
            task(
                "0190-a",
                "waiting",
                json!({"links": {"input_url": "/confirm"}}),
            ),
            3,
            "waiting: answer at /confirm\n",
        ),
    ] {
        let api = polling(vec![running(30.0), running(60.0), end]);
        let out = api.run(&["wait", "0190-a"]);
        assert_eq!(out.status.code(), Some(code), "{said}{}", stderr(&out));
        assert_eq!(stdout(&out), said);
        assert_eq!(
            stderr(&out),
            "",
            "no progress bar when stderr is not a terminal"
        );
        let seen = api.seen();
        assert_eq!(seen.len(), 3);
        for poll in seen {
            assert_eq!(poll.path, "/v1/tasks/0190-a");
            assert_eq!(poll.query["wait"], "60", "long polls off a terminal");
        }
    }
}

#[test]
fn wait_gives_up_at_its_timeout_with_exit_code_4() {
    let running = |percent: u32| {
        task(
            "0190-a",
            "running",
            json!({"progress": {"percent": percent}}),
        )
    };
    let api = polling(vec![running(42), running(43)]);
    let started = Instant::now();
    let out = api.run(&["wait", "0190-a", "--timeout", "0.5"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "left the held poll at the deadline"
    );
    assert_eq!(
        stdout(&out),
        "timed out after 0.5s: the task is running (42%)\n"
    );
    assert_eq!(
        api.seen()[0].query["wait"],
        "1",
        "never asks to be held past the deadline"
    );

    let silent = polling(vec![running(0)]);
    let out = silent.run(&["wait", "0190-a", "--timeout", "0.2"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "timed out after 0.2s before errand answered\n"
    );
}

#[test]
fn a_server_that_is_down_gets_the_remedy() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let out = errand(&["ls", "--url", &url]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "errand: cannot reach errand at {url}: is `errand serve` running? (set --url or ERRAND_URL)\n"
        )
    );
}

#[test]
fn a_refused_or_missing_api_key_gets_the_remedy() {
    let api = FakeApi::start(Script {
        api_key: Some("right".into()),
        polls: Mutex::new(vec![task("0190-a", "succeeded", json!({}))].into()),
        ..Script::default()
    });
    let out = api.run(&["show", "0190-a", "--api-key", "wrong"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "errand: the API key was refused (set --api-key or ERRAND_API_KEY)\n"
    );
    let out = api.run(&["show", "0190-a"]);
    assert_eq!(
        stderr(&out),
        "errand: errand asks for an API key (set --api-key or ERRAND_API_KEY)\n"
    );
    let out = errand(&["show", "0190-a"])
        .env("ERRAND_URL", &api.url)
        .env("ERRAND_API_KEY", "right")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the key from ERRAND_API_KEY: {}",
        stderr(&out)
    );
}

#[test]
fn actions_post_to_their_paths_and_resume_sends_the_input() {
    let api = FakeApi::start(Script::default());
    for (args, said) in [
        (vec!["cancel", "0190-a"], "0190-a: cancelled\n"),
        (vec!["retry", "0190-a"], "0190-a: queued\n"),
        (vec!["dismiss", "0190-a"], "0190-a: failed (dismissed)\n"),
        (
            vec!["resume", "0190-a", "--input", r#"{"confirm": true}"#],
            "0190-a: queued\n",
        ),
    ] {
        let out = api.run(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(stdout(&out), said);
    }
    let posts: Vec<(String, Value)> = api
        .seen()
        .into_iter()
        .map(|seen| (seen.path, seen.body))
        .collect();
    assert_eq!(
        posts,
        [
            ("/v1/tasks/0190-a/cancel".to_owned(), json!({})),
            ("/v1/tasks/0190-a/retry".to_owned(), json!({})),
            ("/v1/tasks/0190-a/dismiss".to_owned(), json!({})),
            (
                "/v1/tasks/0190-a/resume".to_owned(),
                json!({"input": {"confirm": true}})
            ),
        ]
    );
}

#[test]
fn token_prints_the_token_alone() {
    let api = FakeApi::start(Script::default());
    let out = api.run(&["token", "alice", "--ttl", "600"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "tok-alice\n");
    assert_eq!(
        api.seen()[0].body,
        json!({"owner": "alice", "ttl_seconds": 600})
    );
}

#[test]
fn doctor_exits_1_when_a_check_fails_and_0_on_warnings() {
    let report = |status: &str| {
        json!({"checks": [
            {"name": "store", "status": "ok", "reason": null},
            {"name": "target app", "status": status, "reason": "connection refused"}
        ]})
    };
    let failing = FakeApi::start(Script {
        selftest: report("fail"),
        ..Script::default()
    });
    let out = failing.run(&["doctor"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out),
        "ok    store\nfail  target app: connection refused\n1 of 2 checks failed\n"
    );
    let warning = FakeApi::start(Script {
        selftest: report("warn"),
        ..Script::default()
    });
    let out = warning.run(&["doctor"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}
