//! Provider configuration: the `ups` and `generic` presets, validation, RFC 8414 metadata.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::api::ConfigResponse;
use crate::token::{parse_error_response, ProviderError, ProviderErrorKind};

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
    /// `Authorization: Basic base64(client_id:client_secret)` (RFC 6749 §2.3.1; UPS: the raw
    /// pair, see [`ProviderConfig::raw_basic`]).
    Basic,
    /// `client_id` and `client_secret` in the form body.
    RequestBody,
    /// Only `client_id` in the body, no secret and no `Authorization` header: UPS's
    /// "Auth-Code with PKCE" token call, where the verifier proves the caller.
    ClientIdOnly,
}

/// Where a UPS opt-in starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpsEntry {
    /// `GET /security/v1/oauth/authorize` (UPS's spec since 2023-11-06; its SDKs and samples):
    /// the browser is sent there and UPS answers 302 to its sign-in.
    Authorize,
    /// `GET /security/v1/oauth/validate-client` (the 2022 spec): the host asks for the
    /// `LassoRedirectURL` and sends the browser to it. For accounts that still need it.
    ValidateClient,
}

/// Which of UPS's two documented token flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpsFlow {
    /// "Auth-Code with PKCE": `code_challenge` at `/authorize`; at `/token` `client_id` and
    /// `code_verifier` in the body and no `Authorization` header; refresh with Basic. The
    /// default (RFC 9700 §2.1.1 asks for PKCE).
    Pkce,
    /// "Plain Auth-Code": no challenge; Basic at `/token` and `/refresh`.
    Plain,
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
    /// Path of the authorize endpoint in UPS's current OpenAPI spec (`GET`, answers 302 to the
    /// Lasso sign-in page); the older spec's validate-client step is what the preset uses.
    /// See `core/UPS-CONTRACT.md`.
    pub const AUTHORIZE_PATH: &str = "/security/v1/oauth/authorize";
    /// Path of the token endpoint.
    pub const TOKEN_PATH: &str = "/security/v1/oauth/token";
    /// Path of the refresh endpoint.
    pub const REFRESH_PATH: &str = "/security/v1/oauth/refresh";
    /// The `type` authorize parameter of the UPS.com sign-in.
    pub const SIGNIN_TYPE: &str = "ups_com_api";
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
    /// Client authentication at the refresh endpoint (and, unless [`Self::exchange_auth`] says
    /// otherwise, at the token endpoint).
    pub client_auth: ClientAuth,
    /// Client authentication of the code exchange, when it differs from [`Self::client_auth`]
    /// (UPS's PKCE flow: [`ClientAuth::ClientIdOnly`]).
    #[serde(default)]
    pub exchange_auth: Option<ClientAuth>,
    /// Send Basic credentials as the raw `client_id:client_secret` (UPS's SDKs), not
    /// form-encoded first (RFC 6749 §2.3.1).
    #[serde(default)]
    pub raw_basic: bool,
    /// Send `code_challenge_method=S256` with the challenge (RFC 7636 §4.3: absent means
    /// `plain`). UPS documents only `code_challenge`, with the S256 transform, so its preset
    /// leaves the parameter out.
    #[serde(default = "yes")]
    pub send_challenge_method: bool,
    /// RFC 9207: the `iss` the authorization response must carry, when the server says it
    /// sends one.
    #[serde(default)]
    pub expected_iss: Option<String>,
    /// The issuer, for a provider found by discovery (an ID token's `iss` must be it).
    #[serde(default)]
    pub issuer: Option<String>,
    /// Extra authorize-URL parameters (UPS: `type=ups_com_api`).
    pub extra_params: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
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
    /// UPS preset against `host` (e.g. [`ups::TEST_HOST`]) as UPS's current spec describes it:
    /// the `/authorize` entry and the PKCE token flow ([`Self::ups_with`] chooses otherwise).
    pub fn ups(host: &str, client_id: &str, redirect_uri: &str) -> Result<Self, ConfigError> {
        Self::ups_with(
            host,
            client_id,
            redirect_uri,
            UpsEntry::Authorize,
            UpsFlow::Pkce,
        )
    }
    /// UPS preset with the given entry and token flow. With [`UpsEntry::ValidateClient`] the
    /// sign-in URL starts as [`ups::DEFAULT_SIGNIN_URL`] until
    /// [`apply_validate_client`](Self::apply_validate_client).
    pub fn ups_with(
        host: &str,
        client_id: &str,
        redirect_uri: &str,
        entry: UpsEntry,
        flow: UpsFlow,
    ) -> Result<Self, ConfigError> {
        let host = parse_url("ups_host", host)?;
        let at = |field: &'static str, path: &str| {
            host.join(path).map_err(|_| ConfigError::BadUrl {
                field,
                reason: "cannot be joined with the UPS path",
            })
        };
        let (authorize_url, validate_client_url, extra_params) = match entry {
            // `/authorize` adds `type=ups_com_api` to the sign-in URL itself.
            UpsEntry::Authorize => (
                at("authorize_url", ups::AUTHORIZE_PATH)?,
                None,
                BTreeMap::new(),
            ),
            UpsEntry::ValidateClient => (
                parse_url("authorize_url", ups::DEFAULT_SIGNIN_URL)?,
                Some(at("validate_client_url", ups::VALIDATE_CLIENT_PATH)?),
                BTreeMap::from([("type".to_owned(), ups::SIGNIN_TYPE.to_owned())]),
            ),
        };
        let config = ProviderConfig {
            kind: ProviderKind::Ups,
            display_name: "UPS.com".into(),
            client_id: client_id.trim().to_owned(),
            redirect_uri: parse_url("redirect_uri", redirect_uri)?,
            scope: "read".into(),
            authorize_url,
            validate_client_url,
            token_url: at("token_url", ups::TOKEN_PATH)?,
            refresh_url: at("refresh_url", ups::REFRESH_PATH)?,
            revocation_url: None,
            pkce: flow == UpsFlow::Pkce,
            client_auth: ClientAuth::Basic,
            exchange_auth: (flow == UpsFlow::Pkce).then_some(ClientAuth::ClientIdOnly),
            raw_basic: true,
            send_challenge_method: false,
            expected_iss: None,
            issuer: None,
            extra_params,
        };
        config.validate()?;
        Ok(config)
    }
    /// How the code exchange authenticates.
    pub fn exchange_client_auth(&self) -> ClientAuth {
        self.exchange_auth.unwrap_or(self.client_auth)
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
        let authorize_url = parse_url("authorize_url", authorize_url)?;
        let token_url = parse_url("token_url", token_url)?;
        let config = ProviderConfig {
            kind: ProviderKind::Generic,
            display_name: authorize_url
                .host_str()
                .unwrap_or("the provider")
                .to_owned(),
            client_id: client_id.trim().to_owned(),
            redirect_uri: parse_url("redirect_uri", redirect_uri)?,
            scope: scope.trim().to_owned(),
            authorize_url,
            validate_client_url: None,
            refresh_url: token_url.clone(),
            token_url,
            revocation_url: revocation_url
                .map(|u| parse_url("revocation_url", u))
                .transpose()?,
            pkce: true,
            client_auth: ClientAuth::Basic,
            exchange_auth: None,
            raw_basic: false,
            send_challenge_method: true,
            expected_iss: None,
            issuer: None,
            extra_params: BTreeMap::new(),
        };
        config.validate()?;
        Ok(config)
    }
    /// Generic preset from an RFC 8414 metadata document (`/.well-known/oauth-authorization-server`).
    pub fn from_metadata(
        json: &[u8],
        client_id: &str,
        redirect_uri: &str,
        scope: &str,
    ) -> Result<Self, ConfigError> {
        let meta: Metadata = serde_json::from_slice(json)
            .map_err(|e| ConfigError::Metadata(format!("not a metadata document: {e}")))?;
        let issuer = parse_url("issuer", &meta.issuer)?;
        if issuer.query().is_some() || issuer.fragment().is_some() {
            return Err(ConfigError::Metadata(
                "issuer must not have a query or fragment (RFC 8414 §2)".into(),
            ));
        }
        let authorize = meta
            .authorization_endpoint
            .ok_or_else(|| ConfigError::Metadata("authorization_endpoint is missing".into()))?;
        let token = meta
            .token_endpoint
            .ok_or_else(|| ConfigError::Metadata("token_endpoint is missing".into()))?;
        if let Some(types) = &meta.response_types_supported {
            if !types.iter().any(|t| t == "code") {
                return Err(ConfigError::Metadata(
                    "the server does not support response_type=code".into(),
                ));
            }
        }
        let mut config = Self::generic(
            &authorize,
            &token,
            meta.revocation_endpoint.as_deref(),
            client_id,
            redirect_uri,
            scope,
        )?;
        config.display_name = issuer.host_str().unwrap_or("the provider").to_owned();
        // RFC 8414 §2: absent means client_secret_basic.
        if let Some(methods) = &meta.token_endpoint_auth_methods_supported {
            let basic = methods.iter().any(|m| m == "client_secret_basic");
            let post = methods.iter().any(|m| m == "client_secret_post");
            config.client_auth = match (basic, post) {
                (true, _) => ClientAuth::Basic,
                (false, true) => ClientAuth::RequestBody,
                (false, false) => {
                    return Err(ConfigError::Metadata(
                        "the token endpoint supports neither client_secret_basic nor client_secret_post".into(),
                    ))
                }
            };
        }
        Ok(config)
    }
    /// Generic preset from the metadata document found for `issuer` (the `--issuer` flag),
    /// checked as RFC 8414 asks before any endpoint receives the client secret: the document's
    /// `issuer` identical to `issuer` (§3.3), an https issuer (loopback http only with
    /// [`DiscoveryRules::allow_http_loopback`]), every endpoint on the issuer's host or an
    /// allowed one, `S256` offered for PKCE (RFC 9700 §2.1.1), and RFC 9207's `iss` checked on
    /// the return when the server advertises it.
    pub fn from_discovery(
        json: &[u8],
        issuer: &Url,
        client_id: &str,
        redirect_uri: &str,
        scope: &str,
        rules: &DiscoveryRules,
    ) -> Result<Self, ConfigError> {
        if json.len() > MAX_METADATA {
            return Err(ConfigError::Metadata(format!(
                "the metadata document is larger than {MAX_METADATA} bytes"
            )));
        }
        let meta: Metadata = serde_json::from_slice(json)
            .map_err(|e| ConfigError::Metadata(format!("not a metadata document: {e}")))?;
        if meta.issuer != issuer.as_str() && meta.issuer != issuer.as_str().trim_end_matches('/') {
            return Err(ConfigError::Metadata(format!(
                "the document's issuer {:?} is not --issuer {:?} (RFC 8414 §3.3: they must be identical)",
                meta.issuer.chars().take(200).collect::<String>(),
                issuer.as_str()
            )));
        }
        if issuer.scheme() != "https" && !(rules.allow_http_loopback && is_loopback(issuer)) {
            return Err(ConfigError::Metadata(format!(
                "--issuer {issuer} must be https (plain http only on loopback, and only with the development flag)"
            )));
        }
        let methods = meta
            .code_challenge_methods_supported
            .as_deref()
            .unwrap_or_default();
        if !rules.allow_without_s256 && !methods.iter().any(|m| m == "S256") {
            return Err(ConfigError::Metadata(
                "the server does not list S256 in code_challenge_methods_supported (PKCE); refusing"
                    .into(),
            ));
        }
        let mut config = Self::from_metadata(json, client_id, redirect_uri, scope)?;
        let host = issuer.host_str().unwrap_or_default().to_ascii_lowercase();
        let mut endpoints = vec![
            ("authorization_endpoint", &config.authorize_url),
            ("token_endpoint", &config.token_url),
        ];
        if let Some(r) = &config.revocation_url {
            endpoints.push(("revocation_endpoint", r));
        }
        for (field, url) in endpoints {
            let h = url.host_str().unwrap_or_default().to_ascii_lowercase();
            if h != host
                && !rules
                    .allowed_endpoint_hosts
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(&h))
            {
                return Err(ConfigError::Metadata(format!(
                    "{field} {url} is not on the issuer's host {host} (allow it explicitly if it must be)"
                )));
            }
        }
        if meta.authorization_response_iss_parameter_supported {
            config.expected_iss = Some(meta.issuer.clone());
        }
        config.issuer = Some(meta.issuer);
        Ok(config)
    }
    /// Check every rule (absolute URLs, https except loopback, no fragments, client id present).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.client_id.trim().is_empty() {
            return Err(ConfigError::MissingClientId);
        }
        if self.client_id.chars().any(char::is_control) {
            return Err(ConfigError::BadUrl {
                field: "client_id",
                reason: "contains control characters",
            });
        }
        check_endpoint("redirect_uri", &self.redirect_uri)?;
        check_endpoint("authorize_url", &self.authorize_url)?;
        check_endpoint("token_url", &self.token_url)?;
        check_endpoint("refresh_url", &self.refresh_url)?;
        if let Some(u) = &self.validate_client_url {
            check_endpoint("validate_client_url", u)?;
        }
        if let Some(u) = &self.revocation_url {
            check_endpoint("revocation_url", u)?;
        }
        Ok(())
    }
    /// UPS: the validate-client URL with `client_id` and `redirect_uri` in the query.
    pub fn validate_client_request_url(&self) -> Option<Url> {
        let mut url = self.validate_client_url.clone()?;
        url.query_pairs_mut()
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", self.redirect_uri.as_str());
        Some(url)
    }
    /// UPS: read a validate-client answer (`{"result":"success","type":"ups_com_api","LassoRedirectURL":…}`)
    /// and adopt its sign-in URL (and `type`) for the authorize request.
    pub fn apply_validate_client(&mut self, status: u16, body: &[u8]) -> Result<(), ProviderError> {
        if !(200..300).contains(&status) {
            return Err(parse_error_response(status, body));
        }
        let answer: ValidateClientAnswer = serde_json::from_slice(body).map_err(|_| {
            ProviderError::malformed(
                Some(status),
                "validate-client answer is not the expected JSON",
            )
        })?;
        if !answer.result.eq_ignore_ascii_case("success") {
            return Err(ProviderError {
                kind: ProviderErrorKind::Other,
                status: Some(status),
                code: "validate_client_failed".into(),
                message: format!(
                    "validate-client answered result={:?}",
                    answer.result.chars().take(64).collect::<String>()
                ),
            });
        }
        let signin = answer
            .lasso_redirect_url
            .as_deref()
            .and_then(|u| Url::parse(u).ok())
            .ok_or_else(|| {
                ProviderError::malformed(
                    Some(status),
                    "validate-client answer has no usable LassoRedirectURL",
                )
            })?;
        check_endpoint("LassoRedirectURL", &signin)
            .map_err(|e| ProviderError::malformed(Some(status), format!("validate-client: {e}")))?;
        self.authorize_url = signin;
        if let Some(t) = answer.kind.filter(|t| !t.trim().is_empty()) {
            self.extra_params.insert("type".into(), t.trim().to_owned());
        }
        Ok(())
    }
    /// What `GET /config` returns to the widget.
    pub fn public(&self) -> ConfigResponse {
        ConfigResponse {
            provider: match self.kind {
                ProviderKind::Ups => "ups",
                ProviderKind::Generic => "generic",
            }
            .to_owned(),
            provider_name: self.display_name.clone(),
            authorize_url: self.authorize_url.to_string(),
            client_id: self.client_id.clone(),
            redirect_uri: self.redirect_uri.to_string(),
            scope: self.scope.clone(),
            pkce: self.pkce,
            challenge_method: self.send_challenge_method,
            extra_params: self.extra_params.clone(),
        }
    }
}

