//! What the application's answer to a dispatch means for the task: the one place where HTTP
//! answers map to outcomes (DESIGN.md, "How a task runs").
//!
//! | answer | the task |
//! |---|---|
//! | any 2xx with `Errand-Needs-Input: <url>` | waits for the user's input at that link |
//! | 202 | stays running: the application reports on it by itself |
//! | other 2xx | succeeds; a JSON body's `result`, `result_url` and `message` are kept |
//! | 3xx | fails for good: redirects are not followed |
//! | 408, 429, 5xx, no connection, no answer in time | retried, after `Retry-After` if given |
//! | other 4xx | fails for good, with the body as the error's detail |

use std::time::Duration;

use jiff::Timestamp;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, RETRY_AFTER};
use serde_json::Value;

use super::retry_after::parse_retry_after;
use crate::run::{TaskError, TaskOutput};

/// The header with which an answer asks for the user's input, giving where to answer.
pub(crate) const NEEDS_INPUT_HEADER: &str = "errand-needs-input";

/// How a dispatch came back, as far as deciding needs.
#[derive(Debug)]
pub(crate) enum Reply<'a> {
    /// The application answered.
    Answered {
        /// The status.
        status: StatusCode,
        /// The headers.
        headers: &'a HeaderMap,
        /// The body, cut at the kept size.
        body: &'a [u8],
        /// Whether the body was longer than what was kept.
        truncated: bool,
    },
    /// No connection could be made (refused, no route, unknown host, TLS handshake).
    Unreachable(String),
    /// No answer within the target's timeout.
    TimedOut(Duration),
    /// The exchange broke another way (the connection reset mid-answer, say).
    Broken(String),
}

/// What a dispatch comes to.
#[derive(Debug, PartialEq)]
pub(crate) enum Verdict {
    /// The attempt ends with this output: succeeded, or waiting for input.
    Done(TaskOutput),
    /// The application took the task over (202) and reports on it by itself.
    Accepted,
    /// The attempt failed; the error says whether and when to retry.
    Failed(TaskError),
}

/// The kinds of answers, as counted for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AnswerClass {
    /// A 2xx other than 202.
    Success,
    /// 202.
    Accepted,
    /// 3xx.
    Redirect,
    /// A 4xx other than 408 and 429.
    ClientError,
    /// 408 or 429.
    Throttled,
    /// 5xx.
    ServerError,
    /// No connection.
    ConnectError,
    /// No answer in time.
    Timeout,
    /// A broken exchange, or a status outside 2xx–5xx.
    OtherError,
}

impl AnswerClass {
    /// Every class, in the order the metrics list them.
    pub(crate) const ALL: [AnswerClass; 9] = [
        AnswerClass::Success,
        AnswerClass::Accepted,
        AnswerClass::Redirect,
        AnswerClass::ClientError,
        AnswerClass::Throttled,
        AnswerClass::ServerError,
        AnswerClass::ConnectError,
        AnswerClass::Timeout,
        AnswerClass::OtherError,
    ];

    /// The metrics label.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            AnswerClass::Success => "2xx",
            AnswerClass::Accepted => "202",
            AnswerClass::Redirect => "3xx",
            AnswerClass::ClientError => "4xx",
            AnswerClass::Throttled => "408_429",
            AnswerClass::ServerError => "5xx",
            AnswerClass::ConnectError => "connect_error",
            AnswerClass::Timeout => "timeout",
            AnswerClass::OtherError => "other_error",
        }
    }

    /// Its position in [`AnswerClass::ALL`].
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// What `reply` means for the task, at `now` (for a `Retry-After` date).
pub(crate) fn classify(reply: &Reply<'_>, now: Timestamp) -> (AnswerClass, Verdict) {
    let (status, headers, body, truncated) = match reply {
        Reply::Answered {
            status,
            headers,
            body,
            truncated,
        } => (*status, *headers, *body, *truncated),
        Reply::Unreachable(detail) => {
            let err = TaskError::new("could not connect to the application").detail(detail);
            return (AnswerClass::ConnectError, Verdict::Failed(err));
        }
        Reply::TimedOut(after) => {
            let err = TaskError::new(format!(
                "the application did not answer within {}",
                crate::run::humane(*after)
            ));
            return (AnswerClass::Timeout, Verdict::Failed(err));
        }
        Reply::Broken(detail) => {
            let err = TaskError::new("the exchange with the application broke off").detail(detail);
            return (AnswerClass::OtherError, Verdict::Failed(err));
        }
    };
    let answered = format!("the application answered {status}");
    let class = match status.as_u16() {
        202 => AnswerClass::Accepted,
        200..=299 => AnswerClass::Success,
        300..=399 => AnswerClass::Redirect,
        408 | 429 => AnswerClass::Throttled,
        400..=499 => AnswerClass::ClientError,
        500..=599 => AnswerClass::ServerError,
        _ => AnswerClass::OtherError,
    };
    let verdict = match class {
        AnswerClass::Success | AnswerClass::Accepted => {
            if let Some(value) = headers.get(NEEDS_INPUT_HEADER) {
                let link = value.to_str().ok().and_then(safe_link);
                let mut output = TaskOutput::needs_input(link);
                output.message = kept_fields(body).2;
                Verdict::Done(output)
            } else if class == AnswerClass::Accepted {
                Verdict::Accepted
            } else {
                let (result, result_url, message) = kept_fields(body);
                Verdict::Done(TaskOutput {
                    result,
                    result_url,
                    message,
                    needs_input: None,
                })
            }
        }
        AnswerClass::Redirect => {
            let location = headers
                .get(LOCATION)
                .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
            let mut err = TaskError::new(format!("{answered}: redirects are not followed"));
            if let Some(location) = location {
                err = err.detail(format!("Location: {location}"));
            }
            Verdict::Failed(err.permanent())
        }
        AnswerClass::Throttled | AnswerClass::ServerError => {
            let mut err = with_body(TaskError::new(answered), body, truncated);
            let wait = headers
                .get(RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| parse_retry_after(value, now));
            if let Some(wait) = wait {
                err = err.retry_after(wait);
            }
            Verdict::Failed(err)
        }
        // Other 4xx, and statuses outside 2xx–5xx.
        _ => Verdict::Failed(with_body(TaskError::new(answered), body, truncated).permanent()),
    };
    (class, verdict)
}

