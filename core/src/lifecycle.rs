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
//! shell must perform, in order. There is no `poll`: a transition's consequences are all known
//! when it happens, timers included (`ScheduleRefresh { at }`, `RetryRefresh { at, .. }` are
//! absolute times the shell arms; feeding the refresh result is the next event).
//!
//! | state | event | next state | actions |
//! | --- | --- | --- | --- |
//! | any | `Granted` | Active | StoreTokens, SupersedeRecords, AppendRecord, ScheduleRefresh, Notify(granted) |
//! | Active | `Refreshed` | Active | StoreTokens, SupersedeRecords, AppendRecord, ScheduleRefresh, Notify(refreshed) |
//! | Active | `RefreshFailed` (invalid_grant) | Invalidated | MarkInvalidated, WipeTokens, Notify(invalidated) |
//! | Active | `RefreshFailed` (other kinds) | Active | RetryRefresh (backoff) (+ Notify(refresh_failing) at the `failing_after`-th failure in a row), or Invalidated (`refresh_expired`) once the retry would fall after `refresh_expires`, or Invalidated (`unknown_provider_refusal`) after `refusals_before_invalid` refusals in a row (kind `Other`) once the access token has expired — temporary failures retry on, even after the *access* token expired |
//! | Active | `Cleared` | Cleared | RevokeTokens, WipeTokens, MarkCleared, Notify(cleared) |
//! | Invalidated | `Cleared` | Cleared | WipeTokens, MarkCleared, Notify(cleared) |
//! | NotAuthorized, Cleared | `Cleared` | unchanged | WipeTokens (nothing to do; wipe for safety) |
//! | not Active | `Refreshed`, `RefreshFailed` | unchanged | WipeTokens (a refresh raced a Clear) |

use serde::{Deserialize, Serialize};

use crate::api::{AuthorizationStatus, StatusResponse};
use crate::time::Timestamp;
use crate::token::{GrantTimes, ProviderError, ProviderErrorKind};
use crate::webhook::EventType;

/// Refresh timing rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshPolicy {
    /// Refresh this long before the access token expires (capped at half the lifetime).
    pub skew: std::time::Duration,
    /// First retry delay after a temporary failure; doubles each time.
    pub min_backoff: std::time::Duration,
    /// Longest retry delay.
    pub max_backoff: std::time::Duration,
    /// The failure in a row (temporary ones) at which the portal is told that refreshes are
    /// failing (`authorization.refresh_failing`).
    #[serde(default = "default_failing_after")]
    pub failing_after: u32,
    /// Refusals in a row (see [`Authorization::Active::refusals`]) after which an authorization
    /// whose access token has expired is Invalidated with reason
    /// [`UNKNOWN_REFUSAL`]: a refresh token the provider keeps refusing is dead, whatever words
    /// it uses, and must not be retried for weeks while the panel says Active.
    #[serde(default = "default_refusals_before_invalid")]
    pub refusals_before_invalid: u32,
    /// Spread of the refresh time, in percent of the lead (`min(skew, lifetime/2)`): each grant
    /// is refreshed between `lead` and `lead × (1 + jitter_percent/100)` before it expires
    /// (see [`RefreshPolicy::refresh_at`]). 0 refreshes exactly `lead` before expiry.
    #[serde(default = "default_jitter_percent")]
    pub jitter_percent: u8,
}

fn default_refusals_before_invalid() -> u32 {
    3
}

fn default_jitter_percent() -> u8 {
    50
}

/// SplitMix64's output function: a well-mixed 64-bit value from any 64-bit input.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn default_failing_after() -> u32 {
    3
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        Self {
            skew: std::time::Duration::from_secs(300),
            min_backoff: std::time::Duration::from_secs(5),
            max_backoff: std::time::Duration::from_secs(300),
            failing_after: default_failing_after(),
            refusals_before_invalid: default_refusals_before_invalid(),
            jitter_percent: default_jitter_percent(),
        }
    }
}

