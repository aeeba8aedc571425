//! Reading a generic provider's metadata (RFC 8414, or OpenID Connect Discovery) at start:
//! core's [`metadata_urls`] in order, each answer capped; core's
//! [`ProviderConfig::from_discovery`](token_manager_core::config::ProviderConfig::from_discovery)
//! then decides whether the document may be trusted with the client secret.

use token_manager_core::config::{metadata_urls, MAX_METADATA};
use url::Url;

use super::http::{http_client, send_capped};
use crate::config::HttpLimits;

/// Why no metadata could be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    /// No well-known document answered.
    #[error("no RFC 8414 / OpenID metadata found for {issuer} (tried {tried})")]
    NotFound {
        /// The issuer.
        issuer: String,
        /// The URLs tried, each with what it answered.
        tried: String,
    },
}

/// The metadata document of `issuer`, from the first of core's well-known URLs that answers
/// 2xx with at most [`MAX_METADATA`] bytes.
pub async fn fetch_metadata(issuer: &Url, limits: HttpLimits) -> Result<Vec<u8>, DiscoveryError> {
    let client = http_client(limits).map_err(DiscoveryError::Client)?;
    let urls = metadata_urls(issuer);
    let mut tried = Vec::new();
    for url in &urls {
        let request = client.get(url.clone()).header("Accept", "application/json");
        let why = match send_capped(request).await {
            Ok((status, body)) if (200..300).contains(&status) && body.len() <= MAX_METADATA => {
                return Ok(body)
            }
            Ok((status, body)) if (200..300).contains(&status) => {
                tracing::warn!(%url, bytes = body.len(), "metadata document too large; skipped");
                format!(
                    "a document of {} bytes, over the {MAX_METADATA}-byte limit",
                    body.len()
                )
            }
            Ok((status, _)) => {
                tracing::info!(%url, status, "no metadata here");
                format!("HTTP {status}")
            }
            Err(e) => {
                tracing::warn!(%url, error = %e, "metadata fetch failed");
                e.to_string()
            }
        };
        tried.push(format!("{url}: {why}"));
    }
    Err(DiscoveryError::NotFound {
        issuer: issuer.to_string(),
        tried: tried.join("; "),
    })
}
