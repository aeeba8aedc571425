//! The portal's backend using an authorization: the current access token, refreshed first
//! when it is about to expire (single-flight: one refresh however many callers, in this process
//! by the company lock, across processes by the store's lease), and refused with the reason
//! when the authorization cannot be used.

use std::time::{Duration, Instant};

use oauth2::AccessToken;
use token_manager_core::lifecycle::{Refusal, Use};
use token_manager_core::Timestamp;
use tokio::sync::OwnedRwLockReadGuard;

use super::refresh::{refresh_now_holding, RefreshOutcome};
use super::OpError;
use crate::state::AppState;

/// The current access token, with the company's shared lock: Clear (and any refresh) waits
/// until it is dropped, so a use that holds it never races a wipe.
#[derive(Debug)]
pub struct TokenUse {
    /// The access token.
    pub access_token: AccessToken,
    /// When it expires.
    pub expires_at: Timestamp,
    /// The authorization's generation when read (see [`renew_after_rejection`]).
    pub generation: i64,
    _shared: OwnedRwLockReadGuard<()>,
}

/// What `POST /api/v1/companies/{company}/access-token` hands out.
#[derive(Debug)]
pub struct Handout {
    /// The access token.
    pub access_token: AccessToken,
    /// When it expires.
    pub expires_at: Timestamp,
}

/// The company's current access token, refreshed first when inside the refresh skew.
pub async fn use_token(state: &AppState, company: &str) -> Result<TokenUse, OpError> {
    let deadline = Instant::now() + state.config().lease_ttl + Duration::from_secs(1);
    // Once a refresh was attempted for this call (by it, or by whoever renewed or ended the
    // authorization meanwhile), a still-valid token is handed out as it is: a temporary
    // failure leaves the current one, and a provider clock behind ours would otherwise make
    // every new token look due again.
    let mut accept_due = false;
    let mut attempts = 0;
    let mut first_seen = None;
    loop {
        let shared = state.locks().share(company).await;
        let now = state.now();
        let read = state
            .store()
            .read_tokens(company, state.instance(), now)
            .await?;
        // Renewed (or ended) by someone else while this call waited: that was the refresh.
        if *first_seen.get_or_insert(read.row.generation) != read.row.generation {
            accept_due = true;
        }
        let decision = read
            .row
            .state
            .use_decision(now, &state.config().refresh_policy);
        let ready = match decision {
            Use::Refuse(refusal) => return Err(OpError::NotUsable(refusal)),
            Use::Ready => true,
            Use::RefreshFirst { expired: false } => accept_due,
            Use::RefreshFirst { expired: true } => false,
        };
        if ready {
            let (Some(tokens), Some(times)) = (read.tokens, read.row.state.times()) else {
                return Err(OpError::Invariant("an active authorization without tokens"));
            };
            return Ok(TokenUse {
                access_token: tokens.access,
                expires_at: times.token_expires,
                generation: read.row.generation,
                _shared: shared,
            });
        }
        drop(shared);
        attempts += 1;
        if attempts > 3 {
            return Err(OpError::RefreshFailing(
                token_manager_core::ProviderError::transport(
                    "the provider keeps issuing tokens that have already expired (check the clocks)",
                ),
            ));
        }
        let outcome = refresh_detached(state, company, read.row.generation).await?;
        match outcome {
            RefreshOutcome::Refreshed
            | RefreshOutcome::Dropped
            | RefreshOutcome::Skipped
            | RefreshOutcome::Ended(_) => accept_due = true,
            RefreshOutcome::Retrying => {
                if matches!(decision, Use::RefreshFirst { expired: true }) {
                    return Err(OpError::RefreshFailing(
                        token_manager_core::ProviderError::transport(
                            "the provider could not renew the access token; try again shortly",
                        ),
                    ));
                }
                accept_due = true;
            }
            RefreshOutcome::Busy(until) => {
                attempts -= 1;
                if Instant::now() >= deadline {
                    return Err(OpError::Conflict(
                        "another host process is renewing this authorization",
                    ));
                }
                let wait = until.since(state.now()).min(Duration::from_millis(50));
                tokio::time::sleep(wait.max(Duration::from_millis(5))).await;
            }
        }
    }
}

/// Refresh `company` now (unless its generation moved past `seen`) under its exclusive lock, in
/// a task of its own: a caller that goes away (its request timed out, the client hung up) does
/// not cancel a refresh in flight, whose answer may carry the only valid refresh token.
async fn refresh_detached(
    state: &AppState,
    company: &str,
    seen: i64,
) -> Result<RefreshOutcome, OpError> {
    let (state, company) = (state.clone(), company.to_owned());
    tokio::spawn(async move {
        let _exclusive = state.locks().lock(&company).await;
        refresh_now_holding(&state, &company, seen).await
    })
    .await
    .map_err(|_| OpError::Invariant("a refresh task panicked"))?
}

/// Hand the current access token to API key `key_id`, recording the hand-out.
pub async fn access_token(
    state: &AppState,
    company: &str,
    key_id: &str,
) -> Result<Handout, OpError> {
    let token = use_token(state, company).await?;
    state
        .store()
        .record_handout(company, key_id, state.now())
        .await?;
    tracing::info!(company, key = key_id, "access token handed out");
    Ok(Handout {
        access_token: token.access_token,
        expires_at: token.expires_at,
    })
}

/// The provider refused a token read at `generation` (HTTP 401): renew it once, unless
/// another task already did. Returns whether a usable token may now exist.
pub async fn renew_after_rejection(
    state: &AppState,
    company: &str,
    generation: i64,
) -> Result<(), OpError> {
    match refresh_detached(state, company, generation).await? {
        RefreshOutcome::Busy(_) => Err(OpError::Conflict(
            "another host process is renewing this authorization",
        )),
        RefreshOutcome::Ended(_) => Err(OpError::NotUsable(Refusal::Invalidated)),
        _ => Ok(()),
    }
}
