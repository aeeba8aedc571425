//! The browser side of the opt-in: start an authorization, handle the return.
//!
//! ```text
//!   PendingAuthorization::start(config, entropy, now, company, return_to)
//!        │  state (≥128 bits), PKCE verifier + S256 challenge   RFC 6749 §4.1.1, RFC 7636 §4.1-4.3
//!        ▼
//!   (authorize URL, PendingAuthorization) ── tab keeps it in sessionStorage
//!        │
//!        │  browser returns to redirect_uri?code&state | ?error  RFC 6749 §4.1.2 / §4.1.2.1
//!        ▼
//!   CallbackParams::parse(url)  ──▶  pending.handle_callback(params, now, max_age)  (consumes it)
//!        │ ok: state equal (constant time), age < max_age        RFC 9700 §4.7
//!        ▼
//!   ExchangeRequest ──▶ POST {api}/exchange (host redeems the code)  RFC 6749 §4.1.3
//! ```

use oauth2::{AuthorizationCode, CsrfToken, PkceCodeVerifier};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::api::{ConfigResponse, ExchangeBody};
use crate::messages::ErrorCode;
use crate::time::Timestamp;

/// Default maximum age of an authorization attempt (10 minutes).
pub const DEFAULT_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(600);
/// Longest accepted value of any callback parameter (bytes).
pub const MAX_PARAM_LEN: usize = 2048;

/// An authorization in progress, kept by the tab between Authorize and the return.
/// Serializable (sessionStorage); single use: [`handle_callback`](Self::handle_callback) consumes it.
#[derive(Debug, Serialize, Deserialize)]
pub struct PendingAuthorization {
    /// Company the opt-in is for.
    pub company: String,
    /// Random state sent to the provider (secret; compare in constant time).
    state: CsrfToken,
    /// PKCE verifier (secret), moved into the [`ExchangeRequest`].
    code_verifier: PkceCodeVerifier,
    /// Redirect URI used in the authorize request.
    pub redirect_uri: String,
    /// When Authorize was clicked.
    pub created_at: Timestamp,
    /// Same-origin path to return to after the exchange, if any.
    pub return_to: Option<String>,
}

/// Why an authorization could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The host's config is unusable (bad authorize URL, empty client id).
    #[error("invalid provider configuration: {0}")]
    Config(String),
    /// `return_to` is not a same-origin path (open-redirect attempt).
    #[error("return_to must be a same-origin path")]
    BadReturnTo,
    /// The company name is empty or too long.
    #[error("invalid company")]
    BadCompany,
}

/// The return from the provider, parsed but not yet trusted.
#[derive(Debug)]
pub struct CallbackParams {
    /// `code`, when present.
    pub code: Option<AuthorizationCode>,
    /// `state`, when present.
    pub state: Option<String>,
    /// `error`, when present.
    pub error: Option<String>,
    /// `error_description`, when present (plain text; never render as HTML).
    pub error_description: Option<String>,
}

/// What is wrong with a return. Each maps to a stable [`ErrorCode`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallbackError {
    /// Protocol violation: the returned state is not ours (CSRF or a mixed-up tab).
    #[error("state mismatch")]
    StateMismatch,
    /// The attempt is older than allowed.
    #[error("authorization attempt expired after {age_secs}s")]
    Expired {
        /// Age in seconds.
        age_secs: u64,
    },
    /// The user declined at the provider (`error=access_denied`).
    #[error("consent declined")]
    ConsentDeclined,
    /// The provider returned another `error`.
    #[error("provider returned {code}")]
    Provider {
        /// `error`.
        code: String,
        /// `error_description` (plain text).
        description: Option<String>,
    },
    /// Missing, repeated or over-long parameters.
    #[error("malformed callback: {0}")]
    Malformed(&'static str),
}

impl CallbackError {
    /// The stable code for the widget.
    pub fn error_code(&self) -> ErrorCode {
        todo!()
    }
}

/// What the host needs to redeem the code. The verifier moved here from the pending state.
#[derive(Debug)]
pub struct ExchangeRequest {
    /// Company.
    pub company: String,
    /// Authorization code (secret).
    pub code: AuthorizationCode,
    /// PKCE verifier (secret).
    pub code_verifier: PkceCodeVerifier,
    /// Redirect URI of the authorize request.
    pub redirect_uri: String,
    /// Where to go afterwards.
    pub return_to: Option<String>,
}

impl ExchangeRequest {
    /// The `POST /exchange` body.
    pub fn into_body(self) -> ExchangeBody {
        todo!()
    }
}

impl PendingAuthorization {
    /// Start: derive state (first 32 bytes) and PKCE verifier (last 32 bytes) from `entropy`,
    /// build the authorize URL (`response_type=code`, `client_id`, `redirect_uri`, `scope`,
    /// `state`, extra params, and `code_challenge` + `code_challenge_method=S256` when PKCE is on).
    pub fn start(
        config: &ConfigResponse,
        entropy: &[u8; 64],
        now: Timestamp,
        company: &str,
        return_to: Option<&str>,
    ) -> Result<(Url, PendingAuthorization), StartError> {
        todo!("{config:?}{}{now:?}{company}{return_to:?}", entropy.len())
    }
    /// The state value (to find which pending authorization a return belongs to).
    pub fn state(&self) -> &CsrfToken {
        &self.state
    }
    /// Does `state` equal ours? Constant-time.
    pub fn state_matches(&self, state: &str) -> bool {
        todo!("{state}")
    }
    /// Validate the return and move the verifier into an [`ExchangeRequest`].
    pub fn handle_callback(
        self,
        params: CallbackParams,
        now: Timestamp,
        max_age: std::time::Duration,
    ) -> Result<ExchangeRequest, CallbackError> {
        todo!("{params:?}{now:?}{max_age:?}")
    }
}

impl CallbackParams {
    /// Parse a full URL or a query string (`?a=b` or `a=b`). `Ok(None)` when it carries none
    /// of `code`, `state`, `error` (not a return). Repeated or over-long parameters are errors.
    pub fn parse(url_or_query: &str) -> Result<Option<CallbackParams>, CallbackError> {
        todo!("{url_or_query}")
    }
}

/// `url` without the OAuth return parameters (`code`, `state`, `error`, `error_description`,
/// `error_uri`, `iss`, `scope`), for `history.replaceState`. Other parameters and the fragment stay.
pub fn strip_callback_params(url: &str) -> String {
    todo!("{url}")
}

/// Is `return_to` a same-origin path (`/x`, not `//host`, not `/\host`, no scheme)?
pub fn is_safe_return_to(return_to: &str) -> bool {
    todo!("{return_to}")
}
