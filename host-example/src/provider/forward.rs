//! The proxy's outbound half: the provider API URL a proxied path names (never outside the
//! configured base), the request headers that may pass, and the call with the bearer token.

use oauth2::AccessToken;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION};
use reqwest::{Body, Method};
use url::Url;

use super::Provider;

/// Longest proxied path + query accepted (bytes).
pub const MAX_PATH: usize = 2048;

/// Why a proxied request was not sent.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ForwardError {
    /// No API base is configured for this provider.
    #[error("no provider API is configured (--api-base)")]
    NoApiBase,
    /// The path is empty, too long, or would leave the API base (`..`, encoded slashes,
    /// backslashes, empty segments).
    #[error("the proxied path is not a path under the provider's API: {0}")]
    BadPath(&'static str),
}

/// Request headers never forwarded: the caller's credentials (the host injects the provider's
/// token), cookies, hop-by-hop headers (RFC 9110 §7.6.1), and what the client library sets.
const DROPPED: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "host",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "expect",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
];

/// Response headers never passed back: hop-by-hop ones, cookies the provider sets (the portal
/// has no session at the provider), and lengths the host's own server recomputes.
pub const DROPPED_RESPONSE: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "set-cookie",
    "content-length",
];

/// What came back from the provider.
pub type Forwarded = reqwest::Response;

/// `true` if a header named in `Connection` or listed in [`DROPPED`]; such headers are not
/// forwarded.
fn dropped(name: &HeaderName, connection: &[String]) -> bool {
    let name = name.as_str();
    DROPPED.contains(&name) || connection.iter().any(|c| c == name)
}

/// The request headers that may be forwarded.
pub fn forwardable(headers: &HeaderMap) -> HeaderMap {
    let connection: Vec<String> = headers
        .get_all("connection")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    let mut out = HeaderMap::new();
    for (name, value) in headers {
        if !dropped(name, &connection) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

/// `base` + `path` (+ `?query`), refusing anything that would not stay under `base`. `path` is
/// the raw, still percent-encoded text after `proxy/`.
pub fn api_url(base: &Url, path: &str, query: Option<&str>) -> Result<Url, ForwardError> {
    if path.is_empty() {
        return Err(ForwardError::BadPath("empty"));
    }
    if path.len() + query.map_or(0, str::len) > MAX_PATH {
        return Err(ForwardError::BadPath("too long"));
    }
    let lower = path.to_ascii_lowercase();
    if path.contains('\\') || lower.contains("%5c") || lower.contains("%2f") {
        return Err(ForwardError::BadPath("encoded or back slashes"));
    }
    for segment in path.split('/') {
        let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
        if segment.is_empty() || decoded == "." || decoded == ".." {
            return Err(ForwardError::BadPath("empty, '.' or '..' segments"));
        }
    }
    if !path
        .bytes()
        .all(|b| b.is_ascii_graphic() && !matches!(b, b'?' | b'#'))
    {
        return Err(ForwardError::BadPath("characters a path cannot hold"));
    }
    let mut url = Url::parse(&format!("{}{}", base.as_str(), path))
        .map_err(|_| ForwardError::BadPath("not a URL path"))?;
    if url.origin() != base.origin() || !url.path().starts_with(base.path()) {
        return Err(ForwardError::BadPath("outside the provider's API"));
    }
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        if q.contains('#') {
            return Err(ForwardError::BadPath("a fragment in the query"));
        }
        url.set_query(Some(q));
    }
    Ok(url)
}

impl Provider {
    /// Send `method url` with `headers` (already [`forwardable`]), `body`, and the access token
    /// as the bearer. Redirects are not followed (the client never follows any), so a
    /// provider's 3xx comes back to the caller as it is.
    pub async fn forward(
        &self,
        method: Method,
        url: Url,
        mut headers: HeaderMap,
        body: Body,
        token: &AccessToken,
    ) -> Result<Forwarded, reqwest::Error> {
        let bearer = HeaderValue::try_from(format!("Bearer {}", token.secret()))
            .unwrap_or_else(|_| HeaderValue::from_static("Bearer invalid"));
        let mut bearer = bearer;
        bearer.set_sensitive(true);
        headers.insert(AUTHORIZATION, bearer);
        self.http
            .request(method, url)
            .headers(headers)
            .body(body)
            .send()
            .await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn paths_stay_under_the_base() {
        let base = Url::parse("https://onlinetools.ups.com/api/").unwrap();
        assert_eq!(
            api_url(
                &base,
                "track/v1/details/1Z999AA10123456784",
                Some("locale=en_US")
            )
            .unwrap()
            .as_str(),
            "https://onlinetools.ups.com/api/track/v1/details/1Z999AA10123456784?locale=en_US"
        );
        assert_eq!(
            api_url(&base, "a%20b/c", None).unwrap().as_str(),
            "https://onlinetools.ups.com/api/a%20b/c"
        );
        for bad in [
            "",
            "../security/v1/oauth/token",
            "track/../../x",
            "%2e%2e/x",
            "%2E./x",
            "a/%2F/b",
            "a\\b",
            "a//b",
            "/etc",
            "a/./b",
            "@evil.example/x",
        ] {
            let r = api_url(&base, bad, None);
            assert!(
                r.is_err() || r.as_ref().unwrap().host_str() == Some("onlinetools.ups.com"),
                "{bad:?} gave {r:?}"
            );
            if let Ok(u) = r {
                assert!(u.path().starts_with("/api/"), "{bad:?} → {u}");
            }
        }
        assert!(api_url(&base, &"a".repeat(MAX_PATH + 1), None).is_err());
    }

    #[test]
    fn credentials_cookies_and_hop_by_hop_headers_are_not_forwarded() {
        let mut h = HeaderMap::new();
        h.insert("authorization", "Bearer tmk_portal_key".parse().unwrap());
        h.insert("cookie", "sid=1".parse().unwrap());
        h.insert("connection", "keep-alive, x-private".parse().unwrap());
        h.insert("x-private", "1".parse().unwrap());
        h.insert("transid", "abc".parse().unwrap());
        h.insert("transactionsrc", "portal".parse().unwrap());
        h.insert("content-type", "application/json".parse().unwrap());
        let out = forwardable(&h);
        let names: Vec<_> = out.keys().map(|k| k.as_str().to_owned()).collect();
        assert_eq!(names.len(), 3, "{names:?}");
        assert!(out.contains_key("transid") && out.contains_key("transactionsrc"));
        assert!(out.contains_key("content-type"));
    }
}
