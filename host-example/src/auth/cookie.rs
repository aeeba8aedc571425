//! The demo portal's session cookie: `__Host-tm_session` over https (bound to the host, Secure,
//! Path=/), `tm_session` over plain http (where browsers refuse the prefix); HttpOnly,
//! SameSite=Strict, an absolute lifetime.

use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderName, HeaderValue};

use crate::sessions::SESSION_TTL;

/// Cookie name over plain http.
pub const COOKIE_NAME: &str = "tm_session";
/// Cookie name over https.
pub const SECURE_COOKIE_NAME: &str = "__Host-tm_session";

/// The cookie's name for a portal served over https (`secure`) or not.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        SECURE_COOKIE_NAME
    } else {
        COOKIE_NAME
    }
}

/// The session id in a request's `Cookie` headers.
pub fn session_id(headers: &HeaderMap, secure: bool) -> Option<&str> {
    let name = cookie_name(secure);
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.trim())
}

/// `Set-Cookie` for a session id.
pub fn set_cookie(id: &str, secure: bool) -> (HeaderName, HeaderValue) {
    cookie(id, SESSION_TTL.as_secs(), secure)
}

/// `Set-Cookie` that removes the session cookie (logout).
pub fn clear_cookie(secure: bool) -> (HeaderName, HeaderValue) {
    cookie("", 0, secure)
}

fn cookie(id: &str, max_age: u64, secure: bool) -> (HeaderName, HeaderValue) {
    let value = format!(
        "{}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        cookie_name(secure),
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
        assert_eq!(session_id(&h, false), Some(id));
        // Over https only the __Host- cookie counts.
        assert_eq!(session_id(&h, true), None);
        let (_, v) = set_cookie("x", true);
        let v = v.to_str().unwrap();
        assert!(v.starts_with("__Host-tm_session=x; Path=/;"), "{v}");
        assert!(v.contains("HttpOnly") && v.contains("SameSite=Strict") && v.ends_with("Secure"));
        let (_, v) = set_cookie("x", false);
        assert!(v.to_str().unwrap().starts_with("tm_session=x;"));
        assert!(clear_cookie(false)
            .1
            .to_str()
            .unwrap()
            .contains("Max-Age=0"));
    }
}
