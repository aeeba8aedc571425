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
    /// The company never opted in (server API: nothing to use).
    NotAuthorized,
    /// An admin cleared the authorization (server API: nothing to use any more).
    Cleared,
    /// The access token expired and cannot be renewed (no refresh token, or refreshes keep
    /// failing): an admin must opt in again, or the provider must come back.
    TokenExpired,
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
    /// The session may not do this for this company (not one of its companies, or a viewer
    /// trying to authorize or clear). Unknown companies answer the same, so ids cannot be probed.
    Forbidden,
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
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::StateMismatch,
        ErrorCode::ExpiredAttempt,
        ErrorCode::ConsentDeclined,
        ErrorCode::NoPendingAuthorization,
        ErrorCode::MalformedCallback,
        ErrorCode::ProviderError,
        ErrorCode::ProviderUnavailable,
        ErrorCode::ProviderMalformed,
        ErrorCode::InvalidGrant,
        ErrorCode::InvalidClient,
        ErrorCode::Invalidated,
        ErrorCode::NotAuthorized,
        ErrorCode::Cleared,
        ErrorCode::TokenExpired,
        ErrorCode::HostUnreachable,
        ErrorCode::Timeout,
        ErrorCode::CsrfRejected,
        ErrorCode::RedirectUriNotAllowed,
        ErrorCode::InvalidRequest,
        ErrorCode::UnknownCompany,
        ErrorCode::Unauthenticated,
        ErrorCode::Forbidden,
        ErrorCode::RateLimited,
        ErrorCode::NotFound,
        ErrorCode::InvalidConfig,
        ErrorCode::Internal,
        ErrorCode::Unknown,
    ];

    /// The wire name, e.g. `"state_mismatch"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::StateMismatch => "state_mismatch",
            ErrorCode::ExpiredAttempt => "expired_attempt",
            ErrorCode::ConsentDeclined => "consent_declined",
            ErrorCode::NoPendingAuthorization => "no_pending_authorization",
            ErrorCode::MalformedCallback => "malformed_callback",
            ErrorCode::ProviderError => "provider_error",
            ErrorCode::ProviderUnavailable => "provider_unavailable",
            ErrorCode::ProviderMalformed => "provider_malformed",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::Invalidated => "invalidated",
            ErrorCode::NotAuthorized => "not_authorized",
            ErrorCode::Cleared => "cleared",
            ErrorCode::TokenExpired => "token_expired",
            ErrorCode::HostUnreachable => "host_unreachable",
            ErrorCode::Timeout => "timeout",
            ErrorCode::CsrfRejected => "csrf_rejected",
            ErrorCode::RedirectUriNotAllowed => "redirect_uri_not_allowed",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::UnknownCompany => "unknown_company",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::NotFound => "not_found",
            ErrorCode::InvalidConfig => "invalid_config",
            ErrorCode::Internal => "internal",
            ErrorCode::Unknown => "unknown",
        }
    }
    /// Parse a wire name; unknown names give [`ErrorCode::Unknown`].
    pub fn from_wire(s: &str) -> Self {
        Self::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == s)
            .unwrap_or(ErrorCode::Unknown)
    }
    /// The default English message shown to the admin.
    pub fn default_message(self) -> &'static str {
        match self {
            ErrorCode::StateMismatch => "This sign-in response did not match the request from this tab, so it was rejected for your safety. Please authorize again.",
            ErrorCode::ExpiredAttempt => "The authorization attempt took too long and expired. Please authorize again.",
            ErrorCode::ConsentDeclined => "Authorization was declined at UPS.com. No token was created.",
            ErrorCode::NoPendingAuthorization => "This sign-in response does not belong to an authorization started in this tab, so it was ignored. Please authorize again.",
            ErrorCode::MalformedCallback => "The response from UPS.com was incomplete or damaged, so no token was created. Please authorize again.",
            ErrorCode::ProviderError => "UPS.com reported an error, so no token was created. Please authorize again; if it keeps happening, contact your Account Executive.",
            ErrorCode::ProviderUnavailable => "UPS.com is not responding right now. No token was created; please try again in a few minutes.",
            ErrorCode::ProviderMalformed => "UPS.com sent an answer that could not be understood. No token was created; please try again in a few minutes.",
            ErrorCode::InvalidGrant => "UPS.com rejected the authorization code (it may have been used already or expired). Please authorize again.",
            ErrorCode::InvalidClient => "UPS.com did not accept this application's credentials. No token was created; ask your administrator to check the Token Manager settings.",
            ErrorCode::Invalidated => "The opt-in is no longer valid — the UPS.com password may have changed. Authorize again to continue.",
            ErrorCode::NotAuthorized => "This company has not authorized access. An admin must click Authorize first.",
            ErrorCode::Cleared => "This company's authorization was cleared. An admin must authorize again before data can be retrieved.",
            ErrorCode::TokenExpired => "The access token has expired and could not be renewed. Try again later, or ask an admin to authorize again.",
            ErrorCode::HostUnreachable => "The Token Manager service could not be reached. Check your connection and try again.",
            ErrorCode::Timeout => "The Token Manager service took too long to answer. Please try again.",
            ErrorCode::CsrfRejected => "The request was blocked for your safety because it did not come from this page. Reload the page and try again.",
            ErrorCode::RedirectUriNotAllowed => "This page's return address is not allowed by the Token Manager service. Ask your administrator to check the Token Manager settings.",
            ErrorCode::InvalidRequest => "The request was not valid, so nothing was changed. Reload the page and try again.",
            ErrorCode::UnknownCompany => "This company is not known to the Token Manager service. Choose another company or ask your administrator.",
            ErrorCode::Unauthenticated => "Your portal session has ended. Sign in again, then retry.",
            ErrorCode::Forbidden => "You are not allowed to manage this company's authorization.",
            ErrorCode::RateLimited => "Too many attempts in a short time. Please wait a minute and try again.",
            ErrorCode::NotFound => "There is no authorization to show or clear for this company.",
            ErrorCode::InvalidConfig => "Token Manager is not configured correctly, so it cannot contact UPS.com. Ask your administrator to check its settings.",
            ErrorCode::Internal => "Something went wrong in the Token Manager service. Please try again; if it keeps happening, contact support.",
            ErrorCode::Unknown => "Something went wrong. Please try again.",
        }
    }
    /// Is retrying the same action (without a new authorization) likely to help?
    /// True for availability problems (provider down, host unreachable, timeouts, rate limits).
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            ErrorCode::ProviderUnavailable
                | ErrorCode::HostUnreachable
                | ErrorCode::Timeout
                | ErrorCode::RateLimited
                | ErrorCode::Internal
        )
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
    /// After Clear, when the provider revoked: "{provider} confirmed …".
    RevokedNote,
    /// After Clear, when the provider has no revocation: "{provider} does not offer …"
    /// (`{minutes}`: until the access token expires there).
    NotRevokedNote,
    /// After Clear, when revocation failed: "{provider} did not confirm … ({code})".
    RevokeFailedNote,
}

