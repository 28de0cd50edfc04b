//! The signals that ask a process to drain: SIGTERM, SIGINT and SIGQUIT.

use tokio::signal::unix::{Signal, SignalKind, signal};

/// Listens for the drain signals. Create it before anything that a signal should drain starts:
/// from then on the signals are caught instead of killing the process.
pub struct DrainSignals {
    term: Signal,
    int: Signal,
    quit: Signal,
}

impl DrainSignals {
    /// Starts listening. Needs a tokio runtime.
    pub fn listen() -> std::io::Result<DrainSignals> {
        Ok(DrainSignals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            quit: signal(SignalKind::quit())?,
        })
    }

    /// Completes with the signal's name when the next one arrives.
    pub async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
            _ = self.quit.recv() => "SIGQUIT",
        }
    }
}
