//! The one mapping from failures to HTTP.
//!
//! Every handler returns `Result<_, AppError>`. The client gets a stable [`ErrorCode`] and a
//! plain message in [`ApiErrorBody`] (`{"error":{"code","message"}}`); the error itself, with
//! its chain of sources, rides in the response's extensions to [`log_errors`], the middleware
//! that logs it exactly once. No error here carries a secret (token types redact; provider
//! text is bounded by core).

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use token_manager_core::api::{ApiError, ApiErrorBody};
use token_manager_core::flow::StartError;
use token_manager_core::lifecycle::Refusal;
use token_manager_core::{ErrorCode, ProviderError, ProviderErrorKind};

use crate::ops::OpError;
use crate::store::StoreError;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// The request is malformed (sizes, charset, fields); the text says what is wrong.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The body is larger than the limit.
    #[error("request body too large")]
    PayloadTooLarge,
    /// The body is not `application/json`.
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    /// Missing/wrong CSRF header or a foreign `Origin`.
    #[error("csrf check failed: {0}")]
    Csrf(&'static str),
    /// No valid credentials: no, an expired, forged or tampered session token (widget API), or
    /// no or a wrong API key (server API).
    #[error("unauthenticated: {0}")]
    Unauthenticated(&'static str),
    /// The session may not do this for this company (or the company is unknown: the same
    /// answer, so ids cannot be probed).
    #[error("forbidden")]
    Forbidden,
    /// Too many requests from this client.
    #[error("rate limited")]
    RateLimited,
    /// The host's own deadline passed.
    #[error("request timed out")]
    Timeout,
    /// The host is at its limit of requests in flight (`--max-in-flight`): refused at once,
    /// with `Retry-After`, instead of queueing without bound.
    #[error("overloaded")]
    Overloaded,
    /// No such page or resource.
    #[error("not found")]
    NotFound,
    /// No such thing of the server API (the text names it, e.g. "no webhook delivery has this
    /// id").
    #[error("not found: {0}")]
    NoSuch(&'static str),
    /// The path exists but not with this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// An operation failed (its cause is the source).
    #[error(transparent)]
    Op(#[from] OpError),
    /// A task the request ran to completion panicked or was cancelled.
    #[error("background task failed")]
    Task(#[from] tokio::task::JoinError),
    /// A failure of the HTTP stack itself (a layer's error).
    #[error("internal")]
    Internal(#[source] axum::BoxError),
}

impl AppError {
    /// HTTP status and stable code.
    pub fn status_and_code(&self) -> (StatusCode, ErrorCode) {
        match self {
            AppError::InvalidRequest(_) => (StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest),
            AppError::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::InvalidRequest),
            AppError::UnsupportedMediaType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::InvalidRequest,
            ),
            AppError::Csrf(_) => (StatusCode::FORBIDDEN, ErrorCode::CsrfRejected),
            AppError::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, ErrorCode::Unauthenticated),
            AppError::Forbidden => (StatusCode::FORBIDDEN, ErrorCode::Forbidden),
            AppError::RateLimited => (StatusCode::TOO_MANY_REQUESTS, ErrorCode::RateLimited),
            AppError::Timeout => (StatusCode::GATEWAY_TIMEOUT, ErrorCode::Timeout),
            AppError::Overloaded => (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Internal),
            AppError::NotFound | AppError::NoSuch(_) => {
                (StatusCode::NOT_FOUND, ErrorCode::NotFound)
            }
            AppError::MethodNotAllowed => {
                (StatusCode::METHOD_NOT_ALLOWED, ErrorCode::InvalidRequest)
            }
            AppError::Op(e) => op_status_and_code(e),
            AppError::Task(_) | AppError::Internal(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal)
            }
        }
    }

    /// The body the client sees.
    pub fn body(&self) -> ApiErrorBody {
        let (_, code) = self.status_and_code();
        let message = match self {
            // Validation details are the caller's own input, not internals: say what is wrong.
            AppError::InvalidRequest(why)
            | AppError::UnsupportedMediaType(why)
            | AppError::Op(OpError::InvalidRequest(why)) => {
                format!("{} ({why})", code.default_message())
            }
            AppError::NoSuch(what) => format!("Not found: {what}."),
            // Which credential was missing or wrong (never its value).
            AppError::Unauthenticated(why) => format!("{} ({why})", code.default_message()),
            AppError::PayloadTooLarge => {
                format!("{} (the request body is too large)", code.default_message())
            }
            AppError::MethodNotAllowed => {
                format!(
                    "{} (method not allowed on this path)",
                    code.default_message()
                )
            }
            AppError::Overloaded => format!(
                "{} (it has too many requests in progress right now; nothing was done, try again shortly)",
                code.default_message()
            ),
            AppError::Op(OpError::Store(e)) if e.is_transient() => format!(
                "{} (its storage is busy or full right now; nothing was changed, try again shortly)",
                code.default_message()
            ),
            _ => code.default_message().to_owned(),
        };
        ApiErrorBody {
            error: ApiError {
                code,
                message,
                provider_code: match self {
                    AppError::Op(OpError::Provider(e) | OpError::RefreshFailing(e)) => {
                        Some(e.code.clone())
                    }
                    _ => None,
                },
            },
        }
    }
}

fn op_status_and_code(e: &OpError) -> (StatusCode, ErrorCode) {
    match e {
        OpError::UnknownCompany => (StatusCode::NOT_FOUND, ErrorCode::UnknownCompany),
        OpError::InvalidRequest(_) => (StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest),
        OpError::NoPendingAuthorization => {
            (StatusCode::BAD_REQUEST, ErrorCode::NoPendingAuthorization)
        }
        OpError::StartedElsewhere => (StatusCode::BAD_REQUEST, ErrorCode::StateMismatch),
        OpError::ExpiredAttempt => (StatusCode::BAD_REQUEST, ErrorCode::ExpiredAttempt),
        OpError::Callback(e) => (StatusCode::BAD_REQUEST, e.error_code()),
        OpError::Start(StartError::Config(_)) => {
            (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::InvalidConfig)
        }
        OpError::Start(_) => (StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest),
        OpError::Conflict(_) | OpError::Store(StoreError::Conflict) => {
            (StatusCode::CONFLICT, ErrorCode::InvalidRequest)
        }
        OpError::Provider(e) => {
            // A used or expired code is the caller's input being refused: 400. Everything
            // else is the upstream failing us: 502 (a gateway error), code kept.
            let status = if e.kind == ProviderErrorKind::InvalidGrant {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::BAD_GATEWAY
            };
            (status, e.error_code())
        }
        // Busy past the busy timeout, or full: nothing was changed; the client may retry.
        OpError::Store(e) if e.is_transient() => {
            (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Internal)
        }
        OpError::Store(_) | OpError::Invariant(_) => {
            (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal)
        }
        OpError::NotUsable(refusal) => (
            StatusCode::CONFLICT,
            match refusal {
                Refusal::NotAuthorized => ErrorCode::NotAuthorized,
                Refusal::Cleared => ErrorCode::Cleared,
                Refusal::Invalidated => ErrorCode::Invalidated,
                Refusal::Expired => ErrorCode::TokenExpired,
            },
        ),
        OpError::RefreshFailing(_) => (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::TokenExpired),
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, _) = self.status_and_code();
        let mut response = (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            html_safe_json(&self.body()),
        )
            .into_response();
        if matches!(self, AppError::Overloaded) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        // For `log_errors`: the error itself, sources and all.
        response.extensions_mut().insert(Arc::new(self));
        response
    }
}

