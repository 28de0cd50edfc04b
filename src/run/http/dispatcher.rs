//! The dispatcher: sends a task's request to its target and decides what the answer means.
//!
//! One pooled client (connections kept alive) serves every target; a target with a
//! `concurrency` has a semaphore, whose permit a dispatch holds from before the request is
//! signed until its answer is read. The attempt that calls [`Dispatcher::dispatch`] runs it
//! under the task's timeout and stop signal: a cancellation or a drain drops the request.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use jiff::Timestamp;
use reqwest::{Client, Response, Url};
use tokio::sync::Semaphore;

use super::classify::{AnswerClass, Reply, Verdict, classify};
use super::request;
use super::target::Target;
use crate::auth::{Sealer, TaskTokens};
use crate::model::{Executor, Task};
use crate::run::{TaskError, TaskOutput};

/// The most of a successful answer's body that is read, for its JSON `result`: a larger
/// result belongs at a `result_url`.
const MAX_RESULT_BODY: usize = 1024 * 1024;

/// What the dispatcher needs: the targets, and what it signs and sends with each request.
#[derive(Clone)]
pub struct DispatchSettings {
    /// The application's endpoints.
    pub targets: Vec<Target>,
    /// errand's own public base URL (e.g. `http://127.0.0.1:7700`): requests carry
    /// `Errand-Callback: {base}/v1/tasks/{id}`. `None`: no callback header.
    pub callback_base: Option<String>,
    /// Opens the credentials forwarded with a task.
    pub sealer: Sealer,
    /// Mints the per-task token each request carries.
    pub task_tokens: TaskTokens,
    /// How long errand waits for the application's next report on a task it answered with
    /// 202; each report moves the deadline.
    pub report_timeout: Duration,
    /// The most of an answer's body kept as an error's detail.
    pub max_error_body: usize,
}

impl std::fmt::Debug for DispatchSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DispatchSettings")
            .field("targets", &self.targets)
            .field("callback_base", &self.callback_base)
            .field("report_timeout", &self.report_timeout)
            .field("max_error_body", &self.max_error_body)
            .finish_non_exhaustive()
    }
}

/// Why a dispatcher could not be built.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// A target's settings are not usable.
    #[error("target {target:?}: {problem}")]
    Target {
        /// The target's name.
        target: String,
        /// What is wrong, and what to do.
        problem: String,
    },
    /// Other settings are not usable.
    #[error("{0}")]
    Settings(String),
    /// The HTTP client could not be built (TLS roots, resolver).
    #[error("could not build the HTTP client")]
    Client(#[source] reqwest::Error),
}

/// How a dispatch ended, when the application took the task.
#[derive(Debug, PartialEq)]
pub(crate) enum Dispatched {
    /// The attempt ends with this output: succeeded, or waiting for input.
    Done(TaskOutput),
    /// The application answered 202 and reports on the task by itself.
    Accepted,
}

/// A target, with its limit of requests in flight.
struct Endpoint {
    target: Target,
    slots: Option<Semaphore>,
}

/// Sends tasks to the application. Built once, shared by every attempt.
pub struct Dispatcher {
    settings: DispatchSettings,
    endpoints: HashMap<String, Endpoint>,
    client: Client,
    answers: [AtomicU64; AnswerClass::ALL.len()],
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Dispatcher {
    /// Checks the settings and builds the client.
    pub fn new(settings: DispatchSettings) -> Result<Dispatcher, DispatchError> {
        let mut endpoints = HashMap::new();
        for target in &settings.targets {
            target.check().map_err(|problem| DispatchError::Target {
                target: target.name.clone(),
                problem,
            })?;
            let endpoint = Endpoint {
                target: target.clone(),
                slots: target.concurrency.map(Semaphore::new),
            };
            if endpoints.insert(target.name.clone(), endpoint).is_some() {
                return Err(DispatchError::Target {
                    target: target.name.clone(),
                    problem: "two targets have this name".into(),
                });
            }
        }
        if let Some(base) = &settings.callback_base {
            let parsed = Url::parse(base).map_err(|err| {
                DispatchError::Settings(format!(
                    "the callback base URL {base:?} is not a URL: {err}"
                ))
            })?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(DispatchError::Settings(format!(
                    "the callback base URL {base:?} must be http or https"
                )));
            }
        }
        if settings.report_timeout.is_zero() {
            return Err(DispatchError::Settings(
                "the report timeout must be more than zero".into(),
            ));
        }
        let client = super::client_builder()
            .build()
            .map_err(DispatchError::Client)?;
        Ok(Dispatcher {
            settings,
            endpoints,
            client,
            answers: Default::default(),
        })
    }

