//! `errand wait`: long-poll a task until it ends, and say how it ended in the exit code.
//!
//! The exit codes live in [`WaitOutcome`] alone; the help text is built from it, and
//! `errand enqueue --wait` uses the same codes.

use std::time::Duration;

use clap::Args;
use tokio::time::Instant;

use super::client::{Call, Client, Remote};
use super::progress_line::ProgressLine;
use errand::model::State;

use super::wire::{Task, percent_text};

/// The longest a single long poll asks the server to hold it.
const LONGEST_POLL: u64 = 60;
/// How often the progress bar is brought up to date while a terminal watches it.
const REDRAW_POLL: u64 = 1;
/// The fewest milliseconds between two polls, against a server that answers at once.
const MIN_POLL_GAP: Duration = Duration::from_millis(200);

/// Flags of `errand wait`.
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// The task's id.
    id: String,
    /// Give up after this many seconds (exit code 4); without it, wait as long as it takes.
    #[arg(long, value_name = "SECONDS", value_parser = positive_seconds)]
    timeout: Option<Duration>,
    #[command(flatten)]
    remote: Remote,
}

/// How a wait ended; each has its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitOutcome {
    /// The task succeeded.
    Succeeded,
    /// The task failed.
    Failed,
    /// The task was cancelled, or expired before it started.
    Ended,
    /// The task waits for the user's input.
    NeedsInput,
    /// `--timeout` passed first.
    TimedOut,
}

impl WaitOutcome {
    /// Every outcome, in the order of their codes.
    pub const ALL: [WaitOutcome; 5] = [
        WaitOutcome::Succeeded,
        WaitOutcome::Failed,
        WaitOutcome::Ended,
        WaitOutcome::NeedsInput,
        WaitOutcome::TimedOut,
    ];

    /// The process's exit code for this outcome.
    pub fn code(self) -> u8 {
        match self {
            WaitOutcome::Succeeded => 0,
            WaitOutcome::Failed => 1,
            WaitOutcome::Ended => 2,
            WaitOutcome::NeedsInput => 3,
            WaitOutcome::TimedOut => 4,
        }
    }

    /// What the code means, for the help.
    fn meaning(self) -> &'static str {
        match self {
            WaitOutcome::Succeeded => "the task succeeded",
            WaitOutcome::Failed => {
                "the task failed (or errand could not be asked: see the message)"
            }
            WaitOutcome::Ended => "the task was cancelled, or expired before it started",
            WaitOutcome::NeedsInput => "the task waits for the user's input",
            WaitOutcome::TimedOut => "--timeout passed before the task ended",
        }
    }

    /// Where waiting stops for a task in `state`; `None` while it may still move on by itself.
    pub fn of(state: State) -> Option<WaitOutcome> {
        match state {
            State::Succeeded => Some(WaitOutcome::Succeeded),
            State::Failed => Some(WaitOutcome::Failed),
            State::Cancelled | State::Expired => Some(WaitOutcome::Ended),
            State::Waiting => Some(WaitOutcome::NeedsInput),
            State::Scheduled | State::Queued | State::Running => None,
        }
    }
}

/// The exit codes under `heading`, for the help of the commands that wait.
pub fn exit_codes_help(heading: &str) -> String {
    let lines: Vec<String> = WaitOutcome::ALL
        .iter()
        .map(|outcome| format!("  {}  {}", outcome.code(), outcome.meaning()))
        .collect();
    format!("{heading}\n{}", lines.join("\n"))
}

/// Waits for the task and prints how it ended; the exit code is the outcome's.
pub async fn run(args: WaitArgs) -> anyhow::Result<u8> {
    let client = args.remote.connect()?;
    let outcome = wait_for(&client, &args.id, args.timeout).await?;
    Ok(outcome.code())
}

/// Polls task `id` until it ends, waits for input, or `timeout` passes, drawing its progress
/// on a terminal; prints one line saying how it ended.
pub async fn wait_for(
    client: &Client,
    id: &str,
    timeout: Option<Duration>,
) -> anyhow::Result<WaitOutcome> {
    let deadline = timeout.map(|timeout| Instant::now() + timeout);
    let mut line = ProgressLine::on_stderr();
    let mut last_seen: Option<Task> = None;
    loop {
        let remaining = deadline.map(|deadline| deadline.saturating_duration_since(Instant::now()));
        let hold = hold_seconds(line.is_live(), remaining);
        let asked = Instant::now();
        let poll = poll(client, id, hold);
        let task = match deadline {
            Some(deadline) => match tokio::time::timeout_at(deadline, poll).await {
                Ok(task) => task?,
                Err(_elapsed) => break,
            },
            None => poll.await?,
        };
        if let Some(outcome) = task.state().and_then(WaitOutcome::of) {
            line.clear();
            println!("{}", summary(outcome, &task));
            return Ok(outcome);
        }
        line.show(&task.state_name, &task.progress);
        last_seen = Some(task);
        let next = asked + MIN_POLL_GAP;
        if deadline.is_some_and(|deadline| deadline <= next) {
            break;
        }
        tokio::time::sleep_until(next).await;
    }
    line.clear();
    let timeout = timeout.unwrap_or_default().as_secs_f64();
    match last_seen {
        Some(task) => println!(
            "timed out after {timeout}s: the task is {}",
            state_line(&task)
        ),
        None => println!("timed out after {timeout}s before errand answered"),
    }
    Ok(WaitOutcome::TimedOut)
}

