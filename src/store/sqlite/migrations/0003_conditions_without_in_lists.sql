-- SQLite evaluates `state IN (…)` with three or more constants by building a temporary b-tree,
-- each time it evaluates it; a partial index's condition is evaluated for the row before and
-- after every write that touches its columns, so every insert and update of a task built
-- several. The conditions are written as `OR` chains instead: a query's `state = 'x'`, or the
-- same chain, still implies them, so the planner still uses the indexes.
DROP INDEX tasks_ordering;
CREATE INDEX tasks_ordering ON tasks (ordering_key, seq)
    WHERE ordering_key IS NOT NULL
      AND (state = 'scheduled' OR state = 'queued' OR state = 'running' OR state = 'waiting');
DROP INDEX tasks_dedup_started;
CREATE INDEX tasks_dedup_started ON tasks (dedup_key, seq)
    WHERE dedup_key IS NOT NULL AND started_at IS NOT NULL
      AND (state = 'scheduled' OR state = 'queued' OR state = 'running' OR state = 'waiting');
DROP INDEX tasks_banner;
CREATE INDEX tasks_banner ON tasks (owner, state)
    WHERE dismissed = 0
      AND (state = 'scheduled' OR state = 'queued' OR state = 'running' OR state = 'waiting'
           OR state = 'failed');
-- Lease rescue reads the running tasks through `tasks_running`: they are few (at most the
-- queues' slots, and the tasks the application reports on), and one index less is one less
-- to write when a task starts and when it ends.
DROP INDEX tasks_lease;
