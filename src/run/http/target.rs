//! A target: one endpoint of the application that errand dispatches tasks to, and the guard
//! that keeps a task's path under it.
//!
//! A task names its target and a path; the URL is the target's base URL with the path appended.
//! The path comes from whoever enqueued the task, so it is checked twice: textually (no `..`,
//! no `//host`, no scheme, no fragment, no backslash or control character) and then on the
//! parsed URL, which must keep the base's scheme, host, port and path prefix. Whatever the
//! text, a task cannot make errand send its signed request (and the user's credentials)
//! anywhere but under the base URL.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::Url;
use reqwest::header::HeaderName;
use tokio::sync::Semaphore;

use super::request::is_reserved;

/// The prefix of a signing secret in the Standard Webhooks form.
const SECRET_PREFIX: &str = "whsec_";

/// An endpoint of the application that tasks are dispatched to.
#[derive(Clone)]
pub struct Target {
    /// The name tasks refer to it by.
    pub name: String,
    /// `http` or `https`; a task's path is appended under it.
    pub base_url: Url,
    /// The key requests are signed with (decoded from `whsec_<base64>`), if they are signed.
    pub secret: Option<Vec<u8>>,
    /// The forwarded headers (lowercase names) this target may receive.
    pub forward_headers: Vec<String>,
    /// How long one request may take, the answer's body included.
    pub timeout: Duration,
    /// The most dispatches in flight to this target from this node (`None`: no limit but the
    /// queues' slots).
    pub concurrency: Option<usize>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret is never printed, nor the base URL's password.
        let mut base = self.base_url.clone();
        if base.password().is_some() {
            let _ = base.set_password(Some("***"));
        }
        f.debug_struct("Target")
            .field("name", &self.name)
            .field("base_url", &base.as_str())
            .field("secret", &self.secret.as_ref().map(|_| "***"))
            .field("forward_headers", &self.forward_headers)
            .field("timeout", &self.timeout)
            .field("concurrency", &self.concurrency)
            .finish()
    }
}

impl Target {
    /// Refuses a target errand cannot dispatch to, saying why.
    pub fn check(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("a target needs a name".into());
        }
        let base = &self.base_url;
        if !matches!(base.scheme(), "http" | "https") || !base.has_host() {
            return Err(format!(
                "the base URL {:?} must be an http or https URL with a host",
                base.as_str()
            ));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err("the base URL must not have a query or a fragment".into());
        }
        if self.timeout.is_zero() {
            return Err("the timeout must be more than zero".into());
        }
        if self
            .concurrency
            .is_some_and(|limit| limit > Semaphore::MAX_PERMITS)
        {
            return Err(format!(
                "a concurrency above {} cannot be kept; leave it out for no limit",
                Semaphore::MAX_PERMITS
            ));
        }
        if self.concurrency == Some(0) {
            return Err(
                "a concurrency of 0 would never dispatch; leave it out for no limit".into(),
            );
        }
        for name in &self.forward_headers {
            if HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(format!("{name:?} is not a header name"));
            }
            if is_reserved(&name.to_ascii_lowercase()) {
                return Err(format!(
                    "the header {name:?} cannot be forwarded: errand sets it itself, or it belongs to the connection"
                ));
            }
        }
        Ok(())
    }

    /// The key bytes of a signing secret written `whsec_<standard base64>`, the form Standard
    /// Webhooks libraries take.
    pub fn parse_secret(text: &str) -> Result<Vec<u8>, String> {
        let text = text.trim();
        let Some(encoded) = text.strip_prefix(SECRET_PREFIX) else {
            return Err(format!(
                "a signing secret is written {SECRET_PREFIX}<base64 of the key>, \
                 e.g. {SECRET_PREFIX}MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
            ));
        };
        let key = STANDARD.decode(encoded).map_err(|err| {
            format!("the signing secret after {SECRET_PREFIX} is not standard base64: {err}")
        })?;
        if key.len() < 16 {
            return Err(format!(
                "the signing secret is {} bytes long; use at least 16 random bytes (24 to 64 is usual)",
                key.len()
            ));
        }
        Ok(key)
    }

    /// The URL of a task's `path` under the base URL. The path must start with `/`, and may
    /// not start with `//`, nor contain `..`, `#`, `\` or a control character; the URL built
    /// must stay under the base URL.
    pub fn url_for(&self, path: &str) -> Result<Url, String> {
        check_path_text(path)?;
        let base = &self.base_url;
        if base.query().is_some() || base.fragment().is_some() {
            return Err(format!(
                "the base URL of target {:?} has a query or a fragment; tasks' paths are appended to it",
                self.name
            ));
        }
        let prefix = base.path().trim_end_matches('/');
        let mut url = base.clone();
        let (path_part, query) = match path.split_once('?') {
            Some((path_part, query)) => (path_part, Some(query)),
            None => (path, None),
        };
        url.set_path(&format!("{prefix}{path_part}"));
        url.set_query(query);
        // The text was checked; the parsed URL is what is sent, so it is checked too.
        let under = url.scheme() == base.scheme()
            && url.host() == base.host()
            && url.port_or_known_default() == base.port_or_known_default()
            && url.username() == base.username()
            && url.password() == base.password()
            && url.path().starts_with(&format!("{prefix}/"));
        if !under {
            return Err(format!(
                "the path {path:?} leads outside the base URL of target {:?}",
                self.name
            ));
        }
        Ok(url)
    }
}

