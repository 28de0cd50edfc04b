-- Tasks, queues, fairness rounds and events: the SQLite schema in PostgreSQL's types.
-- Times are milliseconds since the Unix epoch (bigint), as in the SQLite store, so that both
-- stores compare and round times alike.

CREATE TABLE queues (
    name text PRIMARY KEY,
    concurrency integer NOT NULL,
    per_owner_concurrency integer,
    paused boolean NOT NULL DEFAULT false
);

-- Fair queueing, per queue and priority: the round of the last task claimed (see the SQLite
-- schema and docs/decisions.md, "Fair rounds").
CREATE TABLE queue_rounds (
    queue text NOT NULL,
    priority integer NOT NULL,
    current_round bigint NOT NULL,
    PRIMARY KEY (queue, priority)
);

-- Each owner's last round, per queue and priority.
CREATE TABLE owner_rounds (
    queue text NOT NULL,
    priority integer NOT NULL,
    owner text NOT NULL,
    last_round bigint NOT NULL,
    PRIMARY KEY (queue, priority, owner)
);

-- The hot table. Finished tasks stay here (list and get read them) until retention deletes
-- them, but every index that claims, sweeps and dedup use is partial over the active states,
-- so those indexes stay as small as the live work whatever the history. Updates are frequent:
-- leave room in each page, and let autovacuum visit after 2% of the rows changed rather than
-- the default 20%.
CREATE TABLE tasks (
    seq bigserial PRIMARY KEY,
    id uuid NOT NULL UNIQUE,
    name text NOT NULL,
    queue text NOT NULL,
    owner text,
    title text,
    description text,
    executor text NOT NULL,
    handler text,
    target text,
    path text,
    payload_format text,
    payload bytea,
    state text NOT NULL,
    priority integer NOT NULL,
    fair_round bigint NOT NULL,
    attempt integer NOT NULL DEFAULT 0,
    max_attempts integer NOT NULL,
    fence bigint NOT NULL DEFAULT 0,
    timeout_ms bigint,
    expires_at bigint,
    created_at bigint NOT NULL,
    scheduled_for bigint NOT NULL,
    started_at bigint,
    finished_at bigint,
    updated_at bigint NOT NULL,
    lease_node uuid,
    lease_expires_at bigint,
    cancel_requested boolean NOT NULL DEFAULT false,
    dismissed boolean NOT NULL DEFAULT false,
    ordering_key text,
    dedup_key text,
    progress_percent double precision,
    progress_message text,
    progress_current bigint,
    progress_total bigint,
    result_url text,
    return_url text,
    input_url text,
    error_message text,
    error_detail text,
    result jsonb,
    context jsonb,
    input jsonb,
    -- HTTP dispatch: the forwarded credentials, sealed by the API (erased when final).
    sealed_headers bytea,
    -- The attempts the task was given at enqueue: a retry of a final task gives it as many again.
    attempt_budget integer
) WITH (
    fillfactor = 85,
    autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_analyze_scale_factor = 0.02
);

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
-- Ordering keys: the tasks of a key that are not final.
CREATE INDEX tasks_ordering ON tasks (ordering_key, seq)
    WHERE ordering_key IS NOT NULL AND state IN ('scheduled', 'queued', 'running', 'waiting');
-- Dedup keys: at most one task per key that has never started (the arbiter of concurrent
-- enqueues: INSERT … ON CONFLICT), and the started ones that are not final.
CREATE UNIQUE INDEX tasks_dedup_pending ON tasks (dedup_key)
    WHERE dedup_key IS NOT NULL AND started_at IS NULL AND state IN ('scheduled', 'queued');
CREATE INDEX tasks_dedup_started ON tasks (dedup_key, seq)
    WHERE dedup_key IS NOT NULL AND started_at IS NOT NULL
      AND state IN ('scheduled', 'queued', 'running', 'waiting');
-- An owner's tasks, newest first.
CREATE INDEX tasks_owner ON tasks (owner, seq);
-- The banner's counts.
CREATE INDEX tasks_banner ON tasks (owner, state)
    WHERE NOT dismissed AND state IN ('scheduled', 'queued', 'running', 'waiting', 'failed');
-- Retention.
CREATE INDEX tasks_finished ON tasks (finished_at) WHERE finished_at IS NOT NULL;

-- The event log. `seq` values are taken under a transaction-level advisory lock held until
-- commit (see events.rs), so they become visible in order.
CREATE TABLE events (
    seq bigserial PRIMARY KEY,
    at bigint NOT NULL,
    task_id uuid NOT NULL,
    owner text,
    kind text NOT NULL,
    -- The task's state right after the event.
    state text NOT NULL,
    from_state text
) WITH (autovacuum_vacuum_scale_factor = 0.02);
-- One owner's events since a number, for a client that reconnects.
CREATE INDEX events_owner ON events (owner, seq);
