//! `errand cancel | retry | dismiss | resume`: one `POST /v1/tasks/{id}/{action}` each, sent
//! by one function.

use clap::Args;
use serde_json::{Value, json};

use super::client::Remote;
use super::wire::{Task, json_arg};

/// Flags of `errand cancel`, `errand retry` and `errand dismiss`.
#[derive(Debug, Args)]
pub struct ActArgs {
    /// The task's id.
    id: String,
    #[command(flatten)]
    remote: Remote,
}

/// Flags of `errand resume`.
#[derive(Debug, Args)]
pub struct ResumeArgs {
    #[command(flatten)]
    task: ActArgs,
    /// The user's answer, a JSON document handed to the task when it runs again.
    #[arg(long, value_name = "JSON", value_parser = json_arg)]
    input: Option<Value>,
}

/// What to ask of a task.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Stop it: at once if it is not running, at its next check if it is.
    Cancel,
    /// Run a final task again.
    Retry,
    /// Hide a final task from its owner's banner.
    Dismiss,
    /// Answer a waiting task, which queues it again.
    Resume(Option<Value>),
}

impl Action {
    /// The last segment of the action's path.
    fn verb(&self) -> &'static str {
        match self {
            Action::Cancel => "cancel",
            Action::Retry => "retry",
            Action::Dismiss => "dismiss",
            Action::Resume(_) => "resume",
        }
    }

    /// The request's body: the input for `resume`, nothing for the others.
    fn body(self) -> Value {
        match self {
            Action::Resume(Some(input)) => json!({ "input": input }),
            _ => json!({}),
        }
    }
}

/// Answers a waiting task.
pub async fn resume(args: ResumeArgs) -> anyhow::Result<()> {
    run(Action::Resume(args.input), args.task).await
}

/// Asks the action of the task and prints where the task is now: `ID: cancelled`.
pub async fn run(action: Action, args: ActArgs) -> anyhow::Result<()> {
    let client = args.remote.connect()?;
    let verb = action.verb();
    let answer = client
        .post(&["tasks", &args.id, verb], action.body())
        .await?;
    // The task as it is now, when the server sends it; the bare fact otherwise.
    match answer.parse::<Task>() {
        Ok(task) => println!("{}: {}", task.id, task.status()),
        Err(_) => println!("{}: {verb} accepted", args.id),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_resume_sends_a_body() {
        assert_eq!(Action::Cancel.body(), json!({}));
        assert_eq!(Action::Resume(None).body(), json!({}));
        assert_eq!(
            Action::Resume(Some(json!({"confirm": true}))).body(),
            json!({"input": {"confirm": true}})
        );
        assert_eq!(Action::Dismiss.verb(), "dismiss");
    }
}
