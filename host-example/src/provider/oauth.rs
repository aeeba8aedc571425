//! The OAuth 2.0 calls: code exchange, refresh, revocation.

use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, AuthorizationCode, ClientId, PkceCodeVerifier, RedirectUrl, RefreshToken,
    StandardRevocableToken, TokenUrl,
};
use token_manager_core::config::ClientAuth;
use token_manager_core::token::{parse_error_response_at, Endpoint};
use token_manager_core::{ProviderError, Timestamp, TokenGrant};

use super::http::{describe, Capture};
use super::Provider;
use crate::config::HttpLimits;
use crate::tokens::TokenPair;

impl Provider {
    /// The oauth2 client for `auth` at `token_url`: with the secret (Basic or in the body), or
    /// without it (UPS's PKCE token call: only `client_id` in the body, no `Authorization`).
    fn client(
        &self,
        auth: ClientAuth,
        token_url: &url::Url,
    ) -> oauth2::Client<
        oauth2::basic::BasicErrorResponse,
        oauth2::basic::BasicTokenResponse,
        oauth2::basic::BasicTokenIntrospectionResponse,
        StandardRevocableToken,
        oauth2::basic::BasicRevocationErrorResponse,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointSet,
    > {
        let client = BasicClient::new(ClientId::new(self.config.client_id.clone()))
            .set_token_uri(TokenUrl::from_url(token_url.clone()));
        match auth {
            ClientAuth::Basic => client
                .set_client_secret(self.secret.clone())
                .set_auth_type(AuthType::BasicAuth),
            ClientAuth::RequestBody => client
                .set_client_secret(self.secret.clone())
                .set_auth_type(AuthType::RequestBody),
            ClientAuth::ClientIdOnly => client.set_auth_type(AuthType::RequestBody),
        }
    }

    /// The raw Basic header UPS's SDKs send (`base64(client_id:client_secret)`), where the
    /// provider wants it: the oauth2 crate always form-encodes both first (RFC 6749 §2.3.1),
    /// which changes any secret holding `+ / = ~ %` and fails every call at UPS.
    fn raw_basic(&self) -> Option<reqwest::header::HeaderValue> {
        use base64::Engine as _;
        if !self.config.raw_basic {
            return None;
        }
        let pair = zeroize::Zeroizing::new(format!(
            "{}:{}",
            self.config.client_id,
            self.secret.secret()
        ));
        let encoded = zeroize::Zeroizing::new(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair.as_bytes())
        ));
        let mut value = reqwest::header::HeaderValue::from_str(&encoded).ok()?;
        value.set_sensitive(true);
        Some(value)
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
        let client = self
            .client(self.config.exchange_client_auth(), &self.config.token_url)
            .set_redirect_uri(redirect);
        let capture = Capture::new(&self.http).with_authorization(self.raw_basic());
        let mut request = client.exchange_code(AuthorizationCode::new(code.to_owned()));
        if self.config.pkce {
            request = request.set_pkce_verifier(PkceCodeVerifier::new(code_verifier.to_owned()));
        }
        let outcome = request.request_async(&capture).await;
        capture.into_grant(
            Endpoint::Token,
            outcome.err().map(describe),
            now,
            self.limits,
        )
    }

    /// Refresh (RFC 6749 §6; UPS: its `/refresh` endpoint, Basic auth).
    pub async fn refresh(
        &self,
        refresh_token: &RefreshToken,
        now: Timestamp,
    ) -> Result<TokenGrant, ProviderError> {
        let client = self.client(self.config.client_auth, &self.config.refresh_url);
        let capture = Capture::with_timeout(&self.http, self.limits.refresh_timeout)
            .with_authorization(self.raw_basic());
        let outcome = client
            .exchange_refresh_token(refresh_token)
            .request_async(&capture)
            .await;
        let limits = HttpLimits {
            timeout: self.limits.refresh_timeout,
            ..self.limits
        };
        capture.into_grant(Endpoint::Refresh, outcome.err().map(describe), now, limits)
    }

    /// Revoke (RFC 7009) where the provider has an endpoint: the refresh token (RFC 7009
    /// §2.1: servers revoke the access tokens of the same grant with it), else the access
    /// token. The request is the host's own (a form POST with `token` and `token_type_hint`
    /// and the client's authentication), not the `oauth2` crate's, which refuses a revocation
    /// URL that is not https even on loopback — the same rule every other endpoint follows here
    /// (core's `check_endpoint`). `Ok(false)` when the provider has no revocation (UPS).
    pub async fn revoke(&self, tokens: &TokenPair) -> Result<bool, ProviderError> {
        let Some(url) = &self.config.revocation_url else {
            return Ok(false);
        };
        let (token, hint) = match &tokens.refresh {
            Some(r) => (r.secret().as_str(), "refresh_token"),
            None => (tokens.access.secret().as_str(), "access_token"),
        };
        let mut form = vec![("token", token), ("token_type_hint", hint)];
        let secret = self.secret.secret().as_str();
        let mut request = self.http.post(url.clone());
        match self.config.client_auth {
            ClientAuth::Basic => {
                request = match self.raw_basic() {
                    Some(v) => request.header(reqwest::header::AUTHORIZATION, v),
                    // RFC 6749 §2.3.1: form-encode id and secret, then Basic.
                    None => {
                        let enc = |s: &str| -> String {
                            url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
                        };
                        request.basic_auth(enc(&self.config.client_id), Some(enc(secret)))
                    }
                };
            }
            ClientAuth::RequestBody => {
                form.push(("client_id", self.config.client_id.as_str()));
                form.push(("client_secret", secret));
            }
            ClientAuth::ClientIdOnly => form.push(("client_id", self.config.client_id.as_str())),
        }
        let request = request.header("Accept", "application/json").form(&form);
        match super::http::send_capped(request).await {
            // RFC 7009 §2.2: 200 also for a token the server no longer knows.
            Ok((status, _)) if (200..300).contains(&status) => Ok(true),
            Ok((status, body)) => Err(parse_error_response_at(Endpoint::Revoke, status, &body)),
            Err(t) => Err(super::http::transport_error(t)),
        }
    }
}