/// `GET /v1/tasks/{id}?wait=hold`.
async fn poll(client: &Client, id: &str, hold: u64) -> anyhow::Result<Task> {
    let answer = client
        .call(Call {
            path: &["tasks", id],
            query: vec![("wait", hold.to_string())],
            held_for: Duration::from_secs(hold),
            ..Call::default()
        })
        .await?;
    Ok(answer.parse()?)
}

/// How long to ask the server to hold a poll: short while a bar shows progress, long
/// otherwise, never past the deadline (rounded up to a whole second).
fn hold_seconds(drawing: bool, remaining: Option<Duration>) -> u64 {
    let wanted = if drawing { REDRAW_POLL } else { LONGEST_POLL };
    match remaining {
        Some(remaining) => wanted.min(remaining.as_secs_f64().ceil() as u64).max(1),
        None => wanted,
    }
}

/// The line printed when the wait ends: `succeeded: 300 items deleted`, `failed: …`.
fn summary(outcome: WaitOutcome, task: &Task) -> String {
    let mut line = task.state_name.clone();
    let said = match outcome {
        WaitOutcome::Failed => task.error.as_ref().map(|error| error.message.clone()),
        WaitOutcome::NeedsInput => task
            .links
            .input_url
            .clone()
            .map(|url| format!("answer at {url}")),
        _ => task.progress.message.clone(),
    };
    if let Some(said) = said.filter(|said| !said.is_empty()) {
        line = format!("{line}: {said}");
    }
    if let Some(url) = &task.links.result_url {
        line = format!("{line} (result: {url})");
    }
    if outcome == WaitOutcome::Failed {
        line = format!("{line} (see `errand show {}`)", task.id);
    }
    line
}

/// `running (42%)`, or the state alone.
fn state_line(task: &Task) -> String {
    match percent_text(&task.progress) {
        Some(percent) => format!("{} ({percent})", task.state_name),
        None => task.state_name.clone(),
    }
}

/// Seconds, fractions allowed, more than zero.
pub fn positive_seconds(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds > 0.0 && seconds.is_finite() => Ok(Duration::from_secs_f64(seconds)),
        _ => Err(format!("{text:?} is not a number of seconds above 0")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_state_has_its_place_and_every_code_is_in_the_help() {
        assert_eq!(
            WaitOutcome::of(State::Succeeded).map(WaitOutcome::code),
            Some(0)
        );
        assert_eq!(
            WaitOutcome::of(State::Failed).map(WaitOutcome::code),
            Some(1)
        );
        assert_eq!(
            WaitOutcome::of(State::Cancelled).map(WaitOutcome::code),
            Some(2)
        );
        assert_eq!(
            WaitOutcome::of(State::Expired).map(WaitOutcome::code),
            Some(2)
        );
        assert_eq!(
            WaitOutcome::of(State::Waiting).map(WaitOutcome::code),
            Some(3)
        );
        assert_eq!(WaitOutcome::TimedOut.code(), 4);
        assert_eq!(WaitOutcome::of(State::Running), None);
        let help = exit_codes_help("Exit codes:");
        for outcome in WaitOutcome::ALL {
            assert!(help.contains(&format!("  {}  ", outcome.code())), "{help}");
        }
    }

    #[test]
    fn polls_are_short_while_drawing_and_never_pass_the_deadline() {
        assert_eq!(hold_seconds(false, None), 60);
        assert_eq!(hold_seconds(true, None), 1);
        assert_eq!(hold_seconds(false, Some(Duration::from_millis(2500))), 3);
        assert_eq!(hold_seconds(false, Some(Duration::ZERO)), 1);
    }

    #[test]
    fn the_summary_says_why() {
        let failed: Task = serde_json::from_value(json!({
            "id": "t1", "name": "n", "state": "failed",
            "error": {"message": "boom", "detail": "Traceback…"}
        }))
        .unwrap();
        assert_eq!(
            summary(WaitOutcome::Failed, &failed),
            "failed: boom (see `errand show t1`)"
        );
        let done: Task = serde_json::from_value(json!({
            "id": "t2", "name": "n", "state": "succeeded",
            "progress": {"percent": 100, "message": "300 items deleted"},
            "links": {"result_url": "/news"}
        }))
        .unwrap();
        assert_eq!(
            summary(WaitOutcome::Succeeded, &done),
            "succeeded: 300 items deleted (result: /news)"
        );
    }

    #[test]
    fn timeouts_are_positive_seconds() {
        assert_eq!(positive_seconds("1.5"), Ok(Duration::from_millis(1500)));
        assert!(positive_seconds("0").is_err());
        assert!(positive_seconds("soon").is_err());
    }
}
