//! Provider configuration: the `ups` and `generic` presets, validation, RFC 8414 metadata.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::api::ConfigResponse;
use crate::token::ProviderError;

/// Which provider contract the host speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// UPS OAuth "Auth Code" API (validate-client, Lasso sign-in, `/token`, `/refresh`).
    Ups,
    /// Any RFC 6749 authorization server (refresh on the token endpoint, optional RFC 7009).
    Generic,
}

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// `Authorization: Basic base64(client_id:client_secret)` (UPS, RFC 6749 §2.3.1).
    Basic,
    /// `client_id` and `client_secret` in the form body.
    RequestBody,
}

/// UPS hosts.
pub mod ups {
    /// Customer integration environment (test).
    pub const TEST_HOST: &str = "https://wwwcie.ups.com";
    /// Production.
    pub const PRODUCTION_HOST: &str = "https://onlinetools.ups.com";
    /// Default sign-in page when validate-client has not been called yet.
    pub const DEFAULT_SIGNIN_URL: &str = "https://www.ups.com/lasso/signin";
    /// Path of validate-client.
    pub const VALIDATE_CLIENT_PATH: &str = "/security/v1/oauth/validate-client";
    /// Path of the token endpoint.
    pub const TOKEN_PATH: &str = "/security/v1/oauth/token";
    /// Path of the refresh endpoint.
    pub const REFRESH_PATH: &str = "/security/v1/oauth/refresh";
}

/// Everything the host needs to talk to one provider (no secret: the client secret stays in
/// the host's own config).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderConfig {
    /// Preset.
    pub kind: ProviderKind,
    /// Display name, e.g. "UPS.com".
    pub display_name: String,
    /// Public client id.
    pub client_id: String,
    /// Exact redirect URI (must match the provider registration byte for byte).
    pub redirect_uri: Url,
    /// Scope (space separated), may be empty.
    pub scope: String,
    /// Authorization (sign-in) endpoint. UPS: the `LassoRedirectURL`.
    pub authorize_url: Url,
    /// UPS validate-client endpoint (without query), `None` for generic.
    pub validate_client_url: Option<Url>,
    /// Token endpoint (code exchange).
    pub token_url: Url,
    /// Refresh endpoint (UPS: `/refresh`; generic: the token endpoint).
    pub refresh_url: Url,
    /// RFC 7009 revocation endpoint, if the provider has one.
    pub revocation_url: Option<Url>,
    /// Send PKCE S256.
    pub pkce: bool,
    /// Client authentication method.
    pub client_auth: ClientAuth,
    /// Extra authorize-URL parameters (UPS: `type=ups_com_api`).
    pub extra_params: BTreeMap<String, String>,
}

/// Why a configuration is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A URL is not absolute.
    #[error("{field} must be an absolute URL")]
    RelativeUrl {
        /// Which field.
        field: &'static str,
    },
    /// A URL uses plain http on a host that is not loopback.
    #[error("{field} must use https (plain http is allowed only on loopback)")]
    InsecureUrl {
        /// Which field.
        field: &'static str,
    },
    /// A URL carries a fragment, credentials or is otherwise unusable.
    #[error("{field} is not a valid endpoint URL: {reason}")]
    BadUrl {
        /// Which field.
        field: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// The client id is empty.
    #[error("client id is missing")]
    MissingClientId,
    /// The metadata document could not be used.
    #[error("authorization server metadata is invalid: {0}")]
    Metadata(String),
}

impl ProviderConfig {
    /// UPS preset against `host` (e.g. [`ups::TEST_HOST`]); the sign-in URL starts as
    /// [`ups::DEFAULT_SIGNIN_URL`] until [`apply_validate_client`](Self::apply_validate_client).
    pub fn ups(host: &str, client_id: &str, redirect_uri: &str) -> Result<Self, ConfigError> {
        todo!("{host}{client_id}{redirect_uri}")
    }
    /// Generic RFC 6749 preset.
    pub fn generic(
        authorize_url: &str,
        token_url: &str,
        revocation_url: Option<&str>,
        client_id: &str,
        redirect_uri: &str,
        scope: &str,
    ) -> Result<Self, ConfigError> {
        todo!("{authorize_url}{token_url}{revocation_url:?}{client_id}{redirect_uri}{scope}")
    }
    /// Generic preset from an RFC 8414 metadata document (`/.well-known/oauth-authorization-server`).
    pub fn from_metadata(json: &[u8], client_id: &str, redirect_uri: &str, scope: &str) -> Result<Self, ConfigError> {
        todo!("{}{client_id}{redirect_uri}{scope}", json.len())
    }
    /// Check every rule (absolute URLs, https except loopback, no fragments, client id present).
    pub fn validate(&self) -> Result<(), ConfigError> {
        todo!()
    }
    /// UPS: the validate-client URL with `client_id` and `redirect_uri` in the query.
    pub fn validate_client_request_url(&self) -> Option<Url> {
        todo!()
    }
    /// UPS: read a validate-client answer (`{"result":"success","type":"ups_com_api","LassoRedirectURL":…}`)
    /// and adopt its sign-in URL (and `type`) for the authorize request.
    pub fn apply_validate_client(&mut self, status: u16, body: &[u8]) -> Result<(), ProviderError> {
        todo!("{status}{}", body.len())
    }
    /// What `GET /config` returns to the widget.
    pub fn public(&self) -> ConfigResponse {
        todo!()
    }
}
