//! Talking to the OAuth provider (UPS, the mock UPS, or any RFC 6749 server).
//!
//! Requests are built by the `oauth2` crate (Basic client auth, PKCE verifier, exact
//! `redirect_uri`, RFC 7009 revocation) and sent by a `reqwest` client that never follows
//! redirects and has connect and total timeouts ([`http`]). Answers are mapped by **core only**
//! (`token_manager_core::token::parse_token_response`): the raw status and body are captured
//! on the way back, so UPS's numbers-as-strings and its error shape are read by the one parser
//! both sides trust.

use oauth2::{AccessToken, ClientSecret};
use token_manager_core::api::ConfigResponse;
use token_manager_core::config::{ProviderConfig, ProviderKind};
use token_manager_core::ProviderError;
use url::Url;

use crate::config::HttpLimits;

pub mod discovery;
mod http;
mod oauth;

use http::{http_client, send_capped, transport_error};
pub use http::{Transport, MAX_ANSWER};

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
