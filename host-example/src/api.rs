//! The widget ↔ host API (DESIGN §3), mounted at `/api/optin`. Thin handlers over
//! [`crate::ops`] and the store; the rules live in core.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use token_manager_core::api::{
    ClearBody, ClearResponse, ConfigResponse, ExchangeBody, ExchangeResponse, StatusResponse,
    TokensQuery, TokensResponse, CSRF_HEADER,
};
use token_manager_core::ProviderErrorKind;

use crate::error::AppError;
use crate::ops;
use crate::session::SessionUser;
use crate::state::AppState;

/// The OpenAPI 3.1 document of this API (kept by hand beside the code).
pub const OPENAPI: &str = include_str!("../openapi.json");

/// JSON body extractor whose rejections are [`AppError`]s.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(AppError))]
pub struct ApiJson<T>(pub T);

/// Query extractor whose rejections are [`AppError`]s.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(AppError))]
pub struct ApiQuery<T>(pub T);

/// `?company=`.
#[derive(Debug, Deserialize)]
pub struct CompanyQuery {
    /// Company id.
    pub company: String,
}

/// The API router (state-changing routes behind the CSRF check, `/exchange` rate-limited).
pub(crate) fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/config", get(config))
        .route(
            "/exchange",
            post(exchange).layer(middleware::from_fn_with_state(state.clone(), rate_limit)),
        )
        .route("/tokens", get(tokens))
        .route("/clear", post(clear))
        .route("/status", get(status))
        .route("/openapi.json", get(openapi))
        .fallback(|| async { AppError::NotFound })
        .method_not_allowed_fallback(|| async { AppError::MethodNotAllowed })
        .layer(middleware::from_fn_with_state(state.clone(), csrf))
}

fn known(state: &AppState, company: &str) -> Result<(), AppError> {
    state
        .config()
        .companies
        .get(company)
        .map(|_| ())
        .ok_or(AppError::UnknownCompany)
}

async fn config(
    State(state): State<AppState>,
    _user: SessionUser,
    ApiQuery(q): ApiQuery<CompanyQuery>,
) -> Result<Json<ConfigResponse>, AppError> {
    known(&state, &q.company)?;
    let config = state.provider().public_config().await.map_err(|mut e| {
        // Without the provider's sign-in page the panel cannot start: "unavailable", unless the
        // provider refused our client id (a configuration problem the admin must fix).
        if e.kind != ProviderErrorKind::InvalidClient {
            e.kind = ProviderErrorKind::Temporary;
        }
        AppError::Provider(e)
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
    known(&state, &q.company)?;
    let company = q.company.clone();
    let (row, page) = state
        .db(move |s| {
            let row = s.authorization(&company)?;
            let page = s.history_page(&company, q.page, q.per_page)?;
            Ok((row, page))
        })
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
    known(&state, &body.company)?;
    // Clear always finishes what it started (stop, revoke, wipe), whatever the client does.
    let cleared = tokio::spawn(async move { ops::clear(&state, &body.company).await }).await??;
    Ok(Json(cleared))
}

async fn status(
    State(state): State<AppState>,
    _user: SessionUser,
    ApiQuery(q): ApiQuery<CompanyQuery>,
) -> Result<Json<StatusResponse>, AppError> {
    known(&state, &q.company)?;
    let row = state.db(move |s| s.authorization(&q.company)).await?;
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

/// State-changing requests need `X-Token-Manager: 1` and, when the browser sends an
/// `Origin`, one of ours (the public origin or an allowed one).
async fn csrf(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    let headers = request.headers();
    if headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()) != Some("1") {
        return AppError::Csrf("missing or wrong X-Token-Manager header").into_response();
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or_default();
        let config = state.config();
        if origin != config.public_origin() && !config.allowed_origins.iter().any(|o| o == origin) {
            return AppError::Csrf("foreign Origin").into_response();
        }
    }
    next.run(request).await
}

/// Per-IP rate limit on `/exchange` (the peer address; proxies' headers are not trusted).
async fn rate_limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |c| c.0.ip());
    if !state.allow_exchange(ip) {
        return AppError::RateLimited.into_response();
    }
    next.run(request).await
}
