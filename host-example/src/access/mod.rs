//! Who may do what: the portal backend's API keys, the short-lived session tokens it mints for
//! its users, and the [`Principal`] a token stands for, with its per-company [`Role`]s.
//!
//! ```text
//!  portal backend ── Authorization: Bearer <api key> ──▶ POST /api/v1/sessions
//!        │              (ApiKeys::verify, constant time)      │ SessionSigner::mint
//!        ▼                                                    ▼
//!  browser: <token-manager session-token="tms1.…">  ◀── {"session_token", "expires_at"}
//!        │
//!        └── Authorization: Bearer <session token> ──▶ /api/optin/*  SessionSigner::verify
//!                                                     → Principal::authorize(company, Permission)
//! ```
//!
//! Plain data and checks: no HTTP here (the extractors are in `crate::auth`).

mod api_keys;
mod session_token;

pub use api_keys::{ApiKeyError, ApiKeys, ApiKeysSource, KeyId, API_KEY_ENV};
pub use session_token::{
    CompanyGrant, SessionClaims, SessionSigner, TokenError, MAX_SESSION_COMPANIES,
    MAX_SESSION_TOKEN, MAX_TTL, MIN_TTL,
};

use serde::{Deserialize, Serialize};

/// What a session may do for one company.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Read the history and status, authorize, clear.
    Admin,
    /// Read the history and status.
    Viewer,
}

/// What a request wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Read the history, status and provider configuration.
    Read,
    /// Authorize (start, exchange) or clear.
    Manage,
}

impl Role {
    /// Does this role allow `permission`?
    pub fn allows(self, permission: Permission) -> bool {
        match (self, permission) {
            (Role::Admin, _) | (Role::Viewer, Permission::Read) => true,
            (Role::Viewer, Permission::Manage) => false,
        }
    }
}

/// The portal user a verified session token stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The verified claims.
    pub claims: SessionClaims,
}

/// Refused: the company is not one of the session's, or its role does not allow this. An
/// unknown company is refused the same way, so a session cannot probe which ids exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this session may not do that for this company")]
pub struct Forbidden;

impl Principal {
    /// The portal user's id (recorded as `authorized_by` / `cleared_by`).
    pub fn user(&self) -> &str {
        &self.claims.user
    }

    /// The session's role for `company`, if it names it.
    pub fn role(&self, company: &str) -> Option<Role> {
        self.claims
            .companies
            .iter()
            .find(|c| c.id == company)
            .map(|c| c.role)
    }

    /// `Ok(role)` when the session may do `permission` for `company`.
    pub fn authorize(&self, company: &str, permission: Permission) -> Result<Role, Forbidden> {
        match self.role(company) {
            Some(role) if role.allows(permission) => Ok(role),
            _ => Err(Forbidden),
        }
    }
}

/// The keys the host checks callers with: API keys for the portal backend, the session-token
/// signer for the browser.
#[derive(Debug)]
pub struct Access {
    /// The portal backend's API keys.
    pub api_keys: ApiKeys,
    /// Mints and verifies session tokens.
    pub sessions: SessionSigner,
}

#[cfg(test)]
mod tests {
    use super::*;
    use token_manager_core::Timestamp;

    fn principal(companies: &[(&str, Role)]) -> Principal {
        Principal {
            claims: SessionClaims {
                user: "ada".into(),
                name: "Ada Admin".into(),
                companies: companies
                    .iter()
                    .map(|(id, role)| CompanyGrant {
                        id: (*id).into(),
                        role: *role,
                    })
                    .collect(),
                issued_at: Timestamp(0),
                expires_at: Timestamp(1),
                key_id: KeyId("k".into()),
            },
        }
    }

    #[test]
    fn admins_manage_viewers_read_strangers_nothing() {
        let p = principal(&[("demo-co", Role::Admin), ("acme", Role::Viewer)]);
        assert_eq!(p.authorize("demo-co", Permission::Manage), Ok(Role::Admin));
        assert_eq!(p.authorize("demo-co", Permission::Read), Ok(Role::Admin));
        assert_eq!(p.authorize("acme", Permission::Read), Ok(Role::Viewer));
        assert_eq!(p.authorize("acme", Permission::Manage), Err(Forbidden));
        // Another company, or one that does not exist: the same refusal.
        assert_eq!(p.authorize("globex", Permission::Read), Err(Forbidden));
        assert_eq!(p.authorize("", Permission::Read), Err(Forbidden));
        assert_eq!(p.user(), "ada");
    }
}
