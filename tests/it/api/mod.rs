//! The REST API against a real listener on 127.0.0.1 and a real SQLite file: one module per
//! guarantee, the shared setup in `harness`.

mod credentials;
mod errors;
mod events;
pub mod harness;
mod isolation;
mod openapi;
mod queues;
mod reports;
mod tasks;
