//! The task: what the user sees of it and what the machine needs to run it.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::State;

/// A task's identity: a UUIDv7, so ids sort by creation time.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(transparent)]
#[schema(value_type = String, format = Uuid)]
pub struct TaskId(pub Uuid);

impl TaskId {
    /// A new, time-ordered id.
    pub fn new() -> Self {
        TaskId(Uuid::now_v7())
    }
}

impl Default for TaskId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for TaskId {
    type Err = uuid::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(TaskId)
    }
}

/// How a task runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "executor", rename_all = "lowercase")]
pub enum Executor {
    /// An in-process Rust handler registered under this name.
    Handler {
        /// The registered handler's name.
        handler: String,
    },
    /// A signed HTTP request to `path` under a configured target of the application.
    Http {
        /// The configured target's name.
        target: String,
        /// The path under the target's base URL.
        path: String,
    },
    /// Nothing: the application runs the task itself and reports on it.
    Tracked,
}

impl Executor {
    /// The executor's kind as stored: `handler`, `http` or `tracked`.
    pub fn kind(&self) -> &'static str {
        match self {
            Executor::Handler { .. } => "handler",
            Executor::Http { .. } => "http",
            Executor::Tracked => "tracked",
        }
    }
}

/// The task's input, as the application gave it.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Payload {
    /// No payload.
    #[default]
    None,
    /// A JSON document.
    Json(Value),
    /// Opaque bytes.
    Bytes(Vec<u8>),
}

/// How far a running task has come, as its handler or application reports it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Progress {
    /// 0 to 100.
    pub percent: Option<f64>,
    /// What it is doing now, for the user ("Deleting /news/item-42").
    pub message: Option<String>,
    /// Items done so far.
    pub current: Option<u64>,
    /// Items in all.
    pub total: Option<u64>,
}

impl Progress {
    /// A percentage, clamped to 0–100.
    pub fn percent(percent: f64) -> Self {
        Progress {
            percent: Some(clamp_percent(percent)),
            ..Progress::default()
        }
    }

    /// `current` of `total` items, with the percentage that follows.
    pub fn steps(current: u64, total: u64) -> Self {
        let percent = if total == 0 {
            100.0
        } else {
            current as f64 * 100.0 / total as f64
        };
        Progress {
            percent: Some(clamp_percent(percent)),
            current: Some(current),
            total: Some(total),
            message: None,
        }
    }

    /// The same progress with a message for the user.
    pub fn message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// The same progress with a percentage clamped to 0–100 (a NaN counts as unknown).
    pub fn normalized(mut self) -> Self {
        self.percent = self.percent.filter(|p| !p.is_nan()).map(clamp_percent);
        self
    }
}

fn clamp_percent(percent: f64) -> f64 {
    percent.clamp(0.0, 100.0)
}

/// Where the user can go from a task.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Links {
    /// "View the result".
    pub result_url: Option<String>,
    /// Where the user came from, to go back to.
    pub return_url: Option<String>,
    /// Where the user answers a waiting task.
    pub input_url: Option<String>,
}

/// Why a task failed, for the user (`message`) and for whoever debugs it (`detail`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorInfo {
    /// One line the user can read.
    pub message: String,
    /// The long story: a traceback, a response body, an error chain.
    pub detail: Option<String>,
}

/// A task as stored.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Task {
    /// Its identity.
    pub id: TaskId,
    /// The kind of task, e.g. `content.delete`.
    pub name: String,
    /// The queue it runs in.
    pub queue: String,
    /// The end user it belongs to.
    pub owner: Option<String>,
    /// What the user sees: "Deleting 300 items from /news".
    pub title: Option<String>,
    /// More words for the user.
    pub description: Option<String>,
    /// How it runs.
    #[serde(flatten)]
    pub executor: Executor,
    /// Where it is.
    pub state: State,
    /// How far it has come.
    pub progress: Progress,
    /// Where the user can go from it.
    pub links: Links,
    /// Why it failed, or why its last attempt failed.
    pub error: Option<ErrorInfo>,
    /// What it produced.
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    /// The number of the current or last attempt (0 before the first).
    pub attempt: u32,
    /// How many attempts it may have.
    pub max_attempts: u32,
    /// Higher runs first within its queue.
    pub priority: i32,
    /// When it was enqueued.
    pub created_at: Timestamp,
    /// When it may run (or may run again).
    pub scheduled_for: Timestamp,
    /// When its first attempt started.
    pub started_at: Option<Timestamp>,
    /// When it reached a final state.
    pub finished_at: Option<Timestamp>,
    /// Whether its owner hid it from the banner.
    pub dismissed: bool,
    /// Free JSON for the page (refresh hints and the like).
    #[schema(value_type = Option<Object>)]
    pub context: Option<Value>,
    /// Tasks with the same key run one at a time, in enqueue order.
    pub ordering_key: Option<String>,
    /// A second enqueue with this key while this task is not final returns this task.
    pub dedup_key: Option<String>,
    /// Whether a cancellation was asked while it was running.
    pub cancel_requested: bool,
    /// The input the user gave when resuming it.
    #[serde(skip)]
    pub input: Option<Value>,
    /// Its input.
    #[serde(skip)]
    pub payload: Payload,
    /// Longest an attempt may run.
    #[serde(skip)]
    pub timeout: Option<Duration>,
    /// Never started by then, it expires.
    #[serde(skip)]
    pub expires_at: Option<Timestamp>,
    /// The fencing number of the current attempt: any write from an older attempt is refused.
    #[serde(skip)]
    pub fence: i64,
    /// What an HTTP dispatch forwards (the user's credentials), sealed by whoever enqueued it;
    /// erased when the task becomes final. Never shown.
    #[serde(skip)]
    pub sealed_headers: Option<Vec<u8>>,
    /// Running, and reported on by the application rather than held by a node (a tracked task
    /// it started, or a dispatch it answered with 202).
    pub reported: bool,
}

