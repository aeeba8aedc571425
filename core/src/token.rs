//! Token endpoint responses (UPS and RFC 6749) → [`TokenGrant`] or [`ProviderError`].

use oauth2::{AccessToken, RefreshToken};
use serde::{Deserialize, Serialize};

use crate::messages::ErrorCode;
use crate::time::Timestamp;

/// Access-token lifetime assumed when a provider omits `expires_in` (RFC 6749 makes it optional).
pub const DEFAULT_ACCESS_LIFETIME: std::time::Duration = std::time::Duration::from_secs(3600);

/// A successful token response, mapped. Secrets are redacting newtypes.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    /// The access token (secret).
    pub access_token: AccessToken,
    /// The refresh token (secret), if issued.
    pub refresh_token: Option<RefreshToken>,
    /// Usually `Bearer`.
    pub token_type: String,
    /// Granted scope, if stated.
    pub scope: Option<String>,
    /// Issue time of the access token (provider's `issued_at`, else `now`).
    pub token_created: Timestamp,
    /// Expiry of the access token.
    pub token_expires: Timestamp,
    /// Issue time of the refresh token.
    pub refresh_created: Option<Timestamp>,
    /// Expiry of the refresh token (`None` when the provider does not say).
    pub refresh_expires: Option<Timestamp>,
}

impl TokenGrant {
    /// The timestamps only (what a history record holds).
    pub fn times(&self) -> GrantTimes {
        GrantTimes {
            token_created: self.token_created,
            token_expires: self.token_expires,
            refresh_created: self.refresh_created,
            refresh_expires: self.refresh_expires,
        }
    }
}

/// Timestamps of a grant, without secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantTimes {
    /// Access token issued.
    pub token_created: Timestamp,
    /// Access token expires.
    pub token_expires: Timestamp,
    /// Refresh token issued.
    pub refresh_created: Option<Timestamp>,
    /// Refresh token expires.
    pub refresh_expires: Option<Timestamp>,
}

/// Who is at fault in a provider failure, and what to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProviderErrorKind {
    /// `invalid_grant`: code used/expired, refresh token revoked (UPS: password changed).
    InvalidGrant,
    /// `invalid_client`/`unauthorized_client`: our credentials are wrong.
    InvalidClient,
    /// 5xx, 429, timeouts: retry later.
    Temporary,
    /// The answer could not be parsed.
    Malformed,
    /// Any other provider error.
    Other,
}

/// A provider failure: kind, HTTP status, the provider's own code and description.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("provider error {code} ({kind:?}): {message}")]
pub struct ProviderError {
    /// Classification.
    pub kind: ProviderErrorKind,
    /// HTTP status, when there was an answer.
    pub status: Option<u16>,
    /// Provider's code (`invalid_grant`, UPS numeric codes such as `10401`, …).
    pub code: String,
    /// Provider's description (plain text; never rendered as HTML).
    pub message: String,
}

impl ProviderError {
    /// A transport failure (timeout, connection refused) — always [`ProviderErrorKind::Temporary`].
    pub fn transport(message: impl Into<String>) -> Self {
        Self { kind: ProviderErrorKind::Temporary, status: None, code: "unavailable".into(), message: message.into() }
    }
    /// The stable code for the widget.
    pub fn error_code(&self) -> ErrorCode {
        todo!()
    }
}

/// Map a token-endpoint answer (status + body) at `now`. 2xx bodies are parsed as UPS
/// (numbers as strings, ms `issued_at`) or RFC 6749 JSON; anything else through
/// [`parse_error_response`]. Never panics.
pub fn parse_token_response(status: u16, body: &[u8], now: Timestamp) -> Result<TokenGrant, ProviderError> {
    todo!("{status}{}{now:?}", body.len())
}

/// Map an error answer: UPS `{"response":{"errors":[{"code","message"}]}}` or RFC 6749
/// `{"error","error_description"}`; unknown shapes keep the status. Never panics.
pub fn parse_error_response(status: u16, body: &[u8]) -> ProviderError {
    todo!("{status}{}", body.len())
}
