//! The host's operations on one company's authorization: exchange, clear, refresh, retrieve.
//!
//! Each one feeds an [`Event`] to core's [`Authorization::handle`] and carries out the returned
//! [`Action`]s: the shell ones (stop retrieval, revoke) here, in order, and the storage ones in
//! one [`Store::commit`](crate::store::Store::commit) transaction. Handlers and jobs call these;
//! they hold no rules of their own.
//!
//! Mutual exclusion: every operation that uses or replaces a company's tokens holds the
//! company's lock (in this process) and, except exchange, the store's lease (across processes
//! sharing the database). So once [`clear`] returns, no request with that company's tokens
//! leaves this host: any refresh or retrieval either finished before Clear took the lock or
//! finds the tokens wiped.

use std::time::{Duration, Instant};

use token_manager_core::api::{ClearResponse, ExchangeBody};
use token_manager_core::lifecycle::{Action, Authorization, Event};
use token_manager_core::{AuthorizationStatus, ProviderErrorKind, Timestamp, TokenRecord};

use crate::error::AppError;
use crate::state::{AppState, RetrievalOutcome};
use crate::store::{ClaimKind, ClaimOutcome, Lease, StoreError, TokenPair, Transition};

/// Longest authorization code accepted (bytes).
pub const MAX_CODE: usize = 2048;

/// Check an exchange body before anything leaves the host.
pub fn validate_exchange(state: &AppState, body: &ExchangeBody) -> Result<(), AppError> {
    if state.config().companies.get(&body.company).is_none() {
        return Err(AppError::UnknownCompany);
    }
    let code = body.code.as_bytes();
    if code.is_empty() || code.len() > MAX_CODE {
        return Err(AppError::InvalidRequest(format!(
            "code must be 1-{MAX_CODE} characters"
        )));
    }
    // RFC 6749 §A.11: VSCHAR (no spaces or controls).
    if !code.iter().all(|b| (0x21..=0x7e).contains(b)) {
        return Err(AppError::InvalidRequest(
            "code contains characters outside printable ASCII".into(),
        ));
    }
    // RFC 7636 §4.1: 43-128 unreserved characters.
    let v = body.code_verifier.as_bytes();
    if !(43..=128).contains(&v.len())
        || !v
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
    {
        return Err(AppError::InvalidRequest(
            "code_verifier must be 43-128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636)".into(),
        ));
    }
    // Exact string match against the allow-list (RFC 9700 §4.1.3): no normalisation.
    if body.redirect_uri != state.provider().config().redirect_uri.as_str() {
        return Err(AppError::RedirectUriNotAllowed);
    }
    Ok(())
}

