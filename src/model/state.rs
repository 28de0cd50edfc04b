//! The states a task moves through, and who moves it out of each.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a task is in its life.
///
/// ```text
///  scheduled ──promote──▶ queued ──claim──▶ running ──succeed──▶ succeeded
///      ▲                    ▲  ▲              │ │ │ └──fail─────▶ failed
///      └──────retry_later───┼──┼──────────────┘ │ └──await_input─▶ waiting ──resume──▶ queued
///                           │  └──requeue───────┘
///  any state that is not final ──cancel──▶ cancelled;  scheduled | queued ──expire──▶ expired
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Waits for its time (`scheduled_for`): a delayed enqueue, a debounce or a retry's backoff.
    /// The engine's promoter moves it to `queued` when the time comes.
    Scheduled,
    /// Ready to run; a worker claims it when its queue, owner and ordering key allow.
    Queued,
    /// Claimed by a worker holding a lease, or started by the application (tracked tasks).
    /// The attempt's outcome moves it on; a lost lease sends it back to `queued`.
    Running,
    /// Paused until the user answers; `resume` puts it back in `queued`.
    Waiting,
    /// Final: the work is done.
    Succeeded,
    /// Final: the last attempt failed, or the failure was not worth a retry.
    Failed,
    /// Final: cancelled before it could finish.
    Cancelled,
    /// Final: never started before its `expires_at`.
    Expired,
}

impl State {
    /// Every state, in the order of a task's life.
    pub const ALL: [State; 8] = [
        State::Scheduled,
        State::Queued,
        State::Running,
        State::Waiting,
        State::Succeeded,
        State::Failed,
        State::Cancelled,
        State::Expired,
    ];

    /// The states a task never leaves.
    pub const FINAL: [State; 4] = [
        State::Succeeded,
        State::Failed,
        State::Cancelled,
        State::Expired,
    ];

    /// The states that are not final.
    pub const ACTIVE: [State; 4] = [
        State::Scheduled,
        State::Queued,
        State::Running,
        State::Waiting,
    ];

    /// Whether the task will never change state again.
    pub fn is_final(self) -> bool {
        Self::FINAL.contains(&self)
    }

    /// The lowercase name used in the API and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Scheduled => "scheduled",
            State::Queued => "queued",
            State::Running => "running",
            State::Waiting => "waiting",
            State::Succeeded => "succeeded",
            State::Failed => "failed",
            State::Cancelled => "cancelled",
            State::Expired => "expired",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A state name that errand does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown task state {0:?} (expected one of scheduled, queued, running, waiting, succeeded, failed, cancelled, expired)"
)]
pub struct UnknownState(pub String);

impl FromStr for State {
    type Err = UnknownState;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        State::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| UnknownState(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for state in State::ALL {
            assert_eq!(state.as_str().parse::<State>(), Ok(state));
        }
        assert!("done".parse::<State>().is_err());
    }

    #[test]
    fn final_and_active_partition_all_states() {
        for state in State::ALL {
            assert_ne!(
                State::FINAL.contains(&state),
                State::ACTIVE.contains(&state)
            );
        }
    }
}
