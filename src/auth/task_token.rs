//! The per-task token: sent with a dispatch as `Errand-Task-Token`, and good only for the
//! reports of that task's attempt (its fence is inside, so a token of an earlier attempt gets
//! 409 like any stale report). The form is `et1.<task id>.<fence>.<HMAC>`.

use super::crypto::{constant_time_eq, decode, encode, hmac_sha256};
use crate::model::TaskId;

const PREFIX: &str = "et1";

/// Mints and checks per-task tokens.
#[derive(Clone)]
pub struct TaskTokens {
    key: [u8; 32],
}

impl std::fmt::Debug for TaskTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TaskTokens(..)")
    }
}

impl TaskTokens {
    /// Tokens signed with a key derived from `secret`.
    pub fn new(secret: &[u8]) -> Self {
        TaskTokens {
            key: hmac_sha256(secret, &[b"errand task tokens"]),
        }
    }

    /// The token of attempt `fence` of task `id`.
    pub fn mint(&self, id: TaskId, fence: i64) -> String {
        let body = format!("{PREFIX}.{id}.{fence}");
        let mac = hmac_sha256(&self.key, &[body.as_bytes()]);
        format!("{body}.{}", encode(&mac))
    }

    /// The task and fence a token was minted for, if errand minted it.
    pub fn verify(&self, token: &str) -> Option<(TaskId, i64)> {
        let (body, mac) = token.rsplit_once('.')?;
        let expected = hmac_sha256(&self.key, &[body.as_bytes()]);
        if !constant_time_eq(&decode(mac)?, &expected) {
            return None;
        }
        let mut parts = body.split('.');
        let (Some(PREFIX), Some(id), Some(fence), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        Some((id.parse().ok()?, fence.parse().ok()?))
    }

    /// Whether `token` looks like a task token (so that it is not tried as anything else).
    pub fn looks_like(token: &str) -> bool {
        token.starts_with("et1.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_names_its_task_and_attempt_and_nothing_else() {
        let tokens = TaskTokens::new(b"secret");
        let id = TaskId::new();
        let token = tokens.mint(id, 3);
        assert!(TaskTokens::looks_like(&token));
        assert_eq!(tokens.verify(&token), Some((id, 3)));
        let forged = token.replacen(".3.", ".4.", 1);
        assert_eq!(tokens.verify(&forged), None);
        assert_eq!(TaskTokens::new(b"other").verify(&token), None);
        assert_eq!(tokens.verify("et1.x"), None);
        assert_eq!(tokens.verify(""), None);
    }
}
