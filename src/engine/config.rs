//! The engine's timings.

use std::time::Duration;

/// How the engine paces its leases, sweeps and stops.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineConfig {
    /// How long a claimed attempt's lease lasts unless renewed. A node that dies loses its
    /// tasks to the others (or to its own restart) this long after its last renewal.
    pub lease_ttl: Duration,
    /// How often leases are renewed (a fraction of `lease_ttl`).
    pub heartbeat_interval: Duration,
    /// The fallback: how often workers look for work without being woken, and sweepers run.
    pub poll_interval: Duration,
    /// How long a handler asked to stop by a cancellation may take before it is aborted.
    pub cancel_grace: Duration,
    /// How long final tasks and events are kept.
    pub retention: Duration,
    /// How often old tasks and events are deleted.
    pub retention_interval: Duration,
    /// Whether this engine claims and runs tasks (`false`: it only enqueues and reads).
    pub run_workers: bool,
    /// Whether an enqueue runs the task's first attempt before it returns.
    pub inline: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            lease_ttl: Duration::from_secs(10),
            heartbeat_interval: Duration::from_millis(2500),
            poll_interval: Duration::from_secs(1),
            cancel_grace: Duration::from_secs(10),
            retention: Duration::from_secs(7 * 24 * 3600),
            retention_interval: Duration::from_secs(600),
            run_workers: true,
            inline: false,
        }
    }
}
