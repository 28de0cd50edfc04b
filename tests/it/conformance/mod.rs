//! The store conformance suite: every store operation and transition, run unchanged on each
//! store the factory yields (SQLite always; PostgreSQL when `ERRAND_TEST_DATABASE_URL` is
//! set), against `Arc<dyn Store>` with times passed in.

mod attempts;
mod claims;
mod control;
mod enqueue;
mod factory;
mod postgres;
mod reads;
mod sweeps;

pub use factory::{PgSchema, postgres_url};