impl RefreshPolicy {
    /// When to refresh a grant: `lead = min(skew, lifetime/2)` before it expires, plus a
    /// jitter of up to [`jitter_percent`](Self::jitter_percent) of `lead` more.
    ///
    /// Without the jitter, grants made in one burst (a portal enabling 100,000 companies in a
    /// minute) would come due in the same burst at every renewal, forever: each refresh sets
    /// the next due time one lifetime after the last. The jitter is a deterministic function of
    /// the grant's creation time (SplitMix64 of its milliseconds), so it needs no entropy, is
    /// the same in every host instance and on every restart, and still spreads a burst, whose
    /// grants differ in their milliseconds. `lead × (1 + jitter)` stays under ¾ of the lifetime.
    pub fn refresh_at(&self, times: &GrantTimes) -> Timestamp {
        let lifetime = times.token_expires.since(times.token_created);
        let lead = self.skew.min(lifetime / 2);
        let lead_ms = u64::try_from(lead.as_millis()).unwrap_or(u64::MAX);
        let created = u64::from_ne_bytes(times.token_created.0.to_ne_bytes());
        let fraction = splitmix64(created) >> 32; // uniform in [0, 2^32)
        let extra =
            u128::from(lead_ms) * u128::from(self.jitter_percent.min(100)) * u128::from(fraction)
                / (100u128 << 32);
        let extra = std::time::Duration::from_millis(u64::try_from(extra).unwrap_or(0));
        times.token_expires.sub(lead + extra)
    }
    /// Delay before retry number `attempt` (1-based): `min_backoff * 2^(attempt-1)`, capped.
    pub fn backoff(&self, attempt: u32) -> std::time::Duration {
        let exp = attempt.saturating_sub(1);
        2u32.checked_pow(exp)
            .and_then(|factor| self.min_backoff.checked_mul(factor))
            .map_or(self.max_backoff, |d| d.min(self.max_backoff))
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
    /// The refresh token's known expiry has passed (see
    /// [`Authorization::refresh_token_expired`]): no refresh can work any more.
    RefreshTokenExpired,
    /// The access token of a grant that came without a refresh token has expired: nothing can
    /// renew it, an admin must opt in again.
    AccessTokenExpired,
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
    /// Tell the portal (a webhook event of this kind, written with the change).
    Notify(EventType),
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
        /// Consecutive failed refreshes (of any kind but `invalid_grant`, which ends it).
        failures: u32,
        /// Of those, the consecutive refusals ([`ProviderErrorKind::Other`]: the provider
        /// answered, and said no, in words we do not know); a temporary failure breaks the run.
        #[serde(default)]
        refusals: u32,
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
        /// Why: [`INVALID_GRANT`], [`REFRESH_EXPIRED`] or [`UNKNOWN_REFUSAL`].
        reason: String,
    },
}

