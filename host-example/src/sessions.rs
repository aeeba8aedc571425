//! The demo portal's session table: a random session id per browser, naming the demo user it
//! is signed in as (or none, after logout), held in memory. The cookie that carries the id is
//! in [`crate::auth`]. It identifies the demo user to the demo's own pages only; the widget API
//! is authorized by session tokens.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;

/// The user the demo portal signs in automatically on a browser's first visit.
pub const DEMO_USER: &str = "admin";
/// A session ends this long after it started, however active (an absolute lifetime).
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Most sessions kept; the oldest are dropped beyond this.
pub const MAX_SESSIONS: usize = 10_000;

/// One portal session.
#[derive(Debug, Clone)]
pub struct Session {
    /// The signed-in demo user, or `None` after logout.
    pub user: Option<String>,
    /// Last company selected in the portal.
    pub company: Option<String>,
    started: Instant,
}

/// In-memory session table.
#[derive(Debug, Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// Start a session (signed in as `user`, or signed out); returns its id (256 random bits,
    /// base64url).
    pub fn create(&self, user: Option<&str>) -> String {
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        let id = URL_SAFE_NO_PAD.encode(bytes);
        let now = Instant::now();
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        map.retain(|_, s| now.duration_since(s.started) < SESSION_TTL);
        if map.len() >= MAX_SESSIONS {
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.started)
                .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(
            id.clone(),
            Session {
                user: user.map(str::to_owned),
                company: None,
                started: now,
            },
        );
        id
    }

    /// The live session with this id.
    pub fn get(&self, id: &str) -> Option<Session> {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        match map.get(id) {
            Some(s) if s.started.elapsed() < SESSION_TTL => Some(s.clone()),
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
        let id = s.create(Some("admin"));
        assert_eq!(id.len(), 43);
        assert_eq!(s.get(&id).unwrap().user.as_deref(), Some("admin"));
        s.set_company(&id, "acme");
        assert_eq!(s.get(&id).unwrap().company.as_deref(), Some("acme"));
        s.remove(&id);
        assert!(s.get(&id).is_none());
        let out = s.create(None);
        assert_eq!(s.get(&out).unwrap().user, None);
    }
}
