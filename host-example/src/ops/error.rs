//! [`OpError`]: why an operation failed, with its cause kept as the error's source.

use token_manager_core::flow::{CallbackError, StartError};
use token_manager_core::lifecycle::Refusal;
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
    /// No authorization was started with this `state` (never, or it was used already).
    #[error("no pending authorization for this state")]
    NoPendingAuthorization,
    /// The authorization was started by another user or for another company.
    #[error("the authorization was started by another session or for another company")]
    StartedElsewhere,
    /// The authorization was started too long ago.
    #[error("the authorization attempt expired")]
    ExpiredAttempt,
    /// The return did not pass core's checks.
    #[error("the return was refused: {0}")]
    Callback(#[from] CallbackError),
    /// The authorization could not start (the provider's configuration, or `return_to`).
    #[error("cannot start: {0}")]
    Start(#[from] StartError),
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
    /// The authorization cannot be used (never authorized, cleared, invalidated, or expired
    /// without a refresh token).
    #[error("the authorization cannot be used: {}", .0.as_str())]
    NotUsable(Refusal),
    /// The access token expired and refreshing it keeps failing for a temporary reason.
    #[error("the access token expired and the refresh is failing: {0}")]
    RefreshFailing(ProviderError),
    /// Something the operation relies on did not hold (a bug, not an input).
    #[error("invariant broken: {0}")]
    Invariant(&'static str),
}
