//! One call of the retrieval job for one company, with its current access token.

use super::lease::{claim, release};
use super::OpError;
use crate::reports::RetrievalOutcome;
use crate::state::AppState;
use crate::store::{ClaimKind, ClaimOutcome};

/// One retrieval call for `company` (skipped unless active). Returns `true` if a request left
/// the host.
pub async fn retrieve_company(state: &AppState, company: &str, n: u64) -> Result<bool, OpError> {
    let _guard = state.locks().lock(company).await;
    let now = state.now();
    let lease = match claim(state, company, now, ClaimKind::Use).await? {
        ClaimOutcome::Acquired(lease) => lease,
        ClaimOutcome::Busy { .. } | ClaimOutcome::Nothing => return Ok(false),
    };
    let expired = lease
        .row
        .state
        .times()
        .is_none_or(|t| t.token_expires <= now);
    let sent = match (&lease.tokens, expired) {
        (Some(tokens), false) => {
            let outcome = match state.provider().fetch_data(&tokens.access, n).await {
                Ok(sample) => RetrievalOutcome::Data(sample),
                Err(e) => RetrievalOutcome::Failed(e.message),
            };
            state.reports().record(company, state.now(), outcome, true);
            true
        }
        (_, true) => {
            state.reports().record(
                company,
                now,
                RetrievalOutcome::Failed(
                    "the access token has expired; waiting for a refresh".into(),
                ),
                false,
            );
            false
        }
        (None, false) => false,
    };
    release(state, company).await;
    Ok(sent)
}