/// `err` with the answer's body (lossy UTF-8) as its detail, if there was one.
fn with_body(err: TaskError, body: &[u8], truncated: bool) -> TaskError {
    if body.is_empty() {
        return err;
    }
    let mut detail = String::from_utf8_lossy(body).into_owned();
    if truncated {
        detail.push_str(&format!("\n… (cut at {} bytes)", body.len()));
    }
    err.detail(detail)
}

/// `result`, `result_url` and `message` from a JSON object body; nothing from anything else.
fn kept_fields(body: &[u8]) -> (Option<Value>, Option<String>, Option<String>) {
    let Ok(Value::Object(mut fields)) = serde_json::from_slice::<Value>(body) else {
        return (None, None, None);
    };
    let result = fields.remove("result").filter(|value| !value.is_null());
    let text = |value: Option<Value>| match value {
        Some(Value::String(text)) => Some(text),
        _ => None,
    };
    let result_url = text(fields.remove("result_url")).and_then(|url| safe_link(&url));
    let message = text(fields.remove("message"));
    (result, result_url, message)
}

/// A link the user may be sent to: a path on the same site, or an http(s) URL. Anything else
/// (`javascript:`, `data:`, `//other-host`) is dropped.
fn safe_link(link: &str) -> Option<String> {
    let link = link.trim();
    let lower = link.to_ascii_lowercase();
    let same_site = link.starts_with('/') && !link.starts_with("//") && !link.starts_with("/\\");
    let web = lower.starts_with("https://") || lower.starts_with("http://");
    (same_site || web).then(|| link.to_owned())
}

