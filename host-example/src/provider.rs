//! Talking to the OAuth provider (UPS, the mock UPS, or any RFC 6749 server).
//!
//! Requests are built by the `oauth2` crate (Basic client auth, PKCE verifier, exact
//! `redirect_uri`, RFC 7009 revocation) and sent by a `reqwest` client that never follows
//! redirects and has connect and total timeouts. Answers are mapped by **core only**
//! ([`parse_token_response`]): the raw status and body are captured on the way back, so UPS's
//! numbers-as-strings and its error shape are read by the one parser both sides trust.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use oauth2::basic::BasicClient;
use oauth2::{
    AccessToken, AuthType, AuthorizationCode, ClientId, ClientSecret, PkceCodeVerifier,
    RedirectUrl, RefreshToken, RevocationUrl, StandardRevocableToken, TokenUrl,
};
use token_manager_core::api::ConfigResponse;
use token_manager_core::config::{ClientAuth, ProviderConfig, ProviderKind};
use token_manager_core::token::{parse_error_response, parse_token_response};
use token_manager_core::{ProviderError, ProviderErrorKind, Timestamp, TokenGrant};
use url::Url;

use crate::config::HttpLimits;
use crate::store::TokenPair;

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

/// The last result of a data-API call (what the Exports page shows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSample {
    /// HTTP status.
    pub status: u16,
    /// The beginning of the answer, as text.
    pub summary: String,
}

/// One provider, its client secret, and the HTTP client used for it.
pub struct Provider {
    config: ProviderConfig,
    secret: ClientSecret,
    http: reqwest::Client,
    limits: HttpLimits,
    data_url: Option<Url>,
    public: tokio::sync::OnceCell<ConfigResponse>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("config", &self.config)
            .field("secret", &self.secret) // ClientSecret([redacted])
            .field("data_url", &self.data_url)
            .finish_non_exhaustive()
    }
}

impl Provider {
    /// A provider client. `data_url` is the base of the data API the retrieval job calls
    /// (`{data_url}/api/track/v1/details/{n}`); `None` disables the job.
    pub fn new(
        config: ProviderConfig,
        secret: ClientSecret,
        limits: HttpLimits,
        data_url: Option<Url>,
    ) -> Result<Self, reqwest::Error> {
        Ok(Self {
            config,
            secret,
            http: http_client(limits)?,
            limits,
            data_url,
            public: tokio::sync::OnceCell::new(),
        })
    }

    /// The provider settings.
    pub fn config(&self) -> &ProviderConfig {
        &self.config
    }

    /// Whether a data API is configured for the retrieval job.
    pub fn has_data_api(&self) -> bool {
        self.data_url.is_some()
    }

    /// What `GET /config` returns. UPS: calls validate-client once and caches the sign-in URL
    /// (a failure is not cached, so the next call retries).
    pub async fn public_config(&self) -> Result<ConfigResponse, ProviderError> {
        self.public
            .get_or_try_init(|| async {
                let mut config = self.config.clone();
                if let (ProviderKind::Ups, Some(url)) =
                    (config.kind, config.validate_client_request_url())
                {
                    let request = self.http.get(url).header("Accept", "application/json");
                    let (status, body) = send_capped(request).await.map_err(transport_error)?;
                    config.apply_validate_client(status, &body)?;
                }
                Ok(config.public())
            })
            .await
            .cloned()
    }

    fn auth_type(&self) -> AuthType {
        match self.config.client_auth {
            ClientAuth::Basic => AuthType::BasicAuth,
            ClientAuth::RequestBody => AuthType::RequestBody,
        }
    }

    /// Exchange an authorization code (RFC 6749 §4.1.3 + RFC 7636 §4.5).
    pub async fn exchange_code(
        &self,
        code: &str,
        code_verifier: &str,
        redirect_uri: &str,
        now: Timestamp,
    ) -> Result<TokenGrant, ProviderError> {
        let redirect = RedirectUrl::new(redirect_uri.to_owned())
            .map_err(|_| ProviderError::transport("the redirect_uri is not a URL"))?;
        let client = BasicClient::new(ClientId::new(self.config.client_id.clone()))
            .set_client_secret(self.secret.clone())
            .set_auth_type(self.auth_type())
            .set_token_uri(TokenUrl::from_url(self.config.token_url.clone()))
            .set_redirect_uri(redirect);
        let capture = Capture::new(&self.http);
        let mut request = client.exchange_code(AuthorizationCode::new(code.to_owned()));
        if self.config.pkce {
            request = request.set_pkce_verifier(PkceCodeVerifier::new(code_verifier.to_owned()));
        }
        let outcome = request.request_async(&capture).await;
        capture.into_grant(outcome.err().map(describe), now, self.limits)
    }

