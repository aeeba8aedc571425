//! Reading a generic provider's metadata (RFC 8414, or OpenID Connect Discovery) at start.

use url::Url;

use super::http::http_client;
use crate::config::HttpLimits;

/// Why no metadata could be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    /// Neither well-known document answered.
    #[error("no RFC 8414 / OpenID metadata found under {0}")]
    NotFound(String),
}

/// The metadata document of `issuer`: `/.well-known/oauth-authorization-server`, else
/// `/.well-known/openid-configuration`, under its origin.
pub async fn fetch_metadata(issuer: &Url, limits: HttpLimits) -> Result<Vec<u8>, DiscoveryError> {
    let client = http_client(limits).map_err(DiscoveryError::Client)?;
    let base = issuer.as_str().trim_end_matches('/').to_owned();
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let url = format!("{base}{path}");
        match client.get(&url).send().await {
            Ok(r) if r.status().is_success() => match r.bytes().await {
                Ok(body) => return Ok(body.to_vec()),
                Err(e) => tracing::warn!(url, error = %e, "metadata fetch failed"),
            },
            Ok(r) => tracing::warn!(url, status = r.status().as_u16(), "no metadata here"),
            Err(e) => tracing::warn!(url, error = %e, "metadata fetch failed"),
        }
    }
    Err(DiscoveryError::NotFound(base))
}
