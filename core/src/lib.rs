//! # token-manager-core
//!
//! The sans-IO heart of Token Manager (crate docs to be completed).
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod api;
pub mod config;
pub mod flow;
pub mod history;
pub mod lifecycle;
pub mod messages;
pub mod time;
pub mod token;

pub use api::AuthorizationStatus;
pub use flow::{CallbackError, CallbackParams, ExchangeRequest, PendingAuthorization};
pub use history::{PageWindow, PerPage, RecordStatus, TokenRecord};
pub use messages::{ErrorCode, Messages, UiText};
pub use time::Timestamp;
pub use token::{GrantTimes, ProviderError, ProviderErrorKind, TokenGrant};

/// Caller misuse errors of small helpers (e.g. an unsupported page size).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Page size is not one of 10, 25, 50, 100.
    #[error("page size {0} is not one of 10, 25, 50, 100")]
    BadPageSize(u32),
}