    /// Refresh (RFC 6749 §6; UPS: its `/refresh` endpoint, Basic auth).
    pub async fn refresh(
        &self,
        refresh_token: &RefreshToken,
        now: Timestamp,
    ) -> Result<TokenGrant, ProviderError> {
        let client = BasicClient::new(ClientId::new(self.config.client_id.clone()))
            .set_client_secret(self.secret.clone())
            .set_auth_type(self.auth_type())
            .set_token_uri(TokenUrl::from_url(self.config.refresh_url.clone()));
        let capture = Capture::new(&self.http);
        let outcome = client
            .exchange_refresh_token(refresh_token)
            .request_async(&capture)
            .await;
        capture.into_grant(outcome.err().map(describe), now, self.limits)
    }

    /// Revoke (RFC 7009) where the provider has an endpoint: the refresh token (which also
    /// ends its access tokens at most servers), else the access token. `Ok(false)` when the
    /// provider has no revocation (UPS).
    pub async fn revoke(&self, tokens: &TokenPair) -> Result<bool, ProviderError> {
        let Some(url) = &self.config.revocation_url else {
            return Ok(false);
        };
        let client = BasicClient::new(ClientId::new(self.config.client_id.clone()))
            .set_client_secret(self.secret.clone())
            .set_auth_type(self.auth_type())
            .set_revocation_url(RevocationUrl::from_url(url.clone()));
        let token = match &tokens.refresh {
            Some(r) => StandardRevocableToken::RefreshToken(r.clone()),
            None => StandardRevocableToken::AccessToken(tokens.access.clone()),
        };
        let request = client
            .revoke_token(token)
            .map_err(|e| ProviderError::transport(format!("revocation: {e}")))?;
        let capture = Capture::new(&self.http);
        let outcome = request.request_async(&capture).await;
        match capture.take() {
            Some((status, _)) if (200..300).contains(&status) => Ok(true),
            Some((status, body)) => Err(parse_error_response(status, &body)),
            None => Err(transport_message(outcome.err().map(describe), self.limits)),
        }
    }

    /// Call the data API with the access token (the retrieval job).
    pub async fn fetch_data(
        &self,
        access_token: &AccessToken,
        n: u64,
    ) -> Result<DataSample, ProviderError> {
        let Some(base) = &self.data_url else {
            return Err(ProviderError::transport("no data API is configured"));
        };
        let url = base
            .join(&format!("api/track/v1/details/{}", tracking_number(n)))
            .map_err(|_| ProviderError::transport("the data API URL cannot be built"))?;
        let request = self
            .http
            .get(url)
            .bearer_auth(access_token.secret())
            .header("Accept", "application/json")
            .header("transId", format!("tm-{n}"))
            .header("transactionSrc", "token-manager");
        let (status, body) = send_capped(request).await.map_err(transport_error)?;
        let text = String::from_utf8_lossy(&body);
        let summary: String = text.chars().take(300).collect();
        Ok(DataSample { status, summary })
    }
}

/// A demo tracking number that changes with `n` (UPS 1Z format, check digit not computed).
fn tracking_number(n: u64) -> String {
    format!("1Z999AA1{:010}", n % 10_000_000_000)
}

/// The outbound client: no redirects (RFC 9700 §4.11; oauth2-rs's warning), timeouts.
fn http_client(limits: HttpLimits) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(limits.connect_timeout)
        .timeout(limits.timeout)
        .user_agent(concat!("token-manager-host/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Send and read at most [`MAX_ANSWER`] bytes of the answer.
async fn send_capped(request: reqwest::RequestBuilder) -> Result<(u16, Vec<u8>), Transport> {
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
struct Capture {
    http: reqwest::Client,
    answer: Mutex<Option<(u16, Vec<u8>)>>,
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
            let builder = reqwest::RequestBuilder::from_parts(self.http.clone(), request);
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
    fn new(http: &reqwest::Client) -> Self {
        Self {
            http: http.clone(),
            answer: Mutex::new(None),
        }
    }

    fn take(&self) -> Option<(u16, Vec<u8>)> {
        self.answer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    /// Core maps whatever the provider answered; without an answer, the transport failed.
    fn into_grant(
        self,
        failure: Option<TransportFailure>,
        now: Timestamp,
        limits: HttpLimits,
    ) -> Result<TokenGrant, ProviderError> {
        match self.take() {
            Some((status, body)) => parse_token_response(status, &body, now),
            None => Err(transport_message(failure, limits)),
        }
    }
}

/// What went wrong before any answer arrived.
#[derive(Debug)]
enum TransportFailure {
    Timeout,
    Connect,
    TooLarge,
    Other(String),
}

fn describe<TE: oauth2::ErrorResponse + 'static>(
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

fn transport_error(t: Transport) -> ProviderError {
    transport_message(Some(classify(&t)), HttpLimits::default())
}

fn transport_message(failure: Option<TransportFailure>, limits: HttpLimits) -> ProviderError {
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
