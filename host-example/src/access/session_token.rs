//! Session tokens: what the portal backend's `POST /api/v1/sessions` gives the browser, and
//! what every widget API call carries as `Authorization: Bearer …`.
//!
//! `tms1.<payload>.<tag>`: the payload is base64url JSON (user, display name, companies with
//! their roles, issued and expiry times, the id of the API key that minted it); the tag is
//! HMAC-SHA256 over `tms1.<payload>` under a key derived (HKDF) from the token-encryption key.
//!
//! Signed rather than stored: every host instance that shares the token key verifies a token
//! without a database read on each request (the read path stays as fast as before), and a
//! token lives at most an hour. The price is that one cannot be revoked before it expires
//! other than by rotating the key; the lifetime bound is what Plaid's `link_token` and Nango's
//! connect sessions accept too. The browser treats the token as opaque.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::hmac;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use token_manager_core::Timestamp;

use super::{KeyId, Role};
use crate::crypto::TokenKey;

/// Shortest session lifetime a portal may ask for.
pub const MIN_TTL: Duration = Duration::from_secs(60);
/// Longest session lifetime a portal may ask for.
pub const MAX_TTL: Duration = Duration::from_secs(3600);
/// Most companies one session may name.
pub const MAX_SESSION_COMPANIES: usize = 100;
/// Longest token accepted (bytes).
pub const MAX_SESSION_TOKEN: usize = 16 * 1024;

/// The HKDF `info` of the signing key.
const KEY_INFO: &[u8] = b"token-manager session token v1";
const PREFIX: &str = "tms1.";
/// How far in the future a token's issue time may lie (clock skew between hosts).
const SKEW: Duration = Duration::from_secs(60);

/// One company of a session, with the role the portal gave the user there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompanyGrant {
    /// Company id.
    pub id: String,
    /// What the user may do there.
    pub role: Role,
}

/// What a session token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionClaims {
    /// The portal's user id.
    pub user: String,
    /// The user's display name.
    pub name: String,
    /// The companies the user may see, with roles.
    pub companies: Vec<CompanyGrant>,
    /// When it was minted.
    pub issued_at: Timestamp,
    /// When it stops being accepted.
    pub expires_at: Timestamp,
    /// The API key that minted it.
    pub key_id: KeyId,
}

/// Why a token was not accepted (all of them answer 401 `unauthenticated`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Not a session token of this version, or its payload does not parse.
    #[error("not a session token")]
    Malformed,
    /// The tag does not verify under any key (forged, tampered, or another host's key).
    #[error("the session token's signature does not verify")]
    BadSignature,
    /// Past its expiry (or issued in the future).
    #[error("the session token has expired")]
    Expired,
}

#[derive(Serialize, Deserialize)]
struct Wire {
    v: u8,
    u: String,
    n: String,
    c: Vec<(String, Role)>,
    iat: i64,
    exp: i64,
    k: String,
}

/// Mints and verifies session tokens.
pub struct SessionSigner {
    current: hmac::Key,
    old: Vec<hmac::Key>,
}

impl std::fmt::Debug for SessionSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionSigner([redacted])")
    }
}

fn key(from: &TokenKey) -> hmac::Key {
    let bytes = zeroize::Zeroizing::new(from.derive(KEY_INFO));
    hmac::Key::new(hmac::HMAC_SHA256, bytes.as_slice())
}

impl SessionSigner {
    /// A signer under `key`; tokens signed under `old` keys (a rotation in progress, another
    /// host not restarted yet) still verify.
    pub fn new(key_now: &TokenKey, old: &[TokenKey]) -> Self {
        Self {
            current: key(key_now),
            old: old.iter().map(key).collect(),
        }
    }

