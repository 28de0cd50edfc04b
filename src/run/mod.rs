//! Executors: how a claimed task runs. In-process handlers live here; HTTP dispatch joins them.

mod context;
mod handler;
pub mod http;
mod outcome;

pub use context::TaskContext;
pub use handler::{Handler, HandlerFuture, HandlerResult, Handlers};
pub(crate) use outcome::{Retry, humane};
pub use outcome::{TaskError, TaskOutput};
