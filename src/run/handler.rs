//! In-process handlers: async functions registered by name.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::{TaskContext, TaskError, TaskOutput};

/// What a handler's future resolves to.
pub type HandlerResult = Result<TaskOutput, TaskError>;

/// A boxed handler future.
pub type HandlerFuture = Pin<Box<dyn Future<Output = HandlerResult> + Send>>;

/// Runs tasks of one kind. Any `async fn(TaskContext) -> Result<TaskOutput, TaskError>` (or
/// closure returning such a future) is a handler.
pub trait Handler: Send + Sync + 'static {
    /// Runs one attempt.
    fn run(&self, ctx: TaskContext) -> HandlerFuture;
}

impl<F, Fut> Handler for F
where
    F: Fn(TaskContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = HandlerResult> + Send + 'static,
{
    fn run(&self, ctx: TaskContext) -> HandlerFuture {
        Box::pin(self(ctx))
    }
}

/// The handlers an engine knows, by name.
#[derive(Clone, Default)]
pub struct Handlers {
    by_name: HashMap<String, Arc<dyn Handler>>,
}

impl Handlers {
    /// Registers `handler` under `name`, replacing any handler of that name.
    pub fn insert(&mut self, name: impl Into<String>, handler: impl Handler) {
        self.by_name.insert(name.into(), Arc::new(handler));
    }

    /// The handler registered under `name`.
    pub fn get(&self, name: &str) -> Option<Arc<dyn Handler>> {
        self.by_name.get(name).cloned()
    }
}
