//! The counters of `GET /mock/stats` and [`crate::MockUps::stats`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Counters of the mock (`GET /mock/stats`). Tokens appear only as
/// [`token_fingerprint`](crate::token_fingerprint)s.
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
    /// Refreshes refused for their refresh token (unknown, already spent, revoked, expired, or
    /// issued to another client): a client that presented one token twice, or lost a
    /// rotation's answer, is refused here. Injected faults are not counted.
    pub refreshes_refused: u64,
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
