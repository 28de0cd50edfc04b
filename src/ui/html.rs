//! HTML for the pages: escaping, and the frame every page shares. Every text that comes from a
//! task goes through [`escape`].

use std::fmt::Write as _;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;

use super::text::{Lang, Locale};

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

/// A whole page in `lang`: `title` (escaped here) and `body` (HTML, already escaped by its
/// maker).
pub fn page(status: StatusCode, lang: Lang, title: &str, head: &str, body: &str) -> Response {
    let mut html = String::with_capacity(body.len() + 1024);
    let _ = write!(
        html,
        "<!doctype html>\n<html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\">\
         <title>{title} · errand</title><style>{STYLE}</style>{head}</head>\
         <body><main>{body}</main></body></html>",
        lang = lang.code(),
        title = escape(title),
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

/// What went wrong, in words of no language yet.
#[derive(Debug, Clone)]
pub enum Trouble {
    /// No such task, or another owner's.
    NotFound,
    /// errand failed.
    Failure,
    /// The engine refused; its own explanation.
    NotPossible(String),
    /// No session.
    SignIn,
    /// The token has expired.
    SignInExpired,
    /// The token is not valid.
    SignInInvalid,
    /// A form post from elsewhere.
    Refused,
    /// A handover URL that cannot be kept.
    BadLink,
}

/// An error a page answers with. As a response it is in English and carries itself as an
/// extension, so that [`localize`] can say it again in the request's language.
#[derive(Debug, Clone)]
pub struct Problem {
    /// The answer's status.
    pub status: StatusCode,
    /// What happened.
    pub trouble: Trouble,
}

impl Problem {
    /// A problem with this status.
    pub fn new(status: StatusCode, trouble: Trouble) -> Self {
        Problem { status, trouble }
    }

    /// 404: no such task, or another owner's.
    pub fn not_found() -> Self {
        Problem::new(StatusCode::NOT_FOUND, Trouble::NotFound)
    }

    /// The page that says what went wrong, in `lang`.
    pub fn render(&self, lang: Lang) -> Response {
        let text = lang.text();
        let (title, message, detail) = match &self.trouble {
            Trouble::NotFound => (text.not_found_title, text.not_found, None),
            Trouble::Failure => (text.failure_title, text.failure, None),
            Trouble::NotPossible(why) => (text.not_possible_title, text.not_possible, Some(why)),
            Trouble::SignIn => (text.sign_in_title, text.sign_in, None),
            Trouble::SignInExpired => (text.sign_in_title, text.sign_in_expired, None),
            Trouble::SignInInvalid => (text.sign_in_title, text.sign_in_invalid, None),
            Trouble::Refused => (text.refused_title, text.refused, None),
            Trouble::BadLink => (text.bad_link_title, text.bad_link, None),
        };
        let mut body = format!("<h1>{}</h1><p>{}", escape(title), escape(message));
        if let Some(detail) = detail {
            let _ = write!(body, " {}", escape(detail));
        }
        body.push_str("</p>");
        page(self.status, lang, title, "", &body)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut response = self.render(Lang::En);
        response.extensions_mut().insert(self);
        response
    }
}

/// Says the pages' problems in the request's language.
pub(super) async fn localize(request: Request, next: Next) -> Response {
    let locale = Locale::of(request.uri(), request.headers());
    let response = next.run(request).await;
    match response.extensions().get::<Problem>() {
        Some(problem) if locale.lang != Lang::En => problem.render(locale.lang),
        _ => response,
    }
}

impl From<crate::engine::EngineError> for Problem {
    fn from(err: crate::engine::EngineError) -> Self {
        let message = err.to_string();
        let status = crate::api::ApiError::from(err).status();
        if status.is_server_error() {
            tracing::warn!(error = %message, "a task page failed");
            return Problem::new(status, Trouble::Failure);
        }
        Problem::new(status, Trouble::NotPossible(message))
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
