//! The task model: tasks, their states and transitions, queues and events. Pure data, no I/O.

mod event;
mod queue;
mod state;
mod task;
mod transition;

pub use event::{Event, EventKind};
pub use queue::{Queue, QueueStats};
pub use state::{State, UnknownState};
pub use task::{DedupPolicy, ErrorInfo, Executor, Links, NewTask, Payload, Progress, Task, TaskId};
pub use transition::{IllegalTransition, Transition};
