//! Refreshing one company's tokens (the refresher calls this for each due company).

use std::time::Duration;

use token_manager_core::lifecycle::{Action, Authorization, Event};
use token_manager_core::{AuthorizationStatus, ProviderErrorKind};

use super::lease::{claim, purge, release};
use super::OpError;
use crate::reports::RetrievalOutcome;
use crate::state::AppState;
use crate::store::{ClaimKind, ClaimOutcome, StoreError, Transition};
use crate::tokens::TokenPair;

/// What one refresh attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// Nothing was due (or another process holds the lease).
    Skipped,
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
    let now = state.now();
    let lease = match claim(state, company, now, ClaimKind::Refresh).await? {
        ClaimOutcome::Acquired(lease) => lease,
        ClaimOutcome::Busy { .. } | ClaimOutcome::Nothing => return Ok(RefreshOutcome::Skipped),
    };
    let Some(old) = lease.tokens.clone() else {
        release(state, company).await;
        return Ok(RefreshOutcome::Skipped);
    };
    let Some(refresh_token) = old.refresh.clone() else {
        release(state, company).await;
        return Ok(RefreshOutcome::Skipped);
    };
    // A refresh token past its known expiry cannot work: end the authorization without asking
    // the provider (this also covers providers that keep the refresh token and state its
    // lifetime only once).
    let result = if lease.row.state.refresh_token_expired(now) {
        tracing::info!(company, "the refresh token's known expiry has passed");
        None
    } else {
        Some(state.provider().refresh(&refresh_token, state.now()).await)
    };
    let now = state.now();
    let (event, tokens) = match result {
        None => (Event::RefreshTokenExpired, None),
        Some(result) => match result {
            Ok(grant) => {
                let times = grant.times();
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
                } else {
                    tracing::warn!(company, error = %e, "refresh failed");
                }
                (Event::RefreshFailed(e), None)
            }
        },
    };
    let (next, actions) =
        lease
            .row
            .state
            .clone()
            .handle(event, now, &state.config().refresh_policy);
    if actions.contains(&Action::StopRetrieval) {
        state.reports().record(
            company,
            now,
            RetrievalOutcome::Stopped(format!(
                "stopped: the authorization was {}",
                match next.status() {
                    AuthorizationStatus::Invalidated => "invalidated by the provider",
                    _ => "ended",
                }
            )),
            false,
        );
    }
    let wipes = actions.contains(&Action::WipeTokens);
    let outcome = match (&next, &actions[..]) {
        (Authorization::Active { .. }, [Action::RetryRefresh { .. }]) => RefreshOutcome::Retrying,
        (Authorization::Active { .. }, _) => RefreshOutcome::Refreshed,
        (other, _) => RefreshOutcome::Ended(other.status()),
    };
    let transition = Transition {
        company: company.to_owned(),
        expected_generation: Some(lease.row.generation),
        lease_owner: Some(state.instance().to_owned()),
        next,
        actions,
        tokens,
        authorized_by: None,
        actor: None,
        now,
    };
    // A refreshed pair must not be lost to a transient storage error: the old refresh token
    // may already be spent (UPS rotates it).
    let mut attempt = 0;
    loop {
        attempt += 1;
        match state.store().commit(transition.clone()).await {
            Ok(_) => break,
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
