//! Cross-cutting HTTP: the layers around every route (request log line, error log, request
//! deadline, body limit, security headers), CORS for the widget API, the CSRF check, the
//! exchange rate limit, and extractors whose rejections are [`AppError`]s.

use std::net::SocketAddr;
use std::time::Duration;

use axum::error_handling::HandleErrorLayer;
use axum::extract::ConnectInfo;
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, HeaderValue, Method, Request};
use axum::response::IntoResponse;
use axum::{middleware, BoxError, Router};
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::ServiceBuilder;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::config::HostConfig;
use crate::error::{log_errors, AppError};

pub mod client_addr;
pub mod csrf;
pub mod extract;
pub mod rate_limit;
pub mod serve;

/// CORS for the widget API when other origins may call it (with credentials).
pub fn with_cors<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    config: &HostConfig,
) -> Router<S> {
    if config.allowed_origins.is_empty() {
        return router;
    }
    let origins: Vec<HeaderValue> = config
        .allowed_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    router.layer(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_credentials(true)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("x-token-manager"),
            ])
            .max_age(Duration::from_secs(600)),
    )
}

/// The layers around the whole host, outermost last: body limit, request deadline (504),
/// the global limit of requests in flight (503 with `Retry-After` beyond it, shed at once
/// rather than queued), security headers, error log, per-request log line.
pub fn around<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    config: &HostConfig,
) -> Router<S> {
    let trusted = std::sync::Arc::new(config.trusted_proxies.clone());
    router
        .layer(DefaultBodyLimit::max(config.body_limit))
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(|e: BoxError| async move {
                    if e.is::<tower::timeout::error::Elapsed>() {
                        AppError::Timeout.into_response()
                    } else {
                        AppError::Internal(e).into_response()
                    }
                }))
                .timeout(config.request_timeout),
        )
        // One semaphore for every route (a plain `ConcurrencyLimitLayer` would give each route
        // its own), shed when full.
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(|e: BoxError| async move {
                    if e.is::<tower::load_shed::error::Overloaded>() {
                        AppError::Overloaded.into_response()
                    } else {
                        AppError::Internal(e).into_response()
                    }
                }))
                .load_shed()
                .layer(GlobalConcurrencyLimitLayer::new(config.max_in_flight.max(1))),
        )
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(middleware::from_fn(log_errors))
        .layer(
            TraceLayer::new_for_http()
                // The path only: the query of the provider's redirect carries the code. The
                // client's address as far as the trusted proxies vouch for it.
                .make_span_with(move |request: &Request<_>| {
                    let client = request
                        .extensions()
                        .get::<ConnectInfo<SocketAddr>>()
                        .map(|peer| client_addr::client_ip(peer.0.ip(), request.headers(), &trusted));
                    match client {
                        Some(client) => tracing::info_span!("http", method = %request.method(), path = %request.uri().path(), %client),
                        None => tracing::info_span!("http", method = %request.method(), path = %request.uri().path()),
                    }
                })
                .on_request(())
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
}
