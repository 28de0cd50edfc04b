//! `Retry-After`: how long the application asks errand to wait before trying again, as a
//! number of seconds or an HTTP date (RFC 9110 §10.2.3).

use std::time::Duration;

use jiff::Timestamp;
use jiff::fmt::rfc2822::DateTimeParser;

/// The longest wait an answer may ask for: a day. A larger value is taken as a day, so that a
/// mistaken header cannot park a task for years.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// The wait that a `Retry-After` value asks for, at `now`; `None` if it is neither form. A
/// date in the past asks for no wait.
pub(crate) fn parse_retry_after(value: &str, now: Timestamp) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits for a u64 is "very long".
        let seconds = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER));
    }
    let at = DateTimeParser::new().parse_timestamp(value).ok()?;
    let wait = now.duration_until(at);
    Some(
        Duration::try_from(wait)
            .unwrap_or(Duration::ZERO)
            .min(MAX_RETRY_AFTER),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_and_dates_are_read_and_bounded() {
        let now: Timestamp = "2015-10-21T07:28:00Z".parse().unwrap();
        let secs = Duration::from_secs;
        for (value, wait) in [
            ("1", Some(secs(1))),
            (" 120 ", Some(secs(120))),
            ("0", Some(secs(0))),
            ("99999999999999999999999", Some(MAX_RETRY_AFTER)),
            ("Wed, 21 Oct 2015 07:28:30 GMT", Some(secs(30))),
            ("Wed, 21 Oct 2015 07:00:00 GMT", Some(secs(0))),
            ("Thu, 22 Oct 2015 07:28:01 GMT", Some(MAX_RETRY_AFTER)),
            ("-1", None),
            ("1.5", None),
            ("soon", None),
            ("", None),
        ] {
            assert_eq!(parse_retry_after(value, now), wait, "{value:?}");
        }
    }
}
