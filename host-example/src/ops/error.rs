//! [`OpError`]: why an operation failed, with its cause kept as the error's source.

use token_manager_core::ProviderError;

use crate::store::StoreError;

/// Why an operation on an authorization failed. No variant carries a token or secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpError {
    /// The company is not configured.
    #[error("unknown company")]
    UnknownCompany,
    /// The caller's input is malformed; the text says what is wrong.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The `redirect_uri` is not the registered one.
    #[error("redirect_uri not on the allow-list")]
    RedirectUriNotAllowed,
    /// Another change to the same authorization kept winning, or another host process holds
    /// it longer than a lease lasts.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The provider failed or refused.
    #[error("provider: {0}")]
    Provider(#[from] ProviderError),
    /// The store failed.
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    /// Something the operation relies on did not hold (a bug, not an input).
    #[error("invariant broken: {0}")]
    Invariant(&'static str),
}
