//! Talking to the OAuth provider (UPS, the mock UPS, or any RFC 6749 server).
//!
//! Requests are built by the `oauth2` crate (Basic client auth, PKCE verifier, exact
//! `redirect_uri`, RFC 7009 revocation) and sent by a `reqwest` client that never follows
//! redirects and has connect and total timeouts ([`http`]). Answers are mapped by **core only**
//! (`token_manager_core::token::parse_token_response`): the raw status and body are captured
//! on the way back, so UPS's numbers-as-strings and its error shape are read by the one parser
//! both sides trust.

use oauth2::ClientSecret;
use token_manager_core::api::ConfigResponse;
use token_manager_core::config::{ProviderConfig, ProviderKind};
use token_manager_core::ProviderError;
use url::Url;

use crate::config::HttpLimits;

pub mod discovery;
mod forward;
mod http;
mod oauth;

pub use forward::{api_url, forwardable, ForwardError, Forwarded, DROPPED_RESPONSE, MAX_PATH};
use http::{http_client, send_capped, transport_error};
pub use http::{Transport, MAX_ANSWER};

/// One provider, its client secret, and the HTTP client used for it.
pub struct Provider {
    config: ProviderConfig,
    secret: ClientSecret,
    http: reqwest::Client,
    limits: HttpLimits,
    api_base: Option<Url>,
    public: tokio::sync::OnceCell<ConfigResponse>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("config", &self.config)
            .field("secret", &self.secret) // ClientSecret([redacted])
            .field("api_base", &self.api_base)
            .finish_non_exhaustive()
    }
}

impl Provider {
    /// A provider client. `api_base` is the base URL of the provider's API that the proxy
    /// forwards to (UPS: `{host}/api/`); `None` turns the proxy off. A base without a trailing
    /// slash gets one (it is a folder).
    pub fn new(
        config: ProviderConfig,
        secret: ClientSecret,
        limits: HttpLimits,
        api_base: Option<Url>,
    ) -> Result<Self, reqwest::Error> {
        let api_base = api_base.map(|mut u| {
            if !u.path().ends_with('/') {
                let path = format!("{}/", u.path());
                u.set_path(&path);
            }
            u.set_query(None);
            u.set_fragment(None);
            u
        });
        Ok(Self {
            config,
            secret,
            http: http_client(limits)?,
            limits,
            api_base,
            public: tokio::sync::OnceCell::new(),
        })
    }

    /// The provider settings.
    pub fn config(&self) -> &ProviderConfig {
        &self.config
    }

    /// The base URL the proxy forwards to, if one is configured.
    pub fn api_base(&self) -> Option<&Url> {
        self.api_base.as_ref()
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
}