/// The textual rules of a task's path.
fn check_path_text(path: &str) -> Result<(), String> {
    let refuse = |why: &str| Err(format!("the path {path:?} is refused: {why}"));
    if !path.starts_with('/') {
        return refuse("it must start with '/' (a path under the target, not a URL)");
    }
    if path.starts_with("//") {
        return refuse("it must not start with '//' (that names another host)");
    }
    if path.contains("..") {
        return refuse("it must not contain '..'");
    }
    if path.contains('\\') {
        return refuse("it must not contain '\\'");
    }
    if path.contains('#') {
        return refuse("it must not contain '#'");
    }
    if path.chars().any(char::is_control) {
        return refuse("it must not contain control characters");
    }
    // `%2e%2e` is `..` once decoded, and URL parsers treat it as such.
    if path.to_ascii_lowercase().contains("%2e") {
        return refuse("it must not contain an encoded '.'");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(base: &str) -> Target {
        Target {
            name: "app".into(),
            base_url: Url::parse(base).unwrap(),
            secret: None,
            forward_headers: Vec::new(),
            timeout: Duration::from_secs(30),
            concurrency: None,
        }
    }

    #[test]
    fn a_path_is_appended_under_the_base_url() {
        let app = target("http://app.internal:8000/errand/");
        for (path, url) in [
            (
                "/tasks/delete?x=1",
                "http://app.internal:8000/errand/tasks/delete?x=1",
            ),
            ("/", "http://app.internal:8000/errand/"),
            ("/a/./b", "http://app.internal:8000/errand/a/b"),
            ("/a b", "http://app.internal:8000/errand/a%20b"),
            (
                "/@evil.com/x",
                "http://app.internal:8000/errand/@evil.com/x",
            ),
        ] {
            assert_eq!(app.url_for(path).unwrap().as_str(), url, "{path}");
        }
        let root = target("https://app.example");
        assert_eq!(
            root.url_for("/tasks/delete?x=1").unwrap().as_str(),
            "https://app.example/tasks/delete?x=1"
        );
        let no_slash = target("http://app/errand");
        assert_eq!(
            no_slash.url_for("/x").unwrap().as_str(),
            "http://app/errand/x"
        );
    }

    #[test]
    fn a_path_that_could_leave_the_base_url_is_refused() {
        let app = target("http://app.internal:8000/errand");
        for path in [
            "../x",
            "/../x",
            "/a/../../x",
            "//evil.com/x",
            "http://evil",
            "evil.com/x",
            "",
            "/a\\b",
            "/a#b",
            "/a\nb",
            "/a\0b",
            "/%2e%2e/x",
            "/%2E%2E/x",
        ] {
            assert!(app.url_for(path).is_err(), "{path:?} was accepted");
        }
        let with_query = target("http://app/errand?key=1");
        assert!(with_query.url_for("/x").is_err());
    }

    #[test]
    fn a_secret_is_whsec_and_base64() {
        assert_eq!(
            Target::parse_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
                .unwrap()
                .len(),
            24
        );
        let missing = Target::parse_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap_err();
        assert!(missing.contains("whsec_"), "{missing}");
        assert!(Target::parse_secret("whsec_not base64!").is_err());
        assert!(Target::parse_secret("whsec_c2hvcnQ=").is_err());
    }

    #[test]
    fn debug_hides_the_secret_and_the_password() {
        let mut app = target("http://user:hunter2@app/");
        app.secret = Some(b"sixteen-byte-key".to_vec());
        let shown = format!("{app:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("sixteen"),
            "{shown}"
        );
    }
}
