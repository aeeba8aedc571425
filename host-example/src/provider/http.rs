//! The outbound HTTP client and what it hands back: capped bodies, no redirects, transport
//! failures as [`ProviderError`]s.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use token_manager_core::token::{parse_token_response_at, Endpoint};
use token_manager_core::{ProviderError, ProviderErrorKind, Timestamp, TokenGrant};

use crate::config::HttpLimits;

/// Largest provider answer read (bytes); larger ones are refused as malformed.
pub const MAX_ANSWER: usize = 256 * 1024;

/// A transport-level failure (no HTTP answer to map).
#[derive(Debug, thiserror::Error)]
pub enum Transport {
    /// reqwest failed (connect, timeout, TLS, protocol).
    #[error(transparent)]
    Http(#[from] reqwest::Error),
    /// The answer exceeded [`MAX_ANSWER`].
    #[error("the answer is larger than {MAX_ANSWER} bytes")]
    TooLarge,
    /// The request could not be built.
    #[error("bad request: {0}")]
    Build(String),
}

/// The outbound client: no redirects (RFC 9700 §4.11; oauth2-rs's warning), timeouts.
pub(super) fn http_client(limits: HttpLimits) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(limits.connect_timeout)
        .timeout(limits.timeout)
        .user_agent(concat!("token-manager-host/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Send and read at most [`MAX_ANSWER`] bytes of the answer.
pub(super) async fn send_capped(
    request: reqwest::RequestBuilder,
) -> Result<(u16, Vec<u8>), Transport> {
    let mut response = request.send().await?;
    let status = response.status().as_u16();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_ANSWER {
            return Err(Transport::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, body))
}

/// The HTTP client handed to `oauth2`: sends with our `reqwest` client and records the raw
/// answer for core to map.
pub(super) struct Capture {
    http: reqwest::Client,
    answer: Mutex<Option<(u16, Vec<u8>)>>,
    timeout: Option<Duration>,
    /// Replaces the `Authorization` header oauth2 built (UPS: raw Basic credentials).
    authorization: Option<reqwest::header::HeaderValue>,
}

impl<'c> oauth2::AsyncHttpClient<'c> for Capture {
    type Error = Transport;
    type Future =
        Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse, Transport>> + Send + 'c>>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let request: reqwest::Request = request
                .try_into()
                .map_err(|e: reqwest::Error| Transport::Build(e.to_string()))?;
            let mut request = request;
            if let Some(value) = &self.authorization {
                if request
                    .headers()
                    .contains_key(reqwest::header::AUTHORIZATION)
                {
                    request
                        .headers_mut()
                        .insert(reqwest::header::AUTHORIZATION, value.clone());
                }
            }
            let mut builder = reqwest::RequestBuilder::from_parts(self.http.clone(), request);
            if let Some(t) = self.timeout {
                builder = builder.timeout(t);
            }
            let (status, body) = send_capped(builder).await?;
            *self
                .answer
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((status, body.clone()));
            // oauth2's own parse of this answer is ignored (see `into_grant`); give it the bytes.
            oauth2::http::Response::builder()
                .status(status)
                .header("Content-Type", "application/json")
                .body(body)
                .map_err(|e| Transport::Build(e.to_string()))
        })
    }
}

impl Capture {
    pub(super) fn new(http: &reqwest::Client) -> Self {
        Self {
            http: http.clone(),
            answer: Mutex::new(None),
            timeout: None,
            authorization: None,
        }
    }

    /// Send `value` as the `Authorization` header wherever oauth2 set one.
    pub(super) fn with_authorization(
        mut self,
        value: Option<reqwest::header::HeaderValue>,
    ) -> Self {
        self.authorization = value;
        self
    }

    /// The same, with a whole-request timeout of its own.
    pub(super) fn with_timeout(http: &reqwest::Client, timeout: Duration) -> Self {
        Self {
            timeout: Some(timeout),
            ..Self::new(http)
        }
    }

    pub(super) fn take(&self) -> Option<(u16, Vec<u8>)> {
        self.answer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    /// Core maps whatever the provider answered; without an answer, the transport failed.
    pub(super) fn into_grant(
        self,
        endpoint: Endpoint,
        failure: Option<TransportFailure>,
        now: Timestamp,
        limits: HttpLimits,
    ) -> Result<TokenGrant, ProviderError> {
        match self.take() {
            Some((status, body)) => parse_token_response_at(endpoint, status, &body, now),
            None => Err(transport_message(failure, limits)),
        }
    }
}

/// What went wrong before any answer arrived.
#[derive(Debug)]
pub(super) enum TransportFailure {
    Timeout,
    Connect,
    TooLarge,
    Other(String),
}

pub(super) fn describe<TE: oauth2::ErrorResponse + 'static>(
    e: oauth2::RequestTokenError<Transport, TE>,
) -> TransportFailure {
    match e {
        oauth2::RequestTokenError::Request(t) => classify(&t),
        other => TransportFailure::Other(other.to_string()),
    }
}

fn classify(t: &Transport) -> TransportFailure {
    match t {
        Transport::Http(e) if e.is_timeout() => TransportFailure::Timeout,
        Transport::Http(e) if e.is_connect() => TransportFailure::Connect,
        Transport::TooLarge => TransportFailure::TooLarge,
        other => TransportFailure::Other(other.to_string()),
    }
}

pub(super) fn transport_error(t: Transport) -> ProviderError {
    transport_message(Some(classify(&t)), HttpLimits::default())
}

pub(super) fn transport_message(
    failure: Option<TransportFailure>,
    limits: HttpLimits,
) -> ProviderError {
    match failure {
        Some(TransportFailure::Timeout) => ProviderError {
            code: "timeout".into(),
            ..ProviderError::transport(format!(
                "the provider did not answer within {}",
                secs(limits.timeout)
            ))
        },
        Some(TransportFailure::Connect) => {
            ProviderError::transport("could not connect to the provider")
        }
        Some(TransportFailure::TooLarge) => ProviderError::malformed(
            None,
            format!("the answer is larger than {MAX_ANSWER} bytes"),
        ),
        Some(TransportFailure::Other(why)) => ProviderError {
            kind: ProviderErrorKind::Temporary,
            status: None,
            code: "request_failed".into(),
            message: why,
        },
        None => ProviderError::transport("the provider call failed without an answer"),
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}
