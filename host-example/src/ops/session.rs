//! Minting a session for a portal user: the companies it names are created (or renamed) on
//! first use, and the token says who the user is and what they may do where.

use std::time::Duration;

use token_manager_core::Timestamp;

use super::OpError;
use crate::access::{
    CompanyGrant, KeyId, Role, SessionClaims, MAX_SESSION_COMPANIES, MAX_TTL, MIN_TTL,
};
use crate::config::MAX_COMPANY_ID;
use crate::state::AppState;

/// Longest user id accepted.
pub const MAX_USER_ID: usize = 128;
/// Longest display name (user or company) accepted.
pub const MAX_NAME: usize = 200;
/// The session lifetime when the portal names none.
pub const DEFAULT_TTL: Duration = Duration::from_secs(900);

/// What the portal vouches for.
#[derive(Debug, Clone)]
pub struct SessionRequest {
    /// The portal's user id.
    pub user_id: String,
    /// The user's display name.
    pub user_name: String,
    /// (id, display name, role) per company.
    pub companies: Vec<(String, String, Role)>,
    /// How long the token lives.
    pub ttl: Duration,
}

/// A minted session.
#[derive(Debug, Clone)]
pub struct MintedSession {
    /// The token for the browser (opaque to it).
    pub token: String,
    /// When it stops being accepted.
    pub expires_at: Timestamp,
}

fn printable(s: &str, max: usize) -> bool {
    !s.trim().is_empty() && s.chars().count() <= max && !s.chars().any(char::is_control)
}

/// Whether `id` is a company id the host accepts: 1-64 characters of a-z, 0-9, `-` or `_`.
pub fn company_id_ok(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_COMPANY_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

impl SessionRequest {
    /// Check every field; the message says which one is wrong.
    pub fn validate(&self) -> Result<(), OpError> {
        let bad = |why: String| Err(OpError::InvalidRequest(why));
        if !printable(&self.user_id, MAX_USER_ID) {
            return bad(format!(
                "user.id must be 1-{MAX_USER_ID} printable characters"
            ));
        }
        if !printable(&self.user_name, MAX_NAME) {
            return bad(format!(
                "user.name must be 1-{MAX_NAME} printable characters"
            ));
        }
        if self.companies.is_empty() || self.companies.len() > MAX_SESSION_COMPANIES {
            return bad(format!(
                "companies must list 1-{MAX_SESSION_COMPANIES} companies"
            ));
        }
        for (i, (id, name, _)) in self.companies.iter().enumerate() {
            if !company_id_ok(id) {
                return bad(format!(
                    "companies[{i}].id must be 1-{MAX_COMPANY_ID} characters of a-z, 0-9, '-' or '_'"
                ));
            }
            if !printable(name, MAX_NAME) {
                return bad(format!(
                    "companies[{i}].name must be 1-{MAX_NAME} printable characters"
                ));
            }
            if self.companies[..i].iter().any(|(other, _, _)| other == id) {
                return bad(format!("companies[{i}].id {id:?} is listed twice"));
            }
        }
        if !(MIN_TTL..=MAX_TTL).contains(&self.ttl) {
            return bad(format!(
                "ttl_secs must be {}-{}",
                MIN_TTL.as_secs(),
                MAX_TTL.as_secs()
            ));
        }
        Ok(())
    }
}

/// Mint a session token for `request`, on behalf of the API key `key_id`.
pub async fn mint_session(
    state: &AppState,
    request: SessionRequest,
    key_id: KeyId,
) -> Result<MintedSession, OpError> {
    request.validate()?;
    let now = state.now();
    state
        .store()
        .upsert_companies(
            request
                .companies
                .iter()
                .map(|(id, name, _)| (id.clone(), name.trim().to_owned()))
                .collect(),
            now,
        )
        .await?;
    let claims = SessionClaims {
        user: request.user_id.trim().to_owned(),
        name: request.user_name.trim().to_owned(),
        companies: request
            .companies
            .into_iter()
            .map(|(id, _, role)| CompanyGrant { id, role })
            .collect(),
        issued_at: now,
        expires_at: now.add(request.ttl),
        key_id,
    };
    let token = state.access().sessions.mint(&claims);
    tracing::info!(user = claims.user, key = %claims.key_id, companies = claims.companies.len(), "session minted");
    Ok(MintedSession {
        token,
        expires_at: claims.expires_at,
    })
}
