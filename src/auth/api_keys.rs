//! API keys: what an application presents as `Authorization: Bearer <key>`, with the scopes it
//! was given. Keys are kept as SHA-256 digests, so that neither memory dumps nor the generated
//! secrets file hold them in the clear, and every stored key is compared on every lookup.

use serde::{Deserialize, Serialize};

use super::crypto::{constant_time_eq, sha256};

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Enqueue tasks, mint user tokens, report on tasks.
    Enqueue,
    /// Read tasks, queues and events.
    Read,
    /// Everything: cancel, retry, dismiss, resume any task; pause and size queues.
    Admin,
}

impl Scope {
    /// The scope's name in configuration and errors.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Enqueue => "enqueue",
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }
}

/// One key's digest and scopes.
#[derive(Debug, Clone)]
struct StoredKey {
    digest: [u8; 32],
    scopes: Vec<Scope>,
}

/// The keys errand accepts.
#[derive(Debug, Clone, Default)]
pub struct ApiKeys {
    keys: Vec<StoredKey>,
}

impl ApiKeys {
    /// Accepts `key` with `scopes`.
    pub fn add(&mut self, key: &str, scopes: Vec<Scope>) {
        self.add_digest(sha256(key.as_bytes()), scopes);
    }

    /// Accepts the key whose SHA-256 digest is `digest`, with `scopes`.
    pub fn add_digest(&mut self, digest: [u8; 32], scopes: Vec<Scope>) {
        self.keys.push(StoredKey { digest, scopes });
    }

    /// The SHA-256 digest of `key`, as [`ApiKeys::add_digest`] takes it.
    pub fn digest(key: &str) -> [u8; 32] {
        sha256(key.as_bytes())
    }

    /// The scopes of `presented`, if it is a key errand accepts. Every stored key is compared,
    /// in constant time, whatever matches first.
    pub fn scopes(&self, presented: &str) -> Option<&[Scope]> {
        let digest = sha256(presented.as_bytes());
        let mut found = None;
        for key in &self.keys {
            if constant_time_eq(&key.digest, &digest) && found.is_none() {
                found = Some(key.scopes.as_slice());
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_answers_its_own_scopes() {
        let mut keys = ApiKeys::default();
        keys.add("app-key", vec![Scope::Enqueue, Scope::Read]);
        keys.add("ops-key", vec![Scope::Admin]);
        assert_eq!(
            keys.scopes("app-key"),
            Some(&[Scope::Enqueue, Scope::Read][..])
        );
        assert_eq!(keys.scopes("ops-key"), Some(&[Scope::Admin][..]));
        assert_eq!(keys.scopes("app-key "), None);
        assert_eq!(keys.scopes(""), None);
    }
}
