//! The integration suite: one binary, one module per guarantee, shared helpers in `util`.

mod cancel;
mod cli;
mod concurrency;
mod crash;
mod dedup;
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
mod util;
mod waiting;
