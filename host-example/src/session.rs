//! The demo portal's login: a random session id in the `tm_session` cookie (HttpOnly,
//! SameSite=Strict), sessions held in memory. The portal auto-logs-in `admin` on first visit;
//! the widget API requires a session.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;

use crate::error::AppError;
use crate::state::AppState;

/// Cookie name.
pub const COOKIE_NAME: &str = "tm_session";
/// The user the demo portal logs in automatically.
pub const DEMO_USER: &str = "admin";
/// Idle sessions end after this long.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Most sessions kept; the oldest are dropped beyond this.
pub const MAX_SESSIONS: usize = 10_000;

/// One portal session.
#[derive(Debug, Clone)]
pub struct Session {
    /// Portal user (recorded as `authorized_by`).
    pub user: String,
    /// Last company selected in the portal.
    pub company: Option<String>,
    last_seen: Instant,
}

/// In-memory session table.
#[derive(Debug, Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// Start a session for `user`; returns its id (256 random bits, base64url).
    pub fn create(&self, user: &str) -> String {
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        let id = URL_SAFE_NO_PAD.encode(bytes);
        let now = Instant::now();
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        map.retain(|_, s| now.duration_since(s.last_seen) < SESSION_TTL);
        if map.len() >= MAX_SESSIONS {
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.last_seen)
                .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(
            id.clone(),
            Session {
                user: user.to_owned(),
                company: None,
                last_seen: now,
            },
        );
        id
    }

    /// The live session with this id (refreshing its idle timer).
    pub fn get(&self, id: &str) -> Option<Session> {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        match map.get_mut(id) {
            Some(s) if now.duration_since(s.last_seen) < SESSION_TTL => {
                s.last_seen = now;
                Some(s.clone())
            }
            Some(_) => {
                map.remove(id);
                None
            }
            None => None,
        }
    }

    /// Remember the company selected in this session.
    pub fn set_company(&self, id: &str, company: &str) {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = map.get_mut(id) {
            s.company = Some(company.to_owned());
        }
    }

    /// End a session.
    pub fn remove(&self, id: &str) {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }
}

/// The `tm_session` value of a request's `Cookie` headers.
pub fn session_id(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.trim())
}

/// `Set-Cookie` for a session id (`Secure` when the portal is served over https).
pub fn set_cookie(id: &str, secure: bool) -> (axum::http::HeaderName, HeaderValue) {
    let value = format!(
        "{COOKIE_NAME}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        SESSION_TTL.as_secs(),
        if secure { "; Secure" } else { "" }
    );
    (
        SET_COOKIE,
        HeaderValue::from_str(&value).expect("base64url ids and fixed text are valid header bytes"),
    )
}

/// Extractor: the request's portal session, or 401 `unauthenticated`.
#[derive(Debug, Clone)]
pub struct SessionUser {
    /// Session id.
    pub id: String,
    /// The session.
    pub session: Session,
}

impl FromRequestParts<AppState> for SessionUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let id = session_id(&parts.headers).ok_or(AppError::Unauthenticated)?;
        let session = state.sessions().get(id).ok_or(AppError::Unauthenticated)?;
        Ok(Self {
            id: id.to_owned(),
            session,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn cookie_parsing_and_sessions() {
        let s = Sessions::default();
        let id = s.create("admin");
        assert_eq!(id.len(), 43);
        let mut h = HeaderMap::new();
        h.insert(
            COOKIE,
            HeaderValue::from_str(&format!("a=b; {COOKIE_NAME}={id}; c=d")).unwrap(),
        );
        assert_eq!(session_id(&h), Some(id.as_str()));
        assert_eq!(s.get(&id).unwrap().user, "admin");
        s.set_company(&id, "acme");
        assert_eq!(s.get(&id).unwrap().company.as_deref(), Some("acme"));
        s.remove(&id);
        assert!(s.get(&id).is_none());
        let (_, v) = set_cookie("x", true);
        let v = v.to_str().unwrap();
        assert!(v.contains("HttpOnly") && v.contains("SameSite=Strict") && v.ends_with("Secure"));
    }
}