/// The answer of UPS's validate-client step (`{result, type, LassoRedirectURL}`, see
/// `core/UPS-CONTRACT.md`).
#[derive(Deserialize)]
struct ValidateClientAnswer {
    #[serde(default)]
    result: String,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(rename = "LassoRedirectURL", alias = "lassoRedirectURL", default)]
    lasso_redirect_url: Option<String>,
}

/// The RFC 8414 §2 fields core uses.
#[derive(Deserialize)]
struct Metadata {
    issuer: String,
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
    revocation_endpoint: Option<String>,
    response_types_supported: Option<Vec<String>>,
    token_endpoint_auth_methods_supported: Option<Vec<String>>,
    code_challenge_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
}

/// What a metadata document must satisfy before its endpoints receive the client secret
/// ([`ProviderConfig::from_discovery`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DiscoveryRules {
    /// Other hosts the endpoints may be on (besides the issuer's).
    pub allowed_endpoint_hosts: Vec<String>,
    /// Accept a server that does not list `S256` in `code_challenge_methods_supported`.
    pub allow_without_s256: bool,
    /// Accept a plain-http issuer on loopback (development only).
    pub allow_http_loopback: bool,
}

/// Largest metadata document read (bytes).
pub const MAX_METADATA: usize = 64 * 1024;

