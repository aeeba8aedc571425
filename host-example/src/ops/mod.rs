//! The host's operations on one company's authorization: exchange, clear, refresh, retrieve.
//!
//! Each one feeds an [`Event`](token_manager_core::lifecycle::Event) to core's
//! [`Authorization::handle`](token_manager_core::lifecycle::Authorization::handle) and carries
//! out the returned actions: the shell ones (stop retrieval, revoke) here, in order, and the
//! storage ones in one [`Store::commit`](crate::store::Store::commit) transaction. Handlers and
//! jobs call these; they hold no rules of their own, and they know nothing of HTTP: failures are
//! [`OpError`]s, mapped to responses by [`AppError`](crate::AppError) alone.
//!
//! Mutual exclusion: every operation that uses or replaces a company's tokens holds the
//! company's lock (in this process) and, except exchange, the store's lease (across processes
//! sharing the database). So once [`clear`] returns, no request with that company's tokens
//! leaves this host: any refresh or retrieval either finished before Clear took the lock or
//! finds the tokens wiped.

mod clear;
mod error;
mod exchange;
mod lease;
mod refresh;
mod retrieve;
mod seed;
mod session;

pub use clear::clear;
pub use error::OpError;
pub use exchange::{
    exchange, known_company, provider_config, start, validate_exchange, MAX_CODE, MAX_STATE,
};
pub use refresh::{refresh_company, RefreshOutcome};
pub use retrieve::retrieve_company;
pub use seed::seed_history;
pub use session::{
    mint_session, MintedSession, SessionRequest, DEFAULT_TTL, MAX_NAME, MAX_USER_ID,
};
