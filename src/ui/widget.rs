//! `/widget/errand.js`: the widget, one file embedded in the binary.

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use axum::response::IntoResponse;

/// The script, as written: no build step.
pub const SCRIPT: &str = include_str!("assets/errand.js");

/// Answers the script. Cached for five minutes: short enough that an upgrade of errand
/// reaches pages quickly, long enough that page loads do not refetch it.
pub(super) async fn script() -> impl IntoResponse {
    (
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static("text/javascript; charset=utf-8"),
            ),
            (
                CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
        ],
        SCRIPT,
    )
}
