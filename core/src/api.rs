//! The widget ↔ host HTTP contract, as serde types both sides share (the host also serves it
//! as an OpenAPI document).
//!
//! All paths are relative to the widget's `api` base URL (the demo host mounts them under
//! `/api/optin`). Timestamps are integers (ms since the epoch, UTC). State-changing requests
//! carry the header [`CSRF_HEADER`]`: 1`. Errors are [`ApiErrorBody`] with a stable code.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::flow::ReturnMarker;
use crate::history::{PerPage, TokenRecord};
use crate::messages::ErrorCode;
use crate::time::Timestamp;

/// Header every state-changing request must carry (value `1`).
pub const CSRF_HEADER: &str = "X-Token-Manager";

/// Authorization status of a company, as the panel shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthorizationStatus {
    /// No opt-in yet (or never after a Clear).
    NotAuthorized,
    /// Tokens are held and refreshed; data is retrieved on the user's behalf.
    Active,
    /// The admin cleared the authorization.
    Cleared,
    /// The provider invalidated it (e.g. password change); opt in again.
    Invalidated,
}

/// `GET /config?company=` → what the widget needs to start an authorization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigResponse {
    /// Provider preset name: `"ups"` or `"generic"`; also used for "Redirecting to UPS.com…".
    pub provider: String,
    /// Display name of the provider, e.g. `"UPS.com"`.
    #[serde(default)]
    pub provider_name: String,
    /// Where the browser is sent to sign in (UPS: the `LassoRedirectURL` of validate-client).
    pub authorize_url: String,
    /// Public client id.
    pub client_id: String,
    /// Exact redirect URI registered with the provider.
    pub redirect_uri: String,
    /// Requested scope (space separated), may be empty.
    pub scope: String,
    /// Send a PKCE S256 challenge.
    pub pkce: bool,
    /// Name the challenge's method (`code_challenge_method=S256`) — UPS documents only
    /// `code_challenge`, with the S256 transform.
    #[serde(default = "default_true")]
    pub challenge_method: bool,
    /// Extra authorize-URL parameters (UPS validate-client entry: `type=ups_com_api`).
    #[serde(default)]
    pub extra_params: BTreeMap<String, String>,
}

fn default_true() -> bool {
    true
}

/// `POST /start` body: begin an opt-in for `company`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartBody {
    /// Company the opt-in is for.
    pub company: String,
    /// Same-origin path of the portal page to come back to after the exchange, if any.
    #[serde(default)]
    pub return_to: Option<String>,
}

/// `POST /start` → 200 response: where to send the browser, and what the tab keeps meanwhile.
#[derive(Debug, Serialize, Deserialize)]
pub struct StartResponse {
    /// The provider's authorize URL (state and PKCE challenge included).
    pub authorize_url: String,
    /// What the tab keeps until the return (no verifier: the host holds it).
    pub pending: ReturnMarker,
    /// When the host forgets the attempt (ms since the epoch).
    pub expires_at: Timestamp,
}

/// `POST /exchange` body: the return's code and state. The host finds its pending
/// authorization by the state, checks it belongs to the same user and company, and redeems the
/// code with the verifier it kept.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExchangeBody {
    /// Company the opt-in is for.
    pub company: String,
    /// The authorization code from the redirect.
    pub code: String,
    /// The state from the redirect.
    pub state: String,
    /// RFC 9207: the `iss` of the redirect, when it carried one (checked by the host against
    /// the issuer when the provider advertises it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
}

impl std::fmt::Debug for ExchangeBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExchangeBody")
            .field("company", &self.company)
            .field("code", &"[redacted]")
            .field("state", &"[redacted]")
            .finish()
    }
}

/// `POST /exchange` → 201 response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExchangeResponse {
    /// The history row of the new token (metadata only).
    pub record: TokenRecord,
}

