//! Events: one per transition or progress report, numbered by the store.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{State, Task};

/// What happened to a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// It was enqueued (its state is `scheduled` or `queued`).
    Created,
    /// Its state changed (from `from` to the task's state).
    StateChanged,
    /// Its progress changed.
    Progress,
    /// A cancellation was asked while it was running.
    CancelRequested,
    /// Its owner dismissed it.
    Dismissed,
}

impl EventKind {
    /// The name stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Created => "created",
            EventKind::StateChanged => "state_changed",
            EventKind::Progress => "progress",
            EventKind::CancelRequested => "cancel_requested",
            EventKind::Dismissed => "dismissed",
        }
    }

    /// The kind stored under `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        [
            EventKind::Created,
            EventKind::StateChanged,
            EventKind::Progress,
            EventKind::CancelRequested,
            EventKind::Dismissed,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == name)
    }
}

/// One thing that happened to a task, with the task as it was right after.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// The store's sequence number: strictly increasing, so a client resumes after the last it saw.
    pub seq: i64,
    /// When it happened.
    pub at: Timestamp,
    /// What happened.
    pub kind: EventKind,
    /// The state before, for a state change.
    pub from: Option<State>,
    /// The task right after (or, for an event replayed from the store, as it is now).
    pub task: Task,
}