    /// The target named `name`.
    pub fn target(&self, name: &str) -> Option<&Target> {
        self.endpoints.get(name).map(|endpoint| &endpoint.target)
    }

    /// The targets, in the order they were given.
    pub fn targets(&self) -> &[Target] {
        &self.settings.targets
    }

    /// How long errand waits for the application's next report after a 202.
    pub fn report_timeout(&self) -> Duration {
        self.settings.report_timeout
    }

    /// How many answers of each class came since the start, for the metrics: `2xx` (other
    /// than 202), `202`, `3xx`, `4xx` (other than 408 and 429), `408_429`, `5xx`,
    /// `connect_error`, `timeout`, `other_error`.
    pub fn answers(&self) -> Vec<(&'static str, u64)> {
        AnswerClass::ALL
            .iter()
            .map(|class| {
                (
                    class.as_str(),
                    self.answers[class.index()].load(Ordering::Relaxed),
                )
            })
            .collect()
    }

    /// Dispatches one attempt of `task`, and says what the answer means.
    pub(crate) async fn dispatch(&self, task: &Task) -> Result<Dispatched, TaskError> {
        let Executor::Http { target, path } = &task.executor else {
            return Err(TaskError::new("this task is not dispatched over HTTP").permanent());
        };
        let Some(endpoint) = self.endpoints.get(target) else {
            return Err(
                TaskError::new(format!("no target named {target:?} is configured")).permanent(),
            );
        };
        let _permit = match &endpoint.slots {
            Some(slots) => Some(slots.acquire().await.map_err(|_| {
                TaskError::new(format!("the dispatcher of target {target:?} is closed"))
            })?),
            None => None,
        };
        let target = &endpoint.target;
        // Signed once the permit is held, so that the signature is fresh when it is sent.
        let request = request::build(
            task,
            path,
            target,
            &self.settings,
            Timestamp::now().as_second(),
        )?;
        let sent = self
            .client
            .post(request.url)
            .headers(request.headers)
            .body(request.body)
            .timeout(target.timeout)
            .send()
            .await;
        let (class, verdict) = match sent {
            Ok(response) => self.judge(response).await,
            Err(err) => classify(&failure(err, target), Timestamp::now()),
        };
        self.answers[class.index()].fetch_add(1, Ordering::Relaxed);
        match verdict {
            Verdict::Done(output) => {
                tracing::debug!(task = %task.id, target = %target.name, class = class.as_str(), "dispatched");
                Ok(Dispatched::Done(output))
            }
            Verdict::Accepted => {
                tracing::debug!(task = %task.id, target = %target.name, "dispatched; the application reports on it");
                Ok(Dispatched::Accepted)
            }
            Verdict::Failed(err) => {
                // The attempt's own warn line reports the failure; this one adds the class.
                tracing::debug!(
                    task = %task.id, target = %target.name, class = class.as_str(),
                    error = %err.message, "dispatch failed"
                );
                Err(err)
            }
        }
    }

    /// Reads the answer's body (up to what is kept) and classifies it.
    async fn judge(&self, mut response: Response) -> (AnswerClass, Verdict) {
        let status = response.status();
        let cap = if status.is_success() {
            self.settings.max_error_body.max(MAX_RESULT_BODY)
        } else {
            self.settings.max_error_body
        };
        let mut body = Vec::new();
        let mut truncated = false;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = cap - body.len();
                    if chunk.len() > room {
                        body.extend_from_slice(&chunk[..room]);
                        truncated = true;
                        break;
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                // The status decides; a body cut off is kept as far as it came.
                Err(_) => {
                    truncated = true;
                    break;
                }
            }
        }
        let reply = Reply::Answered {
            status,
            headers: response.headers(),
            body: &body,
            truncated,
        };
        classify(&reply, Timestamp::now())
    }
}

/// A request that got no answer, as the classifier sees it. The URL is left out (it may carry
/// a password, and the detail is stored and shown); the target's name says where it went.
fn failure(err: reqwest::Error, target: &Target) -> Reply<'static> {
    if err.is_timeout() {
        return Reply::TimedOut(target.timeout);
    }
    let connect = err.is_connect();
    let err = err.without_url();
    let mut detail = format!("target {:?}", target.name);
    let mut source: Option<&dyn std::error::Error> = Some(&err);
    while let Some(cause) = source {
        detail.push_str(": ");
        detail.push_str(&cause.to_string());
        source = cause.source();
    }
    if connect {
        Reply::Unreachable(detail)
    } else {
        Reply::Broken(detail)
    }
}