impl Authorization {
    /// Apply an event at `now`; returns the next state and the actions, in order.
    /// Events that make no sense in a state (e.g. `Refreshed` when `Cleared`: a refresh raced a
    /// Clear) change nothing and return [`Action::WipeTokens`] so no stray token survives.
    pub fn handle(
        self,
        event: Event,
        now: Timestamp,
        policy: &RefreshPolicy,
    ) -> (Authorization, Vec<Action>) {
        use Action::*;
        match (self, event) {
            // A new opt-in always wins, whatever came before (RFC 6749 §4.1.4).
            (_, Event::Granted(times)) => renewed(now, times, policy, true),
            // RFC 6749 §6: a new access token (and, at UPS, a new refresh token) was issued. A
            // server that keeps the refresh token sends none: its times stay those of when it was
            // issued.
            (
                Authorization::Active {
                    times: previous, ..
                },
                Event::Refreshed(answer),
            ) => renewed(
                now,
                GrantTimes::after_refresh(&previous, &answer),
                policy,
                false,
            ),
            // The refresh token is past its known expiry, whatever the last answer said.
            (Authorization::Active { .. }, Event::RefreshTokenExpired) => {
                invalidated(now, REFRESH_EXPIRED.to_owned())
            }
            // A grant without a refresh token has run out: say so, never `active` with an
            // expired token.
            (Authorization::Active { times, .. }, Event::AccessTokenExpired)
                if !has_refresh(&times) && times.token_expires <= now =>
            {
                invalidated(now, NO_REFRESH_TOKEN.to_owned())
            }
            (state @ Authorization::Active { .. }, Event::AccessTokenExpired) => (state, vec![]),
            // RFC 6749 §5.2 invalid_grant: the refresh token is dead (UPS: password changed).
            // The reason is the classification, not the provider's own code (UPS says `10400`
            // for almost everything): stable for the portal, whatever the provider.
            (Authorization::Active { .. }, Event::RefreshFailed(e))
                if e.kind == ProviderErrorKind::InvalidGrant =>
            {
                invalidated(now, INVALID_GRANT.to_owned())
            }
            // Anything else may pass: retry with backoff while the refresh token can still work,
            // even after the access token has expired.
            (
                Authorization::Active {
                    since,
                    times,
                    failures,
                    refusals,
                },
                Event::RefreshFailed(e),
            ) => {
                let attempt = failures.saturating_add(1);
                let refusals = if e.kind == ProviderErrorKind::Other {
                    refusals.saturating_add(1)
                } else {
                    0
                };
                let at = now.add(policy.backoff(attempt));
                match times.refresh_expires {
                    Some(dead) if at >= dead => invalidated(now, REFRESH_EXPIRED.to_owned()),
                    _ if refusals >= policy.refusals_before_invalid.max(1)
                        && times.token_expires <= now =>
                    {
                        invalidated(now, UNKNOWN_REFUSAL.to_owned())
                    }
                    _ => {
                        let mut actions = vec![RetryRefresh { at, attempt }];
                        if attempt == policy.failing_after {
                            actions.push(Notify(EventType::RefreshFailing));
                        }
                        (
                            Authorization::Active {
                                since,
                                times,
                                failures: attempt,
                                refusals,
                            },
                            actions,
                        )
                    }
                }
            }
            // The admin dissolves the authorization: stop first, then tell the provider, then forget.
            (Authorization::Active { .. }, Event::Cleared) => (
                Authorization::Cleared { at: now },
                vec![
                    RevokeTokens,
                    WipeTokens,
                    MarkCleared { at: now },
                    Notify(EventType::Cleared),
                ],
            ),
            // Clearing an invalidated opt-in: no token is left to revoke; the audit trail says Cleared.
            (Authorization::Invalidated { .. }, Event::Cleared) => (
                Authorization::Cleared { at: now },
                vec![
                    WipeTokens,
                    MarkCleared { at: now },
                    Notify(EventType::Cleared),
                ],
            ),
            // Late refresh results after Clear/invalidation, Clear with nothing to clear:
            // nothing changes, but no stray token may survive.
            (
                state,
                Event::Refreshed(_)
                | Event::RefreshFailed(_)
                | Event::Cleared
                | Event::RefreshTokenExpired
                | Event::AccessTokenExpired,
            ) => (state, vec![WipeTokens]),
        }
    }
    /// Has the refresh token passed its known expiry at `now`? Then a refresh cannot work:
    /// feed [`Event::RefreshTokenExpired`] instead of asking the provider. This holds for
    /// providers that keep the refresh token too, since its expiry is kept from when it was
    /// issued ([`GrantTimes::after_refresh`]).
    pub fn refresh_token_expired(&self, now: Timestamp) -> bool {
        matches!(
            self,
            Authorization::Active { times, .. }
                if times.refresh_expires.is_some_and(|dead| dead <= now)
        )
    }
    /// The panel's status.
    pub fn status(&self) -> AuthorizationStatus {
        match self {
            Authorization::NotAuthorized => AuthorizationStatus::NotAuthorized,
            Authorization::Active { .. } => AuthorizationStatus::Active,
            Authorization::Cleared { .. } => AuthorizationStatus::Cleared,
            Authorization::Invalidated { .. } => AuthorizationStatus::Invalidated,
        }
    }
    /// Since when this state holds.
    pub fn since(&self) -> Option<Timestamp> {
        match self {
            Authorization::NotAuthorized => None,
            Authorization::Active { since, .. } => Some(*since),
            Authorization::Cleared { at } | Authorization::Invalidated { at, .. } => Some(*at),
        }
    }
    /// Why the state holds, for [`StatusResponse::reason`](crate::api::StatusResponse::reason):
    /// the provider's code when invalidated.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Authorization::Invalidated { reason, .. } => Some(reason),
            _ => None,
        }
    }
    /// The current grant times, when active.
    pub fn times(&self) -> Option<&GrantTimes> {
        match self {
            Authorization::Active { times, .. } => Some(times),
            _ => None,
        }
    }
    /// When the shell should next try a refresh: for an active authorization without failures,
    /// [`RefreshPolicy::refresh_at`]; after failures, `now` (the retry time is not persisted, so
    /// a restarted shell retries at once). `None` when not active.
    pub fn next_refresh(&self, now: Timestamp, policy: &RefreshPolicy) -> Option<Timestamp> {
        match self {
            Authorization::Active {
                times, failures: 0, ..
            } if !has_refresh(times) => Some(times.token_expires),
            Authorization::Active {
                times, failures: 0, ..
            } => Some(policy.refresh_at(times)),
            Authorization::Active { .. } => Some(now),
            _ => None,
        }
    }
    /// May the portal's backend use the access token at `now` (the access-token API, the
    /// proxy)? A token inside the refresh skew is refreshed first (`expired` says whether the
    /// current one may still be handed out should that refresh fail for a temporary reason).
    /// A grant without a refresh token is usable until its access token expires.
    pub fn use_decision(&self, now: Timestamp, policy: &RefreshPolicy) -> Use {
        match self {
            Authorization::NotAuthorized => Use::Refuse(Refusal::NotAuthorized),
            Authorization::Cleared { .. } => Use::Refuse(Refusal::Cleared),
            Authorization::Invalidated { .. } => Use::Refuse(Refusal::Invalidated),
            Authorization::Active { times, .. } => {
                let expired = times.token_expires <= now;
                let refreshable =
                    times.refresh_created.is_some() || times.refresh_expires.is_some();
                match (refreshable, expired) {
                    (false, true) => Use::Refuse(Refusal::Expired),
                    (false, false) => Use::Ready,
                    (true, _) if self.refresh_token_expired(now) => {
                        Use::Refuse(Refusal::Invalidated)
                    }
                    (true, true) => Use::RefreshFirst { expired: true },
                    (true, false) if now >= policy.refresh_at(times) => {
                        Use::RefreshFirst { expired: false }
                    }
                    (true, false) => Use::Ready,
                }
            }
        }
    }
    /// The status report of `GET /status`.
    pub fn status_response(&self) -> StatusResponse {
        StatusResponse {
            status: self.status(),
            since: self.since(),
            reason: self.reason().map(str::to_owned),
        }
    }
}