/// Where `issuer`'s metadata may be, in order: RFC 8414 §3.1's form, with the well-known
/// suffix *inserted* between host and path (`https://h/.well-known/oauth-authorization-server/tenant`),
/// then OpenID Connect Discovery §4's *appended* form (`https://h/tenant/.well-known/openid-configuration`),
/// then RFC 8414's suffix inserted for OpenID (RFC 8414 §5).
pub fn metadata_urls(issuer: &Url) -> Vec<Url> {
    let origin = issuer.origin().ascii_serialization();
    let path = issuer.path().trim_end_matches('/');
    let candidates = [
        format!("{origin}/.well-known/oauth-authorization-server{path}"),
        format!("{origin}{path}/.well-known/openid-configuration"),
        format!("{origin}/.well-known/openid-configuration{path}"),
    ];
    let mut out: Vec<Url> = Vec::new();
    for c in candidates {
        if let Ok(u) = Url::parse(&c) {
            if !out.contains(&u) {
                out.push(u);
            }
        }
    }
    out
}

/// Parse an absolute URL, naming the field on failure.
fn parse_url(field: &'static str, s: &str) -> Result<Url, ConfigError> {
    match Url::parse(s.trim()) {
        Ok(u) => Ok(u),
        Err(
            url::ParseError::RelativeUrlWithoutBase
            | url::ParseError::RelativeUrlWithCannotBeABaseBase,
        ) => Err(ConfigError::RelativeUrl { field }),
        Err(url::ParseError::EmptyHost) => Err(ConfigError::BadUrl {
            field,
            reason: "has no host",
        }),
        Err(url::ParseError::InvalidPort) => Err(ConfigError::BadUrl {
            field,
            reason: "has an invalid port",
        }),
        Err(_) => Err(ConfigError::BadUrl {
            field,
            reason: "cannot be parsed",
        }),
    }
}

