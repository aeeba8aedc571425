//! How the mock is set up: its registered clients, its users, lifetimes and initial faults.

use std::time::Duration;

use crate::faults::Faults;

/// A registered OAuth client (an "app" on UPS's developer portal).
#[derive(Clone)]
pub struct MockClient {
    /// Public client id.
    pub client_id: String,
    /// Client secret (Basic auth at the token and refresh endpoints).
    pub client_secret: String,
    /// Registered callback URLs; `redirect_uri` must equal one of them exactly.
    pub redirect_uris: Vec<String>,
}

impl std::fmt::Debug for MockClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockClient")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("redirect_uris", &self.redirect_uris)
            .finish()
    }
}

/// How the mock is set up.
#[derive(Clone)]
pub struct MockConfig {
    /// The mock's own origin, e.g. `http://127.0.0.1:8081` (used for `LassoRedirectURL`).
    pub public_url: String,
    /// Registered clients.
    pub clients: Vec<MockClient>,
    /// `(username, password)` of the UPS.com users who can sign in (usernames match
    /// case-insensitively).
    pub users: Vec<(String, String)>,
    /// Access token lifetime (`expires_in`, whole seconds on the wire).
    pub access_ttl: Duration,
    /// Refresh token lifetime (`refresh_token_expires_in`, whole seconds on the wire).
    pub refresh_ttl: Duration,
    /// Authorization code lifetime.
    pub code_ttl: Duration,
    /// Faults in effect from the start.
    pub faults: Faults,
    /// Keep refresh tokens instead of rotating them (RFC 6749 §6 allows both): a refresh
    /// answer then carries a new access token only, with no `refresh_token` nor any refresh
    /// lifetime, and the refresh token stays usable until it expires. UPS rotates (`false`).
    pub keep_refresh_tokens: bool,
    /// Issue no refresh token at all (a provider that did not grant `offline_access`): the
    /// token answer has an access token only. UPS always issues one (`false`).
    pub no_refresh_tokens: bool,
}

impl Default for MockConfig {
    /// Client `demo-client` / `demo-secret` with redirect
    /// `http://127.0.0.1:8080/admin/token-manager`, user `demo` / `demo-password`, UPS's
    /// lifetimes (3599 s access — UPS issues 1-hour tokens since 2026-04-01 — and 5183999 s
    /// refresh), 60 s codes, no faults.
    fn default() -> Self {
        Self {
            public_url: "http://127.0.0.1:8081".into(),
            clients: vec![MockClient {
                client_id: "demo-client".into(),
                client_secret: "demo-secret".into(),
                redirect_uris: vec!["http://127.0.0.1:8080/admin/token-manager".into()],
            }],
            users: vec![("demo".into(), "demo-password".into())],
            access_ttl: Duration::from_secs(3_599),
            refresh_ttl: Duration::from_secs(5_183_999),
            code_ttl: Duration::from_secs(60),
            faults: Faults::default(),
            keep_refresh_tokens: false,
            no_refresh_tokens: false,
        }
    }
}

impl std::fmt::Debug for MockConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let users: Vec<(&str, &str)> = self
            .users
            .iter()
            .map(|(u, _)| (u.as_str(), "[redacted]"))
            .collect();
        f.debug_struct("MockConfig")
            .field("public_url", &self.public_url)
            .field("clients", &self.clients)
            .field("users", &users)
            .field("access_ttl", &self.access_ttl)
            .field("refresh_ttl", &self.refresh_ttl)
            .field("code_ttl", &self.code_ttl)
            .field("faults", &self.faults)
            .finish()
    }
}

/// Lifetimes and the mock's origin (fixed at construction).
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) public_url: String,
    pub(crate) access_ttl: Duration,
    pub(crate) refresh_ttl: Duration,
    pub(crate) code_ttl: Duration,
    pub(crate) keep_refresh_tokens: bool,
    pub(crate) no_refresh_tokens: bool,
}