/// A duration for a message: whole seconds when it is, else milliseconds.
#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;
    use serde_json::json;

    use super::*;
    use crate::run::Retry;

    /// What a row of the table expects.
    #[derive(Debug, PartialEq)]
    enum Expect {
        Succeeded(Option<Value>, Option<&'static str>, Option<&'static str>),
        NeedsInput(Option<&'static str>),
        Accepted,
        Retry(&'static str, Option<u64>),
        Permanent(&'static str, Option<&'static str>),
    }

    fn answered(status: u16, headers: &[(&'static str, &'static str)], body: &str) -> Expect {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, HeaderValue::from_static(value));
        }
        let reply = Reply::Answered {
            status: StatusCode::from_u16(status).unwrap(),
            headers: &map,
            body: body.as_bytes(),
            truncated: false,
        };
        expect(classify(&reply, Timestamp::UNIX_EPOCH).1)
    }

    fn expect(verdict: Verdict) -> Expect {
        let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
        match verdict {
            Verdict::Accepted => Expect::Accepted,
            Verdict::Done(output) => match output.needs_input {
                Some(link) => Expect::NeedsInput(link.map(leak)),
                None => Expect::Succeeded(
                    output.result,
                    output.result_url.map(leak),
                    output.message.map(leak),
                ),
            },
            Verdict::Failed(err) => match err.retry {
                Retry::Never => Expect::Permanent(leak(err.message), err.detail.map(leak)),
                Retry::Backoff => Expect::Retry(leak(err.message), None),
                Retry::After(wait) => Expect::Retry(leak(err.message), Some(wait.as_secs())),
            },
        }
    }

    #[test]
    fn every_answer_maps_to_one_outcome() {
        use Expect::*;
        let json = r#"{"result": {"deleted": 3}, "result_url": "/news", "message": "3 items deleted", "other": 1}"#;
        let table = [
            (answered(200, &[], ""), Succeeded(None, None, None)),
            (
                answered(200, &[], json),
                Succeeded(
                    Some(json!({"deleted": 3})),
                    Some("/news"),
                    Some("3 items deleted"),
                ),
            ),
            (answered(204, &[], ""), Succeeded(None, None, None)),
            (answered(200, &[], "not json"), Succeeded(None, None, None)),
            (answered(200, &[], "[1, 2]"), Succeeded(None, None, None)),
            (
                answered(
                    200,
                    &[],
                    r#"{"result": null, "result_url": "javascript:alert(1)"}"#,
                ),
                Succeeded(None, None, None),
            ),
            (
                answered(201, &[], r#"{"result_url": "https://app.example/r/1"}"#),
                Succeeded(None, Some("https://app.example/r/1"), None),
            ),
            (answered(202, &[], json), Accepted),
            (
                answered(200, &[("errand-needs-input", "/confirm/7")], ""),
                NeedsInput(Some("/confirm/7")),
            ),
            (
                answered(202, &[("errand-needs-input", "https://app.example/c")], ""),
                NeedsInput(Some("https://app.example/c")),
            ),
            (
                answered(200, &[("errand-needs-input", "javascript:alert(1)")], ""),
                NeedsInput(None),
            ),
            (
                answered(302, &[("location", "https://elsewhere/login")], ""),
                Permanent(
                    "the application answered 302 Found: redirects are not followed",
                    Some("Location: https://elsewhere/login"),
                ),
            ),
            (
                answered(301, &[], ""),
                Permanent(
                    "the application answered 301 Moved Permanently: redirects are not followed",
                    None,
                ),
            ),
            (
                answered(400, &[], "bad payload"),
                Permanent(
                    "the application answered 400 Bad Request",
                    Some("bad payload"),
                ),
            ),
            (
                answered(401, &[], ""),
                Permanent("the application answered 401 Unauthorized", None),
            ),
            (
                answered(403, &[], "no access to /news"),
                Permanent(
                    "the application answered 403 Forbidden",
                    Some("no access to /news"),
                ),
            ),
            (
                answered(404, &[("retry-after", "5")], "gone"),
                Permanent("the application answered 404 Not Found", Some("gone")),
            ),
            (
                answered(408, &[], ""),
                Retry("the application answered 408 Request Timeout", None),
            ),
            (
                answered(429, &[("retry-after", "1")], ""),
                Retry("the application answered 429 Too Many Requests", Some(1)),
            ),
            (
                answered(429, &[("retry-after", "Thu, 01 Jan 1970 00:01:00 GMT")], ""),
                Retry("the application answered 429 Too Many Requests", Some(60)),
            ),
            (
                answered(429, &[("retry-after", "later")], ""),
                Retry("the application answered 429 Too Many Requests", None),
            ),
            (
                answered(500, &[], "Traceback"),
                Retry("the application answered 500 Internal Server Error", None),
            ),
            (
                answered(503, &[("retry-after", "30")], ""),
                Retry("the application answered 503 Service Unavailable", Some(30)),
            ),
            (
                answered(101, &[], ""),
                Permanent("the application answered 101 Switching Protocols", None),
            ),
        ];
        for (row, (got, want)) in table.into_iter().enumerate() {
            assert_eq!(got, want, "row {row}");
        }
    }

    #[test]
    fn failures_to_reach_the_application_are_retried() {
        let now = Timestamp::UNIX_EPOCH;
        for (reply, class, message) in [
            (
                Reply::Unreachable("connection refused".into()),
                AnswerClass::ConnectError,
                "could not connect to the application",
            ),
            (
                Reply::TimedOut(Duration::from_secs(30)),
                AnswerClass::Timeout,
                "the application did not answer within 30 s",
            ),
            (
                Reply::TimedOut(Duration::from_millis(250)),
                AnswerClass::Timeout,
                "the application did not answer within 250 ms",
            ),
            (
                Reply::Broken("connection reset".into()),
                AnswerClass::OtherError,
                "the exchange with the application broke off",
            ),
        ] {
            let (got_class, verdict) = classify(&reply, now);
            assert_eq!(got_class, class);
            assert_eq!(expect(verdict), Expect::Retry(message, None));
        }
    }

    #[test]
    fn a_cut_body_says_so_and_classes_cover_the_statuses() {
        let headers = HeaderMap::new();
        let reply = Reply::Answered {
            status: StatusCode::FORBIDDEN,
            headers: &headers,
            body: b"\xffabc",
            truncated: true,
        };
        let (class, verdict) = classify(&reply, Timestamp::UNIX_EPOCH);
        assert_eq!(class, AnswerClass::ClientError);
        let Verdict::Failed(err) = verdict else {
            panic!("{verdict:?}")
        };
        assert_eq!(
            err.detail.as_deref(),
            Some("\u{fffd}abc\n… (cut at 4 bytes)")
        );
        for (index, class) in AnswerClass::ALL.iter().enumerate() {
            assert_eq!(class.index(), index);
        }
    }
}
