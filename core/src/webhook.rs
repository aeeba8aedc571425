//! What the portal's backend hears: the webhook events of an authorization's changes, and when
//! a failed delivery is tried again.
//!
//! The host writes each event in the same transaction as the change it reports (its outbox),
//! signs it per the Standard Webhooks specification when it sends it, and retries failed
//! deliveries on the schedule [`RetryPolicy`] decides. Which change produces which event is
//! decided by [`lifecycle`](crate::lifecycle) ([`Action::Notify`](crate::lifecycle::Action::Notify)).
//! Events never carry a token.
//!
//! ```
//! use std::time::Duration;
//! use token_manager_core::webhook::{EventType, RetryPolicy};
//! use token_manager_core::Timestamp;
//!
//! assert_eq!(EventType::Invalidated.as_str(), "authorization.invalidated");
//! let policy = RetryPolicy::default();
//! let created = Timestamp(0);
//! // The first retry comes after about a second (jitter ±20 % from the caller's entropy)...
//! let next = policy.next_attempt(1, created, Timestamp(0), 0).unwrap();
//! assert_eq!(next, Timestamp(800));
//! // ...and after three days of failures the delivery is given up.
//! let late = Timestamp(0).add(Duration::from_secs(3 * 24 * 3600));
//! assert_eq!(policy.next_attempt(40, created, late, 0), None);
//! ```

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::api::AuthorizationStatus;
use crate::history::TokenRecord;
use crate::time::Timestamp;

/// The kinds of event, by their wire name `authorization.*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    /// A new opt-in: tokens are held (`data.record` is the new history row).
    #[serde(rename = "authorization.granted")]
    Granted,
    /// A refresh stored a new pair (`data.record` is the new history row).
    #[serde(rename = "authorization.refreshed")]
    Refreshed,
    /// Refreshes keep failing for a temporary reason (provider down): the authorization still
    /// stands, and the host keeps retrying. Sent once per failure streak.
    #[serde(rename = "authorization.refresh_failing")]
    RefreshFailing,
    /// The provider refused the refresh token (a UPS.com password change, consent withdrawn) or
    /// it expired: an admin must opt in again. `data.reason` says why.
    #[serde(rename = "authorization.invalidated")]
    Invalidated,
    /// An admin clicked Clear: the host no longer uses the tokens (`data.actor` is who).
    #[serde(rename = "authorization.cleared")]
    Cleared,
    /// Another admin's new opt-in replaced this authorization (`data.actor` is the new admin,
    /// `data.superseded` the previous one). Followed by `authorization.granted`.
    #[serde(rename = "authorization.superseded")]
    Superseded,
}

impl EventType {
    /// Every kind, for tables and tests.
    pub const ALL: &'static [EventType] = &[
        EventType::Granted,
        EventType::Refreshed,
        EventType::RefreshFailing,
        EventType::Invalidated,
        EventType::Cleared,
        EventType::Superseded,
    ];

    /// The wire name, e.g. `"authorization.granted"`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Granted => "authorization.granted",
            EventType::Refreshed => "authorization.refreshed",
            EventType::RefreshFailing => "authorization.refresh_failing",
            EventType::Invalidated => "authorization.invalidated",
            EventType::Cleared => "authorization.cleared",
            EventType::Superseded => "authorization.superseded",
        }
    }

    /// Parse a wire name.
    pub fn from_wire(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.as_str() == s)
    }

    /// Whether the event describes a new history row (`data.record`).
    pub fn carries_record(self) -> bool {
        matches!(self, EventType::Granted | EventType::Refreshed)
    }
}

/// One event as the receiver gets it (the body the signature covers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEvent {
    /// The kind.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// When the change happened, RFC 3339 in UTC (the Standard Webhooks payload convention).
    pub timestamp: String,
    /// What changed.
    pub data: EventData,
}

/// The `data` of an event: the authorization after the change, never a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventData {
    /// The company.
    pub company: String,
    /// Its status after the change.
    pub status: AuthorizationStatus,
    /// Why (invalidated: the provider's code or `refresh_expired`; refresh_failing: the last
    /// error's code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The history row the change appended (granted, refreshed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<TokenRecord>,
    /// The portal user who caused the change (granted, cleared, superseded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// Consecutive failed refreshes (refresh_failing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failures: Option<u32>,
    /// The portal user whose authorization was replaced (superseded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded: Option<String>,
    /// What Clear did at the provider (cleared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation: Option<crate::api::Revocation>,
}

