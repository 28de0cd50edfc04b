//! What the client commands share: where the errand server is (`--url`, `--api-key`), one HTTP
//! client for its REST API, and errors that tell a person what to do.
//!
//! Every call goes through [`Client::call`], so the friendly messages (server down, key refused,
//! the server's own `{"error": {"code", "message"}}`) are decided in one place.

use std::time::Duration;

use clap::Args;
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// How long an ordinary call may take; long polls add their own wait to it.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the errand server is and how to prove who we are: shared by every client command.
#[derive(Debug, Clone, Args)]
pub struct Remote {
    /// The errand server's base URL.
    #[arg(long, env = "ERRAND_URL", default_value = "http://127.0.0.1:7700")]
    url: String,
    /// The API key, sent as `Authorization: Bearer KEY`.
    #[arg(long, env = "ERRAND_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
}

impl Remote {
    /// A client for the server at `--url`; fails on a URL that is not `http(s)://…`.
    pub fn connect(&self) -> anyhow::Result<Client> {
        let base = Url::parse(&self.url)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "{:?} is not an http:// or https:// URL (set --url or ERRAND_URL)",
                    self.url
                )
            })?;
        let http = errand::run::http::client_builder()
            .connect_timeout(Duration::from_secs(10))
            .build()?;
        Ok(Client {
            http,
            base,
            api_key: self.api_key.clone(),
        })
    }
}

/// One call to the API: the path under `/v1` and what goes with it.
#[derive(Debug, Default)]
pub struct Call<'a> {
    /// The path's segments after `v1` (each escaped on its own, so an id cannot break out).
    pub path: &'a [&'a str],
    /// Query parameters.
    pub query: Vec<(&'static str, String)>,
    /// A JSON body, sent with `POST`; `None` sends `GET`.
    pub body: Option<Value>,
    /// Added to the usual timeout: the seconds a long poll may be held by the server.
    pub held_for: Duration,
}

/// The server's answer to a successful call.
#[derive(Debug)]
pub struct Answer {
    /// The status: `201` for a new task, `200` for the one a dedup key found, …
    pub status: StatusCode,
    /// The JSON body as sent (`null` when empty), printed as is by `--json`.
    pub body: Value,
}

impl Answer {
    /// The body read into a client-side shape.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ClientError> {
        T::deserialize(&self.body).map_err(|err| ClientError::Unexpected(err.to_string()))
    }
}

/// A client for one errand server.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    api_key: Option<String>,
}

/// Why a call did not give an answer, said so that the reader knows what to do next.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens at the URL, or the name does not resolve.
    #[error("cannot reach errand at {0}: is `errand serve` running? (set --url or ERRAND_URL)")]
    Unreachable(String),
    /// The server took longer than the call allows.
    #[error("errand at {0} did not answer in time")]
    NoAnswer(String),
    /// 401 with a key: the server does not know it.
    #[error("the API key was refused (set --api-key or ERRAND_API_KEY)")]
    KeyRefused,
    /// 401 without a key.
    #[error("errand asks for an API key (set --api-key or ERRAND_API_KEY)")]
    KeyMissing,
    /// The server refused the call and said why.
    #[error("{message}")]
    Api {
        /// The HTTP status.
        status: StatusCode,
        /// The error's stable code, e.g. `not_found`.
        code: String,
        /// The server's words.
        message: String,
    },
    /// An answer this client cannot read: another program on the port, or a proxy's page.
    #[error("unexpected answer from errand: {0}")]
    Unexpected(String),
    /// Anything else the transport reports.
    #[error("talking to errand: {0}")]
    Transport(#[source] reqwest::Error),
}

/// The error shape of the API: `{"error": {"code", "message"}}`.
#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorFields,
}

#[derive(Deserialize)]
struct ErrorFields {
    #[serde(default)]
    code: String,
    message: String,
}

impl Client {
    /// `GET /v1/{path}`.
    pub async fn get(&self, path: &[&str]) -> Result<Answer, ClientError> {
        self.call(Call {
            path,
            ..Call::default()
        })
        .await
    }

    /// `POST /v1/{path}` with a JSON body.
    pub async fn post(&self, path: &[&str], body: Value) -> Result<Answer, ClientError> {
        self.call(Call {
            path,
            body: Some(body),
            ..Call::default()
        })
        .await
    }

