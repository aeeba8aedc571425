//! The life of one company's authorization on the host, as an explicit state machine.
//!
//! ```text
//!                 Granted (RFC 6749 §4.1.4)
//!  NotAuthorized ─────────────────────────▶ Active ◀──┐ Refreshed (RFC 6749 §6)
//!        ▲                                   │  │ └────┘  / RefreshFailed(temporary): retry w/ backoff
//!        │ Granted                           │  │
//!  Cleared ◀──────── Cleared (admin) ────────┘  │ RefreshFailed(invalid_grant, §5.2)
//!  Invalidated ◀────────────────────────────────┘   (UPS: password changed)
//!  (Granted from Cleared/Invalidated → Active)
//! ```
//! Feed events with [`Authorization::handle`]; it returns the next state and the [`Action`]s the
//! shell must perform, in order.

use serde::{Deserialize, Serialize};

use crate::api::AuthorizationStatus;
use crate::time::Timestamp;
use crate::token::{GrantTimes, ProviderError};

/// Refresh timing rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshPolicy {
    /// Refresh this long before the access token expires (capped at half the lifetime).
    pub skew: std::time::Duration,
    /// First retry delay after a temporary failure; doubles each time.
    pub min_backoff: std::time::Duration,
    /// Longest retry delay.
    pub max_backoff: std::time::Duration,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        Self {
            skew: std::time::Duration::from_secs(300),
            min_backoff: std::time::Duration::from_secs(5),
            max_backoff: std::time::Duration::from_secs(300),
        }
    }
}

impl RefreshPolicy {
    /// When to refresh a grant: `token_expires - min(skew, lifetime/2)`.
    pub fn refresh_at(&self, times: &GrantTimes) -> Timestamp {
        todo!("{times:?}")
    }
    /// Delay before retry number `attempt` (1-based): `min_backoff * 2^(attempt-1)`, capped.
    pub fn backoff(&self, attempt: u32) -> std::time::Duration {
        todo!("{attempt}")
    }
}

/// Inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A code exchange succeeded (new opt-in; supersedes any previous one).
    Granted(GrantTimes),
    /// A refresh succeeded.
    Refreshed(GrantTimes),
    /// A refresh failed.
    RefreshFailed(ProviderError),
    /// The admin clicked Clear.
    Cleared,
}

/// Outputs: what the shell must do, in order, in one transaction where they touch storage.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Store the new token pair (encrypted), replacing any previous pair.
    StoreTokens,
    /// Mark the previous Active record(s) of the company as Refreshed (superseded).
    SupersedeRecords,
    /// Append a history record with these times, status Active.
    AppendRecord(GrantTimes),
    /// Schedule the next refresh.
    ScheduleRefresh {
        /// When.
        at: Timestamp,
    },
    /// Retry the refresh after a temporary failure.
    RetryRefresh {
        /// When.
        at: Timestamp,
        /// Attempt number (1-based).
        attempt: u32,
    },
    /// Start (or keep) the retrieval job.
    StartRetrieval,
    /// Stop the retrieval job now (before replying).
    StopRetrieval,
    /// Revoke at the provider where supported (RFC 7009), best effort.
    RevokeTokens,
    /// Delete the stored tokens.
    WipeTokens,
    /// Mark the company's records Cleared at this time.
    MarkCleared {
        /// When.
        at: Timestamp,
    },
    /// Mark the company's Active records Invalidated.
    MarkInvalidated,
}

/// State of one company's authorization. Each variant holds only what is valid in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Authorization {
    /// Never opted in.
    NotAuthorized,
    /// Tokens held.
    Active {
        /// Since the last grant or refresh.
        since: Timestamp,
        /// Current grant times.
        times: GrantTimes,
        /// Consecutive temporary refresh failures.
        failures: u32,
    },
    /// Cleared by the admin.
    Cleared {
        /// When.
        at: Timestamp,
    },
    /// Invalidated by the provider.
    Invalidated {
        /// When.
        at: Timestamp,
        /// The provider's code (e.g. `invalid_grant`).
        reason: String,
    },
}

impl Authorization {
    /// Apply an event at `now`; returns the next state and the actions, in order.
    /// Events that make no sense in a state (e.g. `Refreshed` when `Cleared`: a refresh raced a
    /// Clear) change nothing and return [`Action::WipeTokens`] so no stray token survives.
    pub fn handle(self, event: Event, now: Timestamp, policy: &RefreshPolicy) -> (Authorization, Vec<Action>) {
        todo!("{event:?}{now:?}{policy:?}")
    }
    /// The panel's status.
    pub fn status(&self) -> AuthorizationStatus {
        todo!()
    }
    /// Since when this state holds.
    pub fn since(&self) -> Option<Timestamp> {
        todo!()
    }
}