/// What [`Authorization::use_decision`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// Hand out the stored access token.
    Ready,
    /// Refresh first (single-flight); `expired`: the stored token is no longer valid.
    RefreshFirst {
        /// The stored access token has expired.
        expired: bool,
    },
    /// Not usable.
    Refuse(Refusal),
}

/// Why an authorization cannot be used (the `409` code of the access-token API and proxy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Never opted in.
    NotAuthorized,
    /// Cleared by an admin.
    Cleared,
    /// Invalidated by the provider (or its refresh token expired).
    Invalidated,
    /// The access token expired and there is no refresh token to renew it.
    Expired,
}

impl Refusal {
    /// The wire code.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::NotAuthorized => "not_authorized",
            Refusal::Cleared => "cleared",
            Refusal::Invalidated => "invalidated",
            Refusal::Expired => "expired",
        }
    }
}

/// [`Authorization::Invalidated`] reason when the provider refused the refresh token as dead
/// (RFC 6749 `invalid_grant`; UPS: `10400` "Invalid Refresh Token", e.g. after a UPS.com
/// password change).
pub const INVALID_GRANT: &str = "invalid_grant";

/// [`Authorization::Invalidated`] reason when retries outlived the refresh token.
pub const REFRESH_EXPIRED: &str = "refresh_expired";

/// [`Authorization::Invalidated`] reason when a grant that came without a refresh token (e.g.
/// `offline_access` not granted) reached its access token's expiry.
pub const NO_REFRESH_TOKEN: &str = "no_refresh_token";

/// Did the grant come with a refresh token?
fn has_refresh(times: &GrantTimes) -> bool {
    times.refresh_created.is_some() || times.refresh_expires.is_some()
}

/// [`Authorization::Invalidated`] reason when the provider kept refusing the refresh token in
/// words no rule recognises, after the access token expired
/// ([`RefreshPolicy::refusals_before_invalid`]).
pub const UNKNOWN_REFUSAL: &str = "unknown_provider_refusal";

