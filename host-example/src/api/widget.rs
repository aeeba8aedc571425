//! The widget ↔ host API, mounted at `/api/optin`: `config`, `exchange`, `tokens`, `clear`,
//! `status` and the OpenAPI document. Thin handlers over [`crate::ops`] and the store; the rules
//! live in core.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use token_manager_core::api::{
    ClearBody, ClearResponse, ConfigResponse, ExchangeBody, ExchangeResponse, StatusResponse,
    TokensQuery, TokensResponse,
};
use token_manager_core::ProviderErrorKind;

use super::OPENAPI;
use crate::auth::SessionUser;
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

/// The API router (state-changing routes behind the CSRF check, `/exchange` rate-limited).
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/config", get(config))
        .route(
            "/exchange",
            post(exchange).layer(middleware::from_fn_with_state(
                state.clone(),
                rate_limit::exchange,
            )),
        )
        .route("/tokens", get(tokens))
        .route("/clear", post(clear))
        .route("/status", get(status))
        .route("/openapi.json", get(openapi))
        .fallback(|| async { AppError::NotFound })
        .method_not_allowed_fallback(|| async { AppError::MethodNotAllowed })
        .layer(middleware::from_fn_with_state(state.clone(), csrf::csrf))
}

async fn config(
    State(state): State<AppState>,
    _user: SessionUser,
    ApiQuery(q): ApiQuery<CompanyQuery>,
) -> Result<Json<ConfigResponse>, AppError> {
    ops::known_company(&state, &q.company)?;
    let config = state.provider().public_config().await.map_err(|mut e| {
        // Without the provider's sign-in page the panel cannot start: "unavailable", unless the
        // provider refused our client id (a configuration problem the admin must fix).
        if e.kind != ProviderErrorKind::InvalidClient {
            e.kind = ProviderErrorKind::Temporary;
        }
        AppError::from(e)
    })?;
    Ok(Json(config))
}

async fn exchange(
    State(state): State<AppState>,
    user: SessionUser,
    ApiJson(body): ApiJson<ExchangeBody>,
) -> Result<(StatusCode, Json<ExchangeResponse>), AppError> {
    // Run to completion even if the client goes away or the request deadline passes: once the
    // provider has answered, the code is spent and the pair must be stored.
    let user = user.session.user;
    let record = tokio::spawn(async move { ops::exchange(&state, body, &user).await }).await??;
    Ok((StatusCode::CREATED, Json(ExchangeResponse { record })))
}

async fn tokens(
    State(state): State<AppState>,
    _user: SessionUser,
    ApiQuery(q): ApiQuery<TokensQuery>,
) -> Result<Json<TokensResponse>, AppError> {
    ops::known_company(&state, &q.company)?;
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
    }))
}

async fn clear(
    State(state): State<AppState>,
    _user: SessionUser,
    ApiJson(body): ApiJson<ClearBody>,
) -> Result<Json<ClearResponse>, AppError> {
    ops::known_company(&state, &body.company)?;
    // Clear always finishes what it started (stop, revoke, wipe), whatever the client does.
    let cleared = tokio::spawn(async move { ops::clear(&state, &body.company).await }).await??;
    Ok(Json(cleared))
}

async fn status(
    State(state): State<AppState>,
    _user: SessionUser,
    ApiQuery(q): ApiQuery<CompanyQuery>,
) -> Result<Json<StatusResponse>, AppError> {
    ops::known_company(&state, &q.company)?;
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
