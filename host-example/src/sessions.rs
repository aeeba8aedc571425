//! The demo portal's session table: a random session id per signed-in portal user, held in
//! memory. The cookie that carries the id and the extractor that reads it are in
//! [`crate::auth`].

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;

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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sessions_live_and_end() {
        let s = Sessions::default();
        let id = s.create("admin");
        assert_eq!(id.len(), 43);
        assert_eq!(s.get(&id).unwrap().user, "admin");
        s.set_company(&id, "acme");
        assert_eq!(s.get(&id).unwrap().company.as_deref(), Some("acme"));
        s.remove(&id);
        assert!(s.get(&id).is_none());
    }
}
