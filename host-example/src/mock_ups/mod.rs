//! A faithful mock of the UPS OAuth "Auth Code" API and sign-in screens.
//!
//! It runs on its own origin (default `http://127.0.0.1:8081`) so the browser, the host and
//! the tests see the same separation as with the real UPS. Everything is in memory.
//!
//! # Endpoints
//!
//! | method, path | what it does |
//! | --- | --- |
//! | `GET /security/v1/oauth/validate-client?client_id&redirect_uri` | 200 `{"result":"success","type":"ups_com_api","LassoRedirectURL":"<public_url>/lasso/signin"}` |
//! | `GET /security/v1/oauth/authorize?client_id&redirect_uri&response_type=code[&state&scope&code_challenge]` | the current spec's entry point: 302 to `/lasso/signin` with `type=ups_com_api` added, headers `appname`, `displayname` |
//! | `GET /lasso/signin?client_id&redirect_uri&response_type=code&scope&type&state[&code_challenge&code_challenge_method=S256]` | the **Log In** screen (Email or Username + agreement + Continue), then **Welcome back, &lt;user&gt;** (Password + Login); a Cancel button on each returns `error=access_denied` |
//! | `POST /security/v1/oauth/token` | `grant_type=authorization_code&code&redirect_uri[&code_verifier]`, Basic client auth (or, UPS's PKCE flow 2, no Basic header but `client_id` + `code_verifier` in the body) |
//! | `POST /security/v1/oauth/refresh` | `grant_type=refresh_token&refresh_token`, Basic client auth; rotates the refresh token |
//! | `GET /api/track/v1/details/{n}` | `Authorization: Bearer <access token>` → a small UPS Tracking answer; calls counted per token |
//! | `GET /mock/stats` | [`MockStats`] as JSON (tokens appear only as [`token_fingerprint`]s) |
//! | `GET`, `POST /mock/faults` | read / replace the [`Faults`] (JSON below) |
//! | `POST /mock/password-change` | `{"user":"demo","new_password":"…"}`: see [`MockUps::change_password`] |
//! | `POST /mock/reset` | clear every fault |
//!
//! The `/mock/*` control endpoints answer only to loopback peers, which needs the peer
//! address: serve the router with `into_make_service_with_connect_info::<SocketAddr>()`
//! (as [`spawn`] and [`MockUps::serve`] do); without it they answer 403.
//!
//! # Wire format (checked against UPS's OpenAPI files `OAuthAuthCode.yaml` and `OAuth AuthCode.json`)
//!
//! Token answers carry every property as a **string**, times in ms since the epoch:
//! `{"token_type":"Bearer","issued_at":"1700000000000","client_id":"demo-client","access_token":"…",
//! "refresh_token":"…","expires_in":"14399","refresh_token_expires_in":"5183999",
//! "refresh_token_issued_at":"1700000000000","refresh_token_status":"approved","refresh_count":"0",
//! "status":"approved","scope":"read"}`; `refresh_count` counts the refreshes of the grant.
//!
//! Errors use UPS's `tokenErrorResponse` shape `{"response":{"errors":[{"code":"…","message":"…"}]}}`.
//! UPS's spec publishes the shape but **no list of codes**, so the mock uses the codes UPS is
//! known to send where there is one, and RFC 6749 §5.2 names otherwise; every message says
//! what failed (core's classifier reads codes and messages, see `core/UPS-CONTRACT.md`):
//!
//! | situation | HTTP | code |
//! | --- | --- | --- |
//! | Basic header missing or undecodable (and no PKCE flow 2) | 401 | `10400` "Invalid/Missing Authorization Header" |
//! | unknown client, wrong secret, body `client_id` ≠ Basic client | 401 | `10401` "ClientId is Invalid" |
//! | missing parameter, body not a form, `redirect_uri` not registered (validate-client/authorize) | 400 | `invalid_request` |
//! | `grant_type` other than the endpoint's | 400 | `unsupported_grant_type` |
//! | code unknown / expired / used (replay) / revoked, `redirect_uri` ≠ authorize's, PKCE mismatch or missing verifier; refresh token unknown / spent / expired / revoked | 400 | `invalid_grant` |
//! | data API: bearer token missing, unknown, expired or revoked | 401 | `250002` "Invalid Authentication Information." |
//! | data API: bad tracking number | 400 | `151018` "Invalid tracking number" |
//! | injected 500 / 503 / timeout (after 120 s) | 500 / 503 / 504 | `server_error` / `temporarily_unavailable` |
//!
//! # Rules
//!
//! - `redirect_uri` is compared exactly with the client's registered URIs; the sign-in page
//!   never redirects to an unregistered URI (it shows an error page instead).
//! - Codes are single-use and live `code_ttl` (default 60 s). The first redemption attempt by
//!   the code's client spends the code, successful or not; a second is a replay: it fails and
//!   revokes every token issued from the code, including refreshed ones (RFC 6749 §4.1.2).
//! - PKCE: when the authorization request had a `code_challenge` (S256; a missing
//!   `code_challenge_method` means S256, as in UPS's spec; `plain` is refused), the token
//!   request must carry the matching `code_verifier`.
//! - Refresh rotates: each success issues a new access token and a new refresh token; the
//!   spent refresh token answers `invalid_grant` ever after. The previous access token stays
//!   valid until it expires. A replayed refresh token does not revoke its successors (UPS
//!   documents only that "the used refresh token cannot be used again").
//! - A password change revokes every access token, refresh token and unused code of the user.
//! - Sign-in state lives server-side under a random transaction id carried in a hidden field
//!   (no cookies); a transaction lives 15 minutes and allows 5 wrong passwords.
//!
//! # Faults
//!
//! Set by `POST /mock/faults`, by [`MockUps::set_faults`], or with
//! `--mock-faults '<json>'` (parse with `str::parse::<Faults>()`). The JSON replaces the
//! current faults; every field is optional:
//!
//! ```json
//! {
//!   "token":   {"kind": "status_503", "times": 2},
//!   "refresh": {"kind": "slow", "slow_ms": 1500},
//!   "wrong_state": false,
//!   "decline_consent": false
//! }
//! ```
//!
//! `kind` is one of `none`, `status_500`, `status_503`, `slow` (wait `slow_ms`, default 2000,
//! then answer normally), `timeout` (hang 120 s, then 504) and `malformed_json` (200 with a
//! truncated JSON body). `times: N` applies the fault to the next N requests of that endpoint
//! only. Except `slow`, a fault answers before the request is looked at: the code or refresh
//! token is **not** spent. `wrong_state` redirects back with a different `state`;
//! `decline_consent` redirects back with `error=access_denied` after a correct sign-in.
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use host_example::mock_ups::{spawn, MockConfig};
//! let (addr, mock) = spawn(MockConfig::default()).await?;
//! println!("mock UPS on http://{addr}");
//! mock.change_password("demo", "new-password"); // every token of `demo` is now dead
//! # Ok(()) }
//! ```

