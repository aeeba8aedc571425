//! Registered clients: redirect URI checks and client authentication at the token and
//! refresh endpoints.

use url::Url;

use super::{secret_eq, State};
use crate::config::MockClient;
use crate::error::UpsError;

impl State {
    fn client(&self, client_id: &str) -> Option<&MockClient> {
        self.clients.iter().find(|c| c.client_id == client_id)
    }

    /// validate-client / authorize / sign-in: the client exists and `redirect_uri` is one of
    /// its registered URIs, compared exactly (RFC 9700 §4.1.3).
    pub(crate) fn check_client_redirect(
        &self,
        client_id: Option<&str>,
        redirect_uri: Option<&str>,
    ) -> Result<Url, UpsError> {
        let client_id = client_id
            .filter(|c| !c.is_empty())
            .ok_or_else(|| UpsError::invalid_request("Missing required parameter: client_id"))?;
        let redirect_uri = redirect_uri
            .filter(|r| !r.is_empty())
            .ok_or_else(|| UpsError::invalid_request("Missing required parameter: redirect_uri"))?;
        let client = self
            .client(client_id)
            .ok_or_else(UpsError::invalid_client)?;
        if !client.redirect_uris.iter().any(|r| r == redirect_uri) {
            tracing::info!(
                client_id,
                redirect_uri,
                "mock UPS: redirect_uri not registered"
            );
            return Err(UpsError::invalid_redirect());
        }
        Url::parse(redirect_uri).map_err(|_| {
            UpsError::invalid_request("the registered redirect_uri is not an absolute URL")
        })
    }

    pub(crate) fn add_redirect_uri(&mut self, client_id: &str, uri: &str) -> bool {
        match self.clients.iter_mut().find(|c| c.client_id == client_id) {
            Some(c) => {
                if !c.redirect_uris.iter().any(|r| r == uri) {
                    c.redirect_uris.push(uri.to_owned());
                }
                true
            }
            None => false,
        }
    }

    /// Client authentication at the token and refresh endpoints.
    ///
    /// - `basic` given: it must name a registered client with its secret (compared in constant
    ///   time); a `client_id` in the body, if any, must be the same client.
    /// - no `basic` and `allow_pkce_public` (UPS's "Auth-Code with PKCE" flow 2): the body's
    ///   `client_id` must name a registered client; the code's PKCE check then proves the caller.
    ///
    /// Returns the client id and whether the secret was proven.
    pub(crate) fn authenticate(
        &self,
        basic: Option<Result<(String, String), ()>>,
        body_client_id: Option<&str>,
        allow_pkce_public: bool,
    ) -> Result<(String, bool), UpsError> {
        match basic {
            Some(Ok((id, secret))) => {
                let client = self.client(&id);
                // Compare against something even for an unknown id, so timing says nothing.
                let expected = client.map_or("\u{0}unknown-client", |c| c.client_secret.as_str());
                let secret_ok = secret_eq(&secret, expected);
                match client {
                    Some(c) if secret_ok => {
                        if body_client_id.is_some_and(|b| b != c.client_id) {
                            return Err(UpsError::invalid_client());
                        }
                        Ok((c.client_id.clone(), true))
                    }
                    _ => Err(UpsError::invalid_client()),
                }
            }
            Some(Err(())) => Err(UpsError::missing_auth()),
            None => match body_client_id {
                Some(id) if allow_pkce_public => match self.client(id) {
                    Some(c) => Ok((c.client_id.clone(), false)),
                    None => Err(UpsError::invalid_client()),
                },
                _ => Err(UpsError::missing_auth()),
            },
        }
    }
}