/// Middleware: log the [`AppError`] behind an error response, once, with its sources.
pub async fn log_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if let Some(error) = response.extensions().get::<Arc<AppError>>() {
        let (status, code) = error.status_and_code();
        let detail = chain(error.as_ref());
        if status.is_server_error() {
            tracing::error!(
                status = status.as_u16(),
                code = code.as_str(),
                detail,
                "request failed"
            );
        } else {
            tracing::info!(
                status = status.as_u16(),
                code = code.as_str(),
                detail,
                "request refused"
            );
        }
    }
    response
}

/// `error: source: source…`, each cause once (a `transparent` variant repeats its source's text).
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut last = text.clone();
    let mut source = error.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        if part != last && !last.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        last = part;
        source = cause.source();
    }
    text
}

/// The body as JSON with `<`, `>` and `&` written as `\u003c`, `\u003e`, `\u0026`: the same JSON
/// value, but no markup bytes reach the client, whatever a provider's error code or a caller's
/// rejected input contained (serialized JSON has these characters only inside strings).
fn html_safe_json(body: &ApiErrorBody) -> String {
    serde_json::to_string(body)
        .expect("ApiErrorBody holds only strings and enums: serializing cannot fail")
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        AppError::Op(OpError::Store(e))
    }
}

impl From<ProviderError> for AppError {
    fn from(e: ProviderError) -> Self {
        AppError::Op(OpError::Provider(e))
    }
}

impl From<JsonRejection> for AppError {
    fn from(r: JsonRejection) -> Self {
        match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => AppError::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                AppError::UnsupportedMediaType("expected Content-Type: application/json".into())
            }
            _ => AppError::InvalidRequest(bounded(r.body_text())),
        }
    }
}

/// Rejection texts describe the caller's own input; keep them short.
fn bounded(text: String) -> String {
    const MAX: usize = 200;
    if text.chars().count() <= MAX {
        return text;
    }
    let mut cut: String = text.chars().take(MAX).collect();
    cut.push('…');
    cut
}

impl From<PathRejection> for AppError {
    fn from(r: PathRejection) -> Self {
        AppError::InvalidRequest(bounded(r.body_text()))
    }
}

impl From<QueryRejection> for AppError {
    fn from(r: QueryRejection) -> Self {
        AppError::InvalidRequest(bounded(r.body_text()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_chain_names_each_cause_once() {
        let e = AppError::Op(OpError::Store(StoreError::Misuse("x")));
        assert_eq!(chain(&e), "storage: storage misuse: x");
    }
}
