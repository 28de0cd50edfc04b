//! What both stores decide the same way, whatever their database: the columns a transition
//! sets besides the state ([`Change`]), how an attempt's reported outcome is settled
//! ([`settle`]) and a lost lease ([`rescue`]), and how a task's executor and payload are
//! stored.

use jiff::Timestamp;
use serde_json::Value;

use super::Outcome;
use crate::model::{
    ErrorInfo, Executor, Links, NewTask, Payload, Progress, State, Task, TaskId, Transition,
};
use crate::store::{StoreError, StoreResult};

/// The columns a transition may set besides the state. `None` keeps what is there.
#[derive(Debug, Default)]
pub(crate) struct Change {
    pub scheduled_for: Option<Timestamp>,
    pub fair_round: Option<i64>,
    pub result: Option<Value>,
    pub result_url: Option<String>,
    pub input_url: Option<String>,
    pub message: Option<String>,
    /// `Some(None)` clears the error.
    pub error: Option<Option<ErrorInfo>>,
    /// `Some(None)` clears the input.
    pub input: Option<Option<Value>>,
    /// The attempt did not count: give it back.
    pub refund_attempt: bool,
}

/// The state `transition` leads task `id` to from `from`, or why it may not.
pub(crate) fn legal(transition: Transition, from: State, id: TaskId) -> StoreResult<State> {
    transition
        .apply(from)
        .map_err(|source| StoreError::Illegal { id, source })
}

/// The values a transition writes, in the order both stores' transition statements bind them
/// (`$2`/`?2` to `$15`/`?15`; `16` is the attempt given back); each store converts the JSON and
/// the integers its own way.
pub(crate) struct TransitionColumns {
    /// The new state's name.
    pub to: &'static str,
    /// Milliseconds since the epoch.
    pub now: i64,
    /// Whether the new state is final (`finished_at` set, credentials erased).
    pub is_final: bool,
    /// The fields of [`Change`], `None` keeping what is there.
    pub scheduled_for: Option<i64>,
    pub fair_round: Option<i64>,
    pub result: Option<Value>,
    pub result_url: Option<String>,
    pub input_url: Option<String>,
    pub message: Option<String>,
    /// Whether the error columns are written (with `error_message`, `error_detail`).
    pub set_error: bool,
    pub error_message: Option<String>,
    pub error_detail: Option<String>,
    /// Whether the input column is written (with `input`).
    pub set_input: bool,
    pub input: Option<Value>,
}

impl TransitionColumns {
    /// The values that record a transition to `to` with `change`, at `now`.
    pub(crate) fn new(to: State, change: Change, now: Timestamp) -> Self {
        let (set_error, error) = match change.error {
            Some(error) => (true, error),
            None => (false, None),
        };
        let (set_input, input) = match change.input {
            Some(input) => (true, input),
            None => (false, None),
        };
        let (error_message, error_detail) = match error {
            Some(error) => (Some(error.message), error.detail),
            None => (None, None),
        };
        TransitionColumns {
            to: to.as_str(),
            now: now.as_millisecond(),
            is_final: to.is_final(),
            scheduled_for: change.scheduled_for.map(|at| at.as_millisecond()),
            fair_round: change.fair_round,
            result: change.result,
            result_url: change.result_url,
            input_url: change.input_url,
            message: change.message,
            set_error,
            error_message,
            error_detail,
            set_input,
            input,
        }
    }
}

/// The transition and change that record `outcome` for the current attempt of a task on
/// which a cancellation was asked (`cancel_requested`) and whose attempts are spent or not.
pub(crate) fn settle(
    outcome: Outcome,
    cancel_requested: bool,
    attempts_spent: bool,
) -> (Transition, Change) {
    let outcome = match outcome {
        // A cancellation asked while it ran ends the task rather than let it run again or
        // wait: it is not forgotten by a retry, a question or a hand-back.
        Outcome::RetryAt { .. } | Outcome::NeedsInput { .. } | Outcome::HandedBack
            if cancel_requested =>
        {
            Outcome::Cancelled
        }
        // Whoever reports a retryable failure, the store keeps the limit of attempts.
        Outcome::RetryAt { error, .. } if attempts_spent => Outcome::Failed(error),
        outcome => outcome,
    };
    match outcome {
        Outcome::Succeeded {
            result,
            result_url,
            message,
        } => (
            Transition::Succeed,
            Change {
                result,
                result_url,
                message,
                error: Some(None),
                ..Change::default()
            },
        ),
        Outcome::Failed(error) => (
            Transition::Fail,
            Change {
                error: Some(Some(error)),
                ..Change::default()
            },
        ),
        Outcome::RetryAt { error, at } => (
            Transition::RetryLater,
            Change {
                error: Some(Some(error)),
                scheduled_for: Some(at),
                ..Change::default()
            },
        ),
        Outcome::NeedsInput { input_url, message } => (
            Transition::AwaitInput,
            Change {
                input_url,
                message,
                ..Change::default()
            },
        ),
        Outcome::Cancelled => (Transition::Cancel, Change::default()),
        Outcome::HandedBack => (
            Transition::Requeue,
            Change {
                refund_attempt: true,
                ..Change::default()
            },
        ),
    }
}

