//! What a handler returns: an output, or an error that says whether to retry.

use std::fmt;
use std::time::Duration;

use serde_json::Value;

/// A handler's successful answer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TaskOutput {
    pub(crate) result: Option<Value>,
    pub(crate) result_url: Option<String>,
    pub(crate) message: Option<String>,
    pub(crate) needs_input: Option<Option<String>>,
}

impl TaskOutput {
    /// Done, with nothing to report.
    pub fn done() -> Self {
        TaskOutput::default()
    }

    /// Done, with this result.
    pub fn json(result: Value) -> Self {
        TaskOutput {
            result: Some(result),
            ..TaskOutput::default()
        }
    }

    /// Not done: the task waits for the user's input, given at `input_url` (the user's answer
    /// resumes it, and the handler runs again with [`TaskContext::input`](super::TaskContext::input)).
    pub fn needs_input(input_url: Option<String>) -> Self {
        TaskOutput {
            needs_input: Some(input_url),
            ..TaskOutput::default()
        }
    }

    /// With a link to the result ("view the result").
    pub fn result_url(mut self, url: impl Into<String>) -> Self {
        self.result_url = Some(url.into());
        self
    }

    /// With a last word for the user.
    pub fn message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }
}

/// When to try a failed attempt again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// After the queue's backoff, while attempts remain.
    Backoff,
    /// After this delay, while attempts remain.
    After(Duration),
    /// Never: the failure is permanent.
    Never,
}

/// A handler's failure: a message for the user, an optional detail (a traceback, an error
/// chain) for whoever debugs it, and whether another attempt could do better.
///
/// Any `std::error::Error` converts into a retryable `TaskError` with `?`; its source chain
/// becomes the detail.
#[derive(Clone, PartialEq)]
pub struct TaskError {
    pub(crate) message: String,
    pub(crate) detail: Option<String>,
    pub(crate) retry: Retry,
}

impl TaskError {
    /// A retryable failure.
    pub fn new(message: impl Into<String>) -> Self {
        TaskError {
            message: message.into(),
            detail: None,
            retry: Retry::Backoff,
        }
    }

    /// With the long story.
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Not worth another attempt.
    pub fn permanent(mut self) -> Self {
        self.retry = Retry::Never;
        self
    }

    /// Worth another attempt after `delay` rather than the queue's backoff.
    pub fn retry_after(mut self, delay: Duration) -> Self {
        self.retry = Retry::After(delay);
        self
    }

    /// The message for the user.
    pub fn message_text(&self) -> &str {
        &self.message
    }
}

impl fmt::Debug for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskError")
            .field("message", &self.message)
            .field("detail", &self.detail)
            .field("retry", &self.retry)
            .finish()
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl<E: std::error::Error> From<E> for TaskError {
    fn from(err: E) -> Self {
        let mut detail = String::new();
        let mut source = err.source();
        while let Some(cause) = source {
            detail.push_str("caused by: ");
            detail.push_str(&cause.to_string());
            detail.push('\n');
            source = cause.source();
        }
        TaskError {
            message: err.to_string(),
            detail: (!detail.is_empty()).then_some(detail),
            retry: Retry::Backoff,
        }
    }
}

/// A duration for a message: whole seconds as `5 s`, anything else as `250 ms`.
pub(crate) fn humane(duration: Duration) -> String {
    if duration.as_secs() >= 1 && duration.subsec_millis() == 0 {
        format!("{} s", duration.as_secs())
    } else {
        format!("{} ms", duration.as_millis())
    }
}
