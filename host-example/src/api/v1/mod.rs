//! The server API for the portal's backend, mounted at `/api/v1`, authenticated with
//! `Authorization: Bearer <api key>` ([`ServerCaller`](crate::auth::ServerCaller)). Not for
//! browsers: it has no CORS and no cookies.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::error::AppError;
use crate::state::AppState;

mod sessions;

/// The OpenAPI 3.1 document of the server API (kept by hand beside the code).
pub const OPENAPI_V1: &str = include_str!("../../../openapi-v1.json");

/// The server API router.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/sessions", post(sessions::create))
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
