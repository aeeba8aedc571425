//! The server API for the portal's backend, mounted at `/api/v1`, authenticated with
//! `Authorization: Bearer <api key>` ([`ServerCaller`](crate::auth::ServerCaller)). Not for
//! browsers: it has no CORS and no cookies.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;

use crate::error::AppError;
use crate::state::AppState;

mod companies;
mod proxy;
mod sessions;
mod webhooks;

pub use proxy::{MAX_BODY as PROXY_MAX_BODY, REPLAYABLE as PROXY_REPLAYABLE};

/// The OpenAPI 3.1 document of the server API (kept by hand beside the code).
pub const OPENAPI_V1: &str = include_str!("../../../openapi-v1.json");

/// The server API router.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/sessions", post(sessions::create))
        .route("/companies", get(companies::list))
        .route("/companies/{company}", get(companies::get_one))
        .route(
            "/companies/{company}/access-token",
            post(companies::access_token),
        )
        .route("/companies/{company}/proxy/{*path}", any(proxy::forward))
        .route("/webhooks/deliveries", get(webhooks::list))
        .route(
            "/webhooks/deliveries/{id}/redeliver",
            post(webhooks::redeliver),
        )
        .route("/openapi.json", get(openapi))
        .fallback(|| async { AppError::NotFound })
        .method_not_allowed_fallback(|| async { AppError::MethodNotAllowed })
}

async fn openapi() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        OPENAPI_V1,
    )
        .into_response()
}
