//! The `tm_session` cookie: reading it from a request, setting it on a response.

use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderName, HeaderValue};

use crate::sessions::SESSION_TTL;

/// Cookie name.
pub const COOKIE_NAME: &str = "tm_session";

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
pub fn set_cookie(id: &str, secure: bool) -> (HeaderName, HeaderValue) {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn cookie_parsing_and_setting() {
        let id = "abc_DEF-123";
        let mut h = HeaderMap::new();
        h.insert(
            COOKIE,
            HeaderValue::from_str(&format!("a=b; {COOKIE_NAME}={id}; c=d")).unwrap(),
        );
        assert_eq!(session_id(&h), Some(id));
        let (_, v) = set_cookie("x", true);
        let v = v.to_str().unwrap();
        assert!(v.contains("HttpOnly") && v.contains("SameSite=Strict") && v.ends_with("Secure"));
    }
}
