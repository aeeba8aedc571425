//! `/api/v1/companies/{company}/proxy/{*path}`: the portal's backend calls the provider's API
//! through the host, which injects the company's current bearer token — the portal never holds
//! a token. After Clear the proxy answers `409 cleared` without calling the provider.
//!
//! - The path after `proxy/` (raw, still percent-encoded) and the query are appended to the
//!   API base; nothing can leave it ([`provider::forward`](crate::provider)).
//! - Request headers pass through except the caller's `Authorization`, cookies and hop-by-hop
//!   headers; response headers likewise (and `Set-Cookie` is dropped).
//! - Bodies stream both ways, each capped at [`MAX_BODY`]. A request body up to
//!   [`REPLAYABLE`] is kept so that, when the provider answers 401 (a token revoked or expired
//!   early), the host renews the token once and sends the request once more; a larger body is
//!   streamed as it arrives and the 401 is passed back as it is.
//! - Redirects are never followed; a 3xx comes back to the caller as it is.
//! - The company's shared lock is held until the provider's answer headers arrive, so Clear
//!   waits for calls in flight and every later call sees it.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, StreamExt, TryStreamExt};

use super::companies::company_id;
use crate::auth::ServerCaller;
use crate::error::AppError;
use crate::http::extract::ApiPath;
use crate::ops;
use crate::provider::{api_url, forwardable, ForwardError, DROPPED_RESPONSE};
use crate::state::AppState;

/// Largest request or response body passed through (bytes).
pub const MAX_BODY: usize = 10 * 1024 * 1024;
/// Largest request body kept for a retry after a 401 (bytes).
pub const REPLAYABLE: usize = 64 * 1024;

/// The request body: whole (replayable), or its first part and the rest still arriving.
enum Outgoing {
    Whole(Bytes),
    Streaming(Vec<Bytes>, Body),
}

impl Outgoing {
    async fn read(body: Body) -> Result<Self, AppError> {
        let mut stream = body.into_data_stream();
        let mut head = Vec::new();
        let mut len = 0;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| AppError::InvalidRequest(format!("the body: {e}")))?;
            len += chunk.len();
            head.push(chunk);
            if len > REPLAYABLE {
                let rest = Body::from_stream(stream);
                return Ok(Outgoing::Streaming(head, rest));
            }
        }
        Ok(Outgoing::Whole(head.concat().into()))
    }

    /// The body to send; the whole one stays for a retry.
    fn body(&mut self) -> reqwest::Body {
        match self {
            Outgoing::Whole(b) => reqwest::Body::from(b.clone()),
            Outgoing::Streaming(head, rest) => {
                let head = std::mem::take(head);
                let rest = std::mem::replace(rest, Body::empty()).into_data_stream();
                let mut sent = 0usize;
                let all = stream::iter(head.into_iter().map(Ok::<_, axum::Error>))
                    .chain(rest)
                    .map(move |chunk| {
                        let chunk = chunk?;
                        sent += chunk.len();
                        if sent > MAX_BODY {
                            return Err(axum::Error::new(BodyTooLarge));
                        }
                        Ok(chunk)
                    });
                reqwest::Body::wrap_stream(all)
            }
        }
    }

    fn replayable(&self) -> bool {
        matches!(self, Outgoing::Whole(_))
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the body is larger than {MAX_BODY} bytes")]
struct BodyTooLarge;

pub(super) async fn forward(
    State(state): State<AppState>,
    _caller: ServerCaller,
    ApiPath((company, _path)): ApiPath<(String, String)>,
    request: Request,
) -> Result<Response, AppError> {
    company_id(&company)?;
    let Some(base) = state.provider().api_base().cloned() else {
        return Err(AppError::NoSuch(
            "no provider API is configured for the proxy (--api-base)",
        ));
    };
    // The raw path (not the decoded `Path`): `%2F` and friends stay as the caller wrote them.
    let raw = request.uri().path();
    // Nested under `/api/v1`, the router sees the path without that prefix.
    let tail = raw
        .strip_prefix(&format!("/companies/{company}/proxy/"))
        .unwrap_or_default()
        .to_owned();
    let url = api_url(&base, &tail, request.uri().query()).map_err(|e| match e {
        ForwardError::NoApiBase => {
            AppError::NoSuch("no provider API is configured for the proxy (--api-base)")
        }
        other => AppError::InvalidRequest(other.to_string()),
    })?;
    let method = request.method().clone();
    if !matches!(
        method,
        Method::GET | Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    ) {
        return Err(AppError::MethodNotAllowed);
    }
    let headers = forwardable(request.headers());
    if request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| n > MAX_BODY)
    {
        return Err(AppError::PayloadTooLarge);
    }
    let mut outgoing = Outgoing::read(request.into_body()).await?;
    let mut renewed = false;
    loop {
        let token = ops::use_token(&state, &company).await?;
        let sent = state
            .provider()
            .forward(
                method.clone(),
                url.clone(),
                headers.clone(),
                outgoing.body(),
                &token.access_token,
            )
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => {
                drop(token);
                return Ok(upstream_failure(&e));
            }
        };
        if response.status() == reqwest::StatusCode::UNAUTHORIZED
            && !renewed
            && outgoing.replayable()
        {
            let generation = token.generation;
            drop(token);
            renewed = true;
            tracing::info!(company, "the provider refused the token; renewing it once");
            ops::renew_after_rejection(&state, &company, generation).await?;
            continue;
        }
        drop(token);
        return Ok(relay(response));
    }
}

/// The provider's answer, streamed back with its status and the headers that may pass.
fn relay(response: reqwest::Response) -> Response {
    let status =
        StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    if response
        .content_length()
        .is_some_and(|n| n > MAX_BODY as u64)
    {
        return bad_gateway("the provider's answer is larger than the proxy passes");
    }
    let mut headers = HeaderMap::new();
    for (name, value) in response.headers() {
        if !DROPPED_RESPONSE.contains(&name.as_str()) {
            headers.append(name.clone(), value.clone());
        }
    }
    let mut received = 0usize;
    let body = response
        .bytes_stream()
        .map_err(axum::Error::new)
        .and_then(move |chunk: Bytes| {
            received += chunk.len();
            let result = if received > MAX_BODY {
                Err(axum::Error::new(BodyTooLarge))
            } else {
                Ok(chunk)
            };
            std::future::ready(result)
        });
    let mut out = Response::new(Body::from_stream(body));
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    out.headers_mut().insert(
        "x-token-manager-proxy",
        HeaderValue::from_static("provider"),
    );
    out
}

fn upstream_failure(e: &reqwest::Error) -> Response {
    if e.is_timeout() {
        let mut r = AppError::Timeout.into_response();
        *r.status_mut() = StatusCode::GATEWAY_TIMEOUT;
        r
    } else if e.is_connect() {
        bad_gateway("could not connect to the provider")
    } else {
        bad_gateway("the request to the provider failed")
    }
}

fn bad_gateway(why: &str) -> Response {
    let body = serde_json::json!({
        "error": {"code": "provider_unavailable", "message": why}
    });
    (StatusCode::BAD_GATEWAY, axum::Json(body)).into_response()
}