impl UiText {
    /// Every UI string, for tables and tests.
    pub const ALL: &'static [UiText] = &[
        UiText::Title,
        UiText::Explanation,
        UiText::Authorize,
        UiText::Clear,
        UiText::Redirecting,
        UiText::Generating,
        UiText::TokenGenerated,
        UiText::PasswordWarning,
        UiText::HelpTip,
        UiText::ClearNote,
        UiText::TokenHistory,
        UiText::TokenCreated,
        UiText::TokenExpires,
        UiText::RefreshCreated,
        UiText::RefreshExpires,
        UiText::Status,
        UiText::ItemsPerPage,
        UiText::EmptyHistory,
        UiText::PreviousPage,
        UiText::NextPage,
        UiText::ClearConfirmQuestion,
        UiText::ClearConfirm,
        UiText::Cancel,
        UiText::Retry,
        UiText::InvalidatedWarning,
        UiText::Loading,
        UiText::Cleared,
        UiText::RevokedNote,
        UiText::NotRevokedNote,
        UiText::RevokeFailedNote,
    ];

    /// Stable key for override tables, e.g. `"token_generated"`.
    pub fn key(self) -> &'static str {
        match self {
            UiText::Title => "title",
            UiText::Explanation => "explanation",
            UiText::Authorize => "authorize",
            UiText::Clear => "clear",
            UiText::Redirecting => "redirecting",
            UiText::Generating => "generating",
            UiText::TokenGenerated => "token_generated",
            UiText::PasswordWarning => "password_warning",
            UiText::HelpTip => "help_tip",
            UiText::ClearNote => "clear_note",
            UiText::TokenHistory => "token_history",
            UiText::TokenCreated => "token_created",
            UiText::TokenExpires => "token_expires",
            UiText::RefreshCreated => "refresh_created",
            UiText::RefreshExpires => "refresh_expires",
            UiText::Status => "status",
            UiText::ItemsPerPage => "items_per_page",
            UiText::EmptyHistory => "empty_history",
            UiText::PreviousPage => "previous_page",
            UiText::NextPage => "next_page",
            UiText::ClearConfirmQuestion => "clear_confirm_question",
            UiText::ClearConfirm => "clear_confirm",
            UiText::Cancel => "cancel",
            UiText::Retry => "retry",
            UiText::InvalidatedWarning => "invalidated_warning",
            UiText::Loading => "loading",
            UiText::Cleared => "cleared",
            UiText::RevokedNote => "revoked_note",
            UiText::NotRevokedNote => "not_revoked_note",
            UiText::RevokeFailedNote => "revoke_failed_note",
        }
    }
    /// English default. [`UiText::Redirecting`] holds the placeholder `{provider}`; use
    /// [`Messages::redirecting`] to fill it.
    pub fn default_text(self) -> &'static str {
        match self {
            UiText::Title => "Token Manager",
            UiText::Explanation => "Authorizing lets this portal retrieve your company's data from UPS.com on your behalf. You sign in and approve at UPS.com; your password is never shared with the portal.",
            UiText::Authorize => "Authorize",
            UiText::Clear => "Clear",
            UiText::Redirecting => "Redirecting to {provider}…",
            UiText::Generating => "Generating token…",
            UiText::TokenGenerated => "A token was generated",
            UiText::PasswordWarning => "When using the Opt-In method, changing the password for the UPS.com user that opted in will invalidate any previous Opt-In. Consequently, company admins will need to opt in again whenever the password is changed.",
            UiText::HelpTip => "Tip: If you require assistance, reach out to your Account Executive.",
            UiText::ClearNote => "Click Clear to dissolve the authorization created. This will mean an immediate cease for the application to retrieve data on the user's behalf.",
            UiText::TokenHistory => "Token History",
            UiText::TokenCreated => "Token Created",
            UiText::TokenExpires => "Token Expires",
            UiText::RefreshCreated => "Refresh Created",
            UiText::RefreshExpires => "Refresh Expires",
            UiText::Status => "Status",
            UiText::ItemsPerPage => "Items per page",
            UiText::EmptyHistory => "No tokens yet.",
            UiText::PreviousPage => "Previous page",
            UiText::NextPage => "Next page",
            UiText::ClearConfirmQuestion => "Clear the authorization? The portal will stop retrieving data on the user's behalf immediately.",
            UiText::ClearConfirm => "Clear authorization",
            UiText::Cancel => "Cancel",
            UiText::Retry => "Try again",
            UiText::InvalidatedWarning => "The opt-in is no longer valid — the UPS.com password may have changed. Authorize again to continue.",
            UiText::Loading => "Loading…",
            UiText::Cleared => "The authorization was cleared.",
            UiText::RevokedNote => "{provider} confirmed the revocation: the access it granted is gone.",
            UiText::NotRevokedNote => "{provider} does not offer revocation; the tokens were deleted here and expire at {provider} within {minutes} minutes.",
            UiText::RevokeFailedNote => "{provider} did not confirm the revocation ({code}); the tokens were deleted here anyway.",
        }
    }
    /// Parse an override key; `None` for keys this version does not know.
    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.key() == key)
    }
}

