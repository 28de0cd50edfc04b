-- Tasks, queues, fairness rounds and events.
-- Times are milliseconds since the Unix epoch; ids are UUIDs as 16 bytes.

CREATE TABLE queues (
    name TEXT PRIMARY KEY,
    concurrency INTEGER NOT NULL,
    per_owner_concurrency INTEGER,
    paused INTEGER NOT NULL DEFAULT 0
) STRICT;

-- Fair queueing, per queue and priority: the round of the last task claimed. A task that
-- becomes ready takes the round after max(this, its owner's last round), so owners take turns
-- whatever their backlog; priorities are served first, and keep rounds of their own.
CREATE TABLE queue_rounds (
    queue TEXT NOT NULL,
    priority INTEGER NOT NULL,
    current_round INTEGER NOT NULL,
    PRIMARY KEY (queue, priority)
) STRICT, WITHOUT ROWID;

-- Each owner's last round, per queue and priority.
CREATE TABLE owner_rounds (
    queue TEXT NOT NULL,
    priority INTEGER NOT NULL,
    owner TEXT NOT NULL,
    last_round INTEGER NOT NULL,
    PRIMARY KEY (queue, priority, owner)
) STRICT, WITHOUT ROWID;

CREATE TABLE tasks (
    seq INTEGER PRIMARY KEY,
    id BLOB NOT NULL UNIQUE,
    name TEXT NOT NULL,
    queue TEXT NOT NULL,
    owner TEXT,
    title TEXT,
    description TEXT,
    executor TEXT NOT NULL,
    handler TEXT,
    target TEXT,
    path TEXT,
    payload_format TEXT,
    payload BLOB,
    state TEXT NOT NULL,
    priority INTEGER NOT NULL,
    fair_round INTEGER NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    fence INTEGER NOT NULL DEFAULT 0,
    timeout_ms INTEGER,
    expires_at INTEGER,
    created_at INTEGER NOT NULL,
    scheduled_for INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER,
    updated_at INTEGER NOT NULL,
    lease_node BLOB,
    lease_expires_at INTEGER,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    dismissed INTEGER NOT NULL DEFAULT 0,
    ordering_key TEXT,
    dedup_key TEXT,
    progress_percent REAL,
    progress_message TEXT,
    progress_current INTEGER,
    progress_total INTEGER,
    result_url TEXT,
    return_url TEXT,
    input_url TEXT,
    error_message TEXT,
    error_detail TEXT,
    result TEXT,
    context TEXT,
    input TEXT
) STRICT;

-- Claiming: the next ready task of a queue, by priority, then fair round, then enqueue order.
CREATE INDEX tasks_claim ON tasks (queue, priority DESC, fair_round, seq)
    WHERE state = 'queued' AND executor <> 'tracked';
-- Slots: running tasks per queue and owner.
CREATE INDEX tasks_running ON tasks (queue, owner) WHERE state = 'running';
-- Lease rescue.
CREATE INDEX tasks_lease ON tasks (lease_expires_at) WHERE state = 'running';
-- Promotion of scheduled tasks.
CREATE INDEX tasks_due ON tasks (scheduled_for) WHERE state = 'scheduled';
-- Expiry of tasks never started.
CREATE INDEX tasks_expiry ON tasks (expires_at)
    WHERE expires_at IS NOT NULL AND state IN ('scheduled', 'queued');
-- Ordering keys: the earliest task of a key that is not final.
CREATE INDEX tasks_ordering ON tasks (ordering_key, seq)
    WHERE ordering_key IS NOT NULL AND state IN ('scheduled', 'queued', 'running', 'waiting');
-- Dedup keys: at most one task per key that has never started, and the started ones that are
-- not final.
CREATE UNIQUE INDEX tasks_dedup_pending ON tasks (dedup_key)
    WHERE dedup_key IS NOT NULL AND started_at IS NULL AND state IN ('scheduled', 'queued');
CREATE INDEX tasks_dedup_started ON tasks (dedup_key, seq)
    WHERE dedup_key IS NOT NULL AND started_at IS NOT NULL
      AND state IN ('scheduled', 'queued', 'running', 'waiting');
-- An owner's tasks, newest first.
CREATE INDEX tasks_owner ON tasks (owner, seq);
-- The banner's counts.
CREATE INDEX tasks_banner ON tasks (owner, state)
    WHERE dismissed = 0 AND state IN ('scheduled', 'queued', 'running', 'waiting', 'failed');
-- Retention.
CREATE INDEX tasks_finished ON tasks (finished_at) WHERE finished_at IS NOT NULL;

CREATE TABLE events (
    -- Never reused: retention always keeps the newest event (see sweep.rs).
    seq INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    task_id BLOB NOT NULL,
    owner TEXT,
    kind TEXT NOT NULL,
    -- The task's state right after the event.
    state TEXT NOT NULL,
    from_state TEXT
) STRICT;
-- One owner's events since a number, for a client that reconnects.
CREATE INDEX events_owner ON events (owner, seq);