mod control;
mod faults;
mod oauth;
mod signin;
mod state;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use serde::{Deserialize, Serialize};
use token_manager_core::config::ups;

pub use faults::{EndpointFault, FaultKind, Faults, DEFAULT_SLOW_MS, MAX_SLOW_MS, TIMEOUT_HANG};
pub use state::token_fingerprint;

/// Name shown on the sign-in screens ("authorize Token Manager Demo to access …").
pub const APP_DISPLAY_NAME: &str = "Token Manager Demo";
/// Path of the sign-in screens (the `LassoRedirectURL` is `{public_url}` + this).
pub const SIGNIN_PATH: &str = "/lasso/signin";
/// Path of the data API (`{n}` is the tracking number).
pub const TRACK_PATH: &str = "/api/track/v1/details/{n}";

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
}

impl Default for MockConfig {
    /// Client `demo-client` / `demo-secret` with redirect
    /// `http://127.0.0.1:8080/admin/token-manager`, user `demo` / `demo-password`, UPS's
    /// lifetimes (14399 s access, 5183999 s refresh), 60 s codes, no faults.
    fn default() -> Self {
        Self {
            public_url: "http://127.0.0.1:8081".into(),
            clients: vec![MockClient {
                client_id: "demo-client".into(),
                client_secret: "demo-secret".into(),
                redirect_uris: vec!["http://127.0.0.1:8080/admin/token-manager".into()],
            }],
            users: vec![("demo".into(), "demo-password".into())],
            access_ttl: Duration::from_secs(14_399),
            refresh_ttl: Duration::from_secs(5_183_999),
            code_ttl: Duration::from_secs(60),
            faults: Faults::default(),
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

/// Counters of the mock (`GET /mock/stats`). Tokens appear only as [`token_fingerprint`]s.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MockStats {
    /// `GET /security/v1/oauth/validate-client` requests.
    pub validate_client_requests: u64,
    /// `GET /security/v1/oauth/authorize` requests.
    pub authorize_requests: u64,
    /// Sign-ins that ended with a code.
    pub signins_completed: u64,
    /// Sign-ins that ended with `access_denied` (Cancel, declined consent, too many attempts).
    pub signins_declined: u64,
    /// `POST /security/v1/oauth/token` requests (any outcome, faults included).
    pub token_requests: u64,
    /// Codes successfully exchanged for tokens.
    pub tokens_issued: u64,
    /// Code redemptions refused as replays.
    pub codes_replayed: u64,
    /// `POST /security/v1/oauth/refresh` requests (any outcome, faults included).
    pub refresh_requests: u64,
    /// Successful refreshes.
    pub refreshes_succeeded: u64,
    /// Refresh tokens spent by a successful refresh (rotation).
    pub refresh_tokens_spent: u64,
    /// Data API calls (any outcome).
    pub data_calls_total: u64,
    /// Data API calls answered 401.
    pub data_calls_rejected: u64,
    /// Data API calls per bearer token fingerprint (valid or not).
    pub data_calls_by_token: BTreeMap<String, u64>,
    /// Access tokens neither expired nor revoked.
    pub active_access_tokens: u64,
    /// Refresh tokens neither spent, expired nor revoked.
    pub active_refresh_tokens: u64,
    /// Requests answered by an injected fault.
    pub faults_applied: u64,
    /// Per configured user (keyed by username).
    pub users: BTreeMap<String, UserStats>,
}

/// Counters of one user.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserStats {
    /// Sign-ins that produced a code.
    pub codes_issued: u64,
    /// Codes exchanged for tokens.
    pub tokens_issued: u64,
    /// Successful refreshes.
    pub refreshes: u64,
    /// Accepted data API calls.
    pub data_calls: u64,
    /// Password changes.
    pub password_changes: u64,
    /// Live access tokens.
    pub active_access_tokens: u64,
    /// Live refresh tokens.
    pub active_refresh_tokens: u64,
}

/// The running mock: cheap to clone (an `Arc` inside), shared by its handlers and the
/// code that drives it.
#[derive(Clone)]
pub struct MockUps {
    inner: Arc<Inner>,
}

struct Inner {
    settings: state::Settings,
    state: Mutex<state::State>,
}

impl std::fmt::Debug for MockUps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockUps")
            .field("public_url", &self.inner.settings.public_url)
            .finish_non_exhaustive()
    }
}

