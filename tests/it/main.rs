//! The integration suite: one binary, one module per guarantee, shared helpers in `util`.

mod api;
mod cancel;
mod cli;
mod cli_client;
mod cluster;
mod concurrency;
mod conformance;
mod crash;
mod dedup;
mod dispatch;
mod drain;
mod events;
mod fairness;
mod inline;
mod leases;
mod lifecycle;
mod ordering;
mod retries;
mod scheduling;
mod store_transitions;
mod ui;
mod util;
mod waiting;
mod wal;
