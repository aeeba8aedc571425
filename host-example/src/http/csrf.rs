//! The CSRF check of the widget API.

use axum::extract::{Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use token_manager_core::api::CSRF_HEADER;

use crate::error::AppError;
use crate::state::AppState;

/// State-changing requests need `X-Token-Manager: 1` and, when the browser sends an
/// `Origin`, one of ours (the public origin or an allowed one).
pub async fn csrf(State(state): State<AppState>, request: Request, next: Next) -> Response {
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
