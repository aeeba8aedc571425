//! # host-example
//!
//! The example Token Manager host: the confidential half of the opt-in flow. It holds the
//! client secret, exchanges authorization codes, keeps the tokens encrypted in SQLite, refreshes
//! them before they expire, lets the portal's backend use them (access-token API, provider
//! proxy) and tells it of every change (signed webhooks from a durable outbox), and dissolves
//! everything on Clear. It also serves a demo portal around the widget and, with the default `mock` feature,
//! starts the mock UPS (crate `mock-ups`) on its own origin.
//!
//! ```text
//!  browser ── /, /exports, /admin/token-manager (pages/) ─┐
//!          ── /assets/token-manager/* (widget package) ───┤   app(state) -> Router
//!          ── /api/optin/{config,exchange,tokens,         │     ├─ http/   (layers, csrf, limits)
//!                         clear,status,openapi.json} ─────┘     ├─ api/    (thin handlers, auth/)
//!                                                               ├─ ops/    (core events → actions)
//!                                                               ├─ store/  (SQLite, AES-256-GCM)
//!  jobs/: refresher (lease per company) · webhook sender ───────┤
//!                                                               └─ provider/ (oauth2 + reqwest) ──▶ UPS / mock UPS
//! ```
//!
//! Every rule (provider presets, token mapping, lifecycle, paging, error codes) comes from
//! `token-manager-core`; this crate only performs the IO those rules call for. `main.rs` turns
//! flags into [`settings::Settings`] and hands them to [`startup::Application`], which tests use
//! too; router tests drive [`app`] with `tower::ServiceExt::oneshot`.

use axum::http::StatusCode;
use axum::Router;
use tower_http::services::ServeDir;

pub mod access;
pub mod api;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod error;
pub mod http;
pub mod jobs;
pub mod locks;
pub mod ops;
mod pages;
pub mod provider;
pub mod reports;
pub mod sessions;
pub mod settings;
pub mod startup;
pub mod state;
pub mod store;
pub mod tokens;
pub mod webhooks;

pub use error::AppError;
pub use pages::worker::DemoWorker;
pub use state::AppState;

/// The whole host as one router: API, pages, widget assets, and the cross-cutting layers
/// (per-request log line, error log, request timeout, body limit, CORS, security headers).
pub fn app(state: AppState) -> Router {
    let config = state.config().clone();
    // API answers carry state and credentials: never stored by a cache (handlers that set a
    // Cache-Control of their own keep it).
    let no_store = || {
        tower_http::set_header::SetResponseHeaderLayer::if_not_present(
            axum::http::header::CACHE_CONTROL,
            axum::http::HeaderValue::from_static("no-store"),
        )
    };
    let api = http::with_cors(api::widget::router(&state), &config).layer(no_store());
    let router = Router::new()
        .nest("/api/optin", api)
        .nest("/api/v1", api::v1::router().layer(no_store()))
        .merge(pages::router(&state))
        .nest_service("/assets/token-manager", ServeDir::new(&config.static_dir))
        .fallback(|| async { (StatusCode::NOT_FOUND, "Not found") });
    http::around(router, &config).with_state(state)
}
