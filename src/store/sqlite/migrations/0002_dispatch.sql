-- HTTP dispatch: the forwarded credentials, sealed by the API (erased when the task is final).
ALTER TABLE tasks ADD COLUMN sealed_headers BLOB;
