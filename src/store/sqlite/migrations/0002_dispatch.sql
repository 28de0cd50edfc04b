-- HTTP dispatch: the forwarded credentials, sealed by the API (erased when the task is final).
ALTER TABLE tasks ADD COLUMN sealed_headers BLOB;
-- The attempts a task was given at enqueue: a retry of a final task gives it as many again.
ALTER TABLE tasks ADD COLUMN attempt_budget INTEGER;
