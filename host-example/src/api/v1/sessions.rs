//! `POST /api/v1/sessions`: the portal's backend vouches for a signed-in user and gets a
//! short-lived session token to hand to the browser.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use token_manager_core::Timestamp;

use crate::access::Role;
use crate::auth::ServerCaller;
use crate::error::AppError;
use crate::http::extract::ApiJson;
use crate::ops::{self, SessionRequest};
use crate::state::AppState;

/// The request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateSession {
    user: User,
    companies: Vec<Company>,
    #[serde(default)]
    ttl_secs: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct User {
    id: String,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Company {
    id: String,
    #[serde(default)]
    name: Option<String>,
    role: Role,
}

/// `201` answer.
#[derive(Debug, Serialize)]
pub(super) struct SessionCreated {
    session_token: String,
    expires_at: Timestamp,
}

pub(super) async fn create(
    State(state): State<AppState>,
    caller: ServerCaller,
    ApiJson(body): ApiJson<CreateSession>,
) -> Result<(StatusCode, Json<SessionCreated>), AppError> {
    let request = SessionRequest {
        user_name: body.user.name.unwrap_or_else(|| body.user.id.clone()),
        user_id: body.user.id,
        companies: body
            .companies
            .into_iter()
            .map(|c| {
                let name = c.name.unwrap_or_else(|| c.id.clone());
                (c.id, name, c.role)
            })
            .collect(),
        ttl: body.ttl_secs.map_or(ops::DEFAULT_TTL, Duration::from_secs),
    };
    let minted = ops::mint_session(&state, request, caller.key_id).await?;
    Ok((
        StatusCode::CREATED,
        Json(SessionCreated {
            session_token: minted.token,
            expires_at: minted.expires_at,
        }),
    ))
}
