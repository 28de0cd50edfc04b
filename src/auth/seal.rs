//! Sealing: the credentials forwarded with a task (cookies, authorization headers) wait in the
//! store encrypted with XChaCha20-Poly1305 under errand's encryption key, and are erased when
//! the task is final. A sealed value is a version byte, a random 24-byte nonce and the
//! ciphertext with its tag; the task's id is bound in as associated data, so that a sealed
//! value copied onto another task does not open.

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};

use super::crypto::random_bytes;
use crate::model::TaskId;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;

/// Why a sealed value did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// Sealed under another key, for another task, or altered.
    #[error("the sealed value does not open with this key (the encryption key changed?)")]
    Open,
    /// The operating system gave no randomness.
    #[error("no randomness for a nonce")]
    Random,
}

/// Seals and opens forwarded credentials.
#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    /// A sealer with this 32-byte key.
    pub fn new(key: [u8; 32]) -> Self {
        Sealer {
            cipher: XChaCha20Poly1305::new(&key.into()),
        }
    }

    /// `plain`, sealed for task `id`.
    pub fn seal(&self, id: TaskId, plain: &[u8]) -> Result<Vec<u8>, SealError> {
        let nonce = random_bytes::<NONCE_LEN>().map_err(|_| SealError::Random)?;
        let aad = id.0.as_bytes();
        let ciphertext = self
            .cipher
            .encrypt(&XNonce::from(nonce), Payload { msg: plain, aad })
            .map_err(|_| SealError::Open)?;
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        sealed.push(VERSION);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        Ok(sealed)
    }

    /// What was sealed for task `id`.
    pub fn open(&self, id: TaskId, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        let Some((&VERSION, rest)) = sealed.split_first() else {
            return Err(SealError::Open);
        };
        if rest.len() < NONCE_LEN {
            return Err(SealError::Open);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SealError::Open)?;
        self.cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: id.0.as_bytes(),
                },
            )
            .map_err(|_| SealError::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_for_its_task_and_key() {
        let sealer = Sealer::new([7; 32]);
        let id = TaskId::new();
        let sealed = sealer.seal(id, b"Cookie: session=abc").unwrap();
        assert!(!sealed.windows(7).any(|w| w == b"session"));
        assert_eq!(sealer.open(id, &sealed).unwrap(), b"Cookie: session=abc");
        assert_eq!(sealer.open(TaskId::new(), &sealed), Err(SealError::Open));
        assert_eq!(Sealer::new([8; 32]).open(id, &sealed), Err(SealError::Open));
        assert_eq!(sealer.open(id, &[]), Err(SealError::Open));
    }
}