impl MockUps {
    /// A mock with `config`.
    pub fn new(config: MockConfig) -> Self {
        let settings = state::Settings {
            public_url: config.public_url.trim_end_matches('/').to_owned(),
            access_ttl: config.access_ttl,
            refresh_ttl: config.refresh_ttl,
            code_ttl: config.code_ttl,
        };
        let state = state::State::new(&config);
        Self {
            inner: Arc::new(Inner {
                settings,
                state: Mutex::new(state),
            }),
        }
    }

    /// The mock's origin (`public_url` of its config, without a trailing slash).
    pub fn public_url(&self) -> &str {
        &self.inner.settings.public_url
    }

    /// All endpoints (see the module docs). Serve it with
    /// `into_make_service_with_connect_info::<SocketAddr>()` so the `/mock/*` control
    /// endpoints can check that the peer is on loopback.
    pub fn router(&self) -> Router {
        let control = Router::new()
            .route("/mock/stats", get(control::stats))
            .route(
                "/mock/faults",
                get(control::get_faults).post(control::post_faults),
            )
            .route("/mock/password-change", post(control::password_change))
            .route("/mock/reset", post(control::reset))
            .route_layer(axum::middleware::from_fn(control::loopback_only));
        Router::new()
            .route("/", get(signin::index))
            .route(ups::VALIDATE_CLIENT_PATH, get(oauth::validate_client))
            .route(ups::AUTHORIZE_PATH, get(oauth::authorize))
            .route(ups::TOKEN_PATH, post(oauth::token))
            .route(ups::REFRESH_PATH, post(oauth::refresh))
            .route(TRACK_PATH, get(oauth::track))
            .route(SIGNIN_PATH, get(signin::start).post(signin::submit))
            .route(signin::CSS_PATH, get(signin::css))
            .route("/favicon.ico", get(signin::favicon))
            .merge(control)
            .with_state(self.clone())
    }

