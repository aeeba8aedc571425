//! The token pair the host holds for a company, in memory only while it is used.

use oauth2::{AccessToken, RefreshToken};

/// An access token and (usually) a refresh token. `Debug` is redacted by the `oauth2`
/// newtypes; the store seals both before they reach the database.
#[derive(Debug, Clone)]
pub struct TokenPair {
    /// The access token.
    pub access: AccessToken,
    /// The refresh token, if the provider issued one.
    pub refresh: Option<RefreshToken>,
}
