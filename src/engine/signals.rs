//! The signals that ask a process to drain: SIGTERM, SIGINT and SIGQUIT.

use tokio::signal::unix::{SignalKind, signal};

/// Completes with the signal's name when one of them arrives.
pub async fn drain_signal() -> std::io::Result<&'static str> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut quit = signal(SignalKind::quit())?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
        _ = quit.recv() => "SIGQUIT",
    })
}
