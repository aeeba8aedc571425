//! Claiming and releasing a company's lease for this host process, and purging wiped values.

use std::time::{Duration, Instant};

use token_manager_core::Timestamp;

use super::OpError;
use crate::state::AppState;
use crate::store::{Claim, ClaimKind, ClaimOutcome, Lease};

/// Try once to claim the company's lease for `kind` at `now`, for this host process.
pub(super) async fn claim(
    state: &AppState,
    company: &str,
    now: Timestamp,
    kind: ClaimKind,
) -> Result<ClaimOutcome, OpError> {
    Ok(state
        .store()
        .claim(Claim {
            company: company.to_owned(),
            owner: state.instance().to_owned(),
            kind,
            now,
            until: state.lease_until(now),
        })
        .await?)
}

/// Claim the company's lease for Clear, waiting while another host process holds it.
pub(super) async fn claim_waiting(state: &AppState, company: &str) -> Result<Lease, OpError> {
    let deadline = Instant::now() + state.config().lease_ttl + Duration::from_secs(1);
    loop {
        match claim(state, company, state.now(), ClaimKind::Clear).await? {
            ClaimOutcome::Acquired(lease) => return Ok(*lease),
            ClaimOutcome::Busy { .. } if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            ClaimOutcome::Busy { .. } => {
                return Err(OpError::Conflict(
                    "another host process is using this authorization",
                ))
            }
            ClaimOutcome::Nothing => {
                return Err(OpError::Invariant("clear claim found no authorization row"))
            }
        }
    }
}

/// Release this process's lease (best effort: an unreleased lease expires).
pub(super) async fn release(state: &AppState, company: &str) {
    if let Err(e) = state.store().release(company, state.instance()).await {
        tracing::warn!(company, error = %e, "could not release a lease; it will expire");
    }
}

/// Make wiped tokens physically unrecoverable (best effort: the next purge finishes it).
pub(super) async fn purge(state: &AppState) {
    if let Err(e) = state.store().purge().await {
        tracing::warn!(error = %e, "could not checkpoint the database after wiping tokens");
    }
}
