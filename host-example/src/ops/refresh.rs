//! Refreshing one company's tokens (the refresher calls this for each due company).

use std::time::Duration;

use token_manager_core::lifecycle::{Action, Authorization, Event};
use token_manager_core::{AuthorizationStatus, ProviderErrorKind};

use super::lease::{claim, purge, release};
use super::OpError;
use crate::state::AppState;
use crate::store::{ClaimKind, ClaimOutcome, StoreError, Transition};
use crate::tokens::TokenPair;
use crate::webhooks::{events_for, Context};

/// What one refresh attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// Nothing was due (or another process holds the lease).
    Skipped,
    /// Another host process holds the company's lease until then (a refresh or Clear in
    /// progress there).
    Busy(token_manager_core::Timestamp),
    /// A new pair is stored.
    Refreshed,
    /// A temporary failure; retried later.
    Retrying,
    /// The provider rejected the grant; the authorization is now in this state.
    Ended(AuthorizationStatus),
    /// The result was dropped because the authorization changed meanwhile.
    Dropped,
}

/// Refresh `company` if it is due and nobody else is refreshing it.
pub async fn refresh_company(state: &AppState, company: &str) -> Result<RefreshOutcome, OpError> {
    let _guard = state.locks().lock(company).await;
    refresh_holding(state, company, ClaimKind::Refresh, None).await
}

/// Refresh `company` now, due or not, unless its generation moved past `seen` (another task
/// or host process renewed or ended it meanwhile: then nothing is done, [`RefreshOutcome::Dropped`]).
/// The caller holds the company's lock ([`CompanyLocks::lock`](crate::locks::CompanyLocks::lock)).
pub(super) async fn refresh_now_holding(
    state: &AppState,
    company: &str,
    seen: i64,
) -> Result<RefreshOutcome, OpError> {
    refresh_holding(state, company, ClaimKind::RefreshNow, Some(seen)).await
}

async fn refresh_holding(
    state: &AppState,
    company: &str,
    kind: ClaimKind,
    seen: Option<i64>,
) -> Result<RefreshOutcome, OpError> {
    let now = state.now();
    let lease = match claim(state, company, now, kind).await? {
        ClaimOutcome::Acquired(lease) => lease,
        // The refresher leaves it to the holder; a caller waiting for a token needs to know.
        ClaimOutcome::Busy { .. } if kind == ClaimKind::Refresh => {
            return Ok(RefreshOutcome::Skipped)
        }
        ClaimOutcome::Busy { until } => return Ok(RefreshOutcome::Busy(until)),
        ClaimOutcome::Nothing => {
            // The refresher's scan leased it to us ([`claim_due`](crate::store::Store::claim_due)), and it is no longer
            // due (refreshed or ended meanwhile): free it for the others now, not at expiry.
            if kind == ClaimKind::Refresh {
                release(state, company).await;
            }
            return Ok(RefreshOutcome::Skipped);
        }
    };
    if seen.is_some_and(|g| g != lease.row.generation) {
        release(state, company).await;
        return Ok(RefreshOutcome::Dropped);
    }
    let Some(old) = lease.tokens.clone() else {
        release(state, company).await;
        return Ok(RefreshOutcome::Skipped);
    };
    // A refresh token past its known expiry cannot work: end the authorization without asking
    // the provider (this also covers providers that keep the refresh token and state its
    // lifetime only once). A grant without one ends when its access token expires.
    let result = match old.refresh.clone() {
        None => None,
        Some(_) if lease.row.state.refresh_token_expired(now) => {
            tracing::info!(company, "the refresh token's known expiry has passed");
            None
        }
        Some(refresh_token) => Some(state.provider().refresh(&refresh_token, state.now()).await),
    };
    let now = state.now();
    let mut error_code = None;
    let (event, tokens) = match result {
        None if old.refresh.is_none() => {
            tracing::info!(
                company,
                "the access token expired and there is no refresh token"
            );
            (Event::AccessTokenExpired, None)
        }
        None => (Event::RefreshTokenExpired, None),
        Some(result) => match result {
            Ok(grant) => {
                // A server that keeps the refresh token may still send it back (RFC 6749 §6):
                // the same token keeps the times of when it was issued, as if it were left out.
                let resent = matches!(
                    (&grant.refresh_token, &old.refresh),
                    (Some(new), Some(held)) if new.secret() == held.secret()
                );
                let mut times = grant.times();
                if resent {
                    times.refresh_created = None;
                    times.refresh_expires = None;
                }
                let pair = TokenPair {
                    access: grant.access_token,
                    // RFC 6749 §6: the server MAY keep the old refresh token.
                    refresh: grant.refresh_token.or(old.refresh),
                };
                (Event::Refreshed(times), Some(pair))
            }
            Err(e) => {
                if e.kind == ProviderErrorKind::InvalidGrant {
                    tracing::info!(company, error = %e, "refresh refused: the grant is no longer valid");
                } else if e.code == "timeout" {
                    // The request left; its answer did not come back. UPS rotates the refresh
                    // token with no reuse grace: if it did, the stored one is spent and the next
                    // refresh is refused (the portal then hears `authorization.invalidated`).
                    tracing::error!(company, error = %e, "refresh answer lost: the provider may have rotated the refresh token; the retry will tell");
                } else {
                    tracing::warn!(company, error = %e, "refresh failed");
                }
                error_code = Some(e.code.clone());
                (Event::RefreshFailed(e), None)
            }
        },
    };
    let expiry_check = matches!(event, Event::AccessTokenExpired);
    let (next, actions) =
        lease
            .row
            .state
            .clone()
            .handle(event, now, &state.config().refresh_policy);
    let events = events_for(
        state.webhooks(),
        company,
        &next,
        &actions,
        &Context {
            error_code: error_code.as_deref(),
            ..Context::default()
        },
        now,
    );
    // Woken before a refresh-less grant expired (a clock step): nothing to do yet.
    if expiry_check && actions.is_empty() {
        release(state, company).await;
        return Ok(RefreshOutcome::Skipped);
    }
    let wipes = actions.contains(&Action::WipeTokens);
    let outcome = match (&next, &actions[..]) {
        (Authorization::Active { .. }, [Action::RetryRefresh { .. }, ..]) => {
            RefreshOutcome::Retrying
        }
        (Authorization::Active { .. }, _) => RefreshOutcome::Refreshed,
        (other, _) => RefreshOutcome::Ended(other.status()),
    };
    let transition = Transition {
        company: company.to_owned(),
        revocation: None,
        expected_generation: Some(lease.row.generation),
        lease_owner: Some(state.instance().to_owned()),
        next,
        actions,
        tokens,
        authorized_by: None,
        actor: None,
        now,
        events,
    };
    // A refreshed pair must not be lost to a transient storage error: the old refresh token
    // may already be spent (UPS rotates it).
    let mut attempt = 0;
    loop {
        attempt += 1;
        match state.store().commit(transition.clone()).await {
            Ok(_) => {
                if !transition.events.is_empty() {
                    state.webhooks().wake();
                }
                break;
            }
            Err(StoreError::Conflict) => {
                tracing::info!(
                    company,
                    "refresh result dropped: the authorization changed meanwhile"
                );
                release(state, company).await;
                return Ok(RefreshOutcome::Dropped);
            }
            Err(e) if attempt < 5 => {
                tracing::warn!(company, error = %e, attempt, "storing the refresh failed; retrying");
                tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
            }
            Err(e) => {
                release(state, company).await;
                return Err(e.into());
            }
        }
    }
    if wipes {
        purge(state).await;
    }
    Ok(outcome)
}