/// What to do when a task is enqueued with the dedup key of a task that is not final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DedupPolicy {
    /// Answer with the existing task and change nothing.
    #[default]
    Keep,
    /// If the existing task has not started, replace its payload and context and push its
    /// start back to the new task's time; if it has started, enqueue the new task.
    Debounce,
}

/// A task to enqueue. Fields left `None` take the queue's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTask {
    /// Its identity, chosen now so that a caller can log it before the enqueue returns.
    pub id: TaskId,
    /// The kind of task; also the handler's name unless [`NewTask::executor`] says otherwise.
    pub name: String,
    /// The queue (default `default`).
    pub queue: String,
    /// The end user it belongs to.
    pub owner: Option<String>,
    /// What the user sees.
    pub title: Option<String>,
    /// More words for the user.
    pub description: Option<String>,
    /// How it runs.
    pub executor: Executor,
    /// Its input.
    pub payload: Payload,
    /// Not before this time (`None`: at once).
    pub run_at: Option<Timestamp>,
    /// Higher runs first.
    pub priority: i32,
    /// How many attempts it may have (`None`: the queue's).
    pub max_attempts: Option<u32>,
    /// Longest an attempt may run (`None`: the queue's).
    pub timeout: Option<Duration>,
    /// Never started by then, it expires.
    pub expires_at: Option<Timestamp>,
    /// One at a time per key, in enqueue order.
    pub ordering_key: Option<String>,
    /// At most one task per key that is not final.
    pub dedup_key: Option<String>,
    /// What a dedup hit does.
    pub dedup: DedupPolicy,
    /// Free JSON for the page.
    pub context: Option<Value>,
    /// Where the user came from.
    pub return_url: Option<String>,
    /// What an HTTP dispatch forwards, sealed (see [`Task::sealed_headers`]).
    pub sealed_headers: Option<Vec<u8>>,
}

impl NewTask {
    /// A task named `name`, run by the in-process handler of the same name, in queue `default`.
    pub fn new(name: impl Into<String>) -> Self {
        let name = name.into();
        NewTask {
            id: TaskId::new(),
            executor: Executor::Handler {
                handler: name.clone(),
            },
            name,
            queue: "default".to_owned(),
            owner: None,
            title: None,
            description: None,
            payload: Payload::None,
            run_at: None,
            priority: 0,
            max_attempts: None,
            timeout: None,
            expires_at: None,
            ordering_key: None,
            dedup_key: None,
            dedup: DedupPolicy::Keep,
            context: None,
            return_url: None,
            sealed_headers: None,
        }
    }

    /// In this queue.
    pub fn queue(mut self, queue: impl Into<String>) -> Self {
        self.queue = queue.into();
        self
    }

    /// Belonging to this end user.
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }

    /// With this title for the user.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// With this description for the user.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Run by this executor.
    pub fn executor(mut self, executor: Executor) -> Self {
        self.executor = executor;
        self
    }

    /// With a JSON payload.
    pub fn json(mut self, payload: Value) -> Self {
        self.payload = Payload::Json(payload);
        self
    }

    /// With a payload of bytes.
    pub fn bytes(mut self, payload: impl Into<Vec<u8>>) -> Self {
        self.payload = Payload::Bytes(payload.into());
        self
    }

    /// Not before `at`.
    pub fn run_at(mut self, at: Timestamp) -> Self {
        self.run_at = Some(at);
        self
    }

    /// Not before `delay` from now.
    pub fn delay(self, delay: Duration) -> Self {
        let at = Timestamp::now()
            .checked_add(delay)
            .unwrap_or(Timestamp::MAX);
        self.run_at(at)
    }

    /// With this priority (higher runs first).
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// With at most this many attempts.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts);
        self
    }

    /// With attempts stopped after `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Expiring if not started within `ttl` from now.
    pub fn expires_in(mut self, ttl: Duration) -> Self {
        self.expires_at = Some(Timestamp::now().checked_add(ttl).unwrap_or(Timestamp::MAX));
        self
    }

    /// One at a time with the other tasks of this key, in enqueue order.
    pub fn ordering_key(mut self, key: impl Into<String>) -> Self {
        self.ordering_key = Some(key.into());
        self
    }

    /// Deduplicated by this key, with this policy.
    pub fn dedup_key(mut self, key: impl Into<String>, policy: DedupPolicy) -> Self {
        self.dedup_key = Some(key.into());
        self.dedup = policy;
        self
    }

    /// With free JSON for the page.
    pub fn context(mut self, context: Value) -> Self {
        self.context = Some(context);
        self
    }

    /// With a link back to where the user came from.
    pub fn return_url(mut self, url: impl Into<String>) -> Self {
        self.return_url = Some(url.into());
        self
    }
}