/// The transition and change for a running attempt whose lease ran out (its node died or
/// lost touch): cancelled if a cancellation was asked, failed if its attempts are spent, else
/// queued again. The attempt counts: the task may be what killed its worker.
pub(crate) fn rescue(
    cancel_requested: bool,
    attempt: u32,
    max_attempts: u32,
) -> (Transition, Change) {
    let (transition, message) = if cancel_requested {
        (
            Transition::Cancel,
            "The worker running this task stopped before it could be cancelled; it was cancelled.",
        )
    } else if attempt >= max_attempts {
        (
            Transition::Fail,
            "The worker running this task stopped, and its attempts are spent.",
        )
    } else {
        (
            Transition::Requeue,
            "The worker running this task stopped; it will run again.",
        )
    };
    let change = Change {
        error: Some(Some(ErrorInfo {
            message: message.to_owned(),
            detail: Some(format!(
                "The lease of attempt {attempt} of {max_attempts} expired without being renewed."
            )),
        })),
        ..Change::default()
    };
    (transition, change)
}

/// The task that enqueueing `new` creates, as the store holds it right after the insert (its
/// times to the millisecond, as stored), built without reading the row back.
pub(crate) fn created_task(
    new: &NewTask,
    state: State,
    max_attempts: u32,
    scheduled_for: Timestamp,
    now: Timestamp,
) -> Task {
    let stored = |at: Timestamp| Timestamp::from_millisecond(at.as_millisecond()).unwrap_or(at);
    let timeout = new.timeout.map(|timeout| {
        let millis = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        std::time::Duration::from_millis(millis)
    });
    Task {
        id: new.id,
        name: new.name.clone(),
        queue: new.queue.clone(),
        owner: new.owner.clone(),
        title: new.title.clone(),
        description: new.description.clone(),
        executor: new.executor.clone(),
        state,
        progress: Progress::default(),
        links: Links {
            return_url: new.return_url.clone(),
            ..Links::default()
        },
        error: None,
        result: None,
        attempt: 0,
        max_attempts,
        priority: new.priority,
        created_at: stored(now),
        scheduled_for: stored(scheduled_for),
        started_at: None,
        finished_at: None,
        dismissed: false,
        context: new.context.clone(),
        ordering_key: new.ordering_key.clone(),
        dedup_key: new.dedup_key.clone(),
        cancel_requested: false,
        input: None,
        payload: new.payload.clone(),
        timeout,
        expires_at: new.expires_at.map(stored),
        fence: 0,
        sealed_headers: new.sealed_headers.clone(),
        reported: false,
    }
}

/// The columns an executor is stored in: its handler, or its target and path.
pub(crate) fn executor_columns(executor: &Executor) -> (Option<&str>, Option<&str>, Option<&str>) {
    match executor {
        Executor::Handler { handler } => (Some(handler.as_str()), None, None),
        Executor::Http { target, path } => (None, Some(target.as_str()), Some(path.as_str())),
        Executor::Tracked => (None, None, None),
    }
}

/// A payload as stored: its format (`json`, `bytes` or none) and its bytes.
pub(crate) fn payload_columns(payload: &Payload) -> (Option<&'static str>, Option<Vec<u8>>) {
    match payload {
        Payload::None => (None, None),
        Payload::Json(value) => (Some("json"), Some(value.to_string().into_bytes())),
        Payload::Bytes(bytes) => (Some("bytes"), Some(bytes.clone())),
    }
}
