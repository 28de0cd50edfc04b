//! `errand enqueue`: `POST /v1/tasks`, then print the task's id (or the task, with `--json`).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use reqwest::StatusCode;
use serde::Serialize;
use serde_json::Value;

use super::client::Remote;
use super::wait;
use super::wire::{Task, json_arg};

/// Flags of `errand enqueue`.
#[derive(Debug, Args)]
pub struct EnqueueArgs {
    /// The kind of task, e.g. `content.delete` (handlers and routing go by it).
    name: String,
    /// The queue to run it in [the server's default: default].
    #[arg(long)]
    queue: Option<String>,
    /// The end user it belongs to (who sees it in the banner).
    #[arg(long)]
    owner: Option<String>,
    /// What the user sees, e.g. "Deleting 300 items from /news".
    #[arg(long)]
    title: Option<String>,
    /// Run it as a signed POST to --path under this target of the application (from the
    /// server's configuration). Without --target or --handler the task is tracked: the
    /// application runs it and reports on it.
    #[arg(long, requires = "path", conflicts_with = "handler")]
    target: Option<String>,
    /// The path under --target's base URL, e.g. /tasks/delete.
    #[arg(long, requires = "target")]
    path: Option<String>,
    /// Run it with the in-process handler registered under this name.
    #[arg(long)]
    handler: Option<String>,
    /// Its input, a JSON document.
    #[arg(long, value_name = "JSON", value_parser = json_arg)]
    payload: Option<Value>,
    /// Read its JSON input from a file (`-` for standard input).
    #[arg(long, value_name = "FILE", conflicts_with = "payload")]
    payload_file: Option<PathBuf>,
    /// Start it no sooner than this many seconds from now.
    #[arg(long, value_name = "SECONDS")]
    delay: Option<u64>,
    /// Higher runs first within its queue.
    #[arg(long, allow_negative_numbers = true)]
    priority: Option<i32>,
    /// How many attempts it may have [the queue's default].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    max_attempts: Option<u32>,
    /// While a task with this key is not final, enqueueing another answers with that one.
    #[arg(long)]
    dedup_key: Option<String>,
    /// Tasks with the same key run one at a time, in the order they were enqueued.
    #[arg(long)]
    ordering_key: Option<String>,
    /// Free JSON for the page that shows the task, e.g. '{"affects": ["/news"]}'.
    #[arg(long, value_name = "JSON", value_parser = json_arg)]
    context: Option<Value>,
    /// Run it before answering (inline mode), so that the answer tells how it went.
    #[arg(long)]
    inline: bool,
    /// Then wait for it as `errand wait` does, and exit with its exit code.
    #[arg(long)]
    wait: bool,
    /// With --wait: give up waiting after this many seconds (exit code 4).
    #[arg(long, value_name = "SECONDS", requires = "wait", value_parser = wait::positive_seconds)]
    timeout: Option<Duration>,
    /// Print the task as JSON rather than its id.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    remote: Remote,
}

/// The body of `POST /v1/tasks`: what was given, and nothing else, so the server's defaults
/// hold for the rest.
#[derive(Debug, Serialize)]
struct NewTask<'a> {
    name: &'a str,
    queue: Option<&'a str>,
    owner: Option<&'a str>,
    title: Option<&'a str>,
    target: Option<&'a str>,
    path: Option<&'a str>,
    handler: Option<&'a str>,
    payload: Option<Value>,
    delay_seconds: Option<u64>,
    priority: Option<i32>,
    max_attempts: Option<u32>,
    dedup_key: Option<&'a str>,
    ordering_key: Option<&'a str>,
    context: Option<&'a Value>,
    inline: Option<bool>,
}

impl EnqueueArgs {
    /// The request's body, with `payload` read already.
    fn body(&self, payload: Option<Value>) -> Value {
        let task = NewTask {
            name: &self.name,
            queue: self.queue.as_deref(),
            owner: self.owner.as_deref(),
            title: self.title.as_deref(),
            target: self.target.as_deref(),
            path: self.path.as_deref(),
            handler: self.handler.as_deref(),
            payload,
            delay_seconds: self.delay,
            priority: self.priority,
            max_attempts: self.max_attempts,
            dedup_key: self.dedup_key.as_deref(),
            ordering_key: self.ordering_key.as_deref(),
            context: self.context.as_ref(),
            inline: self.inline.then_some(true),
        };
        let mut body = serde_json::to_value(task).unwrap_or_default();
        if let Value::Object(fields) = &mut body {
            fields.retain(|_, value| !value.is_null());
        }
        body
    }

