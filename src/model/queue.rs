//! Queues: named pools of concurrency slots with their defaults.

use std::time::Duration;

/// A queue's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Queue {
    /// Its name.
    pub name: String,
    /// The most tasks of this queue running at once, across all nodes.
    pub concurrency: u32,
    /// The most tasks of one owner running at once in this queue (`None`: no cap).
    pub per_owner_concurrency: Option<u32>,
    /// Attempts a task gets unless it says otherwise.
    pub max_attempts: u32,
    /// Longest an attempt may run unless the task says otherwise (`None`: no limit).
    pub timeout: Option<Duration>,
    /// The first retry's delay; each later one doubles it.
    pub retry_base: Duration,
    /// The longest delay between two attempts.
    pub retry_max: Duration,
    /// The most tasks started per second on one node (`None`: no limit).
    pub rate_per_second: Option<f64>,
}

impl Queue {
    /// A queue with one slot, 3 attempts, no timeout, and retries after 1 s, 2 s, 4 s … up to 5 min.
    pub fn new(name: impl Into<String>) -> Self {
        Queue {
            name: name.into(),
            concurrency: 1,
            per_owner_concurrency: None,
            max_attempts: 3,
            timeout: None,
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
            rate_per_second: None,
        }
    }

    /// With this many slots (at least one).
    pub fn concurrency(mut self, slots: u32) -> Self {
        self.concurrency = slots.max(1);
        self
    }

    /// With at most this many tasks of one owner running at once (at least one).
    pub fn per_owner_concurrency(mut self, slots: u32) -> Self {
        self.per_owner_concurrency = Some(slots.max(1));
        self
    }

    /// With this many attempts by default (at least one).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// With attempts stopped after `timeout` by default.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// With at most `rate` tasks started per second on each node (ignored unless more than 0).
    pub fn rate_per_second(mut self, rate: f64) -> Self {
        self.rate_per_second = (rate.is_finite() && rate > 0.0).then_some(rate);
        self
    }

    /// With this retry backoff: `base`, doubled on each attempt, never more than `max`.
    pub fn retry_backoff(mut self, base: Duration, max: Duration) -> Self {
        self.retry_base = base;
        self.retry_max = max.max(base);
        self
    }
}

/// A queue as the store sees it now (and as `GET /v1/queues` shows it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct QueueStats {
    /// Its name.
    pub name: String,
    /// Its slots.
    pub concurrency: u32,
    /// Its per-owner cap.
    pub per_owner_concurrency: Option<u32>,
    /// Whether claiming is paused.
    pub paused: bool,
    /// Tasks ready to run.
    pub queued: u64,
    /// Tasks waiting for their time.
    pub scheduled: u64,
    /// Tasks running now.
    pub running: u64,
    /// Tasks waiting for their user's input.
    pub waiting: u64,
}