/// `GET /tokens?company=&page=&per_page=` query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokensQuery {
    /// Company.
    pub company: String,
    /// 1-based page (clamped by the host).
    #[serde(default = "one")]
    pub page: u32,
    /// Page size: 10, 25, 50 or 100.
    #[serde(default)]
    pub per_page: PerPage,
}

fn one() -> u32 {
    1
}

/// `GET /tokens` response: one page of history, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokensResponse {
    /// Current authorization status of the company.
    pub status: AuthorizationStatus,
    /// Rows of this page, newest first; `status` already derived at the host's `now`.
    pub rows: Vec<TokenRecord>,
    /// Total rows for the company.
    pub total: u64,
    /// The page returned (after clamping).
    pub page: u32,
    /// Page size.
    pub per_page: PerPage,
    /// Whether this session may authorize and clear for the company (an `admin`); a `viewer`
    /// sees the history only. Hosts that predate roles send nothing: `true`.
    #[serde(default = "can_manage_by_default")]
    pub can_manage: bool,
}

fn can_manage_by_default() -> bool {
    true
}

/// `POST /clear` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClearBody {
    /// Company whose authorization is dissolved.
    pub company: String,
}

/// `POST /clear` → 200 response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClearResponse {
    /// Status after the clear (`cleared`, or `not_authorized` if there was nothing to clear).
    pub status: AuthorizationStatus,
    /// When it was cleared.
    pub cleared_at: Timestamp,
    /// What happened at the provider: a receipt, not a silent "cleared".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation: Option<Revocation>,
}

/// What Clear did at the provider (RFC 7009), reported with its answer and in the
/// `authorization.cleared` event: a receipt, not a silent "cleared". One flat object
/// (`{"result": …, …}`), cheap for the widget to read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// What happened.
    pub result: RevocationResult,
    /// `not_supported`: when the access token expires at the provider, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_expires: Option<Timestamp>,
    /// `failed`: the provider's code, or a transport failure's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// `failed`: what it said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// [`Revocation::result`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevocationResult {
    /// The provider accepted the revocation of the refresh token (or, without one, the access
    /// token): its grant is gone.
    Revoked,
    /// The provider has no revocation endpoint (UPS): the tokens were deleted here and expire
    /// there on their own.
    NotSupported,
    /// Revocation was attempted and failed: the tokens were deleted here anyway.
    Failed,
    /// There was nothing to revoke (not authorized, or already invalidated).
    NothingToRevoke,
}

impl Revocation {
    fn of(result: RevocationResult) -> Self {
        Self {
            result,
            access_expires: None,
            code: None,
            message: None,
        }
    }
    /// Revoked.
    pub fn revoked() -> Self {
        Self::of(RevocationResult::Revoked)
    }
    /// No revocation at the provider; the access token expires there at `access_expires`.
    pub fn not_supported(access_expires: Option<Timestamp>) -> Self {
        Self {
            access_expires,
            ..Self::of(RevocationResult::NotSupported)
        }
    }
    /// Failed, with the provider's code and message.
    pub fn failed(code: String, message: String) -> Self {
        Self {
            code: Some(code),
            message: Some(message),
            ..Self::of(RevocationResult::Failed)
        }
    }
    /// Nothing to revoke.
    pub fn nothing() -> Self {
        Self::of(RevocationResult::NothingToRevoke)
    }
}

/// `GET /status?company=` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusResponse {
    /// Current status.
    pub status: AuthorizationStatus,
    /// Since when it has been in this status.
    pub since: Option<Timestamp>,
    /// Why (for `invalidated`: the provider's code, e.g. `invalid_grant`).
    pub reason: Option<String>,
}

/// Error body of every non-2xx answer: `{"error":{"code":"…","message":"…"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiErrorBody {
    /// The error.
    pub error: ApiError,
}

/// A stable code and a plain message (no internals).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// Stable code the widget maps to text.
    pub code: ErrorCode,
    /// Plain English message.
    pub message: String,
    /// For provider failures, the provider's own error code (e.g. `invalid_grant`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_code: Option<String>,
}
