//! `POST /start` and `POST /exchange`: the host starts the authorization (state and PKCE
//! verifier from OS randomness, kept server-side for the user and company that started it),
//! then redeems the returned code with the verifier it kept, and stores the pair encrypted with
//! its history record.

use std::time::Duration;

use oauth2::AuthorizationCode;
use rand::RngCore;
use token_manager_core::api::{ConfigResponse, ExchangeBody, StartResponse};
use token_manager_core::flow::{CallbackParams, DEFAULT_MAX_AGE};
use token_manager_core::lifecycle::{Action, Authorization, Event};
use token_manager_core::token::{check_id_token, IdTokenExpectations};
use token_manager_core::webhook::EventType;
use token_manager_core::{PendingAuthorization, ProviderErrorKind, TokenRecord};

use super::OpError;
use crate::state::AppState;
use crate::store::{PendingRecord, PendingTake, StoreError, Transition};
use crate::tokens::TokenPair;
use crate::webhooks::{events_for, Context};

/// Longest authorization code accepted (bytes).
pub const MAX_CODE: usize = 2048;
/// Longest `state` accepted (bytes; the host's own are 43).
pub const MAX_STATE: usize = 128;

/// `Ok` if `company` is one this host's demo portal lists (the demo's seeding).
pub fn known_company(state: &AppState, company: &str) -> Result<(), OpError> {
    state
        .config()
        .companies
        .get(company)
        .map(|_| ())
        .ok_or(OpError::UnknownCompany)
}

/// The provider's configuration the panel and `/start` use. UPS: validate-client once
/// (cached). A failure is "unavailable", unless the provider refused our client id (a
/// configuration problem the admin must fix).
pub async fn provider_config(state: &AppState) -> Result<ConfigResponse, OpError> {
    state.provider().public_config().await.map_err(|mut e| {
        if e.kind != ProviderErrorKind::InvalidClient {
            e.kind = ProviderErrorKind::Temporary;
        }
        OpError::Provider(e)
    })
}

/// SHA-256 of a state: the key its pending authorization is stored under.
fn state_hash(state: &str) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, state.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Start an opt-in for `company` on behalf of `user`: the authorize URL for the browser, the
/// marker the tab keeps; the state and verifier stay here, single use, for 10 minutes.
pub async fn start(
    state: &AppState,
    company: &str,
    user: &str,
    return_to: Option<&str>,
) -> Result<StartResponse, OpError> {
    let config = provider_config(state).await?;
    let mut entropy = zeroize::Zeroizing::new([0u8; 64]);
    rand::rngs::OsRng.fill_bytes(entropy.as_mut_slice());
    let now = state.now();
    let (url, pending) = PendingAuthorization::start(&config, &entropy, now, company, return_to)?;
    let marker = pending.marker();
    let expires_at = now.add(DEFAULT_MAX_AGE);
    let record = PendingRecord {
        state_hash: state_hash(pending.state().secret()),
        company: company.to_owned(),
        user: user.to_owned(),
        pending,
        expires_at,
    };
    state.store().put_pending(record, now).await?;
    tracing::info!(company, user, "authorization started");
    Ok(StartResponse {
        authorize_url: url.into(),
        pending: marker,
        expires_at,
    })
}

/// Check an exchange body's shape before anything is looked up.
pub fn validate_exchange(body: &ExchangeBody) -> Result<(), OpError> {
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
    // RFC 6749 §A.5: VSCHAR too; the host's own states are base64url.
    let s = body.state.as_bytes();
    if s.is_empty() || s.len() > MAX_STATE || !s.iter().all(|b| (0x21..=0x7e).contains(b)) {
        return Err(OpError::InvalidRequest(format!(
            "state must be 1-{MAX_STATE} printable ASCII characters"
        )));
    }
    Ok(())
}