    /// Serve [`MockUps::router`] on `listener` (with peer addresses) until the task is dropped.
    pub async fn serve(&self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        axum::serve(
            listener,
            self.router()
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    }

    /// Replace the faults in effect.
    pub fn set_faults(&self, faults: Faults) {
        tracing::info!(?faults, "mock UPS: faults set");
        self.lock().faults = faults;
    }

    /// The faults in effect (with `times` counted down).
    pub fn faults(&self) -> Faults {
        self.lock().faults.clone()
    }

    /// Change `user`'s UPS.com password: every refresh token, access token and unused code of
    /// that user is revoked (refresh then answers `invalid_grant`, the data API 401), and the
    /// new password is the one the sign-in screen accepts. Unknown users are ignored (logged).
    pub fn change_password(&self, user: &str, new_password: &str) {
        if self.password_change(user, new_password).is_none() {
            tracing::warn!(
                user,
                "mock UPS: password change for an unknown user ignored"
            );
        }
    }

    fn password_change(&self, user: &str, new_password: &str) -> Option<state::PasswordChange> {
        let change = self.lock().change_password(user, new_password)?;
        tracing::info!(
            user = change.user,
            revoked_access_tokens = change.revoked_access_tokens,
            revoked_refresh_tokens = change.revoked_refresh_tokens,
            "mock UPS: password changed"
        );
        Some(change)
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> MockStats {
        self.lock().stats(state::now_ms())
    }

    /// Register one more redirect URI for `client_id` (e.g. a host bound to an ephemeral
    /// port). Unknown clients are ignored (logged).
    pub fn add_redirect_uri(&self, client_id: &str, uri: &str) {
        if !self.lock().add_redirect_uri(client_id, uri) {
            tracing::warn!(
                client_id,
                "mock UPS: add_redirect_uri for an unknown client ignored"
            );
        }
    }

    fn settings(&self) -> &state::Settings {
        &self.inner.settings
    }

    fn lock(&self) -> MutexGuard<'_, state::State> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that
        // matters for a test double; keep serving.
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Bind `127.0.0.1:0`, set `public_url` to the bound address, and serve the mock in a tokio
/// task (for tests). Returns the address and a handle to drive the mock.
pub async fn spawn(mut config: MockConfig) -> std::io::Result<(SocketAddr, MockUps)> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    config.public_url = format!("http://{addr}");
    let mock = MockUps::new(config);
    let server = mock.clone();
    tokio::spawn(async move {
        if let Err(e) = server.serve(listener).await {
            tracing::error!(error = %e, "mock UPS server stopped");
        }
    });
    Ok((addr, mock))
}
