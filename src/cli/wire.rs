//! The API's JSON as the client commands read it: small shapes of their own, not the server's
//! types, so that an older or newer server still reads (unknown fields are ignored, missing
//! ones take their default), and a few ways of showing their values to a person.

use errand::model::{Progress, State};
use serde::Deserialize;
use serde_json::Value;

/// A task as the API shows it.
#[derive(Debug, Clone, Deserialize)]
pub struct Task {
    /// Its id (a UUIDv7).
    pub id: String,
    /// Its kind, e.g. `content.delete`.
    pub name: String,
    /// The queue it runs in.
    #[serde(default)]
    pub queue: String,
    /// The end user it belongs to.
    pub owner: Option<String>,
    /// What the user sees.
    pub title: Option<String>,
    /// More words for the user.
    pub description: Option<String>,
    /// `http`, `handler` or `tracked`.
    pub executor: Option<String>,
    /// The registered handler (executor `handler`).
    pub handler: Option<String>,
    /// The configured target (executor `http`).
    pub target: Option<String>,
    /// The path under the target (executor `http`).
    pub path: Option<String>,
    /// Its state's name: see [`Task::state`].
    #[serde(rename = "state")]
    pub state_name: String,
    /// How far it has come.
    #[serde(default)]
    pub progress: Progress,
    /// Where the user can go from it.
    #[serde(default)]
    pub links: Links,
    /// Why it failed.
    pub error: Option<ErrorInfo>,
    /// What it produced.
    pub result: Option<Value>,
    /// The current or last attempt.
    #[serde(default)]
    pub attempt: u32,
    /// How many attempts it may have.
    #[serde(default)]
    pub max_attempts: u32,
    /// Higher runs first.
    #[serde(default)]
    pub priority: i32,
    /// When it was enqueued.
    pub created_at: Option<String>,
    /// When it may run.
    pub scheduled_for: Option<String>,
    /// When its first attempt started.
    pub started_at: Option<String>,
    /// When it became final.
    pub finished_at: Option<String>,
    /// Whether its owner hid it from the banner.
    #[serde(default)]
    pub dismissed: bool,
    /// Free JSON for the page.
    pub context: Option<Value>,
    /// Tasks with the same key run one at a time.
    pub ordering_key: Option<String>,
    /// A second enqueue with this key finds this task.
    pub dedup_key: Option<String>,
    /// Whether a cancel was asked while it ran.
    #[serde(default)]
    pub cancel_requested: bool,
}

impl Task {
    /// Its state, or `None` for one this client does not know (a newer server).
    pub fn state(&self) -> Option<State> {
        self.state_name.parse().ok()
    }

    /// `running`, with what the state's name hides: a pending cancel, a dismissal.
    pub fn status(&self) -> String {
        let mut status = self.state_name.clone();
        if self.cancel_requested {
            status.push_str(" (cancel requested)");
        }
        if self.dismissed {
            status.push_str(" (dismissed)");
        }
        status
    }
}

/// A progress's percentage for a person: `42%`, or `None` when the task reported none.
pub fn percent_text(progress: &Progress) -> Option<String> {
    progress
        .percent
        .filter(|p| p.is_finite())
        .map(|p| format!("{:.0}%", p.clamp(0.0, 100.0).floor()))
}

/// Where the user can go from a task.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Links {
    /// "View the result".
    pub result_url: Option<String>,
    /// Where the user came from.
    pub return_url: Option<String>,
    /// Where the user answers a waiting task.
    pub input_url: Option<String>,
}

/// Why a task failed.
#[derive(Debug, Clone, Deserialize)]
pub struct ErrorInfo {
    /// One line for the user.
    pub message: String,
    /// The long story: a traceback, a response body.
    pub detail: Option<String>,
}

/// One page of `GET /v1/tasks`.
#[derive(Debug, Clone, Deserialize)]
pub struct TaskPage {
    /// The tasks, newest first.
    #[serde(default)]
    pub tasks: Vec<Task>,
    /// Where the next page starts, if there is one.
    pub next_cursor: Option<String>,
    /// What the banner shows.
    #[serde(default)]
    pub counts: Counts,
}

/// The counts a banner shows.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Counts {
    /// Ready to run.
    #[serde(default)]
    pub queued: u64,
    /// Running now.
    #[serde(default)]
    pub running: u64,
    /// Waiting for the user.
    #[serde(default)]
    pub waiting: u64,
    /// Failed and still shown in the banner.
    #[serde(default)]
    pub failed_undismissed: u64,
}

/// A flag's value read as JSON (`--payload`, `--context`, `--input`).
pub fn json_arg(text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|err| format!("not JSON: {err}"))
}

/// An RFC 3339 timestamp as `2025-11-27 13:57:01` (UTC), or as sent if it does not parse.
pub fn when(timestamp: &str) -> String {
    match timestamp.parse::<jiff::Timestamp>() {
        Ok(ts) => ts.strftime("%Y-%m-%d %H:%M:%S").to_string(),
        Err(_) => timestamp.to_owned(),
    }
}

/// `text` cut to `max` characters, with `…` when it was longer.
pub fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max.saturating_sub(1)) {
        Some((cut, _)) if text.chars().count() > max => format!("{}…", &text[..cut]),
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_task_reads_with_fields_missing_or_unknown() {
        let task: Task = serde_json::from_value(json!({
            "id": "0190", "name": "content.delete", "state": "running",
            "progress": {"percent": 41.7}, "some_new_field": [1, 2]
        }))
        .unwrap();
        assert_eq!(task.state(), Some(State::Running));
        assert_eq!(percent_text(&task.progress).as_deref(), Some("41%"));
        assert!(task.error.is_none() && !task.dismissed);

        let newer: Task =
            serde_json::from_value(json!({"id": "1", "name": "n", "state": "paused"})).unwrap();
        assert_eq!(newer.state(), None);
        assert_eq!(newer.state_name, "paused");
    }

    #[test]
    fn state_names_round_trip() {
        for state in State::ALL {
            assert_eq!(state.as_str().parse::<State>().ok(), Some(state));
        }
    }

    #[test]
    fn timestamps_read_in_utc_seconds() {
        assert_eq!(when("2025-11-27T13:57:01.123456Z"), "2025-11-27 13:57:01");
        assert_eq!(when("2025-11-27T14:57:01+01:00"), "2025-11-27 13:57:01");
        assert_eq!(when("yesterday"), "yesterday");
    }

    #[test]
    fn clipping_counts_characters_not_bytes() {
        assert_eq!(clip("Löschen", 10), "Löschen");
        assert_eq!(clip("Löschen von 300", 7), "Lösche…");
        assert_eq!(clip("abc", 3), "abc");
    }
}
