//! Who is looking at a page. The application hands its user's token over once, in the URL
//! (`/ui/tasks?token=…`); [`handover`] keeps it in an HttpOnly, SameSite=Lax cookie scoped to
//! `/ui` and redirects to the same URL without it, so that the token leaves the address bar,
//! the history and the `Referer`. [`Viewer`] reads the cookie. The JSON API never reads it:
//! a cookie there would make every API call forgeable from another site.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::{COOKIE, HOST, LOCATION, ORIGIN, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;

use super::UiState;
use super::html::{Problem, Trouble};
use crate::api::percent_decode;
use crate::auth::TokenError;

/// The cookie's name.
pub const COOKIE_NAME: &str = "errand_ui";

/// The owner whose pages these are.
#[derive(Debug, Clone)]
pub struct Viewer(pub String);

/// Takes a `?token=` handed over on a GET: keeps it in the cookie and redirects to the URL
/// without it. Other requests pass through.
pub(super) async fn handover(
    State(state): State<UiState>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != Method::GET {
        return next.run(request).await;
    }
    let query = request.uri().query().unwrap_or("");
    let mut token = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        match pair.split_once('=') {
            Some(("token", value)) => token = Some(percent_decode(value)),
            _ => kept.push(pair),
        }
    }
    let Some(token) = token else {
        return next.run(request).await;
    };
    if let Err(err) = state.user_tokens.verify(&token, Timestamp::now()) {
        return refused(&err).into_response();
    }
    let mut location = request.uri().path().to_owned();
    if !kept.is_empty() {
        location.push('?');
        location.push_str(&kept.join("&"));
    }
    let cookie = format!("{COOKIE_NAME}={token}; Path=/ui; HttpOnly; SameSite=Lax");
    let (Ok(location), Ok(cookie)) = (
        HeaderValue::from_str(&location),
        HeaderValue::from_str(&cookie),
    ) else {
        return Problem::new(StatusCode::BAD_REQUEST, Trouble::BadLink).into_response();
    };
    (
        StatusCode::SEE_OTHER,
        [(LOCATION, location), (SET_COOKIE, cookie)],
    )
        .into_response()
}

impl FromRequestParts<UiState> for Viewer {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &UiState) -> Result<Self, Problem> {
        let token = cookie(&parts.headers, COOKIE_NAME)
            .ok_or_else(|| Problem::new(StatusCode::UNAUTHORIZED, Trouble::SignIn))?;
        if parts.method != Method::GET && !same_origin(&parts.headers) {
            return Err(Problem::new(StatusCode::FORBIDDEN, Trouble::Refused));
        }
        state
            .user_tokens
            .verify(&token, Timestamp::now())
            .map(Viewer)
            .map_err(|err| refused(&err))
    }
}

/// The page for a token that is not good.
fn refused(err: &TokenError) -> Problem {
    let trouble = match err {
        TokenError::Expired => Trouble::SignInExpired,
        _ => Trouble::SignInInvalid,
    };
    Problem::new(StatusCode::UNAUTHORIZED, trouble)
}

/// Whether a form post comes from a page of this host. SameSite=Lax already keeps the
/// cookie off other sites' posts; this also refuses posts from other origins of the same site.
fn same_origin(headers: &HeaderMap) -> bool {
    if headers
        .get("sec-fetch-site")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|site| site != "same-origin" && site != "none")
    {
        return false;
    }
    let Some(origin) = headers.get(ORIGIN).and_then(|value| value.to_str().ok()) else {
        return true;
    };
    let host = headers.get(HOST).and_then(|value| value.to_str().ok());
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    origin_host.is_some() && origin_host == host
}

/// The value of the cookie `name`.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key == name).then(|| value.to_owned())
        })
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue};

    use super::{cookie, same_origin};

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "cookie",
            HeaderValue::from_static("a=1; errand_ui=t.o.k; b=2"),
        );
        assert_eq!(cookie(&headers, "errand_ui").as_deref(), Some("t.o.k"));
        assert_eq!(cookie(&headers, "c"), None);
    }

    #[test]
    fn posts_from_another_origin_are_refused() {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("errand.test:7700"));
        assert!(same_origin(&headers));
        headers.insert(
            "origin",
            HeaderValue::from_static("http://errand.test:7700"),
        );
        assert!(same_origin(&headers));
        headers.insert("origin", HeaderValue::from_static("http://evil.test"));
        assert!(!same_origin(&headers));
        headers.insert(
            "origin",
            HeaderValue::from_static("http://errand.test:7700"),
        );
        headers.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(!same_origin(&headers));
    }
}
