//! The host's operations on one company's authorization: exchange, clear, refresh, and the
//! portal backend's use of the token (access-token API, proxy).
//!
//! Each one feeds an [`Event`](token_manager_core::lifecycle::Event) to core's
//! [`Authorization::handle`](token_manager_core::lifecycle::Authorization::handle) and carries
//! out the returned actions: the shell ones (revoke) here, in order, and the
//! storage ones in one [`Store::commit`](crate::store::Store::commit) transaction. Handlers and
//! jobs call these; they hold no rules of their own, and they know nothing of HTTP: failures are
//! [`OpError`]s, mapped to responses by [`AppError`](crate::AppError) alone.
//!
//! Mutual exclusion: every operation that replaces or wipes a company's tokens holds the
//! company's exclusive lock (in this process) and, except exchange, the store's lease (across
//! processes sharing the database); every use of the token (access-token API, proxy) holds the
//! shared lock until its request has been answered. So once [`clear`] returns, no request with
//! that company's tokens leaves this process: any refresh or proxied call either finished
//! before Clear took the lock or finds the tokens wiped.

mod access;
mod clear;
mod error;
mod exchange;
mod lease;
mod refresh;
mod seed;
mod session;

pub use access::{access_token, renew_after_rejection, use_token, Handout, TokenUse};
pub use clear::clear;
pub use error::OpError;
pub use exchange::{
    exchange, known_company, provider_config, start, validate_exchange, MAX_CODE, MAX_STATE,
};
pub use refresh::{refresh_company, RefreshOutcome};
pub use seed::seed_history;
pub use session::{
    company_id_ok, mint_session, MintedSession, SessionRequest, DEFAULT_TTL, MAX_NAME, MAX_USER_ID,
};