/// Redeem the code of an authorization `user` started for `body.company`, store the pair
/// encrypted, append the record. A new opt-in supersedes any previous authorization of the
/// company. A state started by another user or for another company is refused (and left for
/// its owner); nothing is stored and no request leaves the host.
pub async fn exchange(
    state: &AppState,
    body: ExchangeBody,
    user: &str,
) -> Result<TokenRecord, OpError> {
    validate_exchange(&body)?;
    let now = state.now();
    let pending = match state
        .store()
        .take_pending(state_hash(&body.state), user, &body.company, now)
        .await?
    {
        PendingTake::Taken(p) => p,
        PendingTake::Missing => return Err(OpError::NoPendingAuthorization),
        PendingTake::Mismatch => return Err(OpError::StartedElsewhere),
        PendingTake::Expired => return Err(OpError::ExpiredAttempt),
    };
    // RFC 9207: a provider that says it names itself in the return must have done so.
    if let Some(expected) = &state.provider().config().expected_iss {
        if body.iss.as_deref() != Some(expected.as_str()) {
            tracing::warn!(
                company = body.company,
                "the return's iss is not the provider's (RFC 9207)"
            );
            return Err(OpError::Callback(
                token_manager_core::flow::CallbackError::StateMismatch,
            ));
        }
    }
    let params = CallbackParams {
        code: Some(AuthorizationCode::new(body.code)),
        state: Some(body.state),
        error: None,
        error_description: None,
        iss: body.iss,
    };
    let request = pending.handle_callback(params, now, DEFAULT_MAX_AGE)?;
    let grant = state
        .provider()
        .exchange_code(
            request.code.secret(),
            request.code_verifier.secret(),
            &request.redirect_uri,
            state.now(),
        )
        .await?;
    // OpenID Connect: an ID token that came back must carry the nonce this sign-in sent (and
    // be for us, from the issuer, unexpired). A provider that returns none is fine.
    if let (Some(id_token), Some(nonce)) = (&grant.id_token, &request.nonce) {
        let config = state.provider().config();
        check_id_token(
            id_token,
            &IdTokenExpectations {
                nonce,
                client_id: &config.client_id,
                issuer: config.issuer.as_deref(),
            },
            state.now(),
        )?;
    }
    let tokens = TokenPair {
        access: grant.access_token.clone(),
        refresh: grant.refresh_token.clone(),
    };
    let times = grant.times();
    let company = request.company;
    let _guard = state.locks().lock(&company).await;
    let policy = state.config().refresh_policy;
    // Retry on a concurrent change by another host process (each attempt re-reads the state).
    for attempt in 1..=3 {
        let now = state.now();
        let row = state.store().authorization(&company).await?;
        // Another admin's new opt-in replaces an active authorization: the portal hears it.
        let superseded = match (&row.state, &row.authorized_by) {
            (Authorization::Active { .. }, Some(previous)) if previous != user => {
                Some(previous.as_str())
            }
            _ => None,
        };
        let (next, actions) = row
            .state
            .clone()
            .handle(Event::Granted(times), now, &policy);
        let events = events_for(
            state.webhooks(),
            &company,
            &next,
            &actions,
            &Context {
                actor: Some(user),
                superseded,
                ..Context::default()
            },
            now,
        );
        let notify = !events.is_empty();
        let transition = Transition {
            company: company.clone(),
            revocation: None,
            expected_generation: Some(row.generation),
            lease_owner: None,
            next,
            actions: actions.clone(),
            tokens: Some(tokens.clone()),
            authorized_by: Some(user.to_owned()),
            actor: Some(user.to_owned()),
            now,
            events,
        };
        match state.store().commit(transition).await {
            Ok(done) => {
                if notify {
                    state.webhooks().wake();
                }
                // The demo portal's worker starts retrieving at once (a real portal's backend
                // hears `authorization.granted`).
                if actions.contains(&Action::Notify(EventType::Granted)) {
                    state.reports().kick();
                }
                tracing::info!(company, user, record = ?done.appended.as_ref().map(|r| r.id), "authorized");
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
