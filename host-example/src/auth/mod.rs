//! Who is calling: the portal session carried by the `tm_session` cookie (HttpOnly,
//! SameSite=Strict). The widget API requires one; the demo portal creates one on first visit.
//!
//! The extractor is generic over the router's state: it needs only the session table, which
//! any state provides through [`FromRef`], so this module does not depend on the host's
//! state.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;

use crate::error::AppError;
use crate::sessions::{Session, Sessions};

pub mod cookie;

/// Extractor: the request's portal session, or 401 `unauthenticated`.
#[derive(Debug, Clone)]
pub struct SessionUser {
    /// Session id.
    pub id: String,
    /// The session.
    pub session: Session,
}

impl<S> FromRequestParts<S> for SessionUser
where
    S: Send + Sync,
    Arc<Sessions>: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let id = cookie::session_id(&parts.headers).ok_or(AppError::Unauthenticated)?;
        let sessions = Arc::<Sessions>::from_ref(state);
        let session = sessions.get(id).ok_or(AppError::Unauthenticated)?;
        Ok(Self {
            id: id.to_owned(),
            session,
        })
    }
}
