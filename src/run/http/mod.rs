//! HTTP dispatch: a task runs as a signed `POST` to an endpoint of the application.

mod forwarded;

pub use forwarded::Forwarded;
