//! The one-line progress bar `errand wait` draws on a terminal's stderr. Off a terminal it
//! draws nothing, so logs and pipes get no carriage returns.

use std::io::{IsTerminal, Write};

use errand::model::Progress;

use super::wire::clip;

/// Cells of the bar between its brackets.
const BAR_CELLS: usize = 20;

/// A line on stderr, redrawn in place when what it shows changes.
#[derive(Debug)]
pub struct ProgressLine {
    live: bool,
    drawn: Option<String>,
}

impl ProgressLine {
    /// A line that draws only when stderr is a terminal.
    pub fn on_stderr() -> Self {
        ProgressLine {
            live: std::io::stderr().is_terminal(),
            drawn: None,
        }
    }

    /// Whether it draws at all (stderr is a terminal).
    pub fn is_live(&self) -> bool {
        self.live
    }

    /// Draws the state and progress, unless the line already shows exactly that.
    pub fn show(&mut self, state: &str, progress: &Progress) {
        if !self.live {
            return;
        }
        let line = render(state, progress, terminal_width());
        if self.drawn.as_ref() != Some(&line) {
            draw(&line);
            self.drawn = Some(line);
        }
    }

    /// Erases the line, so that what is printed next starts on a clean one.
    pub fn clear(&mut self) {
        if self.drawn.take().is_some() {
            draw("");
        }
    }
}

impl Drop for ProgressLine {
    /// An error leaving the wait must not be printed after a half-drawn bar.
    fn drop(&mut self) {
        self.clear();
    }
}

/// Back to the line's start, erase it, write `line`.
fn draw(line: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = write!(stderr, "\r\x1b[2K{line}");
    let _ = stderr.flush();
}

/// The terminal's columns as the shell exports them, else 80.
fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|columns| columns.parse().ok())
        .filter(|&columns: &usize| columns >= 40)
        .unwrap_or(80)
}

/// `running   [########------------]  42% Deleting /news/a`, kept under `width` columns so
/// that it never wraps (a wrapped line cannot be redrawn in place).
pub fn render(state: &str, progress: &Progress, width: usize) -> String {
    let (bar, percent) = match progress.percent.filter(|p| p.is_finite()) {
        Some(p) => {
            let p = p.clamp(0.0, 100.0);
            let filled = (p / 100.0 * BAR_CELLS as f64).round() as usize;
            let bar = "#".repeat(filled) + &"-".repeat(BAR_CELLS - filled);
            (bar, format!("{:>3.0}%", p.floor()))
        }
        None => ("-".repeat(BAR_CELLS), "  ?%".to_owned()),
    };
    let mut line = format!("{state:<9} [{bar}] {percent}");
    if let Some(message) = progress.message.as_deref().filter(|m| !m.is_empty()) {
        let room = width.saturating_sub(line.chars().count() + 2);
        if room > 1 {
            line.push(' ');
            line.push_str(&clip(message.lines().next().unwrap_or(""), room));
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(percent: Option<f64>, message: Option<&str>) -> Progress {
        Progress {
            percent,
            message: message.map(str::to_owned),
            ..Progress::default()
        }
    }

    #[test]
    fn the_bar_fills_with_the_percentage() {
        assert_eq!(
            render(
                "running",
                &progress(Some(42.0), Some("Deleting /news/a")),
                80
            ),
            "running   [########------------]  42% Deleting /news/a"
        );
        assert_eq!(
            render("running", &progress(Some(100.0), None), 80),
            "running   [####################] 100%"
        );
        assert_eq!(
            render("queued", &progress(None, None), 80),
            "queued    [--------------------]   ?%"
        );
    }

    #[test]
    fn the_line_never_wraps_and_shows_one_line_of_the_message() {
        let long = "x".repeat(200) + "\nsecond line";
        let line = render("running", &progress(Some(5.0), Some(&long)), 60);
        assert!(line.chars().count() < 60, "{line}");
        assert!(line.ends_with('…') && !line.contains('\n'));
    }

    #[test]
    fn off_a_terminal_nothing_is_drawn() {
        let mut line = ProgressLine {
            live: false,
            drawn: None,
        };
        line.show("running", &progress(Some(1.0), None));
        assert!(line.drawn.is_none());
    }
}