impl Messages {
    /// The text for an error code (override or default).
    pub fn error(&self, code: ErrorCode) -> &str {
        self.overrides
            .get(code.as_str())
            .map_or(code.default_message(), String::as_str)
    }
    /// The text for a UI string (override or default).
    pub fn text(&self, t: UiText) -> &str {
        self.overrides
            .get(t.key())
            .map_or(t.default_text(), String::as_str)
    }
    /// "Redirecting to UPS.com…": the [`UiText::Redirecting`] text (or its override) with
    /// `{provider}` replaced by `provider_name` ("the sign-in page" when the name is empty).
    pub fn redirecting(&self, provider_name: &str) -> String {
        let name = provider_name.trim();
        let name = if name.is_empty() {
            "the sign-in page"
        } else {
            name
        };
        self.text(UiText::Redirecting).replace("{provider}", name)
    }
    /// This table for a provider other than UPS: every default text that names UPS.com (or
    /// UPS's Account Executive) names `provider_name` instead; the seed's UPS-specific warnings
    /// become their general form. Overrides (translations) are kept as they are. UPS.com itself,
    /// or an empty name, leaves the table unchanged.
    pub fn for_provider(&self, provider_name: &str) -> Messages {
        let name = provider_name.trim();
        if name.is_empty() || name == "UPS.com" {
            return self.clone();
        }
        let general = |text: &str| {
            text.replace("your Account Executive", "your administrator")
                .replace("UPS.com", name)
        };
        let mut overrides = self.overrides.clone();
        for &t in UiText::ALL {
            let text = match t {
                UiText::PasswordWarning => format!("Changing the password of the {name} account that opted in, or withdrawing its consent at {name}, invalidates the opt-in. Company admins then need to opt in again."),
                UiText::InvalidatedWarning => format!("The opt-in is no longer valid — {name} no longer accepts it (the password may have changed, or the consent was withdrawn). Authorize again to continue."),
                UiText::HelpTip => "Tip: If you require assistance, reach out to your administrator.".to_owned(),
                _ if t.default_text().contains("UPS") => general(t.default_text()),
                _ => continue,
            };
            overrides.entry(t.key().to_owned()).or_insert(text);
        }
        for &c in ErrorCode::ALL {
            let d = c.default_message();
            if d.contains("UPS") || d.contains("Account Executive") {
                let text = match c {
                    ErrorCode::Invalidated => format!("The opt-in is no longer valid — {name} no longer accepts it. Authorize again to continue."),
                    _ => general(d),
                };
                overrides.entry(c.as_str().to_owned()).or_insert(text);
            }
        }
        Messages { overrides }
    }
    /// The sentence after Clear that says what happened at the provider (`None` when there was
    /// nothing to revoke).
    pub fn revocation_note(
        &self,
        revocation: &crate::api::Revocation,
        provider_name: &str,
        now: crate::time::Timestamp,
    ) -> Option<String> {
        use crate::api::RevocationResult;
        let name = match provider_name.trim() {
            "" => "The provider",
            n => n,
        };
        let text = match revocation.result {
            RevocationResult::Revoked => self.text(UiText::RevokedNote).to_owned(),
            RevocationResult::NotSupported => {
                let minutes = revocation
                    .access_expires
                    .map_or(0, |at| at.since(now).as_secs().div_ceil(60));
                if minutes == 0 {
                    self.text(UiText::NotRevokedNote)
                        .replace(" within {minutes} minutes", " on their own")
                } else {
                    self.text(UiText::NotRevokedNote)
                        .replace("{minutes}", &minutes.to_string())
                }
            }
            RevocationResult::Failed => self
                .text(UiText::RevokeFailedNote)
                .replace("{code}", revocation.code.as_deref().unwrap_or("error")),
            RevocationResult::NothingToRevoke => return None,
        };
        Some(text.replace("{provider}", name))
    }
    /// A table with these overrides (keys as in [`Messages::overrides`]).
    pub fn with_overrides(overrides: BTreeMap<String, String>) -> Self {
        Self { overrides }
    }
    /// Override keys that match no [`ErrorCode`] or [`UiText`] (likely typos in a translation).
    pub fn unknown_keys(&self) -> Vec<&str> {
        self.overrides
            .keys()
            .map(String::as_str)
            .filter(|k| {
                UiText::from_key(k).is_none()
                    && ErrorCode::from_wire(k) == ErrorCode::Unknown
                    && *k != "unknown"
            })
            .collect()
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn the_clear_receipt_is_one_sentence() {
        use crate::api::Revocation;
        use crate::time::Timestamp;
        let m = Messages::default();
        let now = Timestamp(0);
        assert_eq!(
            m.revocation_note(
                &Revocation::not_supported(Some(Timestamp(41 * 60_000))),
                "UPS.com",
                now
            )
            .unwrap(),
            "UPS.com does not offer revocation; the tokens were deleted here and expire at UPS.com within 41 minutes."
        );
        assert!(m
            .revocation_note(&Revocation::revoked(), "idp.example", now)
            .unwrap()
            .starts_with("idp.example confirmed"));
        assert!(m
            .revocation_note(
                &Revocation::failed("server_error".into(), "x".into()),
                "idp.example",
                now
            )
            .unwrap()
            .contains("(server_error)"));
        assert!(m
            .revocation_note(&Revocation::nothing(), "UPS.com", now)
            .is_none());
    }

    #[test]
    fn another_provider_is_named_everywhere_ups_was() {
        let m = Messages::default().for_provider("idp.example");
        for &t in UiText::ALL {
            assert!(!m.text(t).contains("UPS"), "{t:?}: {}", m.text(t));
        }
        for &c in ErrorCode::ALL {
            assert!(!m.error(c).contains("UPS"), "{c:?}: {}", m.error(c));
            assert!(!m.error(c).contains("Account Executive"), "{c:?}");
        }
        assert!(m.text(UiText::Explanation).contains("idp.example"));
        assert!(m.error(ErrorCode::ConsentDeclined).contains("idp.example"));
        // UPS keeps the seed's texts; a translation is never replaced.
        let ups = Messages::default().for_provider("UPS.com");
        assert_eq!(
            ups.text(UiText::PasswordWarning),
            UiText::PasswordWarning.default_text()
        );
        let translated = Messages::with_overrides(BTreeMap::from([(
            "explanation".to_owned(),
            "Autorisieren…".to_owned(),
        )]))
        .for_provider("idp.example");
        assert_eq!(translated.text(UiText::Explanation), "Autorisieren…");
    }

    #[test]
    fn every_code_round_trips_on_the_wire() {
        assert_eq!(ErrorCode::ALL.len(), 27);
        for &c in ErrorCode::ALL {
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), c);
            assert_eq!(ErrorCode::from_wire(c.as_str()), c);
            assert!(!c.default_message().is_empty());
        }
        let names: BTreeSet<_> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), ErrorCode::ALL.len());
    }

    #[test]
    fn unknown_codes_from_newer_hosts() {
        assert_eq!(ErrorCode::from_wire("brand_new"), ErrorCode::Unknown);
        assert_eq!(
            serde_json::from_str::<ErrorCode>("\"brand_new\"").unwrap(),
            ErrorCode::Unknown
        );
    }

    #[test]
    fn exact_english_defaults() {
        let m = Messages::default();
        assert_eq!(m.text(UiText::Title), "Token Manager");
        assert_eq!(m.text(UiText::TokenGenerated), "A token was generated");
        assert_eq!(m.text(UiText::ItemsPerPage), "Items per page");
        assert_eq!(m.redirecting("UPS.com"), "Redirecting to UPS.com…");
        assert_eq!(m.redirecting("Example IdP"), "Redirecting to Example IdP…");
        assert_eq!(
            m.error(ErrorCode::ConsentDeclined),
            "Authorization was declined at UPS.com. No token was created."
        );
        let keys: BTreeSet<_> = UiText::ALL.iter().map(|t| t.key()).collect();
        assert_eq!(keys.len(), UiText::ALL.len());
        for &t in UiText::ALL {
            assert_eq!(UiText::from_key(t.key()), Some(t));
            assert!(!t.default_text().is_empty());
        }
    }

    #[test]
    fn overrides_replace_text() {
        let mut o = BTreeMap::new();
        o.insert("title".to_owned(), "Gestionnaire de jetons".to_owned());
        o.insert(
            "redirecting".to_owned(),
            "Redirection vers {provider}…".to_owned(),
        );
        o.insert("state_mismatch".to_owned(), "Réponse refusée.".to_owned());
        o.insert("titel".to_owned(), "typo".to_owned());
        let m = Messages::with_overrides(o);
        assert_eq!(m.text(UiText::Title), "Gestionnaire de jetons");
        assert_eq!(m.redirecting("UPS.com"), "Redirection vers UPS.com…");
        assert_eq!(m.error(ErrorCode::StateMismatch), "Réponse refusée.");
        assert_eq!(
            m.error(ErrorCode::ExpiredAttempt),
            ErrorCode::ExpiredAttempt.default_message()
        );
        assert_eq!(m.unknown_keys(), ["titel"]);
    }
}
