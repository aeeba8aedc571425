//! The widget ↔ host API, mounted at `/api/optin`: `config`, `start`, `exchange`, `tokens`,
//! `clear`, `status` and the OpenAPI document.
//!
//! Every call carries the session token the portal's backend minted (`Authorization: Bearer`,
//! see [`Caller`]) and names a company the session may see; authorizing and clearing need the
//! `admin` role there. A company outside the session, or one that does not exist, is refused
//! the same way (403 `forbidden`). Thin handlers over [`crate::ops`] and the store; the rules
//! live in core.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use token_manager_core::api::{
    ClearBody, ClearResponse, ConfigResponse, ExchangeBody, ExchangeResponse, StartBody,
    StartResponse, StatusResponse, TokensQuery, TokensResponse,
};

use super::OPENAPI;
use crate::access::{Permission, Role};
use crate::auth::Caller;
use crate::error::AppError;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::http::{csrf, rate_limit};
use crate::ops;
use crate::state::AppState;
use crate::store::HistoryView;

/// `?company=`.
#[derive(Debug, Deserialize)]
pub struct CompanyQuery {
    /// Company id.
    pub company: String,
}

/// The API router (state-changing routes behind the CSRF check; `/start` and `/exchange`
/// rate-limited per user and company, once authorized).
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/config", get(config))
        .route("/start", post(start))
        .route("/exchange", post(exchange))
        .route("/tokens", get(tokens))
        .route("/clear", post(clear))
        .route("/status", get(status))
        .route("/openapi.json", get(openapi))
        .fallback(|| async { AppError::NotFound })
        .method_not_allowed_fallback(|| async { AppError::MethodNotAllowed })
        .layer(middleware::from_fn_with_state(state.clone(), csrf::csrf))
}

/// `Ok(role)` when the caller may do `permission` for `company`; 403 otherwise.
fn authorize(caller: &Caller, company: &str, permission: Permission) -> Result<Role, AppError> {
    caller
        .0
        .authorize(company, permission)
        .map_err(|_| AppError::Forbidden)
}

async fn config(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<CompanyQuery>,
) -> Result<Json<ConfigResponse>, AppError> {
    authorize(&caller, &q.company, Permission::Read)?;
    Ok(Json(ops::provider_config(&state).await?))
}

async fn start(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<StartBody>,
) -> Result<Json<StartResponse>, AppError> {
    authorize(&caller, &body.company, Permission::Manage)?;
    rate_limit::opt_in(&state, caller.0.user(), &body.company)?;
    let started = ops::start(
        &state,
        &body.company,
        caller.0.user(),
        body.return_to.as_deref(),
    )
    .await?;
    Ok(Json(started))
}

async fn exchange(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<ExchangeBody>,
) -> Result<(StatusCode, Json<ExchangeResponse>), AppError> {
    authorize(&caller, &body.company, Permission::Manage)?;
    rate_limit::opt_in(&state, caller.0.user(), &body.company)?;
    // Run to completion even if the client goes away or the request deadline passes: once the
    // provider has answered, the code is spent and the pair must be stored.
    let user = caller.0.user().to_owned();
    let record = tokio::spawn(async move { ops::exchange(&state, body, &user).await }).await??;
    Ok((StatusCode::CREATED, Json(ExchangeResponse { record })))
}

async fn tokens(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<TokensQuery>,
) -> Result<Json<TokensResponse>, AppError> {
    let role = authorize(&caller, &q.company, Permission::Read)?;
    let HistoryView { row, page } = state
        .store()
        .history_view(&q.company, q.page, q.per_page)
        .await?;
    let now = state.now();
    Ok(Json(TokensResponse {
        status: row.state.status(),
        rows: page.rows.iter().map(|r| r.at(now)).collect(),
        total: page.window.total,
        page: page.window.page,
        per_page: page.window.per_page,
        can_manage: role.allows(Permission::Manage),
    }))
}

async fn clear(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<ClearBody>,
) -> Result<Json<ClearResponse>, AppError> {
    authorize(&caller, &body.company, Permission::Manage)?;
    // Clear always finishes what it started (stop, revoke, wipe), whatever the client does.
    let user = caller.0.user().to_owned();
    let cleared =
        tokio::spawn(async move { ops::clear(&state, &body.company, &user).await }).await??;
    Ok(Json(cleared))
}

async fn status(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<CompanyQuery>,
) -> Result<Json<StatusResponse>, AppError> {
    authorize(&caller, &q.company, Permission::Read)?;
    let row = state.store().authorization(&q.company).await?;
    Ok(Json(row.state.status_response()))
}

async fn openapi() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        OPENAPI,
    )
        .into_response()
}