    /// Sends one call and reads its answer; every error a person may see is made here.
    pub async fn call(&self, call: Call<'_>) -> Result<Answer, ClientError> {
        let url = self.url(&call);
        let mut request = match call.body {
            Some(body) => self.http.request(Method::POST, url).json(&body),
            None => self.http.request(Method::GET, url),
        }
        .timeout(CALL_TIMEOUT + call.held_for);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.map_err(|err| self.transport(err))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|err| self.transport(err))?;
        read_answer(status, &bytes, self.api_key.is_some())
    }

    /// The base URL, then `v1` and the path's segments, then the query.
    fn url(&self, call: &Call<'_>) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().push("v1").extend(call.path);
        }
        if !call.query.is_empty() {
            url.query_pairs_mut().extend_pairs(&call.query);
        }
        url
    }

    fn transport(&self, err: reqwest::Error) -> ClientError {
        let base = self.base.as_str().trim_end_matches('/').to_owned();
        if err.is_connect() {
            ClientError::Unreachable(base)
        } else if err.is_timeout() {
            ClientError::NoAnswer(base)
        } else {
            ClientError::Transport(err)
        }
    }
}

/// An answer as the commands see it: JSON on success, a [`ClientError`] otherwise.
fn read_answer(status: StatusCode, bytes: &[u8], sent_key: bool) -> Result<Answer, ClientError> {
    if status == StatusCode::UNAUTHORIZED {
        return Err(if sent_key {
            ClientError::KeyRefused
        } else {
            ClientError::KeyMissing
        });
    }
    if !status.is_success() {
        return Err(match serde_json::from_slice::<ErrorBody>(bytes) {
            Ok(ErrorBody { error }) => ClientError::Api {
                status,
                code: error.code,
                message: error.message,
            },
            Err(_) => ClientError::Unexpected(format!("{status}: {}", excerpt(bytes))),
        });
    }
    let body = if bytes.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(bytes).map_err(|_| {
            ClientError::Unexpected(format!(
                "{status} with a body that is not JSON: {}",
                excerpt(bytes)
            ))
        })?
    };
    Ok(Answer { status, body })
}

/// The start of a body, for a message about it.
fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    match text.char_indices().nth(120) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(url: &str) -> Client {
        Remote {
            url: url.into(),
            api_key: None,
        }
        .connect()
        .unwrap()
    }

    #[test]
    fn paths_are_escaped_segments_under_v1_of_the_base_url() {
        let call = Call {
            path: &["tasks", "a/b?c", "cancel"],
            query: vec![("wait", "30".into())],
            ..Call::default()
        };
        assert_eq!(
            client("http://127.0.0.1:7700").url(&call).as_str(),
            "http://127.0.0.1:7700/v1/tasks/a%2Fb%3Fc/cancel?wait=30"
        );
        assert_eq!(
            client("https://example.com/errand/").url(&call).path(),
            "/errand/v1/tasks/a%2Fb%3Fc/cancel"
        );
    }

    #[test]
    fn a_url_that_is_not_http_is_refused_with_the_remedy() {
        let remote = Remote {
            url: "127.0.0.1:7700".into(),
            api_key: None,
        };
        let err = remote.connect().unwrap_err().to_string();
        assert!(err.contains("set --url or ERRAND_URL"), "{err}");
    }

    #[test]
    fn answers_become_json_or_the_error_a_person_can_act_on() {
        let ok = read_answer(StatusCode::CREATED, br#"{"id": "1"}"#, false).unwrap();
        assert_eq!(ok.body["id"], "1");
        assert_eq!(
            read_answer(StatusCode::OK, b"", false).unwrap().body,
            Value::Null
        );

        let refused = read_answer(StatusCode::UNAUTHORIZED, b"", true).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "the API key was refused (set --api-key or ERRAND_API_KEY)"
        );
        let missing = read_answer(StatusCode::UNAUTHORIZED, b"", false).unwrap_err();
        assert!(missing.to_string().contains("asks for an API key"));

        let body = br#"{"error": {"code": "not_found", "message": "no task 42"}}"#;
        let api = read_answer(StatusCode::NOT_FOUND, body, true).unwrap_err();
        assert_eq!(api.to_string(), "no task 42");
        assert!(matches!(api, ClientError::Api { code, .. } if code == "not_found"));

        let proxy = read_answer(StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>", false);
        assert!(
            proxy
                .unwrap_err()
                .to_string()
                .contains("502 Bad Gateway: <html>")
        );
    }
}
