//! `POST /clear`: stop every use (the company's exclusive lock and lease), revoke where
//! supported, wipe the tokens, mark the records
//! Cleared — all before returning.

use token_manager_core::api::{ClearResponse, Revocation};
use token_manager_core::lifecycle::{Action, Event};

use super::lease::{claim_waiting, purge, release};
use super::OpError;
use crate::state::AppState;
use crate::store::{Lease, Transition};
use crate::webhooks::{events_for, Context};

/// Clear `company`'s authorization, as portal user `actor` (recorded as `cleared_by`).
pub async fn clear(state: &AppState, company: &str, actor: &str) -> Result<ClearResponse, OpError> {
    let _guard = state.locks().lock(company).await;
    let lease = claim_waiting(state, company).await?;
    let result = clear_holding(state, company, &lease, actor).await;
    if result.is_err() {
        release(state, company).await;
    }
    result
}

async fn clear_holding(
    state: &AppState,
    company: &str,
    lease: &Lease,
    actor: &str,
) -> Result<ClearResponse, OpError> {
    let now = state.now();
    let (next, actions) =
        lease
            .row
            .state
            .clone()
            .handle(Event::Cleared, now, &state.config().refresh_policy);
    let revocation = match (&lease.tokens, actions.contains(&Action::RevokeTokens)) {
        (Some(tokens), true) => match state.provider().revoke(tokens).await {
            Ok(true) => {
                tracing::info!(company, "tokens revoked at the provider");
                Revocation::revoked()
            }
            Ok(false) => {
                Revocation::not_supported(lease.row.state.times().map(|t| t.token_expires))
            }
            Err(e) => {
                tracing::warn!(company, error = %e, "revocation failed; wiping anyway");
                Revocation::failed(e.code, e.message)
            }
        },
        _ => Revocation::nothing(),
    };
    let mut events = events_for(
        state.webhooks(),
        company,
        &next,
        &actions,
        &Context {
            actor: Some(actor),
            ..Context::default()
        },
        now,
    );
    for e in &mut events {
        e.event.data.revocation = Some(revocation.clone());
    }
    let notify = !events.is_empty();
    let transition = Transition {
        company: company.to_owned(),
        revocation: Some(revocation.clone()),
        expected_generation: Some(lease.row.generation),
        lease_owner: Some(state.instance().to_owned()),
        next: next.clone(),
        actions,
        tokens: None,
        authorized_by: None,
        actor: Some(actor.to_owned()),
        now,
        events,
    };
    state.store().commit(transition).await?;
    if notify {
        state.webhooks().wake();
    }
    purge(state).await;
    tracing::info!(company, status = ?next.status(), "cleared");
    Ok(ClearResponse {
        status: next.status(),
        cleared_at: next.since().unwrap_or(now),
        revocation: Some(revocation),
    })
}