    /// `--payload`, or the contents of `--payload-file`.
    fn payload(&self) -> anyhow::Result<Option<Value>> {
        match &self.payload_file {
            Some(path) => read_json_file(path).map(Some),
            None => Ok(self.payload.clone()),
        }
    }
}

/// Enqueues the task; with `--wait`, the exit code is the wait's.
pub async fn run(args: EnqueueArgs) -> anyhow::Result<u8> {
    let body = args.body(args.payload()?);
    let client = args.remote.connect()?;
    let answer = client.post(&["tasks"], body).await?;
    let task: Task = answer.parse()?;
    if answer.status == StatusCode::OK {
        eprintln!(
            "errand: a task with dedup key {:?} is not final yet: this is that task",
            args.dedup_key.as_deref().unwrap_or_default()
        );
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&answer.body)?);
    } else {
        println!("{}", task.id);
    }
    if !args.wait {
        return Ok(0);
    }
    Ok(wait::wait_for(&client, &task.id, args.timeout)
        .await?
        .code())
}

/// A JSON document from a file, or from standard input for `-`.
fn read_json_file(path: &Path) -> anyhow::Result<Value> {
    let text = if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the payload from standard input")?;
        text
    } else {
        std::fs::read_to_string(path)
            .with_context(|| format!("reading the payload from {}", path.display()))?
    };
    serde_json::from_str(&text)
        .with_context(|| format!("the payload in {} is not JSON", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use serde_json::json;

    #[derive(Parser)]
    struct Line {
        #[command(flatten)]
        args: EnqueueArgs,
    }

    fn parse(line: &[&str]) -> Result<EnqueueArgs, clap::Error> {
        Line::try_parse_from(std::iter::once("enqueue").chain(line.iter().copied()))
            .map(|line| line.args)
    }

    #[test]
    fn the_body_holds_what_was_given_and_nothing_else() {
        let args = parse(&[
            "content.delete",
            "--owner",
            "alice",
            "--target",
            "app",
            "--path",
            "/tasks/delete",
            "--payload",
            r#"["/news/a"]"#,
            "--priority",
            "-5",
            "--delay",
            "30",
            "--inline",
        ])
        .unwrap();
        assert_eq!(
            args.body(args.payload().unwrap()),
            json!({
                "name": "content.delete", "owner": "alice", "target": "app",
                "path": "/tasks/delete", "payload": ["/news/a"], "priority": -5,
                "delay_seconds": 30, "inline": true
            })
        );
        let bare = parse(&["report.build"]).unwrap();
        assert_eq!(bare.body(None), json!({"name": "report.build"}));
    }

    #[test]
    fn executor_and_payload_flags_exclude_each_other() {
        assert!(
            parse(&["n", "--target", "app"]).is_err(),
            "--target needs --path"
        );
        assert!(parse(&["n", "--handler", "h", "--target", "a", "--path", "/p"]).is_err());
        assert!(parse(&["n", "--payload", "{}", "--payload-file", "x.json"]).is_err());
        let err = parse(&["n", "--payload", "{oops"]).unwrap_err().to_string();
        assert!(err.contains("not JSON"), "{err}");
        assert!(parse(&["n", "--max-attempts", "0"]).is_err());
    }

    #[test]
    fn a_payload_file_is_read_as_json() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("payload.json");
        std::fs::write(&path, r#"{"ids": [1, 2]}"#).unwrap();
        let args = parse(&["n", "--payload-file", path.to_str().unwrap()]).unwrap();
        assert_eq!(args.payload().unwrap(), Some(json!({"ids": [1, 2]})));
        std::fs::write(&path, "nope").unwrap();
        let err = format!("{:#}", args.payload().unwrap_err());
        assert!(err.contains("is not JSON"), "{err}");
    }
}
