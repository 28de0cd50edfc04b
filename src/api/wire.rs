//! The bodies the API takes and answers, as the contract names them. Requests refuse unknown
//! fields, so that a misspelt field is an error rather than a silent default.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::model::{DedupPolicy, QueueStats, Task};
use crate::store::Counts;

/// `POST /v1/tasks`: a task to enqueue.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnqueueRequest {
    /// The kind of task, e.g. `content.delete`.
    pub name: String,
    /// The queue (default `default`).
    pub queue: Option<String>,
    /// The end user it belongs to.
    pub owner: Option<String>,
    /// What the user sees: "Deleting 300 items from /news".
    pub title: Option<String>,
    /// More words for the user.
    pub description: Option<String>,
    /// A configured target: the task runs as a signed POST to `path` under it.
    pub target: Option<String>,
    /// The path under the target's base URL (with `target`).
    pub path: Option<String>,
    /// A registered in-process handler (instead of `target`); with neither, errand only
    /// tracks the task and the application reports on it.
    pub handler: Option<String>,
    /// The input, sent as the dispatch's body.
    #[schema(value_type = Option<Object>)]
    pub payload: Option<Value>,
    /// Request headers of the user to forward with the dispatch (only the names the target
    /// allows are kept); encrypted at rest, erased when the task is final, never shown.
    pub forward_headers: Option<BTreeMap<String, String>>,
    /// Not before this many seconds from now.
    pub delay_seconds: Option<u64>,
    /// Not before this time.
    pub run_at: Option<Timestamp>,
    /// Higher runs first within its queue.
    pub priority: Option<i32>,
    /// Attempts (default: the queue's).
    pub max_attempts: Option<u32>,
    /// Longest an attempt may run (default: the queue's).
    pub timeout_seconds: Option<u64>,
    /// Never started within this many seconds, it expires.
    pub expires_in_seconds: Option<u64>,
    /// Tasks with the same key run one at a time, in enqueue order.
    pub ordering_key: Option<String>,
    /// A second enqueue with this key while this task is not final answers this task.
    pub dedup_key: Option<String>,
    /// What a dedup hit does: `keep` (default) or `debounce`.
    pub dedup: Option<DedupPolicy>,
    /// Free JSON for the page (refresh hints).
    #[schema(value_type = Option<Object>)]
    pub context: Option<Value>,
    /// Links for the user.
    pub links: Option<EnqueueLinks>,
    /// Run the task before answering.
    pub inline: Option<bool>,
}

/// Links given at enqueue.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnqueueLinks {
    /// Where the user came from, to go back to.
    pub return_url: Option<String>,
}

/// `POST /v1/tasks:batch`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// The tasks, enqueued in order in one transaction (at most 1000).
    pub tasks: Vec<EnqueueRequest>,
}

/// The answer to a batch: one entry per task, in order.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BatchAnswer {
    /// The entries.
    pub tasks: Vec<BatchEntry>,
}

/// One task of a batch.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BatchEntry {
    /// Whether it was created (`false`: a dedup hit answered an existing task).
    pub created: bool,
    /// The task.
    pub task: Task,
}

/// `GET /v1/tasks`: a page of tasks, newest first, and the banner's counts.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TaskList {
    /// The tasks.
    pub tasks: Vec<Task>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
    /// For the banner, over the same owner (all of them for an API key without `owner`).
    pub counts: Counts,
}

/// `POST /v1/tasks/{id}/resume`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResumeRequest {
    /// The user's answer, handed to the task's next run.
    #[schema(value_type = Option<Object>)]
    pub input: Option<Value>,
}

/// `POST /v1/tasks/{id}/progress`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProgressReport {
    /// 0 to 100.
    pub percent: Option<f64>,
    /// What it is doing now, for the user.
    pub message: Option<String>,
    /// Items done.
    pub current: Option<u64>,
    /// Items in all.
    pub total: Option<u64>,
}

/// `POST /v1/tasks/{id}/complete`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteReport {
    /// What it produced.
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    /// "View the result".
    pub result_url: Option<String>,
    /// A last word for the user.
    pub message: Option<String>,
}

/// `POST /v1/tasks/{id}/fail`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FailReport {
    /// One line the user can read.
    pub message: String,
    /// The long story: a traceback.
    pub detail: Option<String>,
    /// Try again after the queue's backoff while attempts remain (default: fail for good).
    #[serde(default)]
    pub retry: bool,
}

/// `GET /v1/queues`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QueueList {
    /// The queues.
    pub queues: Vec<QueueStats>,
}

/// `PATCH /v1/queues/{name}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueUpdate {
    /// The new number of slots (1 to 10000).
    pub concurrency: u32,
}

/// `POST /v1/tokens`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// The end user the token stands for.
    pub owner: String,
    /// Seconds it is valid (default 3600, at most 30 days).
    pub ttl_seconds: Option<u64>,
}

/// A minted user token.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenAnswer {
    /// The HS256 JWT.
    pub token: String,
    /// When it stops being accepted.
    pub expires_at: Timestamp,
}

/// `/healthz` and `/readyz`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Health {
    /// `ok` or `ready`.
    pub status: &'static str,
}

/// One check of the self-test.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Check {
    /// What was checked: `store`, `target:NAME`, `probe`.
    pub name: String,
    /// `ok`, `warn` or `fail`.
    pub status: CheckStatus,
    /// Why, in words.
    pub reason: String,
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// As it should be.
    Ok,
    /// Works, but look.
    Warn,
    /// Broken.
    Fail,
}

/// `GET /v1/selftest`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SelfTest {
    /// The checks, in order.
    pub checks: Vec<Check>,
}
