//! Who is calling, as extractors: [`Caller`] for the widget API (a session token the portal's
//! backend minted), [`ServerCaller`] for the server API (an API key), and the demo portal's
//! session cookie ([`cookie`]).
//!
//! The extractors are generic over the router's state: they need only the keys
//! ([`Access`](crate::access::Access)) and the clock, which any state provides through
//! [`FromRef`], so this module does not depend on the host's state.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::access::{Access, KeyId, Principal};
use crate::clock::Clock;
use crate::error::AppError;

pub mod cookie;

/// The value of an `Authorization: Bearer …` header (scheme case-insensitive).
fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Extractor: the portal user of a widget API call, from its session token; 401
/// `unauthenticated` when the token is missing, expired, forged, tampered or another host's.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl<S> FromRequestParts<S> for Caller
where
    S: Send + Sync,
    Arc<Access>: FromRef<S>,
    Arc<dyn Clock>: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let token = bearer(parts).ok_or(AppError::Unauthenticated("no session token"))?;
        let access = Arc::<Access>::from_ref(state);
        let now = Arc::<dyn Clock>::from_ref(state).now();
        let claims = access.sessions.verify(token, now).map_err(|e| {
            AppError::Unauthenticated(match e {
                crate::access::TokenError::Expired => "the session token has expired",
                crate::access::TokenError::BadSignature => "the session token does not verify",
                _ => "not a session token",
            })
        })?;
        Ok(Self(Principal { claims }))
    }
}

/// Extractor: the portal backend calling the server API, by its API key's id; 401
/// `unauthenticated` for a missing or wrong key.
#[derive(Debug, Clone)]
pub struct ServerCaller {
    /// Which key was used (never the key).
    pub key_id: KeyId,
}

impl<S> FromRequestParts<S> for ServerCaller
where
    S: Send + Sync,
    Arc<Access>: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let key = bearer(parts).ok_or(AppError::Unauthenticated("no API key"))?;
        let key_id = Arc::<Access>::from_ref(state)
            .api_keys
            .verify(key)
            .ok_or(AppError::Unauthenticated("not an API key of this host"))?;
        Ok(Self { key_id })
    }
}
