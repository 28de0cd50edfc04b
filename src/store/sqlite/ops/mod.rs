//! The writes and reads of the SQLite store, one file per concern. Writes run on the writer
//! thread inside a [`Batch`](super::writer::Batch); reads on a read connection.

pub(super) mod attempt;
pub(super) mod change;
pub(super) mod claim;
pub(super) mod control;
pub(super) mod enqueue;
pub(super) mod queues;
pub(super) mod read;
pub(super) mod sweep;