/// A grant (`first`) or a refresh left the authorization active with new `times`: store the
/// tokens, record them, and schedule the next refresh; a first grant also starts retrieval.
fn renewed(
    now: Timestamp,
    times: GrantTimes,
    policy: &RefreshPolicy,
    first: bool,
) -> (Authorization, Vec<Action>) {
    use Action::*;
    let mut actions = vec![
        StoreTokens,
        SupersedeRecords,
        AppendRecord(times),
        ScheduleRefresh {
            at: if has_refresh(&times) {
                policy.refresh_at(&times)
            } else {
                // Nothing to renew it with: the shell comes back when it expires.
                times.token_expires
            },
        },
    ];
    actions.push(Notify(if first {
        EventType::Granted
    } else {
        EventType::Refreshed
    }));
    let active = Authorization::Active {
        since: now,
        times,
        failures: 0,
        refusals: 0,
    };
    (active, actions)
}

fn invalidated(now: Timestamp, reason: String) -> (Authorization, Vec<Action>) {
    (
        Authorization::Invalidated { at: now, reason },
        vec![
            Action::MarkInvalidated,
            Action::WipeTokens,
            Action::Notify(EventType::Invalidated),
        ],
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const H: i64 = 3_600_000;

    fn times(at: i64) -> GrantTimes {
        GrantTimes {
            token_created: Timestamp(at),
            token_expires: Timestamp(at + 4 * H),
            refresh_created: Some(Timestamp(at)),
            refresh_expires: Some(Timestamp(at + 60 * 24 * H)),
        }
    }

    /// A refresh answer at `at` without a refresh token (the server kept it), stating no
    /// refresh lifetime: as core's token parser maps it.
    fn kept(at: i64) -> GrantTimes {
        GrantTimes {
            refresh_created: None,
            refresh_expires: None,
            ..times(at)
        }
    }

    #[test]
    fn a_kept_refresh_token_keeps_its_times_and_its_expiry_guard() {
        let p = RefreshPolicy::default();
        let (a, _) =
            Authorization::NotAuthorized.handle(Event::Granted(times(0)), Timestamp(0), &p);
        // Non-rotating: the record shows the original refresh token's times.
        let (a, acts) = a.handle(Event::Refreshed(kept(4 * H)), Timestamp(4 * H), &p);
        let want = GrantTimes {
            refresh_created: Some(Timestamp(0)),
            refresh_expires: Some(Timestamp(60 * 24 * H)),
            ..times(4 * H)
        };
        assert_eq!(a.times(), Some(&want));
        assert!(acts.contains(&Action::AppendRecord(want)));
        // Again: still the first token's times.
        let (a, _) = a.handle(Event::Refreshed(kept(8 * H)), Timestamp(8 * H), &p);
        assert_eq!(
            a.times().and_then(|t| t.refresh_created),
            Some(Timestamp(0))
        );
        // A rotating answer brings the new token's times, an unknown expiry included.
        let rotated = GrantTimes {
            refresh_expires: None,
            ..times(12 * H)
        };
        let (b, _) = a
            .clone()
            .handle(Event::Refreshed(rotated), Timestamp(12 * H), &p);
        assert_eq!(b.times(), Some(&rotated));
        // The guard: the kept token's expiry is known, so it fires once it has passed.
        assert!(!a.refresh_token_expired(Timestamp(60 * 24 * H - 1)));
        assert!(a.refresh_token_expired(Timestamp(60 * 24 * H)));
        let (dead, acts) = a.handle(Event::RefreshTokenExpired, Timestamp(60 * 24 * H), &p);
        assert_eq!(dead.status(), AuthorizationStatus::Invalidated);
        assert_eq!(dead.reason(), Some(REFRESH_EXPIRED));
        assert!(acts.contains(&Action::WipeTokens) && acts.contains(&Action::MarkInvalidated));
        // An unknown expiry never fires; a stray event changes nothing but wipes.
        assert!(!b.refresh_token_expired(Timestamp(i64::MAX)));
        let (same, acts) = dead
            .clone()
            .handle(Event::RefreshTokenExpired, Timestamp(0), &p);
        assert_eq!((same, acts), (dead, vec![Action::WipeTokens]));
    }

    fn err(kind: ProviderErrorKind, code: &str) -> ProviderError {
        ProviderError {
            kind,
            status: Some(400),
            code: code.into(),
            message: String::new(),
        }
    }

    #[test]
    fn policy() {
        let p = RefreshPolicy {
            jitter_percent: 0,
            ..RefreshPolicy::default()
        };
        assert_eq!(p.refresh_at(&times(0)), Timestamp(4 * H - 300_000));
        let short = GrantTimes {
            token_expires: Timestamp(60_000),
            ..times(0)
        };
        assert_eq!(p.refresh_at(&short), Timestamp(30_000));
        assert_eq!(p.backoff(1), Duration::from_secs(5));
        assert_eq!(p.backoff(2), Duration::from_secs(10));
        assert_eq!(p.backoff(7), Duration::from_secs(300));
        assert_eq!(p.backoff(u32::MAX), Duration::from_secs(300));
        assert_eq!(p.backoff(0), Duration::from_secs(5));
    }

    /// 100,000 grants made within one minute (1-hour tokens): with the default jitter their
    /// refresh times spread over the whole window `[expires - 1.5 × skew, expires - skew]`
    /// instead of repeating the burst; each stays inside it, the same for the same grant, and
    /// under ¾ of the lifetime for short tokens.
    #[test]
    fn jitter_spreads_a_burst_over_half_the_skew() {
        let p = RefreshPolicy::default();
        let skew = 300_000;
        let mut per_10s = [0u32; 16];
        for i in 0..100_000i64 {
            let created = 1_800_000_000_000 + i * 60_000 / 100_000;
            let t = GrantTimes {
                token_created: Timestamp(created),
                token_expires: Timestamp(created + H),
                refresh_created: Some(Timestamp(created)),
                refresh_expires: None,
            };
            let lead = t.token_expires.0 - p.refresh_at(&t).0;
            assert!((skew..=skew * 3 / 2).contains(&lead), "lead {lead}");
            assert_eq!(p.refresh_at(&t), p.refresh_at(&{ t }));
            per_10s[usize::try_from((lead - skew) / 10_000).expect("in range")] += 1;
        }
        // 15 buckets of 10 s, each near 100,000 / 15 = 6,667.
        assert_eq!(per_10s[15], 0);
        for (i, n) in per_10s[..15].iter().enumerate() {
            assert!((6_000..7_400).contains(n), "bucket {i}: {n}");
        }
        let short = GrantTimes {
            token_expires: Timestamp(60_000),
            ..times(0)
        };
        for created in 0..1_000 {
            let t = GrantTimes {
                token_created: Timestamp(created),
                token_expires: Timestamp(created + 60_000),
                ..short
            };
            let lead = t.token_expires.0 - p.refresh_at(&t).0;
            assert!((30_000..=45_000).contains(&lead));
        }
    }

    #[test]
    fn grant_refresh_invalidate() {
        let p = RefreshPolicy::default();
        let (a, acts) =
            Authorization::NotAuthorized.handle(Event::Granted(times(0)), Timestamp(0), &p);
        assert_eq!(a.status(), AuthorizationStatus::Active);
        assert_eq!(
            acts,
            [
                Action::StoreTokens,
                Action::SupersedeRecords,
                Action::AppendRecord(times(0)),
                Action::ScheduleRefresh {
                    at: p.refresh_at(&times(0))
                },
                Action::Notify(EventType::Granted)
            ]
        );
        let (a, acts) = a.handle(Event::Refreshed(times(H)), Timestamp(H), &p);
        assert_eq!(acts.len(), 5);
        assert_eq!(acts.last(), Some(&Action::Notify(EventType::Refreshed)));
        assert_eq!(a.since(), Some(Timestamp(H)));
        let (a, acts) = a.handle(
            Event::RefreshFailed(err(ProviderErrorKind::InvalidGrant, "invalid_grant")),
            Timestamp(2 * H),
            &p,
        );
        assert_eq!(
            acts,
            [
                Action::MarkInvalidated,
                Action::WipeTokens,
                Action::Notify(EventType::Invalidated)
            ]
        );
        assert_eq!(a.reason(), Some("invalid_grant"));
        assert_eq!(a.status(), AuthorizationStatus::Invalidated);
        let (a, _) = a.handle(Event::Granted(times(3 * H)), Timestamp(3 * H), &p);
        assert_eq!(a.status(), AuthorizationStatus::Active);
    }

    #[test]
    fn temporary_failures_back_off_until_refresh_expiry() {
        let p = RefreshPolicy::default();
        let t = GrantTimes {
            refresh_expires: Some(Timestamp(4 * H + 12_000)),
            ..times(0)
        };
        let (a, _) = Authorization::NotAuthorized.handle(Event::Granted(t), Timestamp(0), &p);
        let now = Timestamp(4 * H);
        let (a, acts) = a.handle(
            Event::RefreshFailed(err(ProviderErrorKind::Temporary, "unavailable")),
            now,
            &p,
        );
        assert_eq!(
            acts,
            [Action::RetryRefresh {
                at: Timestamp(4 * H + 5_000),
                attempt: 1
            }]
        );
        let (a, acts) = a.handle(
            Event::RefreshFailed(err(ProviderErrorKind::Temporary, "unavailable")),
            Timestamp(4 * H + 5_000),
            &p,
        );
        assert_eq!(a.status(), AuthorizationStatus::Invalidated, "{acts:?}");
        assert_eq!(a.reason(), Some(REFRESH_EXPIRED));
    }

    #[test]
    fn the_portal_hears_once_when_refreshes_keep_failing() {
        let p = RefreshPolicy::default();
        let (mut a, _) =
            Authorization::NotAuthorized.handle(Event::Granted(times(0)), Timestamp(0), &p);
        let mut notices = Vec::new();
        for i in 1..=6 {
            let (next, acts) = a.handle(
                Event::RefreshFailed(err(ProviderErrorKind::Temporary, "unavailable")),
                Timestamp(i),
                &p,
            );
            if acts.contains(&Action::Notify(EventType::RefreshFailing)) {
                notices.push(i);
            }
            a = next;
        }
        assert_eq!(notices, [i64::from(p.failing_after)]);
        // A success ends the streak; the next streak is reported again.
        let (a, _) = a.handle(Event::Refreshed(times(H)), Timestamp(H), &p);
        let mut a = a;
        let mut again = 0;
        for i in 1..=3 {
            let (next, acts) = a.handle(
                Event::RefreshFailed(err(ProviderErrorKind::Temporary, "unavailable")),
                Timestamp(H + i),
                &p,
            );
            again += usize::from(acts.contains(&Action::Notify(EventType::RefreshFailing)));
            a = next;
        }
        assert_eq!(again, 1);
    }

    #[test]
    fn a_refresh_token_refused_in_unknown_words_ends_after_the_access_token_expired() {
        let p = RefreshPolicy::default();
        let (a, _) =
            Authorization::NotAuthorized.handle(Event::Granted(times(0)), Timestamp(0), &p);
        let refuse = || Event::RefreshFailed(err(ProviderErrorKind::Other, "10400"));
        let temporary = || Event::RefreshFailed(err(ProviderErrorKind::Temporary, "unavailable"));
        // Before the access token expires: refusals are retried (the token still works).
        let mut a = a;
        for i in 1..=5 {
            a = a.handle(refuse(), Timestamp(i), &p).0;
        }
        assert_eq!(a.status(), AuthorizationStatus::Active);
        // After it expired: the next refusal in the run ends it.
        let after = times(0).token_expires.0;
        let (ended, acts) = a.clone().handle(refuse(), Timestamp(after), &p);
        assert_eq!(ended.reason(), Some(UNKNOWN_REFUSAL));
        assert!(acts.contains(&Action::Notify(EventType::Invalidated)));
        // A temporary failure breaks the run: it takes `refusals_before_invalid` again.
        let (mut b, _) = a.handle(temporary(), Timestamp(after), &p);
        for i in 1..p.refusals_before_invalid {
            b = b.handle(refuse(), Timestamp(after + i64::from(i)), &p).0;
            assert_eq!(b.status(), AuthorizationStatus::Active, "refusal {i}");
        }
        let (b, _) = b.handle(refuse(), Timestamp(after + 10), &p);
        assert_eq!(b.reason(), Some(UNKNOWN_REFUSAL));
        // Our own client being refused (InvalidClient) is not the token's death: it retries.
        let (mut c, _) =
            Authorization::NotAuthorized.handle(Event::Granted(times(0)), Timestamp(0), &p);
        for i in 0..10 {
            c = c
                .handle(
                    Event::RefreshFailed(err(ProviderErrorKind::InvalidClient, "10401")),
                    Timestamp(after + i),
                    &p,
                )
                .0;
        }
        assert_eq!(c.status(), AuthorizationStatus::Active);
    }

    #[test]
    fn a_grant_without_a_refresh_token_ends_when_its_access_token_expires() {
        let p = RefreshPolicy::default();
        let t = GrantTimes {
            refresh_created: None,
            refresh_expires: None,
            ..times(0)
        };
        let (a, acts) = Authorization::NotAuthorized.handle(Event::Granted(t), Timestamp(0), &p);
        assert!(acts.contains(&Action::ScheduleRefresh {
            at: t.token_expires
        }));
        assert_eq!(a.next_refresh(Timestamp(0), &p), Some(t.token_expires));
        // Early: nothing happens.
        let (a, acts) = a.handle(Event::AccessTokenExpired, Timestamp(1), &p);
        assert_eq!((a.status(), acts.len()), (AuthorizationStatus::Active, 0));
        let (a, acts) = a.handle(Event::AccessTokenExpired, t.token_expires, &p);
        assert_eq!(a.reason(), Some(NO_REFRESH_TOKEN));
        assert!(acts.contains(&Action::Notify(EventType::Invalidated)));
        assert!(acts.contains(&Action::WipeTokens));
    }

    #[test]
    fn use_decision() {
        let p = RefreshPolicy::default();
        assert_eq!(
            Authorization::NotAuthorized.use_decision(Timestamp(0), &p),
            Use::Refuse(Refusal::NotAuthorized)
        );
        let (a, _) =
            Authorization::NotAuthorized.handle(Event::Granted(times(0)), Timestamp(0), &p);
        assert_eq!(a.use_decision(Timestamp(0), &p), Use::Ready);
        let due = p.refresh_at(&times(0));
        assert_eq!(
            a.use_decision(due, &p),
            Use::RefreshFirst { expired: false }
        );
        assert_eq!(
            a.use_decision(times(0).token_expires, &p),
            Use::RefreshFirst { expired: true }
        );
        let no_refresh = GrantTimes {
            refresh_created: None,
            refresh_expires: None,
            ..times(0)
        };
        let (b, _) =
            Authorization::NotAuthorized.handle(Event::Granted(no_refresh), Timestamp(0), &p);
        assert_eq!(b.use_decision(due, &p), Use::Ready);
        assert_eq!(
            b.use_decision(no_refresh.token_expires, &p),
            Use::Refuse(Refusal::Expired)
        );
        let (c, _) = a.clone().handle(Event::Cleared, Timestamp(1), &p);
        assert_eq!(
            c.use_decision(Timestamp(2), &p),
            Use::Refuse(Refusal::Cleared)
        );
        let (i, _) = a.handle(
            Event::RefreshFailed(err(ProviderErrorKind::InvalidGrant, "invalid_grant")),
            Timestamp(1),
            &p,
        );
        assert_eq!(
            i.use_decision(Timestamp(2), &p),
            Use::Refuse(Refusal::Invalidated)
        );
    }

    #[test]
    fn clear_and_strays() {
        let p = RefreshPolicy::default();
        let (a, acts) = Authorization::NotAuthorized.handle(Event::Cleared, Timestamp(0), &p);
        assert_eq!(
            (a.clone(), acts),
            (Authorization::NotAuthorized, vec![Action::WipeTokens])
        );
        let (a, _) = a.handle(Event::Granted(times(0)), Timestamp(0), &p);
        let (a, acts) = a.handle(Event::Cleared, Timestamp(9), &p);
        assert_eq!(
            acts,
            [
                Action::RevokeTokens,
                Action::WipeTokens,
                Action::MarkCleared { at: Timestamp(9) },
                Action::Notify(EventType::Cleared)
            ]
        );
        assert_eq!(a, Authorization::Cleared { at: Timestamp(9) });
        let (a, acts) = a.handle(Event::Refreshed(times(10)), Timestamp(10), &p);
        assert_eq!(
            (a.status(), acts),
            (AuthorizationStatus::Cleared, vec![Action::WipeTokens])
        );
    }
}
