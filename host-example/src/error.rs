//! The one error type of the HTTP layer.
//!
//! Every handler returns `Result<_, AppError>`. The client gets a stable
//! [`ErrorCode`] and a plain message in [`ApiErrorBody`] (`{"error":{"code","message"}}`);
//! the detail — never a secret — goes to the log exactly once, here.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use token_manager_core::api::{ApiError, ApiErrorBody};
use token_manager_core::{ErrorCode, ProviderError, ProviderErrorKind};

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
    /// The `redirect_uri` is not on the allow-list.
    #[error("redirect_uri not on the allow-list")]
    RedirectUriNotAllowed,
    /// The company is not configured.
    #[error("unknown company")]
    UnknownCompany,
    /// No portal session.
    #[error("no portal session")]
    Unauthenticated,
    /// Too many requests from this client.
    #[error("rate limited")]
    RateLimited,
    /// Another change to the same authorization won the race.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The provider failed or refused.
    #[error("provider: {0}")]
    Provider(#[from] ProviderError),
    /// The host's own deadline passed.
    #[error("request timed out")]
    Timeout,
    /// No such page or resource.
    #[error("not found")]
    NotFound,
    /// The path exists but not with this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The database is busy (locked by another connection past the busy timeout) or full:
    /// nothing was changed; the client may retry shortly.
    #[error("storage unavailable: {0}")]
    StorageUnavailable(String),
    /// Anything else inside the host (storage, crypto, a panicked task).
    #[error("internal: {0}")]
    Internal(String),
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
            AppError::RedirectUriNotAllowed => {
                (StatusCode::BAD_REQUEST, ErrorCode::RedirectUriNotAllowed)
            }
            AppError::UnknownCompany => (StatusCode::NOT_FOUND, ErrorCode::UnknownCompany),
            AppError::Unauthenticated => (StatusCode::UNAUTHORIZED, ErrorCode::Unauthenticated),
            AppError::RateLimited => (StatusCode::TOO_MANY_REQUESTS, ErrorCode::RateLimited),
            AppError::Conflict(_) => (StatusCode::CONFLICT, ErrorCode::InvalidRequest),
            AppError::Provider(e) => {
                // A used or expired code is the caller's input being refused: 400. Everything
                // else is the upstream failing us: 502 (a gateway error), code kept.
                let status = if e.kind == ProviderErrorKind::InvalidGrant {
                    StatusCode::BAD_REQUEST
                } else {
                    StatusCode::BAD_GATEWAY
                };
                (status, e.error_code())
            }
            AppError::Timeout => (StatusCode::GATEWAY_TIMEOUT, ErrorCode::Timeout),
            AppError::NotFound => (StatusCode::NOT_FOUND, ErrorCode::NotFound),
            AppError::MethodNotAllowed => {
                (StatusCode::METHOD_NOT_ALLOWED, ErrorCode::InvalidRequest)
            }
            AppError::StorageUnavailable(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Internal)
            }
            AppError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal),
        }
    }

    /// The body the client sees.
    pub fn body(&self) -> ApiErrorBody {
        let (_, code) = self.status_and_code();
        let message = match self {
            // Validation details are the caller's own input, not internals: say what is wrong.
            AppError::InvalidRequest(why) => format!("{} ({why})", code.default_message()),
            AppError::UnsupportedMediaType(why) => {
                format!("{} ({why})", code.default_message())
            }
            AppError::PayloadTooLarge => {
                format!("{} (the request body is too large)", code.default_message())
            }
            AppError::MethodNotAllowed => {
                format!(
                    "{} (method not allowed on this path)",
                    code.default_message()
                )
            }
            AppError::StorageUnavailable(_) => format!(
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
                    AppError::Provider(e) => Some(e.code.clone()),
                    _ => None,
                },
            },
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        // The one place the detail is logged. ProviderError and the variants above never carry
        // a token or secret (token types redact; provider text is bounded by core).
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), code = code.as_str(), detail = %self, "request failed");
        } else {
            tracing::info!(status = status.as_u16(), code = code.as_str(), detail = %self, "request refused");
        }
        (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            html_safe_json(&self.body()),
        )
            .into_response()
    }
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
        match e {
            StoreError::Conflict => AppError::Conflict(
                "the authorization changed concurrently; reload and retry".into(),
            ),
            e if e.is_transient() => AppError::StorageUnavailable(e.to_string()),
            other => AppError::Internal(other.to_string()),
        }
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

impl From<QueryRejection> for AppError {
    fn from(r: QueryRejection) -> Self {
        AppError::InvalidRequest(bounded(r.body_text()))
    }
}

impl From<tokio::task::JoinError> for AppError {
    fn from(e: tokio::task::JoinError) -> Self {
        AppError::Internal(format!("background task failed: {e}"))
    }
}