impl WebhookEvent {
    /// An event of `kind` for `company` at `at`, with the status after the change.
    pub fn new(kind: EventType, company: &str, status: AuthorizationStatus, at: Timestamp) -> Self {
        Self {
            kind,
            timestamp: at.to_iso8601(),
            data: EventData {
                company: company.to_owned(),
                status,
                reason: None,
                record: None,
                actor: None,
                failures: None,
                superseded: None,
                revocation: None,
            },
        }
    }
}

/// When failed deliveries are tried again: exponential backoff from `min` doubling to `max`,
/// each delay jittered by ±20 % (from the caller's entropy) so receivers coming back are not
/// hit by every host at the same instant; given up once the event is `give_up_after` old.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Delay after the first failure.
    pub min: Duration,
    /// Longest delay.
    pub max: Duration,
    /// Age after which a failing delivery is marked failed (and listed for an operator).
    pub give_up_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            min: Duration::from_secs(1),
            max: Duration::from_secs(3600),
            give_up_after: Duration::from_secs(3 * 24 * 3600),
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `attempt` (1-based), before jitter.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(31);
        self.min
            .checked_mul(1u32 << exp)
            .map_or(self.max, |d| d.min(self.max))
    }

    /// When to try again after `attempts` failed deliveries of an event created at `created`,
    /// failing at `now`; `None` = give up. `entropy` (any u32) picks the jitter in ±20 %.
    pub fn next_attempt(
        &self,
        attempts: u32,
        created: Timestamp,
        now: Timestamp,
        entropy: u32,
    ) -> Option<Timestamp> {
        let give_up = created.add(self.give_up_after);
        if now >= give_up {
            return None;
        }
        let delay = self.delay(attempts);
        // 0.8 + 0.4 * entropy / u32::MAX, in thousandths.
        let permille = 800 + u64::from(entropy) * 400 / u64::from(u32::MAX);
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        let jittered = Duration::from_millis(ms.saturating_mul(permille) / 1000);
        // The last try falls at the give-up time at the latest.
        Some(now.add(jittered).min(give_up))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for t in EventType::ALL {
            assert_eq!(EventType::from_wire(t.as_str()), Some(*t));
            assert_eq!(
                serde_json::to_string(t).unwrap(),
                format!("\"{}\"", t.as_str())
            );
        }
        assert_eq!(EventType::from_wire("authorization.nope"), None);
    }

    #[test]
    fn event_json_has_no_empty_fields() {
        let mut e = WebhookEvent::new(
            EventType::Invalidated,
            "acme",
            AuthorizationStatus::Invalidated,
            Timestamp(1_764_000_000_000),
        );
        e.data.reason = Some("invalid_grant".into());
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "type": "authorization.invalidated",
                "timestamp": "2025-11-24T16:00:00.000Z",
                "data": {"company": "acme", "status": "invalidated", "reason": "invalid_grant"}
            })
        );
    }

    #[test]
    fn backoff_doubles_is_capped_jittered_and_gives_up() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(1), Duration::from_secs(1));
        assert_eq!(p.delay(2), Duration::from_secs(2));
        assert_eq!(p.delay(13), Duration::from_secs(3600));
        assert_eq!(p.delay(u32::MAX), Duration::from_secs(3600));
        let t0 = Timestamp(0);
        let now = Timestamp(10_000);
        let low = p.next_attempt(3, t0, now, 0).unwrap();
        let high = p.next_attempt(3, t0, now, u32::MAX).unwrap();
        assert_eq!(low, Timestamp(10_000 + 3_200));
        assert_eq!(high, Timestamp(10_000 + 4_800));
        let mid = p.next_attempt(3, t0, now, u32::MAX / 2).unwrap();
        assert!(low < mid && mid < high);
        // Close to the end, the retry is cut to the give-up time; at it, given up.
        let end = t0.add(p.give_up_after);
        let near = end.sub(Duration::from_secs(10));
        assert_eq!(p.next_attempt(20, t0, near, 0), Some(end));
        assert_eq!(p.next_attempt(20, t0, end, 0), None);
    }
}
