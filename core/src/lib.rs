//! # token-manager-core
//!
//! The sans-IO heart of Token Manager, an embeddable OAuth 2.0 opt-in panel: a company admin
//! clicks **Authorize**, signs in at UPS.com (or any RFC 6749 server), and the portal keeps a
//! refreshed token to retrieve data on the admin's behalf until someone clicks **Clear**.
//!
//! ## What this crate is
//!
//! Every *decision* of that flow, as plain functions and types:
//!
//! | module | decides |
//! | --- | --- |
//! | [`config`] | provider presets (UPS, generic RFC 6749 / RFC 8414), URL rules, validate-client |
//! | [`flow`] | state + PKCE from caller entropy, the authorize URL, whose return a URL is, checking the return (RFC 6749 §4.1, RFC 7636, RFC 9700) |
//! | [`token`] | token and error responses (UPS and RFC 6749 JSON) → [`TokenGrant`] / [`ProviderError`] |
//! | [`lifecycle`] | one company's authorization as a state machine that returns [`lifecycle::Action`]s |
//! | [`history`] | token-history rows, derived statuses, newest-first order, paging and its footer label |
//! | [`messages`] | stable error codes and the English text of the panel, replaceable per key |
//! | [`api`] | the widget ↔ host JSON contract both sides compile against |
//! | [`webhook`] | the events the portal's backend hears, and when a failed delivery is retried |
//! | [`time`] | [`Timestamp`] (ms since the epoch) and the grid / ISO-8601 formats |
//!
//! ## What it is not
//!
//! It performs no IO: no clock, no randomness, no network, no storage, no DOM, no threads, no
//! environment. It holds no client secret and never decides *when* something happens — callers
//! pass `now` and entropy in and carry the returned requests and [`lifecycle::Action`]s out.
//! That is why the same code runs in the browser (`wasm32-unknown-unknown`, the widget) and on
//! the host, and why every test can step time by hand.
//!
//! ```text
//!             in                              core                              out
//!  now: Timestamp, 64 entropy bytes ─┐                                ┌─▶ authorize URL + PendingAuthorization (host)
//!  ConfigResponse (provider config) ─┼─▶ flow::PendingAuthorization ──┤    + its ReturnMarker (tab)
//!  return URL (?code&state|?error) ──┘  / ReturnMarker::handle_callback └─▶ ExchangeBody (tab) → ExchangeRequest (host)
//!  token endpoint (status, body) ────────▶ token::parse_token_response ──▶ TokenGrant (secrets redacted) | ProviderError
//!  Granted/Refreshed/RefreshFailed/Cleared ▶ lifecycle::Authorization ───▶ Vec<Action> (store, wipe, schedule…)
//!  TokenRecord rows, page, per_page ─────▶ history::paginate / PageWindow ▶ rows + "1-10 of 23"
//!  ErrorCode / UiText ───────────────────▶ messages::Messages ───────────▶ English (or translated) text
//! ```
//!
//! ## No `poll`: transitions return their outputs
//!
//! Connection-style sans-IO crates pair `handle_*` inputs with `poll_*` outputs because one input
//! can produce output long after it was fed. Here every input's consequences are known at once,
//! so each transition *returns* them: [`flow::PendingAuthorization::handle_callback`] consumes the
//! host's pending state and returns the [`ExchangeRequest`] (the PKCE verifier moves into it, so
//! it cannot be reused), and [`flow::ReturnMarker::handle_callback`] does the same checks in the
//! tab, which never holds the verifier; [`lifecycle::Authorization::handle`] consumes the state and returns the next
//! state with the ordered [`lifecycle::Action`]s. Timers are data too — `ScheduleRefresh { at }`,
//! `RetryRefresh { at, .. }` carry absolute [`Timestamp`]s and the shell owns the actual timer.
//! Nothing is queued inside core, so there is nothing to poll and nothing to forget to drain.
//!
//! ## The whole flow, end to end
//!
//! ```
//! use std::time::Duration;
//!
//! use token_manager_core::config::ProviderConfig;
//! use token_manager_core::flow::{CallbackParams, PendingAuthorization, DEFAULT_MAX_AGE};
//! use token_manager_core::history::{paginate, PerPage, RecordStatus, TokenRecord};
//! use token_manager_core::lifecycle::{Action, Authorization, Event, RefreshPolicy};
//! use token_manager_core::token::parse_token_response;
//! use token_manager_core::{AuthorizationStatus, Timestamp};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Host: the UPS preset against a local mock, then validate-client picks the sign-in page.
//! let mut provider = ProviderConfig::ups(
//!     "http://127.0.0.1:8081",
//!     "demo-client",
//!     "http://127.0.0.1:8080/admin/token-manager",
//! )?;
//! provider.apply_validate_client(
//!     200,
//!     br#"{"result":"success","type":"ups_com_api","LassoRedirectURL":"http://127.0.0.1:8081/lasso/signin"}"#,
//! )?;
//! let config = provider.public(); // GET /config
//!
//! // Host, on `POST /start`: the pending authorization (entropy comes from the OS in real code).
//! // The tab gets the authorize URL and the marker; the host keeps the verifier.
//! let now = Timestamp::from_millis(1_795_957_509_123); // 2026-11-29T13:05:09.123Z
//! let entropy = [42u8; 64];
//! let (authorize_url, pending) =
//!     PendingAuthorization::start(&config, &entropy, now, "Demonstration Co", None)?;
//! let marker = pending.marker();
//! assert!(authorize_url.as_str().starts_with("http://127.0.0.1:8081/lasso/signin?client_id=demo-client"));
//!
//! // A fake provider: the user consents, the browser comes back with a code and our state.
//! let state = authorize_url.query_pairs().find(|(k, _)| k == "state").map(|(_, v)| v.into_owned());
//! let back = format!(
//!     "http://127.0.0.1:8080/admin/token-manager?code=SplxlOBeZQQYbYS6WxSbIA&state={}",
//!     state.unwrap_or_default()
//! );
//! let later = now.add(Duration::from_secs(20));
//! // Tab: the return is ours; POST /exchange {company, code, state}.
//! let params = CallbackParams::parse(&back)?.expect("the URL is an OAuth return");
//! let body = marker.handle_callback(params, later, DEFAULT_MAX_AGE)?;
//! assert_eq!(body.code, "SplxlOBeZQQYbYS6WxSbIA");
//! // Host: the same checks against its pending authorization, which gives up the verifier.
//! let params = CallbackParams::parse(&format!("?code={}&state={}", body.code, body.state))?
//!     .expect("code and state");
//! let exchange = pending.handle_callback(params, later, DEFAULT_MAX_AGE)?;
//! assert_eq!(exchange.code.secret(), "SplxlOBeZQQYbYS6WxSbIA");
//!
//! // Host: the token endpoint answered (UPS sends numbers as strings).
//! let grant = parse_token_response(
//!     200,
//!     br#"{"token_type":"Bearer","issued_at":"1795957529123","access_token":"at-1","refresh_token":"rt-1",
//!          "expires_in":"14399","refresh_token_expires_in":"5183999","refresh_token_issued_at":"1795957529123",
//!          "status":"approved","scope":"read"}"#,
//!     later,
//! )?;
//! assert_eq!(format!("{:?}", grant.access_token), "AccessToken([redacted])");
//!
//! // Host: the lifecycle says what to do, in order.
//! let policy = RefreshPolicy::default();
//! let (auth, actions) = Authorization::NotAuthorized.handle(Event::Granted(grant.times()), later, &policy);
//! assert_eq!(auth.status(), AuthorizationStatus::Active);
//! assert_eq!(actions[0], Action::StoreTokens);
//! assert!(actions.contains(&Action::ScheduleRefresh { at: policy.refresh_at(&grant.times()) }));
//!
//! // The history row it appends, and the grid page the widget shows.
//! let record = TokenRecord {
//!     id: 1,
//!     company: body.company,
//!     token_created: grant.token_created,
//!     token_expires: grant.token_expires,
//!     refresh_created: grant.refresh_created,
//!     refresh_expires: grant.refresh_expires,
//!     status: RecordStatus::Active,
//!     cleared_at: None,
//!     authorized_by: Some("admin".into()),
//!     cleared_by: None,
//!     superseded_by: None,
//!     revocation: None,
//! };
//! let (window, rows) = paginate(std::slice::from_ref(&record), 1, PerPage::Ten);
//! assert_eq!(window.range_label(), "1-1 of 1");
//! assert_eq!(rows[0].token_created.format_grid(-300), "11-29-2026 08:05:29 AM");
//! assert_eq!(rows[0].token_expires.to_iso8601(), "2026-11-29T17:05:28.123Z");
//! assert_eq!(rows[0].status_at(later).label(), "Active");
//! # Ok(())
//! # }
//! ```
//!
//! ## Secrets
//!
//! State, PKCE verifier, authorization code, access and refresh tokens are `oauth2` newtypes
//! ([`oauth2::CsrfToken`], [`oauth2::PkceCodeVerifier`], [`oauth2::AuthorizationCode`],
//! [`oauth2::AccessToken`], [`oauth2::RefreshToken`]) whose `Debug` prints `Name([redacted])`;
//! they have no `PartialEq` — state is compared in constant time by
//! [`ReturnMarker::state_matches`] (and by the host's lookup of its pending authorization).
//! Reading one takes an explicit `.secret()`.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod api;
pub mod config;
pub mod flow;
pub mod history;
pub mod lifecycle;
pub mod messages;
pub mod time;
pub mod token;
pub mod webhook;

pub use api::AuthorizationStatus;
pub use flow::{
    CallbackError, CallbackParams, ExchangeRequest, PendingAuthorization, ReturnMarker,
};
pub use history::{PageWindow, PerPage, RecordStatus, TokenRecord};
pub use messages::{ErrorCode, Messages, UiText};
pub use time::Timestamp;
pub use token::{GrantTimes, ProviderError, ProviderErrorKind, TokenGrant};

/// Caller misuse errors of small helpers (e.g. an unsupported page size).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Page size is not one of 10, 25, 50, 100.
    #[error("page size {0} is not one of 10, 25, 50, 100")]
    BadPageSize(u32),
}