    /// The token for `claims`.
    pub fn mint(&self, claims: &SessionClaims) -> String {
        let wire = Wire {
            v: 1,
            u: claims.user.clone(),
            n: claims.name.clone(),
            c: claims
                .companies
                .iter()
                .map(|c| (c.id.clone(), c.role))
                .collect(),
            iat: claims.issued_at.0,
            exp: claims.expires_at.0,
            k: claims.key_id.0.clone(),
        };
        let json = serde_json::to_vec(&wire).expect("the wire form holds strings and numbers");
        let signing_input = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(json));
        let tag = hmac::sign(&self.current, signing_input.as_bytes());
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// The claims of `token`, if it verifies and is live at `now`.
    pub fn verify(&self, token: &str, now: Timestamp) -> Result<SessionClaims, TokenError> {
        if token.len() > MAX_SESSION_TOKEN || !token.starts_with(PREFIX) {
            return Err(TokenError::Malformed);
        }
        let (signing_input, tag) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| TokenError::Malformed)?;
        let verified = std::iter::once(&self.current)
            .chain(&self.old)
            .any(|k| hmac::verify(k, signing_input.as_bytes(), &tag).is_ok());
        if !verified {
            return Err(TokenError::BadSignature);
        }
        let payload = URL_SAFE_NO_PAD
            .decode(&signing_input[PREFIX.len()..])
            .map_err(|_| TokenError::Malformed)?;
        let wire: Wire = serde_json::from_slice(&payload).map_err(|_| TokenError::Malformed)?;
        if wire.v != 1 {
            return Err(TokenError::Malformed);
        }
        if now.0 >= wire.exp || wire.iat > now.add(SKEW).0 {
            return Err(TokenError::Expired);
        }
        Ok(SessionClaims {
            user: wire.u,
            name: wire.n,
            companies: wire
                .c
                .into_iter()
                .map(|(id, role)| CompanyGrant { id, role })
                .collect(),
            issued_at: Timestamp(wire.iat),
            expires_at: Timestamp(wire.exp),
            key_id: KeyId(wire.k),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn claims() -> SessionClaims {
        SessionClaims {
            user: "ada".into(),
            name: "Ada Admin".into(),
            companies: vec![
                CompanyGrant {
                    id: "demo-co".into(),
                    role: Role::Admin,
                },
                CompanyGrant {
                    id: "acme".into(),
                    role: Role::Viewer,
                },
            ],
            issued_at: Timestamp(1_000),
            expires_at: Timestamp(901_000),
            key_id: KeyId("0123456789abcdef".into()),
        }
    }

    #[test]
    fn a_minted_token_verifies_until_it_expires() {
        let key = TokenKey::generate();
        let signer = SessionSigner::new(&key, &[]);
        let token = signer.mint(&claims());
        assert!(token.starts_with("tms1."));
        assert_eq!(signer.verify(&token, Timestamp(2_000)).unwrap(), claims());
        assert_eq!(
            signer.verify(&token, Timestamp(901_000)),
            Err(TokenError::Expired)
        );
        // Issued (by a host whose clock is) more than a minute ahead.
        assert_eq!(
            signer.verify(&token, Timestamp(1_000 - 61_000)),
            Err(TokenError::Expired)
        );
        // The same key on another host (derived, not shared state).
        assert!(SessionSigner::new(&key, &[])
            .verify(&token, Timestamp(2_000))
            .is_ok());
    }

    #[test]
    fn forged_tampered_and_foreign_tokens_are_refused() {
        let key = TokenKey::generate();
        let signer = SessionSigner::new(&key, &[]);
        let token = signer.mint(&claims());
        let now = Timestamp(2_000);
        // Another host's key.
        let other = SessionSigner::new(&TokenKey::generate(), &[]);
        assert_eq!(other.verify(&token, now), Err(TokenError::BadSignature));
        // A payload changed (viewer → admin, another company), the tag kept.
        let (input, tag) = token.rsplit_once('.').unwrap();
        let payload = URL_SAFE_NO_PAD.decode(&input[PREFIX.len()..]).unwrap();
        let forged = String::from_utf8(payload)
            .unwrap()
            .replace("viewer", "admin");
        let forged = format!("{PREFIX}{}.{tag}", URL_SAFE_NO_PAD.encode(forged));
        assert_eq!(signer.verify(&forged, now), Err(TokenError::BadSignature));
        // One character of the tag flipped.
        let mut flipped = token.clone().into_bytes();
        let last = flipped.len() - 2;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert_eq!(signer.verify(&flipped, now), Err(TokenError::BadSignature));
        // Not tokens at all.
        for junk in [
            "",
            "tms1.",
            "tms1.x",
            "Bearer x",
            "tms2.a.b",
            &"tms1.a".repeat(4000),
        ] {
            assert!(signer.verify(junk, now).is_err(), "{junk:.20}");
        }
        // A rotation: the old key's tokens verify on a host that lists it as old.
        let rotated = SessionSigner::new(&TokenKey::generate(), &[key]);
        assert!(rotated.verify(&token, now).is_ok());
        // Nothing secret in Debug.
        assert_eq!(format!("{signer:?}"), "SessionSigner([redacted])");
    }
}