/// `POST /exchange`: exchange the code, store the pair encrypted, append the record.
/// A new opt-in supersedes any previous authorization of the company.
pub async fn exchange(
    state: &AppState,
    body: ExchangeBody,
    user: &str,
) -> Result<TokenRecord, AppError> {
    validate_exchange(state, &body)?;
    let grant = state
        .provider()
        .exchange_code(
            &body.code,
            &body.code_verifier,
            &body.redirect_uri,
            state.now(),
        )
        .await?;
    let tokens = TokenPair {
        access: grant.access_token.clone(),
        refresh: grant.refresh_token.clone(),
    };
    let times = grant.times();
    let company = body.company;
    let _guard = state.locks().lock(&company).await;
    let policy = state.config().refresh_policy;
    // Retry on a concurrent change by another host process (each attempt re-reads the state).
    for attempt in 1..=3 {
        let now = state.now();
        let row = {
            let c = company.clone();
            state.db(move |s| s.authorization(&c)).await?
        };
        let (next, actions) = row.state.handle(Event::Granted(times), now, &policy);
        let transition = Transition {
            company: company.clone(),
            expected_generation: Some(row.generation),
            lease_owner: None,
            next,
            actions: actions.clone(),
            tokens: Some(tokens.clone()),
            authorized_by: Some(user.to_owned()),
            now,
        };
        match state.db(move |s| s.commit(&transition)).await {
            Ok(done) => {
                if actions.contains(&Action::StartRetrieval) {
                    state.kick_retrieval();
                }
                tracing::info!(company, record = ?done.appended.as_ref().map(|r| r.id), "authorized");
                return done.appended.map(|r| r.at(now)).ok_or_else(|| {
                    AppError::Internal("a grant appended no history record".into())
                });
            }
            Err(StoreError::Conflict) if attempt < 3 => continue,
            // The code is spent: a busy or full database must not lose the pair it bought.
            Err(e) if e.is_transient() && attempt < 3 => {
                tracing::warn!(company, error = %e, attempt, "storing the new pair failed; retrying");
                tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(AppError::Conflict(
        "the authorization kept changing concurrently".into(),
    ))
}

/// `POST /clear`: stop retrieval, revoke where supported, wipe the tokens, mark the records
/// Cleared — all before returning.
pub async fn clear(state: &AppState, company: &str) -> Result<ClearResponse, AppError> {
    let _guard = state.locks().lock(company).await;
    let lease = claim_waiting(state, company).await?;
    let owner = state.instance().to_owned();
    let result = clear_holding(state, company, &lease, &owner).await;
    if result.is_err() {
        release(state, company).await;
    }
    result
}

async fn clear_holding(
    state: &AppState,
    company: &str,
    lease: &Lease,
    owner: &str,
) -> Result<ClearResponse, AppError> {
    let now = state.now();
    let (next, actions) =
        lease
            .row
            .state
            .clone()
            .handle(Event::Cleared, now, &state.config().refresh_policy);
    for action in &actions {
        match action {
            Action::StopRetrieval => state.report_retrieval(
                company,
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
        lease_owner: Some(owner.to_owned()),
        next: next.clone(),
        actions,
        tokens: None,
        authorized_by: None,
        now,
    };
    state.db(move |s| s.commit(&transition)).await?;
    purge(state).await;
    tracing::info!(company, status = ?next.status(), "cleared");
    Ok(ClearResponse {
        status: next.status(),
        cleared_at: next.since().unwrap_or(now),
    })
}

/// Claim the company's lease for Clear, waiting while another host process holds it.
async fn claim_waiting(state: &AppState, company: &str) -> Result<Lease, AppError> {
    let deadline = Instant::now() + state.config().lease_ttl + Duration::from_secs(1);
    loop {
        match claim(state, company, state.now(), ClaimKind::Clear).await? {
            ClaimOutcome::Acquired(lease) => return Ok(lease),
            ClaimOutcome::Busy { .. } if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            ClaimOutcome::Busy { .. } => {
                return Err(AppError::Conflict(
                    "another host process is using this authorization".into(),
                ))
            }
            ClaimOutcome::Nothing => {
                return Err(AppError::Internal(
                    "clear claim found no authorization row".into(),
                ))
            }
        }
    }
}

/// Try once to claim the company's lease for `kind` at `now`, for this host process.
async fn claim(
    state: &AppState,
    company: &str,
    now: Timestamp,
    kind: ClaimKind,
) -> Result<ClaimOutcome, AppError> {
    let (c, owner, until) = (
        company.to_owned(),
        state.instance().to_owned(),
        state.lease_until(now),
    );
    Ok(state
        .db(move |s| s.claim(&c, &owner, now, until, kind))
        .await?)
}

async fn release(state: &AppState, company: &str) {
    let (c, owner) = (company.to_owned(), state.instance().to_owned());
    if let Err(e) = state.db(move |s| s.release(&c, &owner)).await {
        tracing::warn!(company, error = %e, "could not release a lease; it will expire");
    }
}

async fn purge(state: &AppState) {
    if let Err(e) = state.db(|s| s.purge()).await {
        tracing::warn!(error = %e, "could not checkpoint the database after wiping tokens");
    }
}

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
pub async fn refresh_company(state: &AppState, company: &str) -> Result<RefreshOutcome, AppError> {
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
    let result = state.provider().refresh(&refresh_token, state.now()).await;
    let now = state.now();
    let (event, tokens) = match result {
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
            let level_warn = e.kind != ProviderErrorKind::InvalidGrant;
            if level_warn {
                tracing::warn!(company, error = %e, "refresh failed");
            } else {
                tracing::info!(company, error = %e, "refresh refused: the grant is no longer valid");
            }
            (Event::RefreshFailed(e), None)
        }
    };
    let (next, actions) =
        lease
            .row
            .state
            .clone()
            .handle(event, now, &state.config().refresh_policy);
    if actions.contains(&Action::StopRetrieval) {
        state.report_retrieval(
            company,
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
        now,
    };
    // A refreshed pair must not be lost to a transient storage error: the old refresh token
    // may already be spent (UPS rotates it).
    let mut attempt = 0;
    loop {
        attempt += 1;
        let t = transition.clone();
        match state.db(move |s| s.commit(&t)).await {
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

/// One retrieval call for `company` with its current access token (skipped unless active).
/// Returns `true` if a request left the host.
pub async fn retrieve_company(state: &AppState, company: &str, n: u64) -> Result<bool, AppError> {
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
            state.report_retrieval(company, outcome, true);
            true
        }
        (_, true) => {
            state.report_retrieval(
                company,
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
