//! HTTP dispatch: a task runs as a signed `POST` to an endpoint of the application.
//!
//! - [`Target`] (`target.rs`): an endpoint, and the guard that keeps a task's path under it.
//! - [`Dispatcher`] (`dispatcher.rs`): the pooled client, per-target limits, one dispatch.
//! - `request.rs`: the request's URL, body and headers; `sign.rs`: its Standard Webhooks
//!   signature; [`Forwarded`] (`forwarded.rs`): the user's credentials, sealed at rest.
//! - `classify.rs`: what an answer means for the task, in one function; `retry_after.rs`:
//!   reading `Retry-After`.
//! - [`client_builder`] (`client.rs`): errand's HTTP client settings (rustls with ring, no
//!   redirects followed).

mod classify;
mod client;
mod dispatcher;
mod forwarded;
mod request;
mod retry_after;
mod sign;
mod target;

pub use client::client_builder;
pub(crate) use dispatcher::Dispatched;
pub use dispatcher::{DispatchError, DispatchSettings, Dispatcher};
pub use forwarded::Forwarded;
pub use target::Target;
