//! A faithful mock of the UPS OAuth "Auth Code" API and sign-in screens.
//!
//! It runs on its own origin (default `http://127.0.0.1:8081`) so the browser, the host and
//! the tests see the same separation as with the real UPS. Everything is in memory.
//!
//! Use it as a library ([`spawn`] in a test, [`MockUps::serve`] on a listener of your own) or
//! run the `mock-ups` binary, which serves one mock on its own port for several hosts
//! (`mock-ups --help`). With the `testing` feature, `mock_ups::testing` drives the sign-in screens
//! the way a browser would.
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
//! | `POST /api/quantumview/v3/events` | Quantum View (`QuantumView.yaml`): the same bearer check and counting; a `QVEvents` request gets a `QuantumViewResponse` with one subscription event |
//! | `ANY /api/mock/echo/{*rest}` | the same bearer check and counting; answers with the request it got (method, path, query, headers, body; the bearer as a fingerprint); `?status=NNN` answers that status, `?redirect=URL` a 302 — for proxy tests |
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
//! "refresh_token":"…","expires_in":"3599","refresh_token_expires_in":"5183999",
//! "refresh_token_issued_at":"1700000000000","refresh_token_status":"approved","refresh_count":"0",
//! "status":"approved","scope":"read"}`; `refresh_count` counts the refreshes of the grant.
//!
//! Errors use UPS's `tokenErrorResponse` shape `{"response":{"errors":[{"code":"…","message":"…"}]}}`.
//! UPS's spec publishes the shape but **no list of codes**; its SDKs' READMEs document `10400`
//! (general: missing or invalid parameters, an invalid or empty code, …) and `10401` ("ClientId
//! is invalid"), and the messages here are the ones reported from the field. The answer never
//! says *which* rule refused (UPS's does not); the mock logs it (see `core/UPS-CONTRACT.md`):
//!
//! | situation | HTTP | code, message |
//! | --- | --- | --- |
//! | Basic header missing or undecodable (and not the PKCE flow) | 401 | `10400` "Invalid/Missing Authorization Header" |
//! | unknown client, wrong secret (compared **raw**, as UPS's SDKs send it), body `client_id` ≠ Basic client | 401 | `10401` "ClientId is Invalid" |
//! | a Basic header **and** a `code_verifier` (neither of UPS's two documented flows) | 400 | `10400` "Invalid request: the PKCE flow takes …" |
//! | `redirect_uri` not registered (authorize, validate-client) or ≠ the authorize request's (token) | 400 | `10400` "Invalid Redirect URL" |
//! | missing parameter, body not a form, `response_type` not `code`, `code_challenge_method` not `S256` | 400 | `10400` (the message names it) |
//! | `grant_type` other than the endpoint's | 400 | `10400` "Invalid grant_type" |
//! | code unknown / expired / used (replay) / revoked / another client's, PKCE mismatch or missing verifier | 400 | `10400` "Invalid authorization code" |
//! | refresh token unknown / spent / expired / revoked / another client's | 400 | `10400` "Invalid Refresh Token" |
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
//! Set by `POST /mock/faults`, by [`MockUps::set_faults`], with the binary's
//! `--faults '<json>'` (the host's `--mock-faults`), or in [`MockConfig::faults`] (parse with
//! `str::parse::<Faults>()`). The JSON replaces the
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
//! then answer normally), `timeout` (hang 120 s, then 504), `malformed_json` (200 with a
//! truncated JSON body) and `refused` (400 `10400` "The request could not be processed": a
//! refusal in words nobody recognises). `times: N` applies the fault to the next N requests of that endpoint
//! only. Except `slow`, a fault answers before the request is looked at: the code or refresh
//! token is **not** spent. `wrong_state` redirects back with a different `state`;
//! `decline_consent` redirects back with `error=access_denied` after a correct sign-in.
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use mock_ups::{spawn, MockConfig};
//! let (addr, mock) = spawn(MockConfig::default()).await?;
//! println!("mock UPS on http://{addr}");
//! mock.change_password("demo", "new-password"); // every token of `demo` is now dead
//! # Ok(()) }
//! ```
//!
//! # Layout
//!
//! - `model`: the mock's memory and its rules (clients, sign-in transactions, codes, tokens,
//!   the data API's counters, pruning), every function given `now`, no HTTP;
//! - `http`: the handlers, which parse requests, call the model and render answers
//!   (`oauth`: the UPS endpoints and the data API; `signin`: the screens; `control`:
//!   `/mock/*`);
//! - [`MockConfig`], [`MockStats`], [`Faults`]: what a caller sets up, reads and injects.

mod config;
mod error;
mod faults;
mod http;
mod model;
mod server;
mod stats;
#[cfg(feature = "testing")]
pub mod testing;

pub use config::{MockClient, MockConfig};
pub use faults::{EndpointFault, FaultKind, Faults, DEFAULT_SLOW_MS, MAX_SLOW_MS, TIMEOUT_HANG};
pub use model::token_fingerprint;
pub use server::{spawn, MockUps};
pub use stats::{MockStats, UserStats};

/// Name shown on the sign-in screens ("authorize Token Manager Demo to access …").
pub const APP_DISPLAY_NAME: &str = "Token Manager Demo";
/// Path of the sign-in screens (the `LassoRedirectURL` is `{public_url}` + this).
pub const SIGNIN_PATH: &str = "/lasso/signin";
/// Path of the data API (`{n}` is the tracking number).
pub const TRACK_PATH: &str = "/api/track/v1/details/{n}";
/// Path of the Quantum View events API (`POST`, JSON, Bearer; `{version}` is `v3`).
pub const QUANTUM_VIEW_PATH: &str = "/api/quantumview/{version}/events";
/// Path of the mock-only echo endpoint of the data API, for proxy tests (any method; answers
/// with the request it received; `?status=NNN` picks the status, `?redirect=URL` a 302).
pub const ECHO_PATH: &str = "/api/mock/echo/{*rest}";
