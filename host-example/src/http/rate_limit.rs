//! The exchange rate limit.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::AppError;
use crate::state::AppState;

/// Per-IP rate limit on `/exchange` (the peer address; proxies' headers are not trusted).
pub async fn exchange(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |c| c.0.ip());
    if !state.allow_exchange(ip) {
        return AppError::RateLimited.into_response();
    }
    next.run(request).await
}
