//! The writes and reads of the PostgreSQL store, one file per concern, as in the SQLite store.
//! Writes run inside a [`Write`](super::write::Write); reads on a pooled connection.

pub(super) mod attempt;
pub(super) mod change;
pub(super) mod claim;
pub(super) mod control;
pub(super) mod enqueue;
pub(super) mod queues;
pub(super) mod read;
pub(super) mod sweep;
