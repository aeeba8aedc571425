//! Stable error codes (used on the wire, snake_case) and the English text the panel shows.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A stable, user-facing error code. The wire form is the snake_case name; unknown codes from
/// a newer host deserialize as [`ErrorCode::Unknown`] so old widgets keep working.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The `state` returned by the provider is not the one this tab sent.
    StateMismatch,
    /// The authorization attempt is older than the allowed age.
    ExpiredAttempt,
    /// The user declined consent at the provider (`access_denied`).
    ConsentDeclined,
    /// The return carried no pending authorization for this tab/company.
    NoPendingAuthorization,
    /// The callback URL was malformed (missing/repeated/over-long parameters).
    MalformedCallback,
    /// The provider returned an error in the redirect or a token response.
    ProviderError,
    /// The provider is down, slow or answered 5xx/429.
    ProviderUnavailable,
    /// The provider's answer could not be understood.
    ProviderMalformed,
    /// The grant (code or refresh token) was rejected: used, expired or revoked.
    InvalidGrant,
    /// The provider rejected the client credentials.
    InvalidClient,
    /// The opt-in is no longer valid (e.g. the UPS.com password was changed).
    Invalidated,
    /// The host could not be reached.
    HostUnreachable,
    /// The host did not answer in time.
    Timeout,
    /// A state-changing request lacked the CSRF header or came from a foreign origin.
    CsrfRejected,
    /// The redirect URI is not on the host's allow-list.
    RedirectUriNotAllowed,
    /// The request was invalid (sizes, charset, fields).
    InvalidRequest,
    /// The company is unknown to the host.
    UnknownCompany,
    /// The portal session is missing or expired.
    Unauthenticated,
    /// Too many requests; try again shortly.
    RateLimited,
    /// Nothing to clear or show.
    NotFound,
    /// The configuration is invalid.
    InvalidConfig,
    /// Something failed inside the host; details are in its log.
    Internal,
    /// A code this version does not know.
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// Every code, for tables and tests.
    pub const ALL: &'static [ErrorCode] = &[];

    /// The wire name, e.g. `"state_mismatch"`.
    pub fn as_str(self) -> &'static str {
        todo!()
    }
    /// Parse a wire name; unknown names give [`ErrorCode::Unknown`].
    pub fn from_wire(s: &str) -> Self {
        todo!("{s}")
    }
    /// The default English message shown to the admin.
    pub fn default_message(self) -> &'static str {
        todo!()
    }
}

/// Message table: English defaults, replaceable per code (a translation).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Messages {
    /// Overrides keyed by wire code (`"state_mismatch"`) or UI string key (see [`UiText`]).
    pub overrides: BTreeMap<String, String>,
}

/// Non-error strings of the panel, so a locale table can replace all text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UiText {
    /// Panel title: "Token Manager".
    Title,
    /// Explanation shown when not authorized.
    Explanation,
    /// "Authorize".
    Authorize,
    /// "Clear".
    Clear,
    /// "Redirecting to UPS.com…" (provider name substituted).
    Redirecting,
    /// "Generating token…".
    Generating,
    /// "A token was generated".
    TokenGenerated,
    /// The seed's password-change warning.
    PasswordWarning,
    /// The seed's help tip (Account Executive).
    HelpTip,
    /// The seed's note about Clear.
    ClearNote,
    /// "Token History" (grid caption).
    TokenHistory,
    /// Column: "Token Created".
    TokenCreated,
    /// Column: "Token Expires".
    TokenExpires,
    /// Column: "Refresh Created".
    RefreshCreated,
    /// Column: "Refresh Expires".
    RefreshExpires,
    /// Column: "Status".
    Status,
    /// "Items per page".
    ItemsPerPage,
    /// "No tokens yet." (empty grid)
    EmptyHistory,
    /// "Previous page".
    PreviousPage,
    /// "Next page".
    NextPage,
    /// Confirm dialog question.
    ClearConfirmQuestion,
    /// Confirm dialog: "Clear authorization".
    ClearConfirm,
    /// Confirm dialog: "Cancel".
    Cancel,
    /// "Try again".
    Retry,
    /// Invalidated warning.
    InvalidatedWarning,
    /// "Loading…".
    Loading,
    /// "The authorization was cleared."
    Cleared,
}

impl UiText {
    /// Stable key for override tables, e.g. `"token_generated"`.
    pub fn key(self) -> &'static str {
        todo!()
    }
    /// English default.
    pub fn default_text(self) -> &'static str {
        todo!()
    }
}

impl Messages {
    /// The text for an error code (override or default).
    pub fn error(&self, code: ErrorCode) -> &str {
        todo!("{code:?}")
    }
    /// The text for a UI string (override or default).
    pub fn text(&self, t: UiText) -> &str {
        todo!("{t:?}")
    }
}
