//! `POST /exchange`: the authorization code for a token pair, stored encrypted, with its
//! history record.

use std::time::Duration;

use token_manager_core::api::ExchangeBody;
use token_manager_core::lifecycle::{Action, Event};
use token_manager_core::TokenRecord;

use super::OpError;
use crate::state::AppState;
use crate::store::{StoreError, Transition};
use crate::tokens::TokenPair;

/// Longest authorization code accepted (bytes).
pub const MAX_CODE: usize = 2048;

/// `Ok` if `company` is one this host serves.
pub fn known_company(state: &AppState, company: &str) -> Result<(), OpError> {
    state
        .config()
        .companies
        .get(company)
        .map(|_| ())
        .ok_or(OpError::UnknownCompany)
}

/// Check an exchange body before anything leaves the host.
pub fn validate_exchange(state: &AppState, body: &ExchangeBody) -> Result<(), OpError> {
    known_company(state, &body.company)?;
    let code = body.code.as_bytes();
    if code.is_empty() || code.len() > MAX_CODE {
        return Err(OpError::InvalidRequest(format!(
            "code must be 1-{MAX_CODE} characters"
        )));
    }
    // RFC 6749 §A.11: VSCHAR (no spaces or controls).
    if !code.iter().all(|b| (0x21..=0x7e).contains(b)) {
        return Err(OpError::InvalidRequest(
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
        return Err(OpError::InvalidRequest(
            "code_verifier must be 43-128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636)".into(),
        ));
    }
    // Exact string match against the allow-list (RFC 9700 §4.1.3): no normalisation.
    if body.redirect_uri != state.provider().config().redirect_uri.as_str() {
        return Err(OpError::RedirectUriNotAllowed);
    }
    Ok(())
}

/// Exchange the code, store the pair encrypted, append the record. A new opt-in supersedes
/// any previous authorization of the company.
pub async fn exchange(
    state: &AppState,
    body: ExchangeBody,
    user: &str,
) -> Result<TokenRecord, OpError> {
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
        let row = state.store().authorization(&company).await?;
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
        match state.store().commit(transition).await {
            Ok(done) => {
                if actions.contains(&Action::StartRetrieval) {
                    state.reports().kick();
                }
                tracing::info!(company, record = ?done.appended.as_ref().map(|r| r.id), "authorized");
                return done
                    .appended
                    .map(|r| r.at(now))
                    .ok_or(OpError::Invariant("a grant appended no history record"));
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
    Err(OpError::Conflict(
        "the authorization kept changing concurrently",
    ))
}
