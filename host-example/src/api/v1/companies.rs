//! `GET /api/v1/companies[/{company}]` and `POST /api/v1/companies/{company}/access-token`:
//! what the portal's backend reads about an authorization, and the token it may use.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use token_manager_core::{AuthorizationStatus, Timestamp};

use crate::auth::ServerCaller;
use crate::error::AppError;
use crate::http::extract::{ApiPath, ApiQuery};
use crate::ops;
use crate::state::AppState;
use crate::store::AuthRow;

/// Largest `per_page`.
pub(super) const MAX_PER_PAGE: u32 = 100;

/// One company's authorization, never a token.
#[derive(Debug, Serialize)]
pub(super) struct CompanyView {
    company: String,
    status: AuthorizationStatus,
    since: Option<Timestamp>,
    reason: Option<String>,
    token_expires: Option<Timestamp>,
    refresh_expires: Option<Timestamp>,
    authorized_by: Option<String>,
    cleared_by: Option<String>,
}

impl From<AuthRow> for CompanyView {
    fn from(row: AuthRow) -> Self {
        let times = row.state.times();
        Self {
            status: row.state.status(),
            since: row.state.since(),
            reason: row.state.reason().map(str::to_owned),
            token_expires: times.map(|t| t.token_expires),
            refresh_expires: times.and_then(|t| t.refresh_expires),
            authorized_by: row.authorized_by,
            cleared_by: row.cleared_by,
            company: row.company,
        }
    }
}

/// Validate a company id from the path (the same rule sessions use).
pub(super) fn company_id(id: &str) -> Result<(), AppError> {
    if ops::company_id_ok(id) {
        Ok(())
    } else {
        Err(AppError::InvalidRequest(
            "the company id must be 1-64 characters of a-z, 0-9, '-' or '_'".into(),
        ))
    }
}

pub(super) async fn get_one(
    State(state): State<AppState>,
    _caller: ServerCaller,
    ApiPath(company): ApiPath<String>,
) -> Result<Json<CompanyView>, AppError> {
    company_id(&company)?;
    let row = state.store().authorization(&company).await?;
    Ok(Json(row.into()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    #[serde(default)]
    status: Option<AuthorizationStatus>,
    #[serde(default)]
    page: Option<u32>,
    #[serde(default)]
    per_page: Option<u32>,
}

#[derive(Debug, Serialize)]
pub(super) struct CompanyList {
    companies: Vec<CompanyView>,
    page: u32,
    per_page: u32,
    total: u64,
}

/// Parse `page` (1-based) and `per_page` (1-100, default 50).
pub(super) fn paging(page: Option<u32>, per_page: Option<u32>) -> Result<(u32, u32), AppError> {
    let page = page.unwrap_or(1);
    let per_page = per_page.unwrap_or(50);
    if page == 0 || per_page == 0 || per_page > MAX_PER_PAGE {
        return Err(AppError::InvalidRequest(format!(
            "page starts at 1 and per_page is 1-{MAX_PER_PAGE}"
        )));
    }
    Ok((page, per_page))
}

pub(super) async fn list(
    State(state): State<AppState>,
    _caller: ServerCaller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<CompanyList>, AppError> {
    let (page, per_page) = paging(q.page, q.per_page)?;
    let offset = u64::from(page - 1) * u64::from(per_page);
    let found = state
        .store()
        .list_authorizations(q.status, offset, per_page)
        .await?;
    Ok(Json(CompanyList {
        companies: found.rows.into_iter().map(CompanyView::from).collect(),
        page,
        per_page,
        total: found.total,
    }))
}

#[derive(Debug, Serialize)]
struct AccessTokenView {
    access_token: String,
    token_type: &'static str,
    expires_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
}

pub(super) async fn access_token(
    State(state): State<AppState>,
    caller: ServerCaller,
    ApiPath(company): ApiPath<String>,
) -> Result<Response, AppError> {
    company_id(&company)?;
    let handout = ops::access_token(&state, &company, &caller.key_id.0).await?;
    let scope = Some(state.provider().config().scope.clone()).filter(|s| !s.is_empty());
    let body = AccessTokenView {
        access_token: handout.access_token.secret().clone(),
        token_type: "Bearer",
        expires_at: handout.expires_at,
        scope,
    };
    // A credential: never stored by a cache (RFC 6749 §5.1).
    Ok((
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        Json(body),
    )
        .into_response())
}
