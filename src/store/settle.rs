//! What both stores decide the same way, whatever their database: the columns a transition
//! sets besides the state ([`Change`]), and how an attempt's reported outcome is settled
//! ([`settle`]).

use jiff::Timestamp;
use serde_json::Value;

use super::Outcome;
use crate::model::{ErrorInfo, Transition};

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