/// https (or http on loopback), a host, no credentials, no fragment.
fn check_endpoint(field: &'static str, url: &Url) -> Result<(), ConfigError> {
    if url.cannot_be_a_base() {
        return Err(ConfigError::RelativeUrl { field });
    }
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(url) => {}
        "http" => return Err(ConfigError::InsecureUrl { field }),
        _ => {
            return Err(ConfigError::BadUrl {
                field,
                reason: "scheme must be https",
            })
        }
    }
    if url.host().is_none() {
        return Err(ConfigError::BadUrl {
            field,
            reason: "has no host",
        });
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError::BadUrl {
            field,
            reason: "must not contain credentials",
        });
    }
    if url.fragment().is_some() {
        return Err(ConfigError::BadUrl {
            field,
            reason: "must not contain a fragment",
        });
    }
    Ok(())
}

/// `localhost`, `*.localhost`, 127.0.0.0/8 or ::1.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const REDIRECT: &str = "https://portal.example/admin/token-manager";

    #[test]
    fn ups_preset() {
        let c = ProviderConfig::ups(ups::TEST_HOST, "cid", REDIRECT).unwrap();
        assert_eq!(
            c.token_url.as_str(),
            "https://wwwcie.ups.com/security/v1/oauth/token"
        );
        assert_eq!(
            c.refresh_url.as_str(),
            "https://wwwcie.ups.com/security/v1/oauth/refresh"
        );
        // UPS's current spec: the `/authorize` entry, the PKCE flow (client_id + verifier at
        // /token, no Basic), Basic at /refresh, raw credentials, no challenge method.
        assert_eq!(
            c.authorize_url.as_str(),
            "https://wwwcie.ups.com/security/v1/oauth/authorize"
        );
        assert!(c.validate_client_url.is_none() && c.extra_params.is_empty());
        assert!(c.pkce && c.raw_basic && !c.send_challenge_method);
        assert_eq!(c.client_auth, ClientAuth::Basic);
        assert_eq!(c.exchange_client_auth(), ClientAuth::ClientIdOnly);
        let plain = ProviderConfig::ups_with(
            ups::TEST_HOST,
            "cid",
            REDIRECT,
            UpsEntry::Authorize,
            UpsFlow::Plain,
        )
        .unwrap();
        assert!(!plain.pkce);
        assert_eq!(plain.exchange_client_auth(), ClientAuth::Basic);
        // The 2022 entry, for accounts that still need it.
        let c = ProviderConfig::ups_with(
            ups::TEST_HOST,
            "cid",
            REDIRECT,
            UpsEntry::ValidateClient,
            UpsFlow::Pkce,
        )
        .unwrap();
        assert_eq!(c.authorize_url.as_str(), ups::DEFAULT_SIGNIN_URL);
        assert_eq!(c.extra_params["type"], "ups_com_api");
        let v = c.validate_client_request_url().unwrap();
        assert_eq!(
            v.as_str(),
            "https://wwwcie.ups.com/security/v1/oauth/validate-client?client_id=cid&redirect_uri=https%3A%2F%2Fportal.example%2Fadmin%2Ftoken-manager"
        );
        let p = c.public();
        assert_eq!(
            (
                p.provider.as_str(),
                p.provider_name.as_str(),
                p.scope.as_str()
            ),
            ("ups", "UPS.com", "read")
        );
        // A mock on loopback over http is fine.
        assert!(ProviderConfig::ups(
            "http://127.0.0.1:8081",
            "cid",
            "http://localhost:8080/admin/token-manager"
        )
        .is_ok());
    }

    #[test]
    fn validation_errors() {
        assert_eq!(
            ProviderConfig::ups("wwwcie.ups.com", "cid", REDIRECT).unwrap_err(),
            ConfigError::RelativeUrl { field: "ups_host" }
        );
        assert_eq!(
            ProviderConfig::ups("http://wwwcie.ups.com", "cid", REDIRECT).unwrap_err(),
            ConfigError::InsecureUrl {
                field: "authorize_url"
            }
        );
        assert_eq!(
            ProviderConfig::ups(ups::TEST_HOST, " ", REDIRECT).unwrap_err(),
            ConfigError::MissingClientId
        );
        assert_eq!(
            ProviderConfig::ups(ups::TEST_HOST, "c", "https://p.example/cb#x")
                .unwrap_err()
                .to_string(),
            "redirect_uri is not a valid endpoint URL: must not contain a fragment"
        );
        assert!(matches!(
            ProviderConfig::ups(ups::TEST_HOST, "c", "ftp://p.example/cb"),
            Err(ConfigError::BadUrl { .. })
        ));
        assert!(matches!(
            ProviderConfig::ups("https://u:p@h.example", "c", REDIRECT),
            Err(ConfigError::BadUrl { .. })
        ));
    }

    #[test]
    fn generic_and_metadata() {
        let c = ProviderConfig::generic(
            "https://idp.example/authorize",
            "https://idp.example/token",
            Some("https://idp.example/revoke"),
            "cid",
            REDIRECT,
            "openid",
        )
        .unwrap();
        assert_eq!(c.refresh_url, c.token_url);
        assert!(c.revocation_url.is_some());
        let meta = br#"{"issuer":"https://idp.example","authorization_endpoint":"https://idp.example/a","token_endpoint":"https://idp.example/t","revocation_endpoint":"https://idp.example/r","response_types_supported":["code"],"token_endpoint_auth_methods_supported":["client_secret_post"]}"#;
        let c = ProviderConfig::from_metadata(meta, "cid", REDIRECT, "").unwrap();
        assert_eq!(c.client_auth, ClientAuth::RequestBody);
        assert_eq!(c.display_name, "idp.example");
        assert_eq!(c.revocation_url.unwrap().as_str(), "https://idp.example/r");
        assert!(matches!(
            ProviderConfig::from_metadata(b"{}", "c", REDIRECT, ""),
            Err(ConfigError::Metadata(_))
        ));
        assert!(matches!(
            ProviderConfig::from_metadata(
                br#"{"issuer":"https://i.example","token_endpoint":"https://i.example/t"}"#,
                "c",
                REDIRECT,
                ""
            ),
            Err(ConfigError::Metadata(_))
        ));
    }

    #[test]
    fn discovery_refuses_what_rfc_8414_refuses() {
        let issuer = Url::parse("https://idp.example/realms/demo").unwrap();
        let rules = DiscoveryRules::default();
        let doc = |issuer: &str, authz: &str, token: &str, extra: &str| {
            format!(
                r#"{{"issuer":"{issuer}","authorization_endpoint":"{authz}","token_endpoint":"{token}","code_challenge_methods_supported":["S256"]{extra}}}"#
            )
        };
        let good = doc(
            "https://idp.example/realms/demo",
            "https://idp.example/realms/demo/auth",
            "https://idp.example/realms/demo/token",
            r#","authorization_response_iss_parameter_supported":true"#,
        );
        let c = ProviderConfig::from_discovery(good.as_bytes(), &issuer, "c", REDIRECT, "", &rules)
            .unwrap();
        assert_eq!(
            c.expected_iss.as_deref(),
            Some("https://idp.example/realms/demo")
        );
        let refused = |json: &str, rules: &DiscoveryRules, issuer: &Url| {
            ProviderConfig::from_discovery(json.as_bytes(), issuer, "c", REDIRECT, "", rules)
                .unwrap_err()
                .to_string()
        };
        // Another issuer: RFC 8414 §3.3.
        let other = doc(
            "https://evil.example",
            "https://idp.example/a",
            "https://idp.example/t",
            "",
        );
        assert!(refused(&other, &rules, &issuer).contains("identical"));
        // Endpoints on another host: the client secret would go there.
        let foreign = doc(
            "https://idp.example/realms/demo",
            "https://idp.example/a",
            "https://169.254.169.254/t",
            "",
        );
        assert!(refused(&foreign, &rules, &issuer).contains("not on the issuer's host"));
        let allowed = DiscoveryRules {
            allowed_endpoint_hosts: vec!["169.254.169.254".into()],
            ..DiscoveryRules::default()
        };
        assert!(ProviderConfig::from_discovery(
            foreign.as_bytes(),
            &issuer,
            "c",
            REDIRECT,
            "",
            &allowed
        )
        .is_ok());
        // Plain http endpoints off loopback.
        let http = doc(
            "https://idp.example/realms/demo",
            "http://idp.example/a",
            "https://idp.example/t",
            "",
        );
        assert!(refused(&http, &rules, &issuer).contains("https"));
        // No S256.
        let no_pkce = r#"{"issuer":"https://idp.example/realms/demo","authorization_endpoint":"https://idp.example/a","token_endpoint":"https://idp.example/t"}"#;
        assert!(refused(no_pkce, &rules, &issuer).contains("S256"));
        // Oversized.
        let big = format!("{}{}", " ".repeat(MAX_METADATA), good);
        assert!(refused(&big, &rules, &issuer).contains("larger"));
        // An http issuer, even on loopback, only with the development flag.
        let local = Url::parse("http://127.0.0.1:9000").unwrap();
        let local_doc = doc(
            "http://127.0.0.1:9000",
            "http://127.0.0.1:9000/a",
            "http://127.0.0.1:9000/t",
            "",
        );
        assert!(refused(&local_doc, &rules, &local).contains("https"));
        let dev = DiscoveryRules {
            allow_http_loopback: true,
            ..DiscoveryRules::default()
        };
        assert!(ProviderConfig::from_discovery(
            local_doc.as_bytes(),
            &local,
            "c",
            REDIRECT,
            "",
            &dev
        )
        .is_ok());
    }

    #[test]
    fn metadata_urls_insert_the_well_known_suffix() {
        let u = |s: &str| {
            metadata_urls(&Url::parse(s).unwrap())
                .iter()
                .map(Url::to_string)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            u("https://idp.example/realms/demo"),
            [
                "https://idp.example/.well-known/oauth-authorization-server/realms/demo",
                "https://idp.example/realms/demo/.well-known/openid-configuration",
                "https://idp.example/.well-known/openid-configuration/realms/demo",
            ]
        );
        assert_eq!(
            u("https://idp.example/"),
            [
                "https://idp.example/.well-known/oauth-authorization-server",
                "https://idp.example/.well-known/openid-configuration",
            ]
        );
    }

    #[test]
    fn validate_client_answer() {
        let mut c = ProviderConfig::ups(ups::TEST_HOST, "cid", REDIRECT).unwrap();
        c.apply_validate_client(200, br#"{"result":"success","type":"ups_com_api","LassoRedirectURL":"https://www.ups.com/lasso/signin?x=1"}"#).unwrap();
        assert_eq!(
            c.authorize_url.as_str(),
            "https://www.ups.com/lasso/signin?x=1"
        );
        let e = c
            .apply_validate_client(
                200,
                br#"{"result":"success","LassoRedirectURL":"http://evil.example/"}"#,
            )
            .unwrap_err();
        assert_eq!(e.kind, ProviderErrorKind::Malformed);
        let e = c
            .apply_validate_client(
                401,
                br#"{"response":{"errors":[{"code":"10401","message":"ClientId is Invalid"}]}}"#,
            )
            .unwrap_err();
        assert_eq!(e.kind, ProviderErrorKind::InvalidClient);
        let e = c
            .apply_validate_client(200, br#"{"result":"failure"}"#)
            .unwrap_err();
        assert_eq!(e.kind, ProviderErrorKind::Other);
    }
}
