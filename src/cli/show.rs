//! `errand show`: `GET /v1/tasks/{id}`, every field in words, the error's detail (a traceback,
//! a response body) as a block at the end.

use clap::Args;

use super::client::Remote;
use super::wire::{Task, percent_text, when};

/// The longest label, `scheduled for`: every task's values start in the same column.
const LABEL_WIDTH: usize = 13;

/// Flags of `errand show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The task's id.
    id: String,
    /// Print the task as JSON, as the API answers it.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    remote: Remote,
}

/// Shows the task.
pub async fn run(args: ShowArgs) -> anyhow::Result<()> {
    let client = args.remote.connect()?;
    let answer = client.get(&["tasks", &args.id]).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&answer.body)?);
    } else {
        print!("{}", describe(&answer.parse()?));
    }
    Ok(())
}

/// The task as `label  value` lines (the ones it has), then the error's detail.
fn describe(task: &Task) -> String {
    let mut fields: Vec<(&str, String)> =
        vec![("id", task.id.clone()), ("name", task.name.clone())];
    let mut field = |label, value: Option<String>| {
        if let Some(value) = value.filter(|value| !value.is_empty()) {
            fields.push((label, value));
        }
    };
    field("title", task.title.clone());
    field("description", task.description.clone());
    field("state", Some(task.status()));
    field("progress", progress(task));
    field("owner", task.owner.clone());
    field("queue", Some(task.queue.clone()));
    field("runs as", executor(task));
    field(
        "attempt",
        Some(format!("{} of {}", task.attempt, task.max_attempts)),
    );
    field("priority", Some(task.priority.to_string()));
    field("created", task.created_at.as_deref().map(when));
    field("scheduled for", task.scheduled_for.as_deref().map(when));
    field("started", task.started_at.as_deref().map(when));
    field("finished", task.finished_at.as_deref().map(when));
    field("ordering key", task.ordering_key.clone());
    field("dedup key", task.dedup_key.clone());
    field("result url", task.links.result_url.clone());
    field("return url", task.links.return_url.clone());
    field("input url", task.links.input_url.clone());
    field(
        "context",
        task.context.as_ref().map(|context| context.to_string()),
    );
    field(
        "result",
        task.result.as_ref().map(|result| result.to_string()),
    );
    field(
        "error",
        task.error.as_ref().map(|error| error.message.clone()),
    );

    let mut out = String::new();
    for (label, value) in fields {
        out.push_str(&format!("{label:<LABEL_WIDTH$}  {value}\n"));
    }
    if let Some(detail) = task
        .error
        .as_ref()
        .and_then(|error| error.detail.as_deref())
    {
        out.push_str("\nerror detail:\n");
        for line in detail.trim_end().lines() {
            if !line.is_empty() {
                out.push_str("  ");
            }
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// `42%: Deleting /news/a (126 of 300)`.
fn progress(task: &Task) -> Option<String> {
    let progress = &task.progress;
    let parts: Vec<String> = [
        percent_text(progress),
        progress.message.clone(),
        match (progress.current, progress.total) {
            (Some(current), Some(total)) => Some(format!("({current} of {total})")),
            (Some(current), None) => Some(format!("({current} done)")),
            _ => None,
        },
    ]
    .into_iter()
    .flatten()
    .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// `POST to target app, path /tasks/delete`, `handler content.delete`, `tracked`.
fn executor(task: &Task) -> Option<String> {
    match (&task.target, &task.path, &task.handler) {
        (Some(target), Some(path), _) => Some(format!("POST {path} on target {target}")),
        (_, _, Some(handler)) => Some(format!("handler {handler}")),
        _ => task.executor.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_field_reads_and_the_traceback_is_a_block() {
        let task: Task = serde_json::from_value(json!({
            "id": "0190-a", "name": "content.delete", "queue": "content", "owner": "alice",
            "title": "Deleting 2 items", "executor": "http", "target": "app",
            "path": "/tasks/delete", "state": "failed", "attempt": 3, "max_attempts": 3,
            "priority": 0, "progress": {"percent": 50, "message": "Deleting /news/b",
            "current": 1, "total": 2}, "links": {"return_url": "/news"},
            "error": {"message": "permission denied",
                      "detail": "Traceback (most recent call last):\n  File \"app.py\", line 3\n\nPermissionError\n"},
            "created_at": "2025-11-27T13:57:01Z", "context": {"affects": ["/news"]},
            "dismissed": false
        }))
        .unwrap();
        let expected = "\
id             0190-a
name           content.delete
title          Deleting 2 items
state          failed
progress       50% Deleting /news/b (1 of 2)
owner          alice
queue          content
runs as        POST /tasks/delete on target app
attempt        3 of 3
priority       0
created        2025-11-27 13:57:01
return url     /news
context        {\"affects\":[\"/news\"]}
error          permission denied

error detail:
  Traceback (most recent call last):
    File \"app.py\", line 3

  PermissionError
";
        assert_eq!(describe(&task), expected);
    }

    #[test]
    fn a_running_task_says_a_cancel_is_pending() {
        let task: Task = serde_json::from_value(json!({
            "id": "1", "name": "n", "state": "running", "cancel_requested": true,
            "executor": "handler", "handler": "content.delete"
        }))
        .unwrap();
        let text = describe(&task);
        assert!(
            text.contains("state          running (cancel requested)\n"),
            "{text}"
        );
        assert!(
            text.contains("runs as        handler content.delete\n"),
            "{text}"
        );
    }
}
