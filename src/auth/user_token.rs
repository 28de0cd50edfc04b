//! User tokens: HS256 JSON Web Tokens whose `sub` is the owner and `exp` the end of their
//! validity. Applications mint them with any JWT library (or `POST /v1/tokens`, or
//! `errand token`); the browser presents them, and sees its owner's tasks alone.
//!
//! Only `HS256` is accepted, whatever the header says: the algorithm is never taken from the
//! token (the `alg: none` and key-confusion attacks).

use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::crypto::{constant_time_eq, decode, encode, hmac_sha256};

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64 parts of JSON.
    #[error("the token is not a JWT")]
    Malformed,
    /// Signed with another algorithm than HS256.
    #[error("the token is signed with {0:?}; errand accepts HS256 only")]
    Algorithm(String),
    /// The signature does not match errand's secret.
    #[error("the token's signature is not valid")]
    Signature,
    /// Past its `exp`.
    #[error("the token has expired")]
    Expired,
    /// Without `sub` or `exp`.
    #[error("the token has no {0} claim")]
    MissingClaim(&'static str),
    /// A lifetime past what a timestamp can hold.
    #[error("the token's lifetime is out of range")]
    Lifetime,
}

/// A freshly minted token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MintedToken {
    /// The JWT.
    pub token: String,
    /// When it stops being accepted.
    pub expires_at: Timestamp,
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    typ: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Claims {
    sub: Option<String>,
    exp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
}

/// Mints and checks user tokens with one shared secret.
#[derive(Clone)]
pub struct UserTokens {
    secret: Vec<u8>,
}

impl std::fmt::Debug for UserTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UserTokens(..)")
    }
}

impl UserTokens {
    /// Tokens signed with `secret` (the configuration's `user_token_secret`).
    pub fn new(secret: impl Into<Vec<u8>>) -> Self {
        UserTokens {
            secret: secret.into(),
        }
    }

    /// A token for `owner`, valid for `ttl` from `now`.
    pub fn mint(
        &self,
        owner: &str,
        ttl: Duration,
        now: Timestamp,
    ) -> Result<MintedToken, TokenError> {
        let expires_at = now.checked_add(ttl).map_err(|_| TokenError::Lifetime)?;
        let header = Header {
            alg: "HS256".into(),
            typ: Some("JWT".into()),
        };
        let claims = Claims {
            sub: Some(owner.to_owned()),
            exp: Some(expires_at.as_second()),
            iat: Some(now.as_second()),
        };
        let signing_input = format!("{}.{}", json_part(&header), json_part(&claims));
        let signature = hmac_sha256(&self.secret, &[signing_input.as_bytes()]);
        Ok(MintedToken {
            token: format!("{signing_input}.{}", encode(&signature)),
            expires_at: Timestamp::from_second(expires_at.as_second())
                .map_err(|_| TokenError::Lifetime)?,
        })
    }

    /// The owner named by `token`, if errand's secret signed it and it has not expired at `now`.
    pub fn verify(&self, token: &str, now: Timestamp) -> Result<String, TokenError> {
        let mut parts = token.split('.');
        let (Some(header), Some(claims), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let header: Header = parse_part(header)?;
        if header.alg != "HS256" {
            return Err(TokenError::Algorithm(header.alg));
        }
        let signing_input = &token[..token.len() - signature.len() - 1];
        let expected = hmac_sha256(&self.secret, &[signing_input.as_bytes()]);
        let signature = decode(signature).ok_or(TokenError::Malformed)?;
        if !constant_time_eq(&signature, &expected) {
            return Err(TokenError::Signature);
        }
        let claims: Claims = parse_part(claims)?;
        let exp = claims.exp.ok_or(TokenError::MissingClaim("exp"))?;
        if now.as_second() >= exp {
            return Err(TokenError::Expired);
        }
        claims
            .sub
            .filter(|sub| !sub.is_empty())
            .ok_or(TokenError::MissingClaim("sub"))
    }
}

fn json_part(value: &impl Serialize) -> String {
    encode(&serde_json::to_vec(value).expect("claims serialize"))
}

fn parse_part<T: for<'de> Deserialize<'de>>(part: &str) -> Result<T, TokenError> {
    let bytes = decode(part).ok_or(TokenError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        Timestamp::from_second(1_800_000_000).unwrap()
    }

    #[test]
    fn a_minted_token_names_its_owner_until_it_expires() {
        let tokens = UserTokens::new("secret");
        let minted = tokens
            .mint("alice", Duration::from_secs(60), now())
            .unwrap();
        assert_eq!(tokens.verify(&minted.token, now()).unwrap(), "alice");
        let later = now().checked_add(Duration::from_secs(60)).unwrap();
        assert_eq!(
            tokens.verify(&minted.token, later),
            Err(TokenError::Expired)
        );
        assert_eq!(
            UserTokens::new("other").verify(&minted.token, now()),
            Err(TokenError::Signature)
        );
    }

    #[test]
    fn a_token_signed_by_any_other_algorithm_is_refused() {
        let tokens = UserTokens::new("secret");
        let header = encode(br#"{"alg":"none"}"#);
        let claims = encode(br#"{"sub":"alice","exp":9999999999}"#);
        assert_eq!(
            tokens.verify(&format!("{header}.{claims}."), now()),
            Err(TokenError::Algorithm("none".into()))
        );
        assert_eq!(tokens.verify("a.b", now()), Err(TokenError::Malformed));
        assert_eq!(tokens.verify("", now()), Err(TokenError::Malformed));
    }

    #[test]
    fn the_signature_of_another_jwt_library_checks_out() {
        // The example token of jwt.io (secret "your-256-bit-secret"): its signature is
        // accepted, and it is refused only because it carries no `exp`.
        let token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.\
                     eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.\
                     SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
        let tokens = UserTokens::new("your-256-bit-secret");
        assert_eq!(
            tokens.verify(token, now()),
            Err(TokenError::MissingClaim("exp"))
        );
        assert_eq!(
            UserTokens::new("another").verify(token, now()),
            Err(TokenError::Signature)
        );
    }
}
