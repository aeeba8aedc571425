//! # host-example
//!
//! The example Token Manager host: the confidential half of the opt-in flow. It holds the
//! client secret, exchanges authorization codes, keeps the tokens encrypted in SQLite, refreshes
//! them before they expire, retrieves data on the admin's behalf, and dissolves everything on
//! Clear. It also serves a demo portal around the widget and, with the default `mock` feature,
//! starts the mock UPS (crate `mock-ups`) on its own origin.
//!
//! ```text
//!  browser ── /, /exports, /admin/token-manager (pages) ─┐
//!          ── /assets/token-manager/* (widget package) ──┤   app(state) -> Router
//!          ── /api/optin/{config,exchange,tokens,        │     ├─ api      (thin handlers)
//!                         clear,status,openapi.json} ────┘     ├─ ops      (core events → actions)
//!                                                              ├─ store    (SQLite, AES-256-GCM)
//!  jobs: refresher (lease per company) · retrieval ────────────┤
//!                                                              └─ provider (oauth2 + reqwest) ──▶ UPS / mock UPS
//! ```
//!
//! Every rule (provider presets, token mapping, lifecycle, paging, error codes) comes from
//! `token-manager-core`; this crate only performs the IO those rules call for.
//! `main.rs` reads flags and binds; tests drive [`app`] with `tower::ServiceExt::oneshot`.

use std::time::Duration;

use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, HeaderValue, Method, Request, StatusCode};
use axum::response::IntoResponse;
use axum::{BoxError, Router};
use token_manager_core::{GrantTimes, Timestamp};
use tower::ServiceBuilder;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

pub mod api;
pub mod config;
pub mod crypto;
pub mod error;
pub mod jobs;
pub mod ops;
mod pages;
pub mod provider;
pub mod session;
pub mod state;
pub mod store;

pub use error::AppError;
pub use state::AppState;

/// The whole host as one router: API, pages, widget assets, and the cross-cutting layers
/// (per-request log line, request timeout, body limit, CORS, security headers).
pub fn app(state: AppState) -> Router {
    let config = state.config().clone();
    let mut api = api::router(&state);
    if !config.allowed_origins.is_empty() {
        let origins: Vec<HeaderValue> = config
            .allowed_origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        api = api.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_credentials(true)
                .allow_methods([Method::GET, Method::POST])
                .allow_headers([
                    header::CONTENT_TYPE,
                    HeaderName::from_static("x-token-manager"),
                ])
                .max_age(Duration::from_secs(600)),
        );
    }
    Router::new()
        .nest("/api/optin", api)
        .merge(pages::router(&state))
        .nest_service("/assets/token-manager", ServeDir::new(&config.static_dir))
        .fallback(|| async { (StatusCode::NOT_FOUND, "Not found") })
        .layer(DefaultBodyLimit::max(config.body_limit))
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(|e: BoxError| async move {
                    if e.is::<tower::timeout::error::Elapsed>() {
                        AppError::Timeout.into_response()
                    } else {
                        AppError::Internal(e.to_string()).into_response()
                    }
                }))
                .timeout(config.request_timeout),
        )
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(
            TraceLayer::new_for_http()
                // The path only: the query of the provider's redirect carries the code.
                .make_span_with(|request: &Request<_>| {
                    tracing::info_span!("http", method = %request.method(), path = %request.uri().path())
                })
                .on_request(())
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .with_state(state)
}

/// Start the refresher and the retrieval job; they stop when `shutdown` is cancelled.
pub fn spawn_jobs(
    state: &AppState,
    shutdown: &tokio_util::sync::CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    vec![
        tokio::spawn(jobs::run_refresher(state.clone(), shutdown.clone())),
        tokio::spawn(jobs::run_retrieval(state.clone(), shutdown.clone())),
    ]
}

/// Insert `count` synthetic past history rows (status `refreshed`, one every four hours,
/// ending before now) for `company` if it has no history yet; returns how many were inserted.
pub async fn seed_history(state: &AppState, company: &str, count: u32) -> Result<usize, AppError> {
    if state.config().companies.get(company).is_none() {
        return Err(AppError::UnknownCompany);
    }
    const STEP: i64 = 4 * 3_600_000;
    let now = state.now();
    let rows: Vec<GrantTimes> = (0..i64::from(count))
        .map(|i| {
            let created = Timestamp(now.0 - (i64::from(count) - i) * STEP);
            GrantTimes {
                token_created: created,
                token_expires: created.add(Duration::from_secs(14_399)),
                refresh_created: Some(created),
                refresh_expires: Some(created.add(Duration::from_secs(5_183_999))),
            }
        })
        .collect();
    let company = company.to_owned();
    Ok(state
        .db(move |s| s.seed_history(&company, &rows, session::DEMO_USER))
        .await?)
}
