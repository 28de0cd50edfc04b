//! HTML for the pages: escaping, and the frame every page shares. Every text that comes from a
//! task goes through [`escape`].

use std::fmt::Write as _;

use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;

/// `text` made safe inside HTML text and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A URL fit for an `href`: http(s) or relative, escaped; `None` for anything else
/// (`javascript:` and the like).
pub fn href(url: &str) -> Option<String> {
    let lower = url.trim_start().to_ascii_lowercase();
    // A colon after the first `/`, `?` or `#` belongs to the path, not to a scheme.
    let relative = match (lower.find(':'), lower.find(['/', '?', '#'])) {
        (None, _) => true,
        (Some(colon), Some(separator)) => separator < colon,
        (Some(_), None) => false,
    };
    (lower.starts_with("http://") || lower.starts_with("https://") || relative)
        .then(|| escape(url.trim_start()))
}

/// A timestamp for people, in UTC.
pub fn when(at: Option<Timestamp>) -> String {
    at.map(|at| at.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| "—".to_owned())
}

/// The styles the pages share; themable with the same custom properties as the widget.
const STYLE: &str = "
body { font: var(--errand-font, 16px/1.45 system-ui, sans-serif); color: var(--errand-fg, #1d2125);
  background: var(--errand-page-bg, #fff); max-width: 60rem; margin: 1.5rem auto; padding: 0 1rem; }
a { color: var(--errand-link, #2f6fde); }
table { border-collapse: collapse; width: 100%; margin-bottom: 1.5rem; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--errand-border, #d0d4da);
  vertical-align: top; }
pre { background: var(--errand-bg, #f6f7f9); border: 1px solid var(--errand-border, #d0d4da);
  padding: .75rem; overflow-x: auto; white-space: pre-wrap; word-break: break-word; font-size: .9em; }
progress { width: 10rem; }
.state-failed { color: var(--errand-error, #b3261e); font-weight: 600; }
.actions form { display: inline; margin-right: .5rem; }
button { font: inherit; padding: .3rem .8rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
dt { font-weight: 600; }
.notice { padding: .75rem; border: 1px solid var(--errand-border, #d0d4da); background: var(--errand-bg, #f6f7f9); }
";

/// A whole page: `title` (escaped here) and `body` (HTML, already escaped by its maker).
pub fn page(status: StatusCode, title: &str, head: &str, body: &str) -> Response {
    let mut html = String::with_capacity(body.len() + 1024);
    let _ = write!(
        html,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\">\
         <title>{} · errand</title><style>{STYLE}</style>{head}</head>\
         <body><main>{body}</main></body></html>",
        escape(title)
    );
    (
        status,
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        html,
    )
        .into_response()
}

/// A page that says what went wrong.
pub fn problem(status: StatusCode, title: &str, message: &str) -> Response {
    page(
        status,
        title,
        "",
        &format!("<h1>{}</h1><p>{}</p>", escape(title), escape(message)),
    )
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        problem(self.status, self.title, &self.message)
    }
}

/// An error a page answers with.
#[derive(Debug)]
pub struct Problem {
    /// The answer's status.
    pub status: StatusCode,
    /// The heading.
    pub title: &'static str,
    /// What happened, and what to do.
    pub message: String,
}

impl Problem {
    /// 404: no such task, or another owner's.
    pub fn not_found() -> Self {
        Problem {
            status: StatusCode::NOT_FOUND,
            title: "Task not found",
            message: "There is no such task among yours.".to_owned(),
        }
    }
}

impl From<crate::engine::EngineError> for Problem {
    fn from(err: crate::engine::EngineError) -> Self {
        let message = err.to_string();
        let status = crate::api::ApiError::from(err).status();
        if status.is_server_error() {
            tracing::warn!(error = %message, "a task page failed");
            return Problem {
                status,
                title: "Something went wrong",
                message: "errand could not answer; try again in a moment.".to_owned(),
            };
        }
        Problem {
            status,
            title: "Not possible",
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{escape, href};

    #[test]
    fn markup_is_escaped() {
        assert_eq!(
            escape("<script>\"a\" & 'b'</script>"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn only_web_urls_become_links() {
        assert_eq!(
            href("https://a.test/x?a=1&b=2").as_deref(),
            Some("https://a.test/x?a=1&amp;b=2")
        );
        assert_eq!(href("/news").as_deref(), Some("/news"));
        assert_eq!(href("news/a:b").as_deref(), Some("news/a:b"));
        assert_eq!(href("javascript:alert(1)"), None);
        assert_eq!(href(" JavaScript:alert(1)"), None);
        assert_eq!(href("data:text/html,x"), None);
    }
}
