//! `POST /clear`: stop retrieval, revoke where supported, wipe the tokens, mark the records
//! Cleared — all before returning.

use token_manager_core::api::ClearResponse;
use token_manager_core::lifecycle::{Action, Event};

use super::lease::{claim_waiting, purge, release};
use super::OpError;
use crate::reports::RetrievalOutcome;
use crate::state::AppState;
use crate::store::{Lease, Transition};

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
    for action in &actions {
        match action {
            Action::StopRetrieval => state.reports().record(
                company,
                now,
                RetrievalOutcome::Stopped("stopped: the authorization was cleared".into()),
                false,
            ),
            Action::RevokeTokens => {
                if let Some(tokens) = &lease.tokens {
                    match state.provider().revoke(tokens).await {
                        Ok(true) => tracing::info!(company, "tokens revoked at the provider"),
                        Ok(false) => {}
                        Err(e) => {
                            tracing::warn!(company, error = %e, "revocation failed; wiping anyway")
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let transition = Transition {
        company: company.to_owned(),
        expected_generation: Some(lease.row.generation),
        lease_owner: Some(state.instance().to_owned()),
        next: next.clone(),
        actions,
        tokens: None,
        authorized_by: None,
        actor: Some(actor.to_owned()),
        now,
    };
    state.store().commit(transition).await?;
    purge(state).await;
    tracing::info!(company, status = ?next.status(), "cleared");
    Ok(ClearResponse {
        status: next.status(),
        cleared_at: next.since().unwrap_or(now),
    })
}
